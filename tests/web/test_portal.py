"""The resident portal: own requests only, the customer-facing timeline and promise, rating, 催单."""

from __future__ import annotations

import re

from engine.audit import history
from engine.core import clock, db
from tests.web.conftest import OTHER_PHONE, RESIDENT_PHONE, record_call, task_ids


def _online_request(client, description="客厅灯不亮") -> str:
    res = client.post("/portal/new", data={"address": "5栋1单元301", "description": description})
    assert res.status_code == 302, res.get_data(as_text=True)
    return res.location.rsplit("/", 1)[1]


def test_resident_submits_online_and_sees_the_promise_not_internal_times(client_for):
    resident = client_for(RESIDENT_PHONE)
    iid = _online_request(resident)
    html = resident.get(f"/portal/requests/{iid}").get_data(as_text=True)
    assert "客厅灯不亮" in html
    # a plain status, never the internal task names of the timeline
    assert re.search(r'data-testid="status">(已受理|处理中)<', html) and "处理求助" not in html
    # the fixture routes an unknown type to 处理求助 (no SLA); a repair gets the response promise
    res = resident.post("/portal/new", data={"address": "5栋1单元301", "description": "水管爆了", "category": "b"})
    repair = res.location.rsplit("/", 1)[1]
    page = resident.get(f"/portal/requests/{repair}").get_data(as_text=True)
    assert "预计30分钟内响应" in page
    assert "超时督办" not in page and "engineer" not in page


def test_resident_sees_only_own_requests(client_for):
    mine = _online_request(client_for(RESIDENT_PHONE), "我的求助内容")
    other = client_for(OTHER_PHONE)
    assert other.get(f"/portal/requests/{mine}").status_code == 404
    assert other.get(f"/requests/{mine}").status_code == 404
    assert other.get(f"/requests/{mine}/diagram.bpmn").status_code == 403
    assert "我的求助内容" not in other.get("/portal").get_data(as_text=True)
    assert other.post(f"/portal/requests/{mine}/urge").status_code == 404
    assert "我的求助内容" in client_for(RESIDENT_PHONE).get("/portal").get_data(as_text=True)


def test_hotline_call_from_a_registered_phone_shows_in_their_portal(client_for):
    iid = record_call(client_for("assistant"))
    assert iid in client_for(RESIDENT_PHONE).get("/portal").get_data(as_text=True)
    assert iid not in client_for(OTHER_PHONE).get("/portal").get_data(as_text=True)


def test_resident_confirms_and_rates_and_the_request_closes(client_for):
    iid = record_call(client_for("assistant"))
    engineer = client_for("engineer")
    tid = task_ids(engineer.get("/inbox").get_data(as_text=True))[0]
    engineer.post(f"/tasks/{tid}", data={"result": "更换阀门", "fixed": "true", "action": "submit"})
    resident = client_for(RESIDENT_PHONE)
    page = resident.get(f"/portal/requests/{iid}").get_data(as_text=True)
    rate = re.search(r'href="/tasks/([0-9a-f-]{36})" data-testid="rate-link"', page).group(1)
    form = resident.get(f"/tasks/{rate}").get_data(as_text=True)
    assert "响应速度" in form and "处理质量" in form and "服务态度" in form
    bad = resident.post(f"/tasks/{rate}", data={"speed": "5", "action": "submit"})
    assert bad.status_code == 422
    res = resident.post(f"/tasks/{rate}", data={"resolved": "true", "speed": "5", "quality": "4", "attitude": "5",
                                               "comment": "师傅很专业", "action": "submit"})
    assert res.status_code == 302 and res.location.endswith(f"/portal/requests/{iid}")
    page = resident.get(f"/portal/requests/{iid}").get_data(as_text=True)
    # rated: closed for the resident, and 催单 is no longer offered (nor accepted)
    assert 'data-testid="status">已关闭<' in page and "5 分" in page
    assert "催单" not in page
    resident.post(f"/portal/requests/{iid}/urge")
    with db.read_session() as session:
        assert [e.kind for e in history.events(session, iid)].count("urged") == 0


