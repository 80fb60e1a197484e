"""The pages of departments and duty: the 物业助理's watch list of hand-overs not yet taken (接单跟进), the
department's inbox, and the administrator's department and duty-roster pages (issue #10, item 3)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine import identity, tasks
from engine.core import clock, config, db
from tests.conftest import deploy_procedure

from .conftest import make_app

CALL = {"channel": "hotline", "caller_name": "陈先生", "phone": "13800000009", "address": "5栋1单元302",
        "description": "楼道灯不亮", "category": "b"}


@pytest.fixture
def procedure_app(seeded):
    deploy_procedure()
    return make_app(HELP_REQUEST_PROCESS="help_request")


def _work(iid: str, element: str, username: str, data: dict) -> None:
    with db.transaction() as session:
        user = identity.get_user(session, username)
        row = next(r for r in tasks.inbox(session, user) if r.instance_id == iid and r.element_id == element)
        tasks.complete(session, row.id, user, data)


def _hand_over() -> str:
    from engine.helpdesk import help_requests

    with db.transaction() as session:
        iid = help_requests.start(session, "help_request", "hotline", CALL,
                                  identity.get_user(session, "assistant")).instance_id
    _work(iid, "record_hotline", "assistant", {k: CALL[k] for k in ("caller_name", "phone", "address", "description")})
    _work(iid, "assess", "assistant", {"category": "b", "priority": "P3", "complexity": "ordinary"})
    _work(iid, "handover", "assistant", {"department": "engineering", "handover_note": "请修楼道灯", "info_verified": True})
    return iid


def _client(app, username):
    from .conftest import PASSWORD

    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return client


def test_the_watch_list_shows_what_a_department_has_not_taken_yet(procedure_app):
    iid = _hand_over()
    assistant = _client(procedure_app, "assistant")
    page = assistant.get("/handovers").get_data(as_text=True)
    assert f'data-testid="handover-{iid}"' in page and "楼道灯不亮" in page and "工程部" in page
    assert "尚无人接单" in page
    assert "接单跟进" in page  # in the 物业助理's menu
    assert _client(procedure_app, "engineer").get("/handovers").status_code == 403

    engineer_inbox = _client(procedure_app, "engineer").get("/inbox").get_data(as_text=True)
    assert "部门接单并给出预计完成时间" in engineer_inbox
    assert '<span class="lane">工程部</span>' in engineer_inbox  # the department, not the lane's placeholder

    _work(iid, "take_job", "engineer", {"expected_done_at": "2026-12-31T15:00:00+08:00"})
    page = assistant.get("/handovers").get_data(as_text=True)
    assert f'data-testid="handover-{iid}"' not in page and "没有待接单的转交" in page


def test_the_duty_roster_page_puts_a_duty_lead_on_duty_and_refuses_a_wrong_line(app, client_for):
    admin = client_for("admin")
    assert "目前无人值班" in admin.get("/admin/duty").get_data(as_text=True)

    res = admin.post("/admin/duty", data={"department": "security", "role": "security_lead",
                                          "username": "security_lead2", "starts_at": "", "ends_at": ""})
    assert res.status_code == 422 and "请填写值班开始和结束时间" in res.get_data(as_text=True)
    local = clock.to_local(clock.now())
    start, end = (local - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), \
        (local + dt.timedelta(hours=11)).strftime("%Y-%m-%dT%H:%M")
    res = admin.post("/admin/duty", data={"department": "security", "role": "security_lead",
                                          "username": "guard1", "starts_at": start, "ends_at": end})
    assert res.status_code == 422 and "不具备「护管部值班负责人」角色" in res.get_data(as_text=True)
    assert f'value="{start}"' in res.get_data(as_text=True)  # what was typed is kept
    res = admin.post("/admin/duty", data={"department": "security", "role": "security_lead",
                                          "username": "security_lead2", "starts_at": start, "ends_at": end})
    assert res.status_code == 302
    page = admin.get("/admin/duty").get_data(as_text=True)
    assert "护管部值班负责人：钟队长" in page
    with db.read_session() as session:
        assert identity.departments.on_duty(session, {"security_lead"}) == {"security_lead": "security_lead2"}
        shift = identity.departments.shifts(session)[0]
    assert admin.post(f"/admin/duty/{shift.id}/delete").status_code == 302
    assert admin.post("/admin/duty/not-a-number/delete").status_code == 302
    assert "目前无人值班" in admin.get("/admin/duty").get_data(as_text=True)
    assert client_for("security_lead").get("/admin/duty").status_code == 403


def test_the_admin_moves_a_person_to_another_department(app, client_for):
    admin = client_for("admin")
    page = admin.get("/admin/departments").get_data(as_text=True)
    assert "工程部主管" in page and "郑工程师" in page
    assert admin.post("/admin/departments/guard1", data={"department": "cleaning"}).status_code == 302
    assert admin.post("/admin/departments/guard1", data={"department": "canteen"}).status_code == 302
    with db.read_session() as session:
        assert identity.departments.department_of(session, identity.get_user(session, "guard1")) == "cleaning"
    assert "未知部门" in admin.get("/admin/departments").get_data(as_text=True)  # the refused change, flashed



def test_the_resident_reads_which_department_took_the_job_and_its_expected_time(procedure_app):
    from engine.helpdesk import help_requests

    with db.transaction() as session:
        iid = help_requests.start(session, "help_request", "online", CALL,
                                  identity.get_user(session, "customer")).instance_id
    _work(iid, "ack_online", "assistant", {"ack_message": "您好，已收到。", "acknowledged": True})
    _work(iid, "assess", "assistant", {"category": "b", "priority": "P3", "complexity": "ordinary"})
    _work(iid, "handover", "assistant", {"department": "engineering", "handover_note": "请修楼道灯", "info_verified": True})
    resident = _client(procedure_app, "customer")
    assert 'data-testid="taken"' not in resident.get(f"/portal/requests/{iid}").get_data(as_text=True)
    _work(iid, "take_job", "engineer", {"expected_done_at": "2026-12-31T15:00:00+08:00"})
    page = resident.get(f"/portal/requests/{iid}").get_data(as_text=True)
    assert "工程部已接单，预计完成时间：2026-12-31 15:00" in page


def test_the_department_head_is_notified_when_the_department_has_not_taken_a_job(procedure_app):
    from engine.timers import firing

    clock.freeze(dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC))
    _hand_over()
    head = _client(procedure_app, "eng_head")
    assert "部门主管督办接单" not in head.get("/notifications").get_data(as_text=True)
    clock.advance(minutes=10, seconds=1)
    poller = firing.Poller(config.database_url(), owner="web-test-poller")
    try:
        assert poller.run_due().fired == 1
    finally:
        poller.release()
    assert "超时升级：「部门主管督办接单」待工程部主管处理" in head.get("/notifications").get_data(as_text=True)
    assert "部门主管督办接单" not in _client(procedure_app, "cleaning_head").get("/notifications").get_data(as_text=True)
    inbox = head.get("/inbox").get_data(as_text=True)
    assert '<span class="lane">工程部主管</span>' in inbox  # the head's own escalation task
