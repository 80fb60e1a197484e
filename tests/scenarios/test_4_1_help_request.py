"""4.1 分类及处理原则 and the overview O1–O7: every type a–g end to end through the main process
``help_request`` (intake, classification, hand-over, the type's own procedure, quality check, the customer's
confirmation, archive), and 6) 反馈与跟踪: unresolved or unhappy cases are tracked until closed, and what
cannot be solved goes to management (T5)."""

from __future__ import annotations

from tests.scenarios import driver as d
from tests.scenarios.test_4_2_emergency_patient import call_120_steps


def close_by_phone(iid: str, satisfaction: int = 4) -> dict:
    """O5.2 quality check, O6.1 phone call-back with satisfaction, O7.1 archive."""
    d.do(iid, "qc", "assistant", process="help_request", resolved=True)
    d.do(iid, "callback", "assistant_b", problem_solved=True, satisfaction=satisfaction)
    d.do(iid, "archive", "assistant", record_summary="已解决并回访，客户满意")
    return d.assert_finished(iid)


def close_online(iid: str, satisfaction: int = 5) -> dict:
    """Online requests: the resident confirms and rates the service themself (assigned to them only)."""
    d.do(iid, "qc", "assistant", process="help_request", resolved=True)
    assert d.inbox_elements("assistant", iid) == []
    assert d.inbox_elements("customer", iid) == ["confirm_customer"]
    row = d.do(iid, "confirm_customer", "customer", problem_solved=True, satisfaction=satisfaction)
    assert (row.lane, row.assignee) == ("业主/住户", "customer")
    d.do(iid, "archive", "assistant")
    return d.assert_finished(iid)


def test_4_1_1_a_emergency_patient_by_hotline_end_to_end(procedure):
    iid = d.start_request("hotline", description="楼上老人突发心脏不适")
    assert d.ready(iid) == {"record_hotline": "物业助理"}  # O1.1 the hotline call is recorded
    d.intake(iid, "a", priority="P1")
    assert d.ready(iid) == {"inquiry": "物业助理"}
    d.do(iid, "inquiry", "assistant", help_mode="call_120", is_major=False)
    call_120_steps(iid)
    d.do(iid, "ordinary_report", "cs_supervisor", reviewed=True)
    final = close_by_phone(iid)
    assert final["category"] == "a" and final["help_mode"] == "call_120"
    req = d.request_row(iid)
    assert (req.channel, req.category, req.priority, req.satisfaction) == ("hotline", "a", "P1", 4)


def test_4_1_1_b_repair_online_paid_with_fee_from_the_schedule_end_to_end(procedure):
    iid = d.start_request("online", "b", description="卫生间下水道堵塞")
    assert d.ready(iid) == {"ack_online": "物业助理"}  # O1.2
    d.intake(iid, "b", channel="online")
    d.do(iid, "accept", "engineer")
    d.do(iid, "survey", "engineer", repair_area="private", chargeable=True)
    d.do(iid, "temporary", "engineer")
    # 4.9: quoted from the fee schedule (管道疏通 80 元/次), the resident sees the quote before work starts
    assert d.ready(iid) == {"quote": "物业助理"}
    offered = d.task_data(iid, "quote")["fee_items"]
    assert {"code": "pipe_unblock", "name": "管道疏通", "unit": "次", "price": 80.0, "example": True,
            "label": "管道疏通 80.00元/次（示例价格，非公司标准）"} in offered  # the seeded figure: an example
    d.do(iid, "quote", "assistant", fee_code="pipe_unblock", quantity=2)
    assert d.inbox_elements("customer", iid) == ["customer_accept"]
    assert d.task_data(iid, "customer_accept")["quote_total"] == 160.0
    assert d.inbox_elements("engineer", iid) == []  # no work before the customer accepts
    d.do(iid, "customer_accept", "customer", quote_accepted=True)
    d.do(iid, "do_service", "engineer")
    d.do(iid, "charge", "assistant", amount_charged=160.0, payment_method="wechat", receipt_no="SJ-20261127-01")
    d.do(iid, "qc", "engineer", process="repair", qc_passed=True)
    final = close_online(iid)
    assert (final["fee_code"], final["quantity"], final["quote_total"], final["amount_charged"]) == (
        "pipe_unblock", 2, 160.0, 160.0)
    assert d.request_row(iid).satisfaction == 5


