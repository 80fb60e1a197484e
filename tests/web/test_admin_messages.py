"""管理 → 通知发送 and 通知模板: a failed SMS is visible to the admin with its attempts and can be sent again;
the templates are edited in the browser, and a bad one is refused in Chinese and not saved."""

from __future__ import annotations

import pytest

from engine import notify
from engine.core import db
from tests.fake_sms import FakeProvider
from tests.web.conftest import RESIDENT_PHONE, record_call


@pytest.fixture
def provider(monkeypatch):
    with FakeProvider() as fake:
        yield fake.configure(monkeypatch)


def test_a_failed_sms_is_shown_to_the_admin_who_sends_it_again(client_for, provider, monkeypatch):
    monkeypatch.setenv("LIYUAN_SMS_MAX_ATTEMPTS", "1")
    iid = record_call(client_for("assistant"))
    provider.fail_next(500)
    assert notify.delivery.send_due().failed == 1
    admin = client_for("admin")
    page = admin.get("/admin/messages").get_data(as_text=True)
    [message] = [m for m in _sms(iid)]
    assert f'data-testid="message-{message.id}"' in page
    assert "发送失败" in page and "短信服务返回 HTTP 500" in page and RESIDENT_PHONE in page
    assert "重发" in page and "已受理" in page
    assert client_for("assistant").get("/admin/messages").status_code == 403
    res = admin.post(f"/admin/messages/{message.id}/retry", follow_redirects=True)
    assert "将在下一轮重新发送" in res.get_data(as_text=True)
    assert notify.delivery.send_due().sent == 1
    assert provider.texts(RESIDENT_PHONE) == [message.body]
    page = admin.get("/admin/messages").get_data(as_text=True)
    assert f'data-testid="message-{message.id}"' not in page  # sent: no longer troubled
    again = admin.post(f"/admin/messages/{message.id}/retry", follow_redirects=True).get_data(as_text=True)
    assert "只有发送失败的消息可以重发" in again
    assert admin.post("/admin/messages/99999999/retry").status_code == 404


@pytest.mark.parametrize(("body", "error"), [
    ("您的求助 {{ number 已受理", "模板语法错误"),
    ("您的求助 {{ numbr }} 已受理", "未知的变量"),
    ("{{ number.__class__.__mro__ }}", "不允许"),
    ("   ", "模板不能为空"),
    ("{% for i in range(1000) %}很长{% endfor %}", "过长"),
])
def test_a_bad_template_is_refused_in_chinese_and_not_saved(client_for, body, error):
    admin = client_for("admin")
    res = admin.post("/admin/templates/received", data={"body": body, "action": "save"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and error in html
    with db.read_session() as session:
        assert notify.templates.current(session, "received") == notify.templates.EVENTS["received"].default


def test_an_edited_template_words_the_next_message_and_can_be_reset(client_for, provider):
    admin = client_for("admin")
    page = admin.get("/admin/templates").get_data(as_text=True)
    for name in ("受理", "派单", "答复", "待确认", "回访"):
        assert f"<h2>{name}</h2>" in page
    res = admin.post("/admin/templates/received", data={"body": "【荔园】{{ caller_name }}，{{ number }} 已受理",
                                                         "action": "save"}, follow_redirects=True)
    assert "已保存「受理」通知模板" in res.get_data(as_text=True)
    iid = record_call(client_for("assistant"))
    assert [m.body for m in _sms(iid)] == [f"【荔园】陈先生，{iid[:8].upper()} 已受理"]
    # the resident's in-app list carries the same words
    assert f"【荔园】陈先生，{iid[:8].upper()} 已受理" in client_for(RESIDENT_PHONE).get("/notifications").get_data(as_text=True)
    admin.post("/admin/templates/received", data={"action": "reset"})
    with db.read_session() as session:
        assert notify.templates.current(session, "received") == notify.templates.EVENTS["received"].default


def _sms(iid):
    with db.read_session() as session:
        return [m for m in notify.outbox.of_instance(session, iid) if m.channel == "sms"]


# Callers without an account (issue 11 item 6): the company's landlines with area code and extension, 400
# numbers, a visitor's foreign mobile — a call is recorded from any of them, and the SMS is skipped with the
# reason, which the admin sees.
LANDLINES = ["0755-8888 6666", "0755-8888 6666 转 123", "(0755) 8888 6666", "400-830-6688 转 2",
             "010 6552 9988 ext. 123", "95598", "+852 2123 4567"]


@pytest.mark.parametrize("phone", LANDLINES)
def test_a_call_from_a_number_without_sms_is_recorded_and_its_skipped_sms_shown_to_the_admin(
        client_for, provider, phone):
    iid = record_call(client_for("assistant"), phone=phone, caller_name="访客王先生")
    [message] = _sms(iid)
    assert message.status == "skipped" and message.attempts == 0
    assert f"号码“{phone}”不是手机号，无法接收短信，已跳过" == message.last_error
    assert notify.delivery.send_due().total == 0 and provider.received == []  # nothing is ever sent
    page = client_for("admin").get("/admin/messages").get_data(as_text=True)
    assert f'data-testid="message-{message.id}"' in page and "已跳过" in page and "不是手机号" in page
