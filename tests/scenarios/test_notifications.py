"""Notifications through the outbox (issue 11, item 3) on the real procedure: the resident is told of each
step of their request by SMS (through the http adapter, against a fake provider on 127.0.0.1) and in-app,
in order; a failed send is retried with backoff and then waits for the admin; a change that rolls back
leaves no message; a landline is skipped with the reason; two schedulers never send one message twice."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from engine import notify, runtime
from engine.core import clock, db
from engine.notify import OutboxMessage
from tests.fake_sms import FakeProvider
from tests.scenarios import driver as d
from tests.scenarios.conftest import PASSWORD
from tests.web.conftest import make_app

PHONE = d.HOTLINE_CALLER["phone"]


@pytest.fixture
def provider(monkeypatch):
    with FakeProvider() as fake:
        yield fake.configure(monkeypatch)


def messages(iid: str | None = None, channel: str = "sms") -> list[OutboxMessage]:
    with db.read_session() as session:
        query = select(OutboxMessage).where(OutboxMessage.channel == channel).order_by(OutboxMessage.id)
        if iid is not None:
            query = query.where(OutboxMessage.instance_id == iid)
        return list(session.scalars(query))


def send() -> notify.delivery.Outcome:
    return notify.delivery.send_due(owner="test-scheduler")


def test_the_messages_of_one_requests_life_reach_the_residents_phone_in_order(procedure, provider):
    """受理, 答复, 派单 with the expected time, 待确认, 回访 — each sent by the scheduler's pass after the step
    that causes it; the 派单 SMS fails once, waits visibly for the admin's page, and is retried in time."""
    admin = make_app(HELP_REQUEST_PROCESS="help_request").test_client()
    assert admin.post("/login", data={"username": "admin", "password": PASSWORD}).status_code == 302
    iid = d.start_request("online", "g", description="家中门锁打不开")
    assert provider.received == []  # nothing leaves before the scheduler's pass
    assert send().sent == 1
    d.do(iid, "ack_online", "assistant", ack_message="您好，已收到，师傅下午上门。", acknowledged=True)
    assert send().sent == 1
    d.do(iid, "assess", "assistant", category="g", priority="P3", complexity="ordinary")
    d.do(iid, "handover", "assistant", department="engineering", info_verified=True)
    d.do(iid, "take_job", "engineer", expected_done_at="2026-11-27T15:00:00+08:00")  # the department takes it
    provider.fail_next(500)  # the provider is down for the 派单
    outcome = send()
    assert (outcome.sent, outcome.retrying) == (0, 1)
    [dispatched] = [m for m in messages(iid) if m.event == "dispatched"]
    assert (dispatched.status, dispatched.attempts) == ("pending", 1)
    page = admin.get("/admin/messages").get_data(as_text=True)  # the admin sees it waiting, and why
    assert f'data-testid="message-{dispatched.id}"' in page and "已试 1 次" in page
    assert "短信服务返回 HTTP 500" in page
    clock.advance(seconds=31)
    assert send().sent == 1  # retried after its backoff
    assert f'data-testid="message-{dispatched.id}"' not in admin.get("/admin/messages").get_data(as_text=True)
    d.do(iid, "evaluate", "assistant", capability="department", chargeable=False)
    d.do(iid, "do_help", "assistant")
    d.do(iid, "qc", "assistant", resolved=True)
    assert send().sent == 1
    d.advance(hours=48, minutes=1)  # the resident never confirms: the 客服部 will call back
    assert "callback" in d.ready(iid)
    assert send().sent == 1
    number = iid[:8].upper()
    assert provider.texts(PHONE) == [
        f"【荔园物业】张三您好，您的求助（编号 {number}）已受理：家中门锁打不开。我们会尽快处理。",
        f"【荔园物业】关于您的求助（编号 {number}）的答复：您好，已收到，师傅下午上门。",
        f"【荔园物业】您的求助（编号 {number}）已派单，由工程部 郑工程师负责，预计 11月27日 15:00 前处理。",
        f"【荔园物业】您的求助（编号 {number}）已处理，请确认是否解决并评价：荔园物业住户服务“我的求助”",
        f"【荔园物业】客服部将就您的求助（编号 {number}）进行电话回访，请留意来电。感谢您的支持！",
    ]
    assert len(provider.refused) == 1 and "已派单" in provider.refused[0]["text"]
    assert {m["auth"] for m in provider.received} == {"Bearer test-key"}
    # the resident's in-app list says the same, newest first; each attempt is recorded
    with db.read_session() as session:
        mine = notify.outbox.for_person(session, d.CUSTOMER, [], clock.now() - dt.timedelta(days=3))
        assert [m.body for m in reversed(mine)] == provider.texts(PHONE)
        attempts = notify.delivery.attempts_of(session, [m.id for m in messages(iid)])
    assert [(a.sender, a.ok) for a in attempts[dispatched.id]] == [("http", False), ("http", True)]
    assert sum(len(a) for a in attempts.values()) == 6
    assert {m.status for m in messages(iid)} == {"sent"}
    assert send().total == 0  # each sent once


def test_a_hotline_caller_is_told_of_the_call_back(procedure, provider):
    iid = d.start_request("hotline", "g", description="想借梯子")
    d.intake(iid, "g")
    d.do(iid, "evaluate", "assistant", capability="direct", chargeable=False)
    d.do(iid, "do_help", "assistant")
    d.do(iid, "qc", "assistant", resolved=True)
    assert d.ready(iid) == {"callback": "物业助理"}
    send()
    assert [m.event for m in messages(iid)] == ["received", "dispatched", "followup"]
    assert "电话回访" in provider.texts(PHONE)[-1]
    assert messages(iid, "inapp") == []  # an unregistered caller has no in-app list