def test_4_1_1_b_repair_public_area_free_reworked_until_quality_check_passes(procedure):
    iid = d.start_request("hotline", "b", description="楼道灯不亮")
    d.intake(iid, "b")
    d.do(iid, "accept", "engineer")
    d.do(iid, "survey", "engineer", repair_area="public", chargeable=False)
    d.do(iid, "temporary", "engineer")
    assert d.ready(iid) == {"work": "工程部"}  # free: straight to the repair, no quote
    d.do(iid, "work", "engineer")
    d.do(iid, "qc", "engineer", process="repair", qc_passed=False)
    assert d.ready(iid) == {"work": "工程部"}  # failed check: repaired again
    d.do(iid, "work", "engineer")
    d.do(iid, "qc", "engineer", process="repair", qc_passed=True)
    final = close_by_phone(iid)
    assert "quote_total" not in final and final["repair_area"] == "public"


def test_O6_1_registered_residents_hotline_call_is_confirmed_and_rated_in_the_portal(procedure):
    """A hotline caller whose phone belongs to a resident account confirms and rates in the portal, like an
    online request; the 物业助理 makes no phone call-back."""
    iid = d.start_request("hotline", "b", resident=d.CUSTOMER, description="阳台地漏返水")
    d.intake(iid, "b")
    d.do(iid, "accept", "engineer")
    d.do(iid, "survey", "engineer", repair_area="private", chargeable=False)
    d.do(iid, "temporary", "engineer")
    d.do(iid, "work", "engineer")
    d.do(iid, "qc", "engineer", process="repair", qc_passed=True)
    final = close_online(iid, satisfaction=4)
    assert final["channel"] == "hotline" and final["customer_username"] == d.CUSTOMER
    completed = [el for kind, el, _ in d.audit_kinds(iid) if kind == "task_completed"]
    assert "callback" not in completed and "confirm_customer" in completed
    req = d.request_row(iid)
    assert (req.channel, req.customer_username, req.satisfaction) == ("hotline", d.CUSTOMER, 4)


def test_4_1_1_c_complaint_online_unhappy_complainant_escalated_to_manager_then_closed(procedure):
    iid = d.start_request("online", "c", description="保洁不及时，垃圾堆放两天")
    d.intake(iid, "c", channel="online", department="cleaning")
    d.do(iid, "register", "assistant", process="complaint")
    d.do(iid, "validate", "cs_supervisor", complaint_valid=True)
    d.do(iid, "investigate", "cs_supervisor")
    d.do(iid, "rectify", "cs_supervisor")
    d.do(iid, "reply", "assistant")
    d.do(iid, "revisit", "assistant", complainant_satisfied=False)
    assert d.ready(iid) == {"escalate": "公司经理"}
    d.do(iid, "escalate", "manager")
    d.do(iid, "rectify", "cs_supervisor")
    d.do(iid, "reply", "assistant")
    d.do(iid, "revisit", "assistant", complainant_satisfied=True)
    final = close_online(iid, satisfaction=4)
    assert final["complaint_valid"] is True and final["complainant_satisfied"] is True


def test_4_1_1_d_consultation_by_hotline_answered_at_once(procedure):
    iid = d.start_request("hotline", "d", description="物业费怎么交")
    d.intake(iid, "d", department="customer_service")
    d.do(iid, "register", "assistant", process="consultation", consult_form="oral", confidential=False)
    d.do(iid, "answer_oral", "assistant", answered=True, answer="物业费按月缴纳，可在线上平台支付")
    final = close_by_phone(iid, satisfaction=5)
    assert final["answer"] == "物业费按月缴纳，可在线上平台支付"


def test_4_1_1_e_theft_reported_police_called_guards_dispatched_end_to_end(procedure):
    iid = d.start_request("hotline", "e", description="地下车库电动车被盗")
    d.dispatch_at_once(iid)  # the fast path: the duty lead is sent at the call
    d.do(iid, "register", "assistant", process="security_incident", incident_type="theft", casualties=False)
    # in parallel: the manager is told at once, police called, the guards already sent go on site (the duty lead
    # dispatched once, at the call: 4.6 does not ask again); the call's record waits
    assert d.ready(iid) == {"manager_report": "公司经理", "call_services": "物业助理", "onsite": "护管员",
                            "record_hotline": "物业助理"}
    d.do(iid, "manager_report", "manager")
    d.do(iid, "call_services", "assistant", services_called=["110"])
    d.record_afterwards(iid, "e")
    # the on-site work is the guard's the duty lead sent (dispatch_at_once: guard1), not any guard's
    assert d.inbox_elements("guard2", iid) == []
    d.do(iid, "onsite", "guard1")
    d.do(iid, "cooperate", "guard1")
    d.do(iid, "report", "security_lead")
    d.do(iid, "record", "assistant", process="security_incident")
    final = close_by_phone(iid)
    assert final["incident_type"] == "theft" and final["services_called"] == ["110"]


