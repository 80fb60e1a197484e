"""4.8 其他生活或工作上的正常求助: help as far as we can (力所能及) — directly, via a department, or with the
supervisor's decision (10-minute reply, 4.1.2.a); paid help goes through 4.9; what cannot be done is explained
with other ways to get it."""

from __future__ import annotations

from tests.scenarios import driver as d


def start_general(channel: str = "hotline") -> str:
    iid = d.start_request(channel, "g", process="general_help", description="想请人帮忙搬家具")
    assert d.ready(iid) == {"evaluate": "物业助理"}
    return iid


def test_4_8_help_given_through_a_department(procedure):
    iid = start_general()
    d.do(iid, "evaluate", "assistant", capability="department", chargeable=False)
    d.do(iid, "do_help", "assistant", department_contacted="工程部", help_given="工程部派人协助")
    final = d.assert_finished(iid)
    assert final["capability"] == "department"


def test_4_8_supervisor_agrees_paid_help_quoted_accepted_by_the_resident_and_charged(procedure):
    iid = start_general("online")
    d.do(iid, "evaluate", "assistant", capability="supervisor", chargeable=True)
    assert d.ready(iid) == {"supervisor_decide": "客服部主管"}
    d.do(iid, "supervisor_decide", "cs_supervisor", can_help=True, supervisor_reply="可以安排，按标准收费")
    d.do(iid, "quote", "assistant", fee_code="appliance_move", quantity=1.5)
    assert d.task_data(iid, "customer_accept")["quote_total"] == 90.0
    d.do(iid, "customer_accept", "customer", quote_accepted=True)
    d.do(iid, "do_service", "engineer")
    d.do(iid, "charge", "assistant", amount_charged=90.0, payment_method="cash")
    final = d.assert_finished(iid)
    assert (final["fee_code"], final["quote_total"], final["amount_charged"]) == ("appliance_move", 90.0, 90.0)
    assert d.clocks(iid) == {"supervisor_reply": "met"}


def test_4_8_beyond_our_capability_supervisor_explains_and_recommends_other_ways(procedure):
    iid = start_general()
    d.do(iid, "evaluate", "assistant", capability="supervisor", chargeable=False)
    d.do(iid, "supervisor_decide", "cs_supervisor", can_help=False, supervisor_reply="超出物业服务范围")
    assert d.ready(iid) == {"decline": "客服部主管"}
    d.do(iid, "decline", "cs_supervisor", explanation="建议联系专业搬家公司，已提供两家联系方式")
    final = d.assert_finished(iid)
    assert final["can_help"] is False and "do_help" not in {el for _, el, _ in d.audit_kinds(iid)}
