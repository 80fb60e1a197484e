"""Need-to-know (issue 12, item 2) on requests made the way the staff make them: a hotline call recorded on the
intake page and carried through the real procedure's task forms (bpmn/ + forms/), not rows edited by hand.

- a complaint names the staff member it is about (被投诉人, on the 投诉登记 form): that person cannot list it,
  open it, see it on the hand-over watch list, in the inbox, the notifications or the month report's
  drill-down, nor open, claim, complete or be handed (派单) any of its tasks — by the pages or by the API;
- a consultation marked 涉及公司机密 on the 咨询登记 form is read only by its handlers and 客服部主管 and above;
- every read of such a request is on the ``access`` audit chain.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from engine import identity
from engine.audit import history
from engine.core import clock, db
from engine.core.tables import AuditEvent, TaskRow
from engine.helpdesk.tables import HelpRequest
from tests.conftest import deploy_procedure
from webapp import api, policy

from .conftest import PASSWORD, make_app

MORNING = dt.datetime(2026, 11, 27, 9, 0, tzinfo=clock.SHANGHAI)  # a Friday office morning
CALLER = {"caller_name": "周先生", "phone": "13800000031", "address": "6栋1单元502"}


@pytest.fixture
def procedure_app(seeded):
    deploy_procedure(at=MORNING)
    return make_app(HELP_REQUEST_PROCESS="help_request")


def _client(app, username):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return client


def _task(iid: str, element: str) -> TaskRow:
    with db.read_session() as session:
        row = session.scalar(select(TaskRow).where(TaskRow.instance_id == iid, TaskRow.element_id == element))
        assert row is not None, f"no ready task {element}"
        session.expunge(row)
        return row


def _do(client, iid: str, element: str, **data) -> None:
    """Fill in and submit the task's form on its page, as the person would."""
    task = _task(iid, element)
    assert client.get(f"/tasks/{task.id}").status_code == 200
    form = {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in data.items()}
    res = client.post(f"/tasks/{task.id}", data={**form, "action": "submit"})
    assert res.status_code == 302, res.get_data(as_text=True)


def _call(app, category: str, description: str, assess_after: int = 0) -> str:
    """The 物业助理 records the call on the hotline page, then 热线求助记录, 初步评估与定级 (``assess_after``
    minutes later on the frozen clock) and the hand-over to 客服部, whose member takes the job: what every
    request goes through before its type's own procedure."""
    assistant = _client(app, "assistant")
    with db.read_session() as session:
        before = set(session.scalars(select(HelpRequest.instance_id)))
    res = assistant.post("/intake/hotline", data={**CALLER, "description": description, "category": category})
    assert res.status_code == 302, res.get_data(as_text=True)
    with db.read_session() as session:
        [iid] = set(session.scalars(select(HelpRequest.instance_id))) - before
    _do(assistant, iid, "record_hotline", **CALLER, description=description)
    clock.advance(minutes=assess_after)
    _do(assistant, iid, "assess", category=category, priority="P3", complexity="ordinary")
    _do(assistant, iid, "handover", department="customer_service", handover_note="请客服部处理", info_verified=True)
    _do(assistant, iid, "take_job", expected_done_at="2026-11-27T17:00")
    return iid


def _complaint_about(app, staff: str) -> str:
    iid = _call(app, "c", "投诉物业人员态度恶劣")
    _do(_client(app, "assistant"), iid, "register", complaint_type="attitude",
        complaint_content="上门时态度恶劣，出言不逊", complained_party="客服部", complained_staff=staff)
    return iid


def _row(iid: str) -> HelpRequest:
    with db.read_session() as session:
        row = session.get(HelpRequest, iid)
        session.expunge(row)
        return row


def _access_log(iid: str) -> list[tuple[str, str]]:
    with db.read_session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.chain == policy.ACCESS_CHAIN)
                               .order_by(AuditEvent.seq))
        return [(e.actor, json.loads(e.payload)["where"]) for e in rows if iid in json.loads(e.payload)["instances"]]


