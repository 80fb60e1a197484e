"""The 工作规程 as worked, issue #10 items 5 and 6, through the API and the request page as staff meet them:
a new problem found on the way opens a linked follow-up request (6 反馈与跟踪), steps standing in for a
规程 the company has not supplied (4.4–4.7, 4.9) carry a 待补充 badge, and the fee schedule's demo rows
say they are examples.
"""

from __future__ import annotations

import json
import re

from engine.core import db
from engine.helpdesk import intake

from .conftest import PASSWORD, Api

REPAIR = {"channel": "hotline", "caller_name": "陈先生", "phone": "13800138002", "address": "3栋2单元1201",
          "description": "厨房水管漏水", "category": "b"}


def web(app, username: str):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return client


def test_a_new_problem_found_on_the_way_opens_a_follow_up_linked_on_both_pages(procedure, users):  # noqa: F811
    api = Api(procedure, users)
    status, body = api.post("/requests", "assistant", REPAIR)
    assert status == 201, body
    earlier = body["instance_id"]

    status, body = api.post(f"/requests/{earlier}/follow-ups", "assistant", {"description": "发现楼上渗水到本户"})
    assert status == 201, body
    later = body["instance_id"]
    status, body = api.post(f"/requests/{earlier}/follow-ups", "customer", {"description": "我也要"})
    assert status == 403, body  # residents submit their own requests; follow-ups are opened by staff
    status, body = api.post(f"/requests/{earlier}/follow-ups", "assistant", {"description": ""})
    assert status == 422 and "description" in body["fields"], body

    status, body = api.get(f"/instances/{later}", "cs_supervisor")
    assert status == 200, body
    assert body["linked"] == {"follows_up": earlier, "follow_ups": []}
    assert (body["request"]["caller_name"], body["request"]["address"]) == ("陈先生", "3栋2单元1201")
    assert body["request"]["description"] == "发现楼上渗水到本户"
    assert [t["element_id"] for t in body["tasks"]] == ["record_hotline"]  # recorded and assessed as any call
    status, body = api.get(f"/instances/{earlier}", "cs_supervisor")
    assert body["linked"] == {"follows_up": None, "follow_ups": [later]}

    staff = web(procedure, "cs_supervisor")
    page = staff.get(f"/requests/{earlier}").get_data(as_text=True)
    assert "关联求助" in page and f"/requests/{later}" in page and "发现楼上渗水到本户" in page
    page = staff.get(f"/requests/{later}").get_data(as_text=True)
    assert "本求助跟进自" in page and f"/requests/{earlier}" in page

    res = web(procedure, "assistant").post(f"/requests/{later}/follow-up", data={"description": "楼上水管也需检查"})
    assert res.status_code == 302
    status, body = api.get(f"/instances/{later}", "cs_supervisor")
    assert len(body["linked"]["follow_ups"]) == 1 and body["linked"]["follows_up"] == earlier


def test_steps_standing_in_for_missing_procedures_carry_a_placeholder_badge(procedure, users):  # noqa: F811
    api = Api(procedure, users)
    status, body = api.post("/requests", "assistant", REPAIR)
    assert status == 201, body
    page = web(procedure, "cs_supervisor").get(f"/requests/{body['instance_id']}").get_data(as_text=True)
    marks = json.loads(re.search(r'id="diagram-marks">(.*?)</script>', page, re.S).group(1))
    assert marks["placeholder"] == ["call_b", "call_c", "call_e", "call_f"]  # 4.5, 4.4, 4.6, 4.7
    assert page.count("待补充") >= 4 and "《报修管理工作规程》" in page and "《投诉处理工作规程》" in page
    assert "call_a" not in marks["placeholder"] and "call_d" not in marks["placeholder"]  # 4.2, 4.3 are written out


def test_the_fee_schedule_marks_its_demo_rows_as_examples_until_an_admin_sets_a_price(procedure, users):  # noqa: F811
    with db.transaction() as session:
        intake.ensure_default_fees(session)
        offered = {f["code"]: f for f in intake.fee_schedule(session)}
    assert offered["lock_open"]["example"] is True and "示例" in offered["lock_open"]["label"]
    admin = web(procedure, "admin")
    assert 'data-testid="fee-example"' in admin.get("/admin/fees").get_data(as_text=True)
    assert admin.post("/admin/fees/lock_open", data={"price": "65", "name": "开锁服务", "unit": "次"}).status_code == 302
    with db.read_session() as session:
        offered = {f["code"]: f for f in intake.fee_schedule(session)}
    assert offered["lock_open"]["example"] is False and "示例" not in offered["lock_open"]["label"]
    assert offered["pipe_unblock"]["example"] is True


def test_a_timer_changed_to_45_minutes_shows_45_on_new_requests_while_running_ones_keep_30(procedure, users, tmp_path):  # noqa: F811
    """Done when (issue #10): PT30M → PT45M deployed; every label a person reads for a new request says 45,
    a request started before keeps its own version's 30 (its timer and its labels)."""
    from engine import repository
    from engine.core import config
    from engine.repository import bundle

    api = Api(procedure, users)
    status, body = api.post("/requests", "assistant", REPAIR)
    before = body["instance_id"]
    text = (config.bpmn_dir() / "help_request.bpmn").read_text(encoding="utf-8")
    assert text.count('"PT30M"') == 1  # the response clock
    changed = tmp_path / "help_request.bpmn"
    changed.write_text(text.replace('"PT30M"', '"PT45M"'), encoding="utf-8")
    with db.transaction() as session:
        repository.deploy(session, bundle.read_paths([changed]), actor="process_owner")
    status, body = api.post("/requests", "assistant", REPAIR | {"description": "卫生间水管漏水"})
    after = body["instance_id"]

    staff = web(procedure, "assistant")
    old_page, new_page = (staff.get(f"/requests/{i}").get_data(as_text=True) for i in (before, after))
    assert "响应（30分钟）" in old_page and "45分钟" not in old_page
    assert "响应（45分钟）" in new_page and "响应（30分钟）" not in new_page
    inbox = staff.get("/inbox").get_data(as_text=True)
    assert "响应（30分钟）" in inbox and "响应（45分钟）" in inbox  # each task labelled by its own request
    due = {i: api.get(f"/instances/{i}", "cs_supervisor")[1] for i in (before, after)}
    [old_clock] = [c for c in due[before]["sla"] if c["sla_key"] == "response"]
    [new_clock] = [c for c in due[after]["sla"] if c["sla_key"] == "response"]
    assert (old_clock["due_at"], new_clock["due_at"]) == ("2026-11-27T01:30:00Z", "2026-11-27T01:45:00Z")
