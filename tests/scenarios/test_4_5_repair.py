"""4.5 报修求助的处理 (the company's 《报修管理工作规程》 as modelled): accept with an ETA, survey, temporary
measures, paid or free repair, quality check with rework; public areas are never charged."""

from __future__ import annotations

from tests.scenarios import driver as d


def start_repair(channel: str = "hotline", *, chargeable: bool, area: str = "private") -> str:
    iid = d.start_request(channel, "b", process="repair", description="客厅吊灯不亮")
    assert d.ready(iid) == {"accept": "工程部"}
    d.do(iid, "accept", "engineer", engineer="郑工程师", customer_informed=True)
    d.do(iid, "survey", "engineer", repair_area=area, chargeable=chargeable, diagnosis="灯具损坏需更换")
    d.do(iid, "temporary", "engineer", temporary_measures="先断开该回路电源")
    return iid


def test_4_5_paid_repair_quoted_and_accepted_by_phone(procedure):
    iid = start_repair(chargeable=True)
    d.do(iid, "quote", "assistant", fee_code="light_replace", quantity=3)
    assert d.task_data(iid, "phone_accept")["quote_total"] == 60.0
    d.do(iid, "phone_accept", "assistant", quote_accepted=True, confirm_note="业主林先生电话同意")
    d.do(iid, "do_service", "engineer")
    d.do(iid, "charge", "assistant", amount_charged=60.0, payment_method="bill")
    assert d.ready(iid) == {"qc": "工程部"}
    d.do(iid, "qc", "engineer", qc_passed=True)
    final = d.assert_finished(iid)
    assert (final["quote_total"], final["amount_charged"], final["payment_method"]) == (60.0, 60.0, "bill")


def test_4_5_public_area_repair_is_free_and_cannot_be_marked_chargeable(procedure):
    iid = d.start_request("hotline", "b", process="repair", description="单元门禁损坏")
    d.do(iid, "accept", "engineer")
    errors = d.attempt(iid, "survey", "engineer", repair_area="public", chargeable=True)
    assert errors == {"chargeable": "请从选项中选择"}
    d.do(iid, "survey", "engineer", repair_area="public", chargeable=False)
    d.do(iid, "temporary", "engineer")
    assert d.ready(iid) == {"work": "工程部"}
    d.do(iid, "work", "engineer")
    d.do(iid, "qc", "engineer", qc_passed=True)
    final = d.assert_finished(iid)
    assert "quote_total" not in final


def test_4_5_customer_declines_the_quote_repair_ends_and_the_request_is_tracked_then_closed(procedure):
    iid = d.start_request("hotline", "b", description="想更换卧室灯具")
    d.intake(iid, "b")
    d.do(iid, "accept", "engineer")
    d.do(iid, "survey", "engineer", repair_area="private", chargeable=True)
    d.do(iid, "temporary", "engineer")
    d.do(iid, "quote", "assistant", fee_code="light_replace", quantity=1)
    d.do(iid, "phone_accept", "assistant", quote_accepted=False, decline_reason="自己找人更换")
    d.do(iid, "record_decline", "assistant")
    # back in the main process: not solved by us -> tracked (O6.2), closed with the customer's agreement
    assert d.inbox_elements("engineer", iid) == []
    d.do(iid, "qc", "assistant", process="help_request", resolved=False)
    d.do(iid, "track", "assistant", followup_action="close", followup_note="客户自行处理，同意结案")
    d.do(iid, "archive", "assistant")
    final = d.assert_finished(iid)
    assert final["quote_accepted"] is False and "amount_charged" not in final
