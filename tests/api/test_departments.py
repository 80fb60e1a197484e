"""Departments and duty through the API, as a new user would meet them (issue #10, item 3).

A repair handed over to 工程部 lands in every engineer's inbox by itself — nobody completes anything on the
department's behalf —, an engineer takes it and gives the department's own expected time, and the response
clock (counted from the call) is met at that moment and not before. The duty roster puts a role's new task
in the inbox of the person on duty, and back with every holder of the role when nobody is.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine import identity, tasks
from engine.core import clock, config, db

from .conftest import FRIDAY_MORNING, Api, mine

MORNING = FRIDAY_MORNING  # 09:00 in Shanghai
CALL = {"channel": "hotline", "caller_name": "张先生", "phone": "13800138000", "address": "3栋2单元501",
        "description": "厨房水管漏水", "category": "b"}




def complete(api: Api, username: str, task: dict, data: dict) -> tuple[int, dict]:
    return api.post(f"/tasks/{task['id']}/complete", username, {"data": data})


def clocks(api: Api, iid: str) -> dict[str, dict]:
    status, body = api.get(f"/instances/{iid}", "cs_supervisor")
    assert status == 200, body
    return {c["sla_key"]: c for c in body["sla"]}


def hand_over_to_engineering(api: Api) -> str:
    status, body = api.post("/requests", "assistant", CALL)
    assert status == 201, body
    iid = body["instance_id"]
    for element, data in (("record_hotline", {k: CALL[k] for k in ("caller_name", "phone", "address", "description")}),
                          ("assess", {"category": "b", "priority": "P3", "complexity": "ordinary"}),
                          ("handover", {"department": "engineering", "handover_note": "请工程部上门检修厨房水管",
                                        "info_verified": True})):
        status, body = complete(api, "assistant", mine(api, "assistant", iid)[element], data)
        assert status == 200, body
    return iid


def test_a_repair_handed_to_engineering_is_taken_by_an_engineer_who_gives_its_time(procedure, users):
    api = Api(procedure, users)
    iid = hand_over_to_engineering(api)

    # In the department's inbox at once: both engineers and the 工程部主管 see it, the 物业助理 no longer does.
    for engineer in ("engineer", "engineer_b", "eng_head"):
        task = mine(api, engineer, iid).get("take_job")
        assert task is not None, f"take_job missing from {engineer}'s inbox"
        assert (task["offered_to"], task["department"]) == ("工程部", "engineering")
    assert "take_job" not in mine(api, "assistant", iid)
    assert mine(api, "cleaner", iid) == {}
    take = mine(api, "engineer", iid)["take_job"]
    status, body = complete(api, "assistant", take, {"expected_done_at": "2026-11-27T15:00:00+08:00"})
    assert status == 403, body  # nobody acts on the department's behalf

    clock.advance(minutes=7)
    assert clocks(api, iid)["response"]["status"] == "armed"  # handed over is not responded

    status, body = complete(api, "engineer", take, {})
    assert status == 422 and "expected_done_at" in body["fields"], body  # the department must give its time
    assert clocks(api, iid)["response"]["status"] == "armed"
    status, body = complete(api, "engineer", take, {"expected_done_at": "2026-11-27T15:00:00+08:00",
                                                    "take_note": "下午到场更换阀芯"})
    assert status == 200, body

    now = clock.now().isoformat().replace("+00:00", "Z")
    found = clocks(api, iid)
    assert (found["response"]["status"], found["response"]["met_at"]) == ("met", now)
    assert (found["take_over"]["status"], found["take_over"]["met_at"]) == ("met", now)
    assert "take_job" not in mine(api, "engineer_b", iid)  # taken once, gone from the colleagues' inboxes
    assert "accept" in mine(api, "engineer", iid)  # the repair itself goes on with 工程部
    status, body = api.get(f"/instances/{iid}/events", "auditor")
    assert status == 200, body
    takes = [e for e in body["events"] if e.get("element_id") == "take_job" and e["kind"] == "task_completed"]
    assert [e["actor"] for e in takes] == ["engineer"]


def test_a_job_nobody_takes_goes_to_the_head_then_to_the_customer_service_supervisor(procedure, users):
    api = Api(procedure, users)
    iid = hand_over_to_engineering(api)
    assert "esc_take_head" not in mine(api, "eng_head", iid)

    clock.advance(minutes=10, seconds=1)
    _fire_due()
    assert "esc_take_head" in mine(api, "eng_head", iid)
    assert "esc_take_head" not in mine(api, "engineer", iid)  # for the head, not the department
    assert mine(api, "cs_supervisor", iid) == {}
    assert clocks(api, iid)["take_over"]["status"] == "breached"

    clock.advance(minutes=10)
    _fire_due()
    assert "esc_take_cs" in mine(api, "cs_supervisor", iid)
    assert clocks(api, iid)["response"]["status"] == "armed"  # 20 minutes after the call: still in time
    status, body = complete(api, "engineer_b", mine(api, "engineer_b", iid)["take_job"],
                            {"expected_done_at": "2026-11-27T12:00:00+08:00"})
    assert status == 200, body
    assert clocks(api, iid)["response"]["status"] == "met"


def _fire_due() -> int:
    from engine.timers import firing

    poller = firing.Poller(config.database_url(), owner="api-test-poller")
    try:
        return poller.run_due().fired
    finally:
        poller.release()


def test_the_person_on_duty_gets_the_roles_new_tasks_and_everyone_when_nobody_is(client, users):
    """mini_request's first task is in the 物业助理's lane: with assistant2 on duty it is theirs alone."""
    clock.freeze(MORNING)
    with db.transaction() as session:
        identity.departments.set_department(session, identity.get_user(session, "assistant2"), "customer_service")
        identity.departments.add_shift(session, department_code="customer_service", role="assistant",
                                       username="assistant2", starts_at=MORNING - dt.timedelta(hours=1),
                                       ends_at=MORNING + dt.timedelta(hours=8), actor="admin")
    status, body = client.post("/requests", "assistant", CALL)
    assert status == 201, body
    on_duty = body["instance_id"]
    assert [t["assignee"] for t in client.get("/tasks", "assistant2")[1]["tasks"]
            if t["instance_id"] == on_duty] == ["assistant2"]
    assert not [t for t in client.get("/tasks", "assistant")[1]["tasks"] if t["instance_id"] == on_duty]
    # the person on duty is called away: the supervisor hands the task to a colleague, who can then do it
    task_id = client.get("/tasks", "assistant2")[1]["tasks"][0]["id"]
    with db.transaction() as session:
        tasks.assign(session, task_id, identity.get_user(session, "cs_supervisor"), "assistant")
    status, body = client.post(f"/tasks/{task_id}/complete", "assistant2", {"data": {"category": "b", "summary": "漏水"}})
    assert status == 403, body
    status, body = client.post(f"/tasks/{task_id}/complete", "assistant", {"data": {"category": "b", "summary": "漏水"}})
    assert status == 200, body

    clock.advance(hours=9)  # the shift is over: nobody on duty, the role's holders share the next one
    status, body = client.post("/requests", "assistant", CALL)
    off_duty = body["instance_id"]
    for username in ("assistant", "assistant2"):
        assert [t["assignee"] for t in client.get("/tasks", username)[1]["tasks"]
                if t["instance_id"] == off_duty] == [None]


@pytest.mark.parametrize(("change", "message"), [
    ({"username": "engineer"}, "不具备「物业助理」角色"),
    ({"username": "assistant2"}, "不属于客服部"),
    ({"ends_at": MORNING - dt.timedelta(hours=2)}, "值班结束时间必须晚于开始时间"),
    ({"ends_at": MORNING + dt.timedelta(days=40)}, "一次值班不能超过31天"),
    ({"department_code": "canteen"}, "请选择部门"),
])
def test_a_roster_line_that_cannot_be_right_is_refused_in_chinese(users, change, message):
    shift = {"department_code": "customer_service", "role": "assistant", "username": "assistant",
             "starts_at": MORNING, "ends_at": MORNING + dt.timedelta(hours=8), "actor": "admin", **change}
    with pytest.raises(identity.IdentityError, match=message), db.transaction() as session:
        identity.departments.add_shift(session, **shift)
    with db.read_session() as session:
        assert identity.departments.shifts(session) == []
