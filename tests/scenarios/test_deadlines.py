"""The time rules, each missed and met by moving the engine clock (timers fired by the real poller):

- O1.2 online requests acknowledged within 15 minutes   (ack_online:        物业助理 -> 客服部主管)
- T2.1 a response within 30 minutes                      (response:          物业助理 -> 客服部主管)
- 4.1.2.a the supervisor's reply within 10 minutes       (supervisor_reply:  客服部主管 -> 公司经理)
- T2.2 ordinary problems solved within 24 hours          (resolve_ordinary:  物业助理 -> 客服部主管)
- T2.3 complex problems given a solution within 48 hours (solution_complex:  客服部主管 -> 公司经理 -> 公司领导)

A missed deadline adds an escalation task one level up and leaves the late task where it was (the very
same task, still in its owner's inbox); its SLA clock says breached. A deadline met leaves the clock met and
nothing escalates.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine.core import clock, db
from engine.helpdesk import queries
from tests.scenarios import driver as d
from tests.scenarios.conftest import MORNING
from tests.scenarios.test_4_1_help_request import close_by_phone, close_online


def escalations(iid: str) -> list[tuple[str, str]]:
    return [(el, who) for kind, el, who in d.audit_kinds(iid) if kind == "escalated"]


def assert_missed(iid: str, late: str, owner: str, escalation: str, boss: str, lane: str, sla: str) -> str:
    """The deadline of ``late`` has just fired: returns the late task's id (unchanged)."""
    assert late in d.inbox_elements(owner, iid)  # not cancelled: still waiting for its owner
    assert escalation in d.inbox_elements(boss, iid)
    assert d.ready(iid)[escalation] == lane
    assert d.clocks(iid)[sla] == "breached"
    assert (escalation, "engine") in escalations(iid)
    return d.task_row(iid, late).id


def close_by_phone_after_qc(iid: str) -> None:
    d.do(iid, "callback", "assistant_b", problem_solved=True, satisfaction=4)
    d.do(iid, "archive", "assistant", record_summary="已解决并回访，客户满意")
    d.assert_finished(iid)


def go_help_directly(iid: str) -> None:
    d.do(iid, "evaluate", "assistant", capability="direct", chargeable=False)
    d.do(iid, "do_help", "assistant")


# --- O1.2 online acknowledgement, 15 minutes ----------------------------------------------------------------

def test_O1_2_online_request_not_acknowledged_in_15_minutes_escalated_to_the_supervisor(procedure):
    iid = d.start_request("online", "g", description="电梯里有异味")
    row = d.task_row(iid, "ack_online")
    assert (row.sla_key, clock.as_utc(row.due_at)) == ("ack_online", MORNING + dt.timedelta(minutes=15))
    # every clock of the request runs from the submission, not only the acknowledgement's
    assert d.clocks(iid) == {"ack_online": "armed", "response": "armed", "resolve_ordinary": "armed"}
    assert d.advance(minutes=14, seconds=59) == 0
    assert d.ready(iid) == {"ack_online": "物业助理"}
    assert d.advance(seconds=2) == 1
    assert d.ready(iid) == {"ack_online": "物业助理", "esc_ack": "客服部主管"}
    assert assert_missed(iid, "ack_online", "assistant", "esc_ack", "cs_supervisor", "客服部主管",
                         "ack_online") == row.id
    d.do(iid, "esc_ack", "cs_supervisor", action_taken="已督促物业助理立即回复客户")
    d.intake(iid, "g", channel="online")  # the work itself goes on as usual
    go_help_directly(iid)
    close_online(iid)
    assert d.clocks(iid) == {"ack_online": "breached", "response": "met", "take_over": "met", "resolve_ordinary": "met",
                             "promised_done": "met"}  # the department's own expected time, kept


def test_O1_2_online_request_acknowledged_within_15_minutes_meets_its_clock(procedure):
    iid = d.start_request("online", "g")
    assert d.advance(minutes=14) == 0
    d.do(iid, "ack_online", "assistant", acknowledged=True)
    assert d.clocks(iid) == {"ack_online": "met", "response": "armed", "resolve_ordinary": "armed"}
    assert d.advance(minutes=10) == 0 and "esc_ack" not in d.ready(iid)
    assert escalations(iid) == []


# --- T2.1 response, 30 minutes --------------------------------------------------------------------------------