def test_urge_at_most_once_per_five_minutes_and_notifies_the_handling_role(client_for):
    iid = record_call(client_for("assistant"))
    resident = client_for(RESIDENT_PHONE)
    resident.post(f"/portal/requests/{iid}/urge")
    page = resident.get(f"/portal/requests/{iid}").get_data(as_text=True)
    assert "已催单" in page
    resident.post(f"/portal/requests/{iid}/urge")
    clock.advance(minutes=4)
    resident.post(f"/portal/requests/{iid}/urge")
    with db.read_session() as session:
        assert [e.kind for e in history.events(session, iid)].count("urged") == 1
    clock.advance(minutes=1, seconds=5)
    resident.post(f"/portal/requests/{iid}/urge")
    with db.read_session() as session:
        urged = [e for e in history.events(session, iid) if e.kind == "urged"]
        assert len(urged) == 2 and urged[0].actor == RESIDENT_PHONE
        assert history.verify(session, iid)[1] == []
    assert "住户催单" in client_for("engineer").get("/notifications").get_data(as_text=True)
    assert "住户催单" not in client_for("guard1").get("/notifications").get_data(as_text=True)


def test_a_request_for_an_undeployed_process_is_explained_not_a_server_error(app, client_for):
    app.config["HELP_REQUEST_PROCESS"] = "help_request"  # the web fixture deploys only web_help_request
    call = {"caller_name": "陈先生", "phone": RESIDENT_PHONE, "address": "3栋2单元1201", "description": "厨房水管漏水"}
    for client, path, data in ((client_for("assistant"), "/intake/hotline", call),
                               (client_for(RESIDENT_PHONE), "/portal/new", call)):
        res = client.post(path, data=data)
        assert res.status_code == 200 and "尚未部署" in res.get_data(as_text=True), path


def test_a_supervisor_cannot_hand_the_residents_own_rating_to_another_resident(client_for):
    """Issue 12: 派单 of the resident's confirmation and rating to somebody else would let them forge the
    resident's word (and the 绩效考核 it feeds). The task comes from the real flow: a call, the repair done."""
    from engine.core.tables import TaskRow

    iid = record_call(client_for("assistant"))
    engineer = client_for("engineer")
    tid = task_ids(engineer.get("/inbox").get_data(as_text=True))[0]
    engineer.post(f"/tasks/{tid}", data={"result": "更换阀门", "fixed": "true", "action": "submit"})
    page = client_for(RESIDENT_PHONE).get(f"/portal/requests/{iid}").get_data(as_text=True)
    rate = re.search(r'href="/tasks/([0-9a-f-]{36})" data-testid="rate-link"', page).group(1)

    res = client_for("cs_supervisor").post(f"/tasks/{rate}/assign", data={"username": OTHER_PHONE},
                                           follow_redirects=True)
    assert "住户本人的任务（确认、评价等）只能由住户本人办理，不能派单" in res.get_data(as_text=True)
    with db.read_session() as session:
        row = session.get(TaskRow, rate)
        assert (row.assignee, row.claimed_by) == (RESIDENT_PHONE, None)
    other = client_for(OTHER_PHONE)
    assert other.get(f"/tasks/{rate}").status_code == 403
    assert other.post(f"/tasks/{rate}", data={"resolved": "true", "speed": "1", "quality": "1", "attitude": "1",
                                              "action": "submit"}).status_code == 403


def test_a_running_request_keeps_its_own_versions_promise_after_a_timer_change(client_for, tmp_path):
    """Issue #10: PT30M → PT45M deployed; a resident's new repair is promised 45 minutes, the one sent
    before keeps the 30 minutes its version promised."""
    import shutil

    from engine import repository
    from engine.repository import bundle
    from tests.web.conftest import WEB_FIXTURES

    resident = client_for(RESIDENT_PHONE)
    data = {"address": "5栋1单元301", "description": "水管爆了", "category": "b"}
    before = resident.post("/portal/new", data=data).location.rsplit("/", 1)[1]
    shutil.copytree(WEB_FIXTURES, tmp_path / "v2")
    changed = tmp_path / "v2" / "bpmn" / "web_help_request.bpmn"
    text = changed.read_text(encoding="utf-8")
    assert text.count("PT30M") == 1  # the response clock
    changed.write_text(text.replace("PT30M", "PT45M"), encoding="utf-8")
    v2 = bundle.read_paths([tmp_path / "v2" / "bpmn", tmp_path / "v2" / "forms"], default_forms=False)
    with db.transaction() as session:
        repository.deploy(session, v2, actor="process_owner", note="响应时限改为45分钟")
    after = resident.post("/portal/new", data=data | {"description": "卫生间漏水"}).location.rsplit("/", 1)[1]
    old_page = resident.get(f"/portal/requests/{before}").get_data(as_text=True)
    new_page = resident.get(f"/portal/requests/{after}").get_data(as_text=True)
    assert "预计30分钟内响应" in old_page and "45分钟" not in old_page
    assert "预计45分钟内响应" in new_page and "30分钟内响应" not in new_page
