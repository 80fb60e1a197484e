"""Countdown colours, the request page (diagram, markers, timeline, clocks, data) and escaping."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from engine.core import clock
from tests.web.conftest import record_call, task_ids
from webapp import sla_view

T0 = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)


def _clock(status="armed", minutes=30, breached_after=None):
    return SimpleNamespace(sla_key="response", status=status, armed_at=T0, due_at=T0 + dt.timedelta(minutes=minutes),
                           breached_at=T0 + dt.timedelta(minutes=breached_after) if breached_after else None)


@pytest.mark.parametrize(("elapsed", "level", "text"), [
    (0, "green", "剩余 30分"), (14, "green", "剩余 16分"), (15, "yellow", "剩余 15分"),
    (22, "yellow", "剩余 8分"), (23, "orange", "剩余 7分"), (29, "orange", "剩余 1分"),
    (30, "red", "超时 0小时0分"), (95, "red", "超时 1小时5分"),
])
def test_badge_colour_follows_share_of_time_used(elapsed, level, text):
    badge = sla_view.badge(_clock(), T0 + dt.timedelta(minutes=elapsed))
    assert (badge.level, badge.text) == (level, text)


def test_breached_clock_counts_from_its_due_time_and_met_is_grey():
    assert sla_view.badge(_clock("breached", breached_after=31), T0 + dt.timedelta(minutes=150)).text == "超时 2小时0分"
    assert sla_view.badge(_clock("met"), T0).level == "met"


def test_customer_promise_hides_internal_targets():
    clocks = [SimpleNamespace(sla_key="supervisor_reply", status="armed"),
              SimpleNamespace(sla_key="response", status="armed"), SimpleNamespace(sla_key="ack_online", status="met")]
    assert sla_view.customer_promises(clocks) == ["预计30分钟内响应"]


def test_supervisor_sees_the_countdown_turn_red(client_for):
    record_call(client_for("assistant"))
    supervisor = client_for("cs_supervisor")
    assert "badge--green" in supervisor.get("/inbox?scope=all").get_data(as_text=True)
    clock.advance(minutes=24)
    assert "badge--orange" in supervisor.get("/inbox?scope=all&due=soon").get_data(as_text=True)
    clock.advance(minutes=8)
    html = supervisor.get("/inbox?scope=all&due=late").get_data(as_text=True)
    assert "badge--red" in html and "超时 0小时2分" in html


def test_request_page_shows_version_diagram_markers_timeline_clocks_and_data(client_for):
    iid = record_call(client_for("assistant"))
    engineer = client_for("engineer")
    html = engineer.get(f"/requests/{iid}").get_data(as_text=True)
    assert "web_help_request" in html and "第 1 版" in html
    assert "bpmn-navigated-viewer.production.min.js" in html
    assert '"active": ["repair", "repair_late"]' in html or '"active":["repair","repair_late"]' in html.replace(", ", ",")
    assert '"start"' in html  # finished
    assert "热线来电登记，求助已受理" in html and "李助理" in html
    assert "响应（30分钟）" in html and "流程数据" in html
    xml = engineer.get(f"/requests/{iid}/diagram.bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and b"web_help_request" in xml.data


def test_script_typed_into_fields_is_shown_as_text_everywhere(client_for):
    evil = '<script>alert("x")</script>'
    iid = record_call(client_for("assistant"), caller_name=evil, description=evil, address="3栋" + evil)
    engineer = client_for("engineer")
    pages = [engineer.get("/inbox"), engineer.get(f"/requests/{iid}"), engineer.get("/requests"),
             client_for("13800000001").get(f"/portal/requests/{iid}")]
    tid = task_ids(pages[0].get_data(as_text=True))[0]
    pages.append(engineer.get(f"/tasks/{tid}"))  # instructions: "请前往 {{ address }} 维修：{{ description }}"
    pages.append(engineer.post(f"/tasks/{tid}", data={"result": evil, "action": "submit"}))  # kept input on 422
    for res in pages:
        html = res.get_data(as_text=True)
        assert "<script>alert" not in html, res.request.path
    assert "&lt;script&gt;alert(" in pages[4].get_data(as_text=True)
    assert 'data-testid="instructions"><p>请前往 3栋&lt;script&gt;' in pages[4].get_data(as_text=True)


def test_fired_deadline_escalates_notifies_supervisor_and_is_marked_on_the_diagram(client_for, seeded):
    from engine.timers.firing import Poller

    iid = record_call(client_for("assistant"))
    clock.advance(minutes=31)
    poller = Poller(seeded, owner="test")
    try:
        poller.run_due()
    finally:
        poller.release()
    supervisor = client_for("cs_supervisor")
    notes = supervisor.get("/notifications").get_data(as_text=True)
    assert "超时升级：「超时督办」待客服部主管处理" in notes
    assert "已超时：「维修处理」响应（30分钟）" in notes
    assert "超时升级" not in client_for("guard1").get("/notifications").get_data(as_text=True)
    assert "超时督办" in supervisor.get("/inbox").get_data(as_text=True)
    page = supervisor.get(f"/requests/{iid}").get_data(as_text=True)
    assert '"escalated": ["repair_late", "supervise"]' in page or '"repair_late"' in page.split('"escalated"')[1]
    assert "超时升级" in page and "超时 0小时1分" in page


def test_the_request_list_pages_through_every_request_once_keeping_the_filters(client_for, monkeypatch):
    import re

    from webapp import requests_view

    monkeypatch.setattr(requests_view, "PAGE_SIZE", 2)
    clock.freeze()
    assistant = client_for("assistant")
    made = []
    for i in range(5):
        made.append(record_call(assistant, caller_name=f"住户{i}", category="b" if i != 2 else "c"))
        clock.advance(minutes=1)
    supervisor = client_for("cs_supervisor")

    def ids(html):
        return re.findall(r'href="/requests/([0-9a-f-]{36})"', html)

    def link(html, rel):
        found = re.search(rf'rel="{rel}" href="([^"]+)"', html)
        return found and found.group(1).replace("&amp;", "&")

    first = supervisor.get("/requests").get_data(as_text=True)
    assert ids(first) == made[::-1][:2]  # newest first
    assert "共 5 条，第 1–2 条（第 1 页）" in first and "上一页" not in first
    second = supervisor.get(link(first, "next")).get_data(as_text=True)
    assert "第 3–4 条（第 2 页）" in second
    last = supervisor.get(link(second, "next")).get_data(as_text=True)
    assert ids(first) + ids(second) + ids(last) == made[::-1]  # every request exactly once
    assert "下一页" not in last and "第 5–5 条" in last
    back = supervisor.get(link(last, "prev")).get_data(as_text=True)  # 上一页 returns to the same rows
    assert ids(back) == ids(second) and ids(supervisor.get(link(back, "prev")).get_data(as_text=True)) == ids(first)
    # a cursor edited by hand or from elsewhere starts the list again rather than failing
    assert ids(supervisor.get("/requests?after=garbage&n=7").get_data(as_text=True)) == made[::-1][:2]

    filtered = supervisor.get("/requests?category=b").get_data(as_text=True)
    assert "共 4 条" in filtered and made[2] not in filtered
    assert re.search(r'rel="next" href="/requests\?[^"]*category=b', filtered)  # the filter survives paging
    empty = supervisor.get("/requests?q=没有这个人").get_data(as_text=True)
    assert "没有符合条件的求助" in empty and "共 0 条" not in empty and "下一页" not in empty


def test_the_inbox_shows_the_priority_and_puts_the_urgent_first_among_equal_deadlines(client_for):
    import re

    from engine import runtime
    from engine.core import db

    clock.freeze()
    started = {}
    for priority, who in (("P3", "甲"), (None, "乙"), ("P1", "丙")):  # same instant: the same 30-minute deadline
        data = {"channel": "hotline", "caller_name": who, "phone": "13800000009", "address": "1栋101",
                "description": f"{who}的求助", "category": "b", "customer_username": None}
        if priority:
            data["priority"] = priority
        with db.transaction() as session:
            started[who] = runtime.start(session, "web_help_request", data, "assistant").id
    html = client_for("engineer").get("/inbox").get_data(as_text=True)
    order = [iid for iid in re.findall(r'href="/requests/([0-9a-f-]{36})"', html)]
    assert order == [started["丙"], started["甲"], started["乙"]]  # P1, P3, then no priority
    assert 'data-testid="priority">P1 紧急<' in html and 'data-testid="priority">P3 一般<' in html
    assert html.count('data-testid="priority"') == 2
