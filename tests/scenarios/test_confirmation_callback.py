"""Issue 11 — confirmation and 回访, and what the resident sees: a resident who never confirms gets a 回访 call
from the 客服部 by someone who did not handle the request; the ratings entered there count in the staff
figures with their source; "not solved" reopens the work and the request stops counting as solved in 24 h;
the resident's view shows plain statuses and every answer once."""

from __future__ import annotations

import datetime as dt

import pytest

from engine import identity, tasks
from engine.core import clock, db, errors
from engine.helpdesk import reports, resident, sla
from engine.helpdesk.tables import HelpRequest
from tests.scenarios import driver as d


def _to_confirmation(channel: str = "online") -> str:
    iid = d.start_request(channel, description="想借用梯子")
    d.intake(iid, "g", channel=channel, priority="P4", department="customer_service")
    d.do(iid, "evaluate", "assistant", capability="direct", chargeable=False)
    d.do(iid, "do_help", "assistant", help_given="已借出梯子")
    d.do(iid, "qc", "assistant", process="help_request", resolved=True)
    return iid


def _view(iid: str) -> tuple[str, list[str]]:
    with db.read_session() as session:
        req = session.get(HelpRequest, iid)
        status = resident.resident_status(req, d.ready(iid))
        return status, [a.text for a in resident.answers(session, iid)]


def test_no_confirmation_in_48_hours_brings_a_callback_for_someone_other_than_the_handler(procedure):
    iid = _to_confirmation()
    assert _view(iid)[0] == "待您确认"
    assert d.advance(hours=47, minutes=59) == 0 and "confirm_customer" in d.ready(iid)
    d.advance(minutes=2)
    assert d.ready(iid) == {"callback": "物业助理"}
    # 李助理 took the job and helped: the 回访 is offered to the other 物业助理 only
    assert d.inbox_elements("assistant", iid) == [] and d.inbox_elements("assistant_b", iid) == ["callback"]
    row = d.task_row(iid, "callback")
    with db.transaction() as session:  # neither claiming nor 派单 can hand it to the handler
        with pytest.raises(errors.Forbidden):
            tasks.claim(session, row.id, identity.get_user(session, "assistant"))
    with db.transaction() as session, pytest.raises(errors.EngineError, match="已经办理过此求助"):
        tasks.assign(session, row.id, identity.get_user(session, "cs_supervisor"), "assistant")
    assert _view(iid)[0] == "回访中"
    d.do(iid, "callback", "assistant_b", problem_solved=True, satisfaction=4)
    req = d.request_row(iid)
    assert (req.satisfaction, req.rating_source) == (4, "callback")
    status, answers = _view(iid)
    assert status == "已关闭" and len(answers) == 1 and "已收到您的求助" in answers[0]
    d.do(iid, "archive", "assistant")
    d.assert_finished(iid)
    # the staff figures: the handler is rated by the call, with its source; the caller is not rated by it
    with db.read_session() as session:
        staff = {s.username: s for s in reports.staff_performance(session, clock.now().strftime("%Y-%m"))}
    assert staff["assistant"].rated == 1 and staff["assistant"].by_source == {"callback": 1}
    assert staff["assistant_b"].completed == 1 and staff["assistant_b"].rated == 0


def test_the_residents_own_rating_is_stored_as_theirs(procedure):
    iid = _to_confirmation()
    d.do(iid, "confirm_customer", "customer", problem_solved=True, satisfaction=5)
    req = d.request_row(iid)
    assert (req.satisfaction, req.rating_source) == (5, "resident")
    assert _view(iid)[0] == "已关闭"


def test_not_solved_reopens_the_work_and_no_longer_counts_as_solved_in_24_hours(procedure):
    iid = _to_confirmation()
    span = (clock.now() - dt.timedelta(days=2), clock.now() + dt.timedelta(days=1))
    with db.read_session() as session:
        before = sla.summary(session, *span)["resolve_ordinary"]
    assert before.met == 1 and before.breached == 0
    d.do(iid, "confirm_customer", "customer", problem_solved=False, satisfaction=2)
    assert "track" in d.ready(iid)
    assert _view(iid)[0] == "处理中"  # a "not solved" rating does not close it for the resident
    with db.read_session() as session:
        after = sla.summary(session, *span)["resolve_ordinary"]
    assert after.met == 0 and after.breached == 1


def test_hotline_answers_reach_the_resident_once(procedure):
    iid = d.start_request("hotline", description="咨询装修押金退还")
    d.intake(iid, "d", priority="P4", department="customer_service")
    d.do(iid, "register", "assistant", process="consultation", consult_form="oral", confidential=False)
    d.do(iid, "answer_oral", "assistant", answered=False, answer="我先请示主管")
    d.do(iid, "supervisor_reply", "cs_supervisor", reply_method="via_assistant", supervisor_answer="15个工作日内退还",
         need_company_written_reply=False, confidential=False)
    assert _view(iid)[1] == []  # neither the holding note nor the supervisor's reply went out by themselves
    d.do(iid, "relay", "assistant", relayed=True, answer="押金在验收合格后15个工作日内退还")
    status, answers = _view(iid)
    assert status == "处理中" and len(answers) == 1 and "15个工作日内退还" in answers[0]