def hand_over(iid: str) -> None:
    """Handed over to 客服部 (the consultation stays with the 物业助理's own department)."""
    d.do(iid, "record_hotline", "assistant")
    d.do(iid, "assess", "assistant", category="d", complexity="ordinary")
    d.do(iid, "handover", "assistant", department="customer_service")


def test_T2_1_no_response_within_30_minutes_escalated_to_the_supervisor(procedure):
    iid = d.start_request("hotline", "d", description="咨询停车收费标准")
    d.do(iid, "record_hotline", "assistant")
    d.advance(minutes=25)
    d.do(iid, "assess", "assistant", category="d", complexity="ordinary")
    d.do(iid, "handover", "assistant", department="customer_service")
    late = d.task_row(iid, "take_job")
    assert late.sla_key == "response"  # 30 min from the call end before the department's 10 min from hand-over
    assert d.advance(minutes=5, seconds=1) == 1
    assert d.ready(iid) == {"take_job": "责任部门", "esc_resp": "客服部主管"}
    assert assert_missed(iid, "take_job", "assistant", "esc_resp", "cs_supervisor", "客服部主管",
                         "response") == late.id
    d.do(iid, "esc_resp", "cs_supervisor")
    d.do(iid, "take_job", "assistant")
    d.do(iid, "register", "assistant", consult_form="oral")
    d.do(iid, "answer_oral", "assistant", answered=True, answer="临时停车首小时免费")
    close_by_phone(iid)
    assert d.clocks(iid) == {"response": "breached", "take_over": "met", "resolve_ordinary": "met", "promised_done": "met"}


def test_T2_1_response_within_30_minutes_meets_its_clock(procedure):
    iid = d.start_request("hotline", "d")
    hand_over(iid)
    d.advance(minutes=9)
    d.do(iid, "take_job", "assistant")
    assert d.clocks(iid) == {"response": "met", "take_over": "met", "resolve_ordinary": "armed", "promised_done": "armed"}
    assert d.advance(minutes=30) == 0 and escalations(iid) == []


def test_T2_1_the_clocks_counted_from_receipt_show_on_whatever_task_is_open(procedure):
    """The response and 24-hour clocks run from the call, whichever step the request is at: each open task
    carries the nearest of them as its deadline, and the inbox badges show both."""
    iid = d.start_request("hotline", "d")
    row = d.task_row(iid, "record_hotline")
    assert (row.sla_key, clock.as_utc(row.due_at)) == ("response", MORNING + dt.timedelta(minutes=30))
    with db.read_session() as session:
        assert [c.sla_key for c in queries.clocks_for_tasks(session, [row])[row.id]] == [
            "response", "resolve_ordinary"]
    hand_over(iid)
    d.do(iid, "take_job", "assistant")
    row = d.task_row(iid, "register")  # the consultation itself, after the response
    assert (row.sla_key, clock.as_utc(row.due_at)) == ("resolve_ordinary", MORNING + dt.timedelta(hours=24))
    with db.read_session() as session:
        assert [c.sla_key for c in queries.clocks_for_tasks(session, [row])[row.id]] == [
            "resolve_ordinary", "promised_done"]  # the department's promise shows beside it, not as its deadline


# --- 4.1.2.a supervisor's reply, 10 minutes -------------------------------------------------------------------

def to_supervisor(process: str) -> str:
    iid = d.start_request("hotline", "d" if process == "consultation" else "g", process=process)
    if process == "consultation":
        d.do(iid, "register", "assistant", consult_form="written")
        d.do(iid, "answer_written", "assistant", answered=False)
        return iid
    d.do(iid, "evaluate", "assistant", capability="supervisor", chargeable=False)
    return iid


def supervisor_answers(iid: str, process: str) -> None:
    if process == "consultation":
        d.do(iid, "supervisor_reply", "cs_supervisor", reply_method="phone", need_company_written_reply=False)
    else:
        d.do(iid, "supervisor_decide", "cs_supervisor", can_help=True)
        d.do(iid, "do_help", "assistant")


REPLY_TASK = {"consultation": "supervisor_reply", "general_help": "supervisor_decide"}