def test_a_failed_send_is_retried_with_backoff_then_marked_failed_for_the_admin(procedure, provider, monkeypatch):
    monkeypatch.setenv("LIYUAN_SMS_MAX_ATTEMPTS", "3")
    iid = d.start_request("hotline", "g")
    provider.fail_next(500, 500, 500)
    assert send().retrying == 1
    [message] = messages(iid)
    assert (message.status, message.attempts) == ("pending", 1)
    assert "HTTP 500" in message.last_error
    assert send().total == 0  # not before its backoff (30 s)
    clock.advance(seconds=31)
    assert send().retrying == 1
    assert send().total == 0  # the second wait doubles (1 min)
    clock.advance(seconds=61)
    assert send().failed == 1
    [message] = messages(iid)
    assert (message.status, message.attempts) == ("failed", 3)
    with db.read_session() as session:
        assert [m.id for m in notify.delivery.troubled(session)] == [message.id]
        tries = notify.delivery.attempts_of(session, [message.id])[message.id]
    assert [(a.sender, a.ok) for a in tries] == [("http", False)] * 3
    assert all("HTTP 500" in a.detail for a in tries)
    clock.advance(hours=2)
    assert send().total == 0  # failed stays failed until the admin acts
    with db.transaction() as session:
        notify.delivery.retry(session, message.id)
    assert send().sent == 1
    assert len(provider.received) == 1 and len(provider.refused) == 3


def test_a_change_that_rolls_back_leaves_no_message(procedure, provider):
    class Abandoned(Exception):
        pass

    start = {"channel": "online", "caller_name": "张三", "phone": PHONE, "address": "3栋2单元1201",
             "description": "厨房水管漏水", "category": None, "customer_username": d.CUSTOMER}
    with pytest.raises(Abandoned), db.transaction() as session:
        runtime.start(session, "help_request", start, d.CUSTOMER)
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2  # written with the change
        raise Abandoned
    assert messages(channel="sms") == [] and messages(channel="inapp") == []
    assert send().total == 0 and provider.received == []
    with db.transaction() as session:  # the same change committed: its messages are there
        runtime.start(session, "help_request", start, d.CUSTOMER)
    assert [m.event for m in messages()] == ["received"] and len(messages(channel="inapp")) == 1


def test_a_landline_gets_no_sms_and_the_reason_is_recorded(procedure, provider):
    iid = d.start_request("hotline", "g", phone="0755-8888 6666")
    [message] = messages(iid)
    assert message.status == "skipped" and "不是手机号" in message.last_error
    assert send().total == 0 and provider.received == []
    with db.read_session() as session:
        assert [m.id for m in notify.delivery.troubled(session)] == [message.id]  # the admin sees why


def test_two_schedulers_never_send_one_message_twice(procedure, provider):
    with db.transaction() as session:
        for n in range(40):
            notify.outbox.sms(session, "received", f"1380000{n:04d}", f"消息 {n}")
    barrier = threading.Barrier(2)
    outcomes = []

    def scheduler(name):
        barrier.wait()
        outcomes.append(notify.delivery.send_due(owner=name, batch=5))

    threads = [threading.Thread(target=scheduler, args=(f"scheduler-{i}",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    texts = provider.texts()
    assert sorted(texts) == sorted(f"消息 {n}" for n in range(40))  # each exactly once
    assert sum(o.sent for o in outcomes) == 40
    assert {m.status for m in messages()} == {"sent"}


def test_a_one_time_code_goes_through_the_outbox_and_is_accepted_once(procedure, provider):
    with db.transaction() as session:
        notify.codes.send_code(session, "138 0000 1234", "verify_phone")
    with pytest.raises(notify.codes.CodeError, match="频繁"), db.transaction() as session:
        notify.codes.send_code(session, "13800001234", "verify_phone")
    with pytest.raises(notify.codes.CodeError, match="不是手机号"), db.transaction() as session:
        notify.codes.send_code(session, "0755-88886666", "verify_phone")
    send()
    [text] = provider.texts("13800001234")
    code = text.split("验证码是 ")[1][:6]
    assert code.isdigit() and "10 分钟内有效" in text
    with db.transaction() as session:
        assert notify.codes.check_code(session, "13800001234", "verify_phone", "000000" if code != "000000"
                                       else "111111") is False
    with pytest.raises(notify.codes.CodeError, match="失效"), db.transaction() as session:
        notify.codes.check_code(session, "13800001234", "reset_password", code)  # another purpose: no code
    with db.transaction() as session:
        assert notify.codes.check_code(session, "13800001234", "verify_phone", code) is True
    with pytest.raises(notify.codes.CodeError, match="失效"), db.transaction() as session:
        notify.codes.check_code(session, "13800001234", "verify_phone", code)


def test_the_demo_provider_writes_the_sms_to_the_server_log(procedure, monkeypatch, caplog):
    monkeypatch.delenv("LIYUAN_SMS_PROVIDER", raising=False)
    iid = d.start_request("hotline", "g", description="楼道灯不亮")
    with caplog.at_level("INFO", logger="engine.notify.sms"):
        assert send().sent == 1
    [line] = [r.getMessage() for r in caplog.records if r.name == "engine.notify.sms"]
    assert line.startswith(f"短信 → {PHONE}：") and "楼道灯不亮" in line and iid[:8].upper() in line
    monkeypatch.setenv("LIYUAN_SMS_PROVIDER", "carrier-pigeon")
    with pytest.raises(notify.senders.ConfigError, match="只能是 log 或 http"):
        send()
