"""4.2 紧急病人的求助处理: the inquiry, the three sub-procedures ①②③ with every dash step in its lane, and
the reporting rule 4.2 2): ordinary cases to 客服部主管 afterwards, major ones to 公司经理 at once, who may ask
公司领导 for instructions and follow them."""

from __future__ import annotations

import pytest

from tests.scenarios import driver as d


def start_emergency(help_mode: str, *, major: bool) -> str:
    """4.2 1): a hotline call for a patient; the 物业助理 asks address and phone, then what help is wanted."""
    iid = d.start_request("hotline", "a", process="emergency_patient", description="家中老人突然晕倒")
    d.do(iid, "inquiry", "assistant", patient_address="3栋2单元1201", patient_phone="13800000000",
         patient_condition="老人晕倒，意识模糊", help_mode=help_mode, is_major=major)
    return iid


def escort_steps(iid: str, *, more_help: bool = False) -> None:
    """① 4.2.1.1.1–7: two guards chosen for standby while the taxi is booked, escort, settle in, more help?,
    feedback, record; each step in the inbox of the person chosen for it."""
    row = d.do(iid, "notify_lead", "assistant", process="emergency_escort", lead_name="security_lead")
    assert row.clause and "4.2.1.1.1" in row.clause
    d.do(iid, "assign_guards", "security_lead", guards=["guard1", "guard2"], standby_location="patient_home")
    d.do(iid, "arrange_vehicle", "assistant")
    d.do(iid, "escort", "guard1", customer_accompanies=True)
    d.do(iid, "settle", "guard2")
    d.do(iid, "ask_more", "guard1", more_help_needed=more_help)
    if more_help:
        # 4.2.1.1.5: asked for more help -> the department head (护管部值班负责人) arranges it
        assert d.ready(iid)["supervisor_arrange"] == "护管部值班负责人"
        d.do(iid, "supervisor_arrange", "security_lead")
    d.do(iid, "feedback", "guard1", process="emergency_escort")
    d.do(iid, "record", "assistant", process="emergency_escort", emergency_record="已送市一医院急诊，家属陪同")


def call_120_steps(iid: str) -> None:
    """② 4.2.1.2.1–5: call 120, tell the lead, gate prepared, ambulance guided, feedback, record."""
    d.do(iid, "call_120", "assistant", process="emergency_call_120", called_120=True, customer_told_reception=True)
    d.do(iid, "notify_lead", "assistant", process="emergency_call_120", lead_name="security_lead")
    d.do(iid, "prepare_gate", "security_lead", gate_staff="gate_guard", wait_at_gate=True)
    d.do(iid, "guide", "gate_guard", ambulance_guided=True)
    d.do(iid, "feedback", "security_lead", process="emergency_call_120")
    d.do(iid, "record", "assistant", process="emergency_call_120", emergency_record="120已接走病人")


def nursing_steps(iid: str) -> None:
    """③ 4.2.1.3.1–4: explain the need, a carer assigned, introduces themself, relative present, care, record."""
    d.do(iid, "explain", "assistant", lead_name="security_lead")
    d.do(iid, "assign", "security_lead", nurses=["caregiver"])
    d.do(iid, "introduce", "caregiver")
    d.do(iid, "family", "caregiver", family_present=True, relative_name="林小姐", relation="女儿")
    d.do(iid, "care", "caregiver")
    d.do(iid, "record", "assistant", process="emergency_nursing", emergency_record="护理两小时，病人已好转")


STEPS = {"escort": escort_steps, "call_120": call_120_steps, "nursing": nursing_steps}
SUBPROCESS = {"escort": "emergency_escort", "call_120": "emergency_call_120", "nursing": "emergency_nursing"}


def run_ordinary(help_mode: str) -> dict:
    iid = start_emergency(help_mode, major=False)
    assert "major_report" not in d.ready(iid)
    STEPS[help_mode](iid)
    # 4.2.2.a: reported to 客服部主管 only after everything is done
    assert d.ready(iid) == {"ordinary_report": "客服部主管"}
    assert d.inbox_elements("manager", iid) == []
    d.do(iid, "ordinary_report", "cs_supervisor", reviewed=True)
    final = d.assert_finished(iid)
    assert final["help_mode"] == help_mode and final["is_major"] is False
    return final


def run_major(help_mode: str, *, ask_leader: bool) -> tuple[str, dict]:
    iid = start_emergency(help_mode, major=True)
    # 4.2.2.b: the manager is told at once, while the sub-procedure is already running
    ready = d.ready(iid)
    assert ready["major_report"] == "公司经理" and len(ready) == (3 if help_mode == "escort" else 2)
    assert d.inbox_elements("manager", iid) == ["major_report"]
    d.do(iid, "major_report", "manager", manager_instruction="立即安排，随时报告", ask_leader=ask_leader)
    if ask_leader:
        # 4.2.2.c: the manager asks 公司领导 and acts on the instructions
        assert d.inbox_elements("leader", iid) == ["leader_instruction"]
        d.do(iid, "leader_instruction", "leader")
        d.do(iid, "follow_instruction", "manager")
    else:
        assert d.inbox_elements("leader", iid) == []
    STEPS[help_mode](iid)
    final = d.assert_finished(iid)
    kinds = d.audit_kinds(iid)
    assert ("task_completed", "ordinary_report", "cs_supervisor") not in kinds  # no after-the-fact report
    return iid, final