@pytest.mark.parametrize("process", ["consultation", "general_help"])
def test_4_1_2_a_supervisor_does_not_reply_within_10_minutes_escalated_to_the_manager(procedure, process):
    iid = to_supervisor(process)
    late = d.task_row(iid, REPLY_TASK[process])
    assert (late.lane, late.sla_key) == ("客服部主管", "supervisor_reply")
    assert d.advance(minutes=9, seconds=59) == 0
    assert d.advance(seconds=2) == 1
    assert d.ready(iid) == {REPLY_TASK[process]: "客服部主管", "esc_reply": "公司经理"}
    assert assert_missed(iid, REPLY_TASK[process], "cs_supervisor", "esc_reply", "manager", "公司经理",
                         "supervisor_reply") == late.id
    d.do(iid, "esc_reply", "manager", action_taken="已电话督促主管答复")
    supervisor_answers(iid, process)
    d.assert_finished(iid)
    assert d.clocks(iid) == {"supervisor_reply": "breached"}


@pytest.mark.parametrize("process", ["consultation", "general_help"])
def test_4_1_2_a_supervisor_replies_within_10_minutes_meets_its_clock(procedure, process):
    iid = to_supervisor(process)
    d.advance(minutes=9)
    supervisor_answers(iid, process)
    d.assert_finished(iid)
    assert d.clocks(iid) == {"supervisor_reply": "met"}
    assert escalations(iid) == []


# --- T2.2 ordinary problem solved, 24 hours -------------------------------------------------------------------

def repair_until_temporary(iid: str) -> None:
    d.intake(iid, "b")
    d.do(iid, "accept", "engineer")
    d.do(iid, "survey", "engineer", repair_area="public", chargeable=False)


def finish_repair(iid: str) -> None:
    d.do(iid, "temporary", "engineer")
    d.do(iid, "work", "engineer")
    d.do(iid, "qc", "engineer", process="repair", qc_passed=True)
    close_by_phone(iid)


def test_T2_2_ordinary_problem_not_solved_within_24_hours_escalated_to_the_supervisor(procedure):
    iid = d.start_request("hotline", "b", description="地下车库照明故障")
    repair_until_temporary(iid)
    [resolve] = [c for c in d.clock_rows(iid) if c.sla_key == "resolve_ordinary"]
    assert resolve.guarded_element_id == "watch_res"  # watched from receipt, beside the handling
    assert d.advance(hours=23, minutes=59) == 0
    assert d.advance(minutes=2) == 1
    # the repair goes on in the engineers' inbox; the supervisor chases it
    assert d.ready(iid) == {"temporary": "工程部", "esc_res": "客服部主管"}
    assert_missed(iid, "temporary", "engineer", "esc_res", "cs_supervisor", "客服部主管", "resolve_ordinary")
    d.do(iid, "esc_res", "cs_supervisor", action_taken="已协调备件，要求今日修复")
    finish_repair(iid)
    assert d.clocks(iid) == {"response": "met", "take_over": "met", "resolve_ordinary": "breached",
                             "promised_done": "met"}


def test_T2_2_ordinary_problem_solved_within_24_hours_meets_its_clock(procedure):
    iid = d.start_request("hotline", "b")
    repair_until_temporary(iid)
    d.advance(hours=23)
    d.do(iid, "temporary", "engineer")
    d.do(iid, "work", "engineer")
    d.do(iid, "qc", "engineer", process="repair", qc_passed=True)
    # repaired, but solved only when the help desk's quality control says so
    assert d.clocks(iid) == {"response": "met", "take_over": "met", "resolve_ordinary": "armed", "promised_done": "armed"}
    d.do(iid, "qc", "assistant", process="help_request", resolved=True)
    assert d.clocks(iid) == {"response": "met", "take_over": "met", "resolve_ordinary": "met", "promised_done": "met"}
    assert d.advance(hours=2) == 0
    close_by_phone_after_qc(iid)
    assert escalations(iid) == []


# --- T2.3 complex problem given a solution, 48 hours ----------------------------------------------------------

@pytest.mark.parametrize("further", [True, False])
def test_T2_3_no_solution_for_a_complex_problem_within_48_hours_escalated_to_manager_and_on_to_leader(
        procedure, further):
    iid = d.start_request("hotline", "g", description="小区外墙大面积渗水")
    d.intake(iid, "g", complexity="complex")
    late = d.task_row(iid, "plan")
    assert (late.lane, late.sla_key) == ("客服部主管", "solution_complex")
    assert d.advance(hours=47, minutes=59) == 0
    assert d.advance(minutes=2) == 1
    assert d.ready(iid) == {"plan": "客服部主管", "esc_plan": "公司经理"}
    assert assert_missed(iid, "plan", "cs_supervisor", "esc_plan", "manager", "公司经理", "solution_complex") == late.id
    d.do(iid, "esc_plan", "manager", escalate_further=further)
    if further:
        assert d.ready(iid) == {"plan": "客服部主管", "esc_plan_leader": "公司领导"}
        d.do(iid, "esc_plan_leader", "leader", action_taken="责成工程部联系开发商保修")
    else:
        assert d.inbox_elements("leader", iid) == []
    d.do(iid, "plan", "cs_supervisor", solution_plan="联系开发商保修，分三期修复")
    go_help_directly(iid)
    close_by_phone(iid)
    assert d.clocks(iid)["solution_complex"] == "breached"


