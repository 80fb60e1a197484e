"""Need-to-know (issue 12, item 2), attacked as a curious insider would: by the request list and search, the
request page, every page and API route that takes a request id, the inbox, and 派单.

The requests are started through the API (``mini_request``); what the procedure's forms would have said
about them (the department it was handed to, the 被投诉人, the confidential flag) is written onto the
request row as the projection writes it (:func:`test_the_projection_carries_what_need_to_know_reads` shows
the projection does).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from engine import identity, tasks
from engine.core import db, errors
from engine.core.tables import AuditEvent, TaskRow
from engine.helpdesk import intake
from engine.helpdesk.tables import HelpRequest
from webapp import policy

from .conftest import HOTLINE
from .test_authorization import Visitor, _is_api, _record_routes, _url


@pytest.fixture
def walk_app(app):
    app.config.update(WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False)
    return app


def start(client, **row) -> str:
    """A hotline request recorded by the assistant, its row then saying what ``row`` says."""
    status, body = client.post("/requests", "assistant", {**HOTLINE, "description": row.pop("text", "漏水")})
    assert status == 201, body
    iid = body["instance_id"]
    if row:
        with db.transaction() as session:
            session.execute(update(HelpRequest).where(HelpRequest.instance_id == iid).values(**row))
    return iid


def listed(visitor: Visitor, app, q: str = "") -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "requests.index")
    response = visitor.request("GET", rule, f"/requests?q={q}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def reachable(app, visitor: Visitor, iid: str) -> list[str]:
    """Every GET route taking a request id that answers this visitor with anything but 403/404."""
    out = []
    for method, rule in _record_routes(app, "instance_id"):
        if method != "GET":
            continue
        response = visitor.request(method, rule, _url(rule, {"instance_id": iid}))
        assert response.status_code < 500, (rule.rule, response.status_code)
        if response.status_code not in (403, 404):
            out.append(f"{'API ' if _is_api(rule) else ''}{rule.rule}: {response.status_code}")
    return out


def access_log(instance_id: str) -> list[tuple[str, str]]:
    with db.read_session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.chain == policy.ACCESS_CHAIN,
                                                        AuditEvent.kind == policy.RESTRICTED_READ)
                               .order_by(AuditEvent.seq))
        return [(e.actor, json.loads(e.payload)["where"]) for e in rows
                if instance_id in json.loads(e.payload)["instances"]]


def test_an_engineer_sees_his_departments_request_and_not_another_departments_or_a_complaint(walk_app, client):
    ours = start(client, department="engineering", text="工程部的活")
    cleaning = start(client, department="cleaning", text="保洁部的活")
    complaint = start(client, category="c", complained_staff="engineer_b", department="engineering",
                      text="投诉同事态度")
    engineer = Visitor(walk_app, client, "engineer")

    page = listed(engineer, walk_app)
    assert ours in page and cleaning not in page and complaint not in page
    assert "投诉同事" not in listed(engineer, walk_app, q="投诉")  # search finds nothing either
    assert reachable(walk_app, engineer, cleaning) == []
    assert reachable(walk_app, engineer, complaint) == []
    assert any("/requests/<instance_id>" in r for r in reachable(walk_app, engineer, ours))
    status, _body = client.get(f"/instances/{complaint}", "engineer")
    assert status == 404  # the API answers as if it did not exist


def test_the_named_person_cannot_see_the_complaint_even_in_the_handling_department(walk_app, client):
    complaint = start(client, category="c", complained_staff="assistant2", text="投诉马助理")
    assert reachable(walk_app, Visitor(walk_app, client, "assistant2"), complaint) == []
    assert complaint not in listed(Visitor(walk_app, client, "assistant2"), walk_app)
    # ... nor its task in the inbox, though the task is offered to every 物业助理; the colleague sees both
    inbox_rule = next(r for r in walk_app.url_map.iter_rules() if r.endpoint == "inbox.index")
    named = Visitor(walk_app, client, "assistant2").request("GET", inbox_rule, "/inbox").get_data(as_text=True)
    colleague = Visitor(walk_app, client, "assistant").request("GET", inbox_rule, "/inbox").get_data(as_text=True)
    assert complaint in colleague and complaint not in named
    task = next(t for t in client.get("/tasks", "assistant")[1]["tasks"] if t["instance_id"] == complaint)
    assert client.get(f"/tasks/{task['id']}", "assistant2")[0] in (403, 404)
    assert reachable(walk_app, Visitor(walk_app, client, "cs_supervisor"), complaint)  # the supervisor reads it


def test_a_confidential_consultation_is_hidden_from_an_assistant_who_is_not_its_handler(walk_app, client):
    secret = start(client, category="d", confidential=True, text="涉及公司机密的咨询")
    ordinary = start(client, category="d", text="普通咨询")
    other = Visitor(walk_app, client, "assistant2")
    assert reachable(walk_app, other, secret) == []
    page = listed(other, walk_app)
    assert secret not in page and ordinary in page  # the intake desk still sees a caller's other requests
    assert reachable(walk_app, Visitor(walk_app, client, "assistant"), secret)  # who recorded it handles it
    assert reachable(walk_app, Visitor(walk_app, client, "cs_supervisor"), secret)


def test_the_auditor_reads_everything_changes_nothing_and_every_restricted_read_is_recorded(walk_app, client):
    complaint = start(client, category="c", complained_staff="engineer", text="投诉工程师")
    secret = start(client, category="d", confidential=True)
    ordinary = start(client)
    auditor = Visitor(walk_app, client, "auditor")
    for iid in (complaint, secret, ordinary):
        assert any("/requests/<instance_id>" in r for r in reachable(walk_app, auditor, iid))
    status, _body = client.get(f"/instances/{secret}", "auditor")
    assert status == 200
    page = listed(auditor, walk_app)
    assert all(iid in page for iid in (complaint, secret, ordinary))

    where = access_log(complaint)
    assert ("auditor", "requests.show") in where and ("auditor", "api.instance") in where
    assert ("auditor", "requests.index") in where
    assert ("auditor", "api.instance") in access_log(secret)
    assert access_log(ordinary) == []  # an ordinary request's reads are not restricted reads

    task = next(t for t in client.get("/tasks", "assistant")[1]["tasks"] if t["instance_id"] == complaint)
    assert client.post(f"/tasks/{task['id']}/claim", "auditor")[0] == 403
    assert client.post(f"/tasks/{task['id']}/complete", "auditor", {"data": {}})[0] == 403


def test_a_supervisors_dispatch_of_a_residents_own_task_is_refused_in_chinese(walk_app, client):
    iid = start(client)
    with db.transaction() as session:  # the shape of help_request's confirmation: the resident's lane, by name
        row = session.scalar(select(TaskRow).where(TaskRow.instance_id == iid))
        row.lane, row.assignee = identity.ROLE_BY_CODE["customer"].name, "customer"
        task_id = row.id
    with db.transaction() as session, pytest.raises(errors.Forbidden, match="住户本人的任务"):
        tasks.assign(session, task_id, identity.get_user(session, "cs_supervisor"), "customer2")
    supervisor = Visitor(walk_app, client, "cs_supervisor")
    rule = next(r for r in walk_app.url_map.iter_rules() if r.endpoint == "inbox.assign")
    response = supervisor.request("POST", rule, f"/tasks/{task_id}/assign", follow=True)
    assert response.status_code == 200  # back to the inbox with the message, not a 500
    with db.read_session() as session:
        row = session.get(TaskRow, task_id)
        assert (row.assignee, row.claimed_by) == ("customer", None)


def test_dispatch_refuses_a_task_bound_to_a_named_person_but_moves_a_duty_assigned_one(walk_app, client):
    iid = start(client)
    with db.transaction() as session:
        row = session.scalar(select(TaskRow).where(TaskRow.instance_id == iid))
        row.assignee, task_id = "cs_supervisor", row.id  # named by the diagram: not a holder of the lane's role
    with db.transaction() as session, pytest.raises(errors.Forbidden, match="本人办理"):
        tasks.assign(session, task_id, identity.get_user(session, "cs_supervisor"), "assistant2")
    with db.transaction() as session:
        session.get(TaskRow, task_id).assignee = "assistant"  # the 物业助理 on duty (the roster's choice)
    with db.transaction() as session:
        tasks.assign(session, task_id, identity.get_user(session, "cs_supervisor"), "assistant2")
    with db.read_session() as session:
        assert session.get(TaskRow, task_id).claimed_by == "assistant2"


def test_the_projection_carries_what_need_to_know_reads():
    values = intake.projection("complaint", {"channel": "hotline", "category": "c", "department": "工程部",
                                             "complained_staff": " engineer ", "confidential": True})
    assert (values["department"], values["complained_staff"], values["confidential"]) == (
        "engineering", "engineer", True)
    plain = intake.projection("help_request", {"channel": "online", "confidential": "yes"})
    assert (plain["department"], plain["complained_staff"], plain["confidential"]) == (None, None, False)