def _api(app, username: str):
    api.init_app(app)
    with db.read_session() as session, app.app_context():
        token = api.auth.issue_token(identity.get_user(session, username))
    client = app.test_client()

    def call(method: str, path: str, body=None):
        res = client.open("/api/v1" + path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
        return res.status_code, res.get_json(silent=True) or {}

    return call


def test_a_complaint_recorded_on_the_forms_is_hidden_from_the_staff_member_it_names(procedure_app):
    iid = _complaint_about(procedure_app, "assistant_b")
    assert _row(iid).complained_staff == "assistant_b"  # the 投诉登记 form's 被投诉人, projected
    _do(_client(procedure_app, "cs_supervisor"), iid, "validate", complaint_valid=True, validity_reason="情况属实")
    _do(_client(procedure_app, "cs_supervisor"), iid, "investigate", findings="经核实确有此事")
    _do(_client(procedure_app, "cs_supervisor"), iid, "rectify", rectification="批评教育", rectify_owner="客服部",
        rectified=True)
    reply = _task(iid, "reply")  # offered to every 物业助理: the named one among them
    assert reply.lane == "物业助理" and reply.assignee is None

    named, colleague = _client(procedure_app, "assistant_b"), _client(procedure_app, "assistant")
    assert iid not in named.get("/requests").get_data(as_text=True)
    assert iid not in named.get("/requests?q=态度恶劣").get_data(as_text=True)
    assert named.get(f"/requests/{iid}").status_code in (403, 404)
    assert iid not in named.get("/inbox").get_data(as_text=True)
    assert named.get("/inbox/count.json").get_json()["count"] == 0
    assert iid in colleague.get("/inbox").get_data(as_text=True)

    page = named.get(f"/tasks/{reply.id}")
    assert page.status_code == 403 and "您是此投诉的被投诉人，不能查看或办理此任务" in page.get_data(as_text=True)
    res = named.post(f"/tasks/{reply.id}", data={"reply_content": "我没有错", "action": "submit"})
    assert res.status_code == 403 and "被投诉人" in res.get_data(as_text=True)
    named.post(f"/tasks/{reply.id}/claim")
    assert _task(iid, "reply").claimed_by is None  # refused, the task still offered to the colleagues

    call = _api(procedure_app, "assistant_b")
    for method, path, body in (("GET", f"/tasks/{reply.id}", None), ("POST", f"/tasks/{reply.id}/claim", None),
                               ("POST", f"/tasks/{reply.id}/complete", {"data": {}})):
        status, body = call(method, path, body)
        assert status == 403 and "被投诉人" in body["message"], (path, status, body)
    assert call("GET", f"/instances/{iid}")[0] == 404
    assert iid not in {t["instance_id"] for t in call("GET", "/tasks")[1]["tasks"]}

    # 派单 to the named person is refused too; to a colleague it goes
    supervisor = _client(procedure_app, "cs_supervisor")
    res = supervisor.post(f"/tasks/{reply.id}/assign", data={"username": "assistant_b"}, follow_redirects=True)
    assert "是此投诉的被投诉人，不能派给他/她" in res.get_data(as_text=True)
    assert _task(iid, "reply").claimed_by is None
    supervisor.post(f"/tasks/{reply.id}/assign", data={"username": "assistant"})
    assert _task(iid, "reply").claimed_by == "assistant"

    assert colleague.get(f"/requests/{iid}").status_code == 200  # who recorded it handles it
    assert ("assistant", "requests.show") in _access_log(iid)
    assert ("assistant", "inbox.index") in _access_log(iid)


def test_the_named_person_is_refused_the_task_even_when_their_lane_alone_could_do_it(procedure_app):
    """A complaint about the 客服部主管: the 判定 (validate) task is in the supervisor's own lane, and still
    they cannot do it, nor find the complaint in any list; the 公司经理 reads it."""
    iid = _complaint_about(procedure_app, "cs_supervisor")
    validate = _task(iid, "validate")
    supervisor = _client(procedure_app, "cs_supervisor")
    res = supervisor.post(f"/tasks/{validate.id}", data={"complaint_valid": "false", "validity_reason": "无此事",
                                                        "action": "submit"})
    assert res.status_code == 403 and "被投诉人" in res.get_data(as_text=True)
    assert _task(iid, "validate").id == validate.id  # not completed
    assert iid not in supervisor.get("/requests").get_data(as_text=True)
    assert supervisor.get(f"/requests/{iid}").status_code in (403, 404)
    assert iid not in supervisor.get("/inbox?scope=all").get_data(as_text=True)
    assert _client(procedure_app, "manager").get(f"/requests/{iid}").status_code == 200


def test_the_watch_list_shows_a_complaint_only_to_those_who_may_read_it(procedure_app):
    """A complaint handed over to 工程部 and not taken yet: its recorder and the manager follow it up on the
    watch list; another 物业助理, who never touched it, does not see it there."""
    assistant = _client(procedure_app, "assistant")
    with db.read_session() as session:
        before = set(session.scalars(select(HelpRequest.instance_id)))
    assistant.post("/intake/hotline", data={**CALLER, "description": "投诉维修工损坏地板", "category": "c"})
    with db.read_session() as session:
        [iid] = set(session.scalars(select(HelpRequest.instance_id))) - before
    _do(assistant, iid, "record_hotline", **CALLER, description="投诉维修工损坏地板")
    _do(assistant, iid, "assess", category="c", priority="P2", complexity="ordinary")
    _do(assistant, iid, "handover", department="engineering", handover_note="涉及工程部维修", info_verified=True)

    assert f"handover-{iid}" in assistant.get("/handovers").get_data(as_text=True)
    assert f"handover-{iid}" in _client(procedure_app, "manager").get("/handovers").get_data(as_text=True)
    assert f"handover-{iid}" not in _client(procedure_app, "assistant_b").get("/handovers").get_data(as_text=True)
    assert ("manager", "departments.watch_list") in _access_log(iid)


def test_notifications_and_the_month_report_keep_a_complaint_from_the_supervisor_it_names(procedure_app):
    """A complaint about the 客服部主管 left waiting past its deadlines: the manager reads it in the notices and
    the month report's drill-down (page, CSV, Excel); the supervisor it names reads it in none of them."""
    iid = _complaint_about(procedure_app, "cs_supervisor")
    from tests.scenarios import driver as d

    assert d.advance(hours=30) >= 1  # deadlines pass: breaches, escalations, notices
    supervisor, manager = _client(procedure_app, "cs_supervisor"), _client(procedure_app, "manager")
    assert iid in manager.get("/notifications").get_data(as_text=True)
    assert iid not in supervisor.get("/notifications").get_data(as_text=True)

    month = clock.to_local(clock.now()).strftime("%Y-%m")
    assert f"/requests/{iid}" in manager.get(f"/reports?month={month}").get_data(as_text=True)
    assert f"/requests/{iid}" not in supervisor.get(f"/reports?month={month}").get_data(as_text=True)

    def csv_cells(client) -> set[str]:
        text = client.get(f"/reports/export.csv?month={month}").get_data(as_text=True)
        return {cell for row in csv.reader(io.StringIO(text)) for cell in row}

    def xlsx_cells(client) -> set:
        book = load_workbook(io.BytesIO(client.get(f"/reports/export.xlsx?month={month}").data))
        return {c for r in book["超时清单"].iter_rows(values_only=True) for c in r}

    assert iid in csv_cells(manager) and iid not in csv_cells(supervisor)
    assert iid in xlsx_cells(manager) and iid not in xlsx_cells(supervisor)
    where = {w for actor, w in _access_log(iid) if actor == "manager"}
    assert {"reports.index", "reports.export_csv", "reports.export_xlsx"} <= where


def test_a_consultation_marked_confidential_on_its_form_is_read_only_by_its_handlers_and_supervisors(procedure_app):
    iid = _call(procedure_app, "d", "咨询改造工程招标底价")
    ordinary = _call(procedure_app, "d", "咨询物业费缴纳方式")
    assert iid not in ordinary
    assistant = _client(procedure_app, "assistant")
    _do(assistant, iid, "register", consult_form="written", question="改造工程的招标底价是多少？", confidential=True)
    assert _row(iid).confidential is True  # the 咨询登记 form's 涉及公司机密, projected

    other = _client(procedure_app, "assistant_b")  # 物业助理, not its handler
    listed = other.get("/requests").get_data(as_text=True)
    assert iid not in listed and ordinary in listed  # the intake desk still sees a caller's other requests
    assert other.get(f"/requests/{iid}").status_code in (403, 404)
    assert _api(procedure_app, "assistant_b")("GET", f"/instances/{iid}")[0] == 404
    assert _client(procedure_app, "engineer").get(f"/requests/{iid}").status_code in (403, 404)

    for reader in ("assistant", "cs_supervisor", "manager", "auditor"):
        assert _client(procedure_app, reader).get(f"/requests/{iid}").status_code == 200, reader
    assert {a for a, w in _access_log(iid) if w == "requests.show"} == {"assistant", "cs_supervisor", "manager",
                                                                        "auditor"}


def test_each_inbox_refresh_showing_a_confidential_consultation_is_a_recorded_read_once_per_window(procedure_app):
    """The inbox re-fetches its list every ten seconds (``/inbox/list``). A poll that shows a restricted request
    is a read and goes on the access chain — but not again while the same person's read of it is already on
    record within ``policy.REREAD_AFTER`` (the decision is documented on ``policy.note_restricted_reads``)."""
    iid = _call(procedure_app, "d", "咨询改造工程招标底价")
    ordinary = _call(procedure_app, "d", "咨询物业费缴纳方式")
    assistant = _client(procedure_app, "assistant")  # its handler: recorded the call and took the job
    _do(assistant, iid, "register", consult_form="written", question="改造工程的招标底价是多少？", confidential=True)

    def polls() -> list[str]:
        return [w for a, w in _access_log(iid) if a == "assistant" and w.startswith("inbox.")]

    assert polls() == []  # the task pages the handler used are on the record, no inbox yet
    first = assistant.get("/inbox/list")
    assert first.status_code == 200 and iid in first.get_data(as_text=True)
    assert polls() == ["inbox.fragment"]  # the first poll that shows it is on the record

    clock.advance(seconds=10)
    second = assistant.get("/inbox/list")
    assert second.status_code == 200 and iid in second.get_data(as_text=True)
    assert polls() == ["inbox.fragment"]  # ten seconds later: the read a moment ago already says it

    clock.advance(seconds=policy.REREAD_AFTER.total_seconds())
    assert iid in assistant.get("/inbox/list").get_data(as_text=True)
    assert polls() == ["inbox.fragment", "inbox.fragment"]  # still on screen after the window: recorded again

    assert iid in assistant.get("/inbox").get_data(as_text=True)
    assert polls() == ["inbox.fragment", "inbox.fragment", "inbox.index"]  # a page load always is
    assert _access_log(ordinary) == []  # an ordinary consultation is no restricted read
    with db.read_session() as session:
        assert history.verify(session, policy.ACCESS_CHAIN)[1] == []