def test_T2_3_complex_problem_solution_within_48_hours_and_no_24_hour_escalation(procedure):
    iid = d.start_request("online", "g")
    d.intake(iid, "g", channel="online", complexity="complex")
    d.advance(hours=47)
    d.do(iid, "plan", "cs_supervisor")
    assert d.clocks(iid)["solution_complex"] == "met"
    d.do(iid, "evaluate", "assistant", capability="department", chargeable=False)
    # a complex problem is held to its plan, not to the ordinary 24 hours: nothing is escalated
    d.advance(hours=24, seconds=1)
    assert d.ready(iid) == {"do_help": "物业助理"}
    assert d.inbox_elements("cs_supervisor", iid) == []
    d.do(iid, "do_help", "assistant")
    close_online(iid)
    assert escalations(iid) == []


def test_all_deadlines_met_online_request_closes_with_every_clock_met(procedure):
    iid = d.start_request("online", "g")
    d.advance(minutes=5)
    d.intake(iid, "g", channel="online", complexity="complex")
    d.advance(hours=20)
    d.do(iid, "plan", "cs_supervisor")
    go_help_directly(iid)
    close_online(iid)
    statuses = {(c.sla_key, c.status) for c in d.clock_rows(iid)}
    # a complex case is held to the 48-hour solution deadline; the 24-hour rule does not apply to it
    assert statuses == {("ack_online", "met"), ("response", "met"), ("take_over", "met"), ("solution_complex", "met"),
                        ("promised_done", "met"), ("plan_promised", "met")}  # the dates promised, kept
    assert escalations(iid) == [] and not any(el.startswith("esc_") for el in d.ready(iid))


def test_T2_2_the_24_hour_rule_does_not_count_against_complex_problems(procedure):
    """The 24-hour clock carries sla_when = complexity != 'complex': a complex case is measured by the 48-hour
    solution deadline instead, so its 24-hour timer escalates nothing and records no breach."""
    iid = d.start_request("hotline", "g")
    d.intake(iid, "g", complexity="complex")
    d.do(iid, "plan", "cs_supervisor")
    d.do(iid, "evaluate", "assistant", capability="department", chargeable=False)
    d.advance(hours=24, seconds=1)
    assert escalations(iid) == []
    assert "breached" not in {c.status for c in d.clock_rows(iid)}


def test_T2_3_date_promised_in_a_plan_made_alongside_the_fast_path_is_a_deadline(procedure):
    """A fire or flood known at the call takes the fast path; classified complex, its plan is made beside the
    emergency handling. The date that plan promises is watched like any plan's (``plan_promised``): it shows
    on the open tasks as they wait, and once passed unsolved it is breached and listed with the other breaches."""
    iid = d.start_request("hotline", "f", description="暴雨后地下车库水浸")
    d.dispatch_at_once(iid)
    d.do(iid, "record_hotline", "assistant")
    d.do(iid, "assess", "assistant", category="f", priority="P1", complexity="complex")
    promised = MORNING + dt.timedelta(hours=28)
    d.do(iid, "plan", "cs_supervisor", solution_plan="抽水、清淤，协调保险公司定损",
         planned_completion=promised.isoformat())
    assert d.clocks(iid)["plan_promised"] == "armed"
    row = d.task_row(iid, "register")  # the 4.7 sub-procedure's first step, still open
    with db.read_session() as session:
        [badge] = [c for c in queries.clocks_for_tasks(session, [row])[row.id] if c.sla_key == "plan_promised"]
    assert clock.as_utc(badge.due_at) == promised
    d.advance(hours=28, seconds=1)
    assert d.clocks(iid)["plan_promised"] == "breached"
    with db.read_session() as session:
        assert (iid, "plan_promised") in {(c.instance_id, c.sla_key)
                                          for c in queries.breached_clocks(session, MORNING)}
