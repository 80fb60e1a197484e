"""The emergency fast path through the API, as a new 物业助理 would meet it (issue #10 item 2, #11 item 5).

A hotline call about a sick resident (a) is recorded on one screen — caller, phone, the address once, the
type and the help wanted (送医院 / 120 / 护理) — and that single form puts a dispatch task in the inbox of
the 护管部值班负责人 on duty. The response clock starts at the call and is met when the duty lead has
dispatched; the record-keeping (热线求助记录, 初步评估与定级) waits beside it instead of in front of it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine import identity
from engine.core import clock, db
from engine.helpdesk import hotline

from .conftest import FRIDAY_MORNING, Api, mine

MORNING = FRIDAY_MORNING  # 09:00 in Shanghai
CALL = {"channel": "hotline", "caller_name": "林女士", "phone": "13800138001", "address": "7栋1单元302",
        "description": "母亲突发胸痛，呼吸困难", "category": "a", "help_mode": "call_120"}




def clocks(api: Api, iid: str) -> dict[str, dict]:
    status, body = api.get(f"/instances/{iid}", "cs_supervisor")
    assert status == 200, body
    return {c["sla_key"]: c for c in body["sla"]}


def iso(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_a_hotline_sick_resident_reaches_the_duty_lead_after_one_form_with_the_clock_from_the_call(
        procedure, users):
    api = Api(procedure, users)
    with db.transaction() as session:  # 钟队长 is on duty this morning: the dispatch is his alone
        identity.departments.add_shift(session, department_code="security", role="security_lead",
                                       username="security_lead2", starts_at=MORNING - dt.timedelta(hours=1),
                                       ends_at=MORNING + dt.timedelta(hours=8), actor="admin")
    forms_completed = 0
    status, body = api.post("/requests", "assistant", CALL)  # the first screen
    assert status == 201, body
    forms_completed += 1
    iid, called_at = body["instance_id"], clock.now()

    dispatch = mine(api, "security_lead2", iid).get("dispatch")
    assert dispatch is not None and forms_completed <= 2
    assert dispatch["assignee"] == "security_lead2"
    assert "dispatch" not in mine(api, "security_lead", iid)  # not on duty: not his
    # The 物业助理 calls 120 at once (not asked again which help is wanted); the record waits beside it.
    assert {"call_120", "record_hotline"} <= set(mine(api, "assistant", iid))
    assert "inquiry" not in mine(api, "assistant", iid)
    status, body = api.get(f"/instances/{iid}", "cs_supervisor")
    assert (body["request"]["category"], body["request"]["priority"]) == ("a", "P1")  # P1 preselected

    response = clocks(api, iid)["response"]
    assert (response["status"], response["armed_at"]) == ("armed", iso(called_at))
    assert response["due_at"] == iso(called_at + dt.timedelta(minutes=30))

    clock.advance(minutes=4)
    status, body = api.post(f"/tasks/{dispatch['id']}/complete", "security_lead2", {"data": {}})
    assert status == 422 and {"dispatch_note", "guards"} <= set(body["fields"]), body  # who goes, and when
    status, body = api.post(f"/tasks/{dispatch['id']}/complete", "security_lead2",  # people, not names typed
                            {"data": {"guards": ["陈护管"], "dispatch_note": "带担架赶往", "eta_minutes": 3}})
    assert status == 422 and "guards.0" in body["fields"], body
    assert clocks(api, iid)["response"]["status"] == "armed"
    status, body = api.post(f"/tasks/{dispatch['id']}/complete", "security_lead2",
                            {"data": {"guards": ["guard1", "guard2"], "dispatch_note": "带两名护管员和担架赶往7栋1单元302",
                                      "eta_minutes": 3}})
    assert status == 200, body
    response = clocks(api, iid)["response"]
    assert (response["status"], response["armed_at"], response["met_at"]) == (
        "met", iso(called_at), iso(called_at + dt.timedelta(minutes=4)))


def test_a_major_emergency_reaches_the_company_manager_at_once(procedure, users):
    api = Api(procedure, users)
    status, body = api.post("/requests", "assistant", {**CALL, "help_mode": "escort", "is_major": True})
    assert status == 201, body
    iid = body["instance_id"]
    assert "major_report" in mine(api, "manager", iid)
    assert "dispatch" in mine(api, "security_lead", iid)


def test_an_ordinary_call_is_not_sent_to_the_duty_lead(procedure, users):
    api = Api(procedure, users)
    status, body = api.post("/requests", "assistant", {**{k: v for k, v in CALL.items() if k != "help_mode"},
                                                       "category": "b", "description": "厨房水管漏水"})
    assert status == 201, body
    iid = body["instance_id"]
    assert mine(api, "security_lead", iid) == {}
    assert list(mine(api, "assistant", iid)) == ["record_hotline"]
    status, body = api.get(f"/instances/{iid}", "cs_supervisor")
    assert body["request"]["priority"] is None  # priority is the assessment's call here


def test_a_sick_resident_without_the_help_wanted_is_refused_in_chinese(procedure, users):
    api = Api(procedure, users)
    status, body = api.post("/requests", "assistant", {k: v for k, v in CALL.items() if k != "help_mode"})
    assert status == 422, body
    assert "help_mode" in body.get("fields", {}), body


@pytest.mark.parametrize("category", ["a", "e", "f"])
def test_an_online_emergency_shows_the_hotline_at_once_and_takes_the_fast_path(procedure, users, category):
    """Issue 11 item 5: the resident reporting a, e or f online is shown the admin's 24 h hotline number (as
    a ``tel:`` link) at once, is promised no time to acknowledge a form, and the duty lead has the job."""
    api = Api(procedure, users)
    with db.transaction() as session:
        hotline.save(session, "400-830-6688 转 2", "admin")
    online = {**CALL, "channel": "online", "category": category}
    if category != "a":
        online.pop("help_mode")
    status, body = api.post("/requests", "customer", online)
    assert status == 201, body
    iid = body["instance_id"]
    status, seen = api.get(f"/my/requests/{iid}", "customer")
    assert status == 200, seen
    assert seen["hotline"] == {"number": "400-830-6688 转 2", "tel": "tel:4008306688"}
    assert "dispatch" in mine(api, "security_lead", iid)  # the same fast path as a call
    status, body = api.get(f"/instances/{iid}", "cs_supervisor")
    assert body["request"]["priority"] == "P1"


def test_an_ordinary_online_request_shows_no_hotline(procedure, users):
    api = Api(procedure, users)
    online = {**{k: v for k, v in CALL.items() if k != "help_mode"}, "channel": "online", "category": "g",
              "description": "想借用梯子"}
    status, body = api.post("/requests", "customer", online)
    assert status == 201, body
    status, seen = api.get(f"/my/requests/{body['instance_id']}", "customer")
    assert status == 200 and seen["hotline"] is None and seen["status"] == "已受理"
