"""4.9 有偿服务: the price comes from the fee schedule (《有偿服务收费标准》, editable by an admin), the quote is
accepted by the customer before any work starts, then the fee is charged."""

from __future__ import annotations

from sqlalchemy import update

from engine.core import db
from engine.helpdesk.tables import FeeItem
from tests.scenarios import driver as d


def start_paid(channel: str) -> str:
    iid = d.start_request(channel, "g", process="paid_service", description="需要开锁")
    assert d.ready(iid) == {"quote": "物业助理"}
    return iid


def test_4_9_quote_from_the_fee_schedule_accepted_by_phone_then_work_and_charge(procedure):
    iid = start_paid("hotline")
    codes = [i["code"] for i in d.task_data(iid, "quote")["fee_items"]]
    assert codes == sorted(["lock_open", "pipe_unblock", "light_replace", "tap_replace", "appliance_move",
                            "deep_clean"])
    d.do(iid, "quote", "assistant", fee_code="light_replace", quantity=2)
    offered = d.task_data(iid, "phone_accept")
    assert (offered["fee_item"]["price"], offered["quote_total"]) == (20.0, 40.0)
    assert d.inbox_elements("engineer", iid) == []
    d.do(iid, "phone_accept", "assistant", quote_accepted=True)
    assert d.ready(iid) == {"do_service": "工程部"}
    d.do(iid, "do_service", "engineer")
    d.do(iid, "charge", "assistant", amount_charged=40.0, payment_method="alipay", receipt_no="SJ-0001")
    final = d.assert_finished(iid)
    assert (final["quote_total"], final["amount_charged"], final["receipt_no"]) == (40.0, 40.0, "SJ-0001")


def test_4_9_resident_declines_the_online_quote_no_work_no_charge(procedure):
    iid = start_paid("online")
    d.do(iid, "quote", "assistant", fee_code="lock_open", quantity=1)
    assert d.inbox_elements("assistant", iid) == []
    assert d.inbox_elements("customer", iid) == ["customer_accept"]
    d.do(iid, "customer_accept", "customer", quote_accepted=False, decline_reason="价格太高")
    assert d.ready(iid) == {"record_decline": "物业助理"}
    d.do(iid, "record_decline", "assistant")
    final = d.assert_finished(iid)
    assert final["quote_total"] == 50.0 and final["decline_reason"] == "价格太高"
    assert not {"do_service", "charge"} & {el for _, el, _ in d.audit_kinds(iid)}


def test_4_9_no_work_without_an_explicit_answer_to_the_quote(procedure):
    iid = start_paid("online")
    d.do(iid, "quote", "assistant", fee_code="deep_clean", quantity=2)
    assert d.attempt(iid, "customer_accept", "customer", omit=("quote_accepted",)) == {"quote_accepted": "请填写此项"}
    assert d.attempt(iid, "customer_accept", "customer", quote_accepted="好的") == {
        "quote_accepted": "格式不正确，应为是或否"}
    assert d.ready(iid) == {"customer_accept": "业主/住户"}


def test_4_9_quote_only_from_the_schedule_and_at_the_price_the_admin_set(procedure):
    with db.transaction() as session:
        session.execute(update(FeeItem).where(FeeItem.code == "tap_replace").values(price_cents=3500))
        session.execute(update(FeeItem).where(FeeItem.code == "deep_clean").values(active=False))
    iid = start_paid("hotline")
    offered = {i["code"]: i["price"] for i in d.task_data(iid, "quote")["fee_items"]}
    assert offered["tap_replace"] == 35.0 and "deep_clean" not in offered
    assert d.attempt(iid, "quote", "assistant", fee_code="deep_clean", quantity=1) == {"fee_code": "请从选项中选择"}
    assert d.attempt(iid, "quote", "assistant", fee_code="tap_replace", quantity=0) == {"quantity": "必须大于0"}
    d.do(iid, "quote", "assistant", fee_code="tap_replace", quantity=2)
    assert d.task_data(iid, "phone_accept")["quote_total"] == 70.0