def test_4_1_1_f_fire_reported_emergency_plan_and_evacuation_end_to_end(procedure):
    iid = d.start_request("hotline", "f", description="5栋12楼冒烟")
    d.dispatch_at_once(iid)  # the fast path: the duty lead is sent at the call
    d.do(iid, "register", "assistant", process="disaster", disaster_type="fire")
    assert d.ready(iid) == {"command": "公司经理", "fire_response": "护管员", "record_hotline": "物业助理"}
    d.record_afterwards(iid, "f")
    d.do(iid, "fire_response", "guard1")
    d.do(iid, "command", "manager")
    d.do(iid, "evacuate", "guard2")
    d.do(iid, "cleanup", "cleaner")
    d.do(iid, "assess_damage", "engineer")
    d.do(iid, "summary", "manager")
    d.do(iid, "notify", "assistant")
    final = close_by_phone(iid)
    assert final["disaster_type"] == "fire" and final["called_119"] is True


def test_4_1_1_g_everyday_help_online_given_directly_end_to_end(procedure):
    iid = d.start_request("online", "g", description="想借用梯子")
    d.intake(iid, "g", channel="online", department="customer_service")
    d.do(iid, "evaluate", "assistant", capability="direct", chargeable=False)
    d.do(iid, "do_help", "assistant", help_given="已借出梯子")
    final = close_online(iid)
    assert final["help_given"] == "已借出梯子"
    assert d.request_row(iid).customer_username == "customer"


def test_O6_1_unhappy_customer_leads_to_follow_up_and_rework(procedure):
    iid = d.start_request("online", "g", description="家中门锁打不开")
    d.intake(iid, "g", channel="online")
    d.do(iid, "evaluate", "assistant", capability="department", chargeable=False)
    d.do(iid, "do_help", "assistant")
    d.do(iid, "qc", "assistant", resolved=True)
    d.do(iid, "confirm_customer", "customer", problem_solved=True, satisfaction=2, feedback_comment="等了太久")
    # O6.2: not satisfied -> tracked, never archived as done
    assert d.ready(iid) == {"track": "物业助理"}
    d.do(iid, "track", "assistant", followup_action="rework", unresolved_cause="客户对等待时间不满意")
    d.do(iid, "evaluate", "assistant", capability="direct", chargeable=False)
    d.do(iid, "do_help", "assistant")
    final = close_online(iid, satisfaction=5)
    assert final["satisfaction"] == 5 and d.request_row(iid).satisfaction == 5
    completed = [el for kind, el, _ in d.audit_kinds(iid) if kind == "task_completed"]
    assert completed.count("confirm_customer") == 2 and completed.count("track") == 1


def test_O6_2_unresolved_problem_tracked_over_several_follow_ups_until_closed(procedure):
    iid = d.start_request("hotline", "g", description="小区门禁卡无法使用")
    d.intake(iid, "g")
    d.do(iid, "evaluate", "assistant", capability="direct", chargeable=False)
    d.do(iid, "do_help", "assistant")
    d.do(iid, "qc", "assistant", resolved=False)
    for attempt in range(3):
        d.advance(hours=4)
        d.do(iid, "track", "assistant", followup_action="rework", followup_note=f"第{attempt + 1}次跟踪",
             next_followup_at="2026-11-28T10:00:00+08:00")
        d.do(iid, "evaluate", "assistant", capability="direct", chargeable=False)
        d.do(iid, "do_help", "assistant")
        d.do(iid, "qc", "assistant", resolved=False)
    # T5: cannot be solved here -> management
    d.do(iid, "track", "assistant", followup_action="management")
    assert d.ready(iid) == {"management": "公司经理"}
    d.do(iid, "management", "manager", management_decision="更换门禁系统读卡模块")
    d.do(iid, "evaluate", "assistant", capability="department", chargeable=False)
    d.do(iid, "do_help", "assistant")
    d.do(iid, "qc", "assistant", resolved=True)
    d.do(iid, "callback", "assistant_b", problem_solved=True, satisfaction=4)
    d.do(iid, "archive", "assistant")
    final = d.assert_finished(iid)
    assert final["management_decision"] == "更换门禁系统读卡模块"
    completed = [el for kind, el, _ in d.audit_kinds(iid) if kind == "task_completed"]
    assert completed.count("track") == 4 and completed.count("qc") == 5


def test_O6_2_tracking_can_close_a_case_the_customer_no_longer_needs(procedure):
    iid = d.start_request("hotline", "g")
    d.intake(iid, "g")
    d.do(iid, "evaluate", "assistant", capability="direct", chargeable=False)
    d.do(iid, "do_help", "assistant")
    d.do(iid, "qc", "assistant", resolved=False)
    d.do(iid, "track", "assistant", followup_action="close", followup_note="客户已自行解决，同意结案")
    d.do(iid, "archive", "assistant")
    final = d.assert_finished(iid)
    assert final["followup_action"] == "close"