def test_4_2_1_1_escort_to_hospital_ordinary_case_reported_to_supervisor_afterwards(procedure):
    final = run_ordinary("escort")
    assert final["guards"] == ["guard1", "guard2"] and final["customer_accompanies"] is True
    assert final["more_help_needed"] is False


def test_4_2_1_1_escort_to_hospital_major_case_reported_to_manager_at_once(procedure):
    iid, final = run_major("escort", ask_leader=False)
    assert final["ask_leader"] is False
    actors = {(el, who) for kind, el, who in d.audit_kinds(iid) if kind == "task_completed"}
    assert {("major_report", "manager"), ("assign_guards", "security_lead"), ("escort", "guard1"),
            ("settle", "guard2")} <= actors


def test_4_2_1_1_5_customer_needs_more_help_the_department_head_arranges_it(procedure):
    iid = start_emergency("escort", major=False)
    escort_steps(iid, more_help=True)
    d.do(iid, "ordinary_report", "cs_supervisor", reviewed=True)
    final = d.assert_finished(iid)
    assert final["more_help_needed"] is True


def test_4_2_1_1_1_escort_needs_two_guards_on_standby(procedure):
    iid = start_emergency("escort", major=False)
    # the taxi is booked at the same time as the guards are arranged, not after
    assert d.ready(iid) == {"notify_lead": "物业助理", "arrange_vehicle": "物业助理"}
    d.do(iid, "notify_lead", "assistant", process="emergency_escort", lead_name="security_lead")
    errors = d.attempt(iid, "assign_guards", "security_lead", guards=["guard1"], standby_location="basement_lobby")
    assert errors == {"guards": "至少需要2项"}
    # guards are chosen from the accounts holding the role, never typed
    errors = d.attempt(iid, "assign_guards", "security_lead", guards=["guard1", "陈护管"], standby_location="basement_lobby")
    assert errors == {"guards.1": "第2项：请从选项中选择"}
    errors = d.attempt(iid, "assign_guards", "security_lead", guards=["guard1", "gate_guard"], standby_location="basement_lobby")
    assert errors == {"guards.1": "第2项：请从选项中选择"}
    # a guard cannot take the lead's task either: it is not in their inbox
    assert d.inbox_elements("guard1", iid) == []
    d.do(iid, "assign_guards", "security_lead", guards=["guard2", "guard1"], standby_location="basement_lobby")
    assert d.ready(iid) == {"arrange_vehicle": "物业助理"}
    d.do(iid, "arrange_vehicle", "assistant")
    # the first guard chosen leads the escort: the task is theirs, not every guard's
    assert d.inbox_elements("guard2", iid) == ["escort"] and d.inbox_elements("guard1", iid) == []


def test_4_2_1_2_call_120_ordinary_case_reported_to_supervisor_afterwards(procedure):
    final = run_ordinary("call_120")
    assert final["called_120"] is True and final["ambulance_guided"] is True


def test_4_2_1_2_call_120_major_case_manager_asks_the_leader_and_follows_instructions(procedure):
    iid, final = run_major("call_120", ask_leader=True)
    assert final["ask_leader"] is True
    completed = [el for kind, el, _ in d.audit_kinds(iid) if kind == "task_completed"]
    assert completed.index("major_report") < completed.index("leader_instruction") < completed.index(
        "follow_instruction")


def test_4_2_1_3_short_term_nursing_ordinary_case_reported_to_supervisor_afterwards(procedure):
    final = run_ordinary("nursing")
    assert final["family_present"] is True and final["relative_name"] == "林小姐"


def test_4_2_1_3_short_term_nursing_major_case_reported_to_manager_at_once(procedure):
    _, final = run_major("nursing", ask_leader=False)
    assert final["nurses"] == ["caregiver"]


@pytest.mark.parametrize("help_mode", ["escort", "nursing"])
def test_4_2_2_c_major_case_with_leader_instructions_for_each_sub_procedure(procedure, help_mode):
    _, final = run_major(help_mode, ask_leader=True)
    assert final["help_mode"] == help_mode and final["ask_leader"] is True


def test_4_2_1_3_4_carer_never_alone_with_the_patient_a_relative_must_be_present(procedure):
    iid = start_emergency("nursing", major=False)
    d.do(iid, "explain", "assistant", lead_name="security_lead")
    d.do(iid, "assign", "security_lead", nurses=["caregiver"])
    d.do(iid, "introduce", "caregiver")
    assert d.attempt(iid, "family", "caregiver", family_present=True, relative_name="") == {
        "relative_name": "至少填写1个字"}
    errors = d.attempt(iid, "family", "caregiver", {"family_present": True, "relative_name": None})
    assert set(errors) == {"relative_name"}
    # the carer records the truth (no relative yet) rather than ticking a box; the duty lead decides
    d.do(iid, "family", "caregiver", family_present=False, absence_note="已联系女儿，约二十分钟到")
    assert d.ready(iid) == {"no_family": "护管部值班负责人"}  # nursing does not go on without the relative
    d.do(iid, "no_family", "security_lead", no_family_decision="wait")
    d.do(iid, "family", "caregiver", family_present=True, relative_name="林小姐")
    assert d.ready(iid) == {"care": "护理人员"}
