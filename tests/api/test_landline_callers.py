"""Callers without an account (issue 11 item 6) through the JSON API: a hotline call is recorded from any
number the company's callers use — a landline with area code and extension, a 400 number, a short service
number, a visitor's foreign mobile — and the SMS that would tell them of it is skipped, with the reason."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.core import db
from engine.notify import OutboxMessage

from .conftest import HOTLINE


@pytest.mark.parametrize("phone", ["0755-8888 6666", "0755-8888 6666 转 123", "(0755)88886666", "400-830-6688 转 2",
                                   "010 6552 9988 ext. 123", "95598", "+852 2123 4567"])
def test_a_call_from_a_landline_or_visitor_is_recorded_and_its_sms_skipped(client, phone):
    status, body = client.post("/requests", "assistant", {**HOTLINE, "phone": phone})
    assert status == 201, body
    status, seen = client.get(f"/instances/{body['instance_id']}", "assistant")
    assert status == 200 and seen["request"]["phone"] == phone
    with db.read_session() as session:
        sms = list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.instance_id == body["instance_id"], OutboxMessage.channel == "sms")))
    assert sms and all(m.status == "skipped" and "不是手机号" in m.last_error for m in sms)


def test_a_mobile_caller_gets_the_sms(client):
    status, body = client.post("/requests", "assistant", {**HOTLINE, "phone": "138 0013 8000"})
    assert status == 201, body
    with db.read_session() as session:
        [sms] = session.scalars(select(OutboxMessage).where(
            OutboxMessage.instance_id == body["instance_id"], OutboxMessage.channel == "sms"))
    assert (sms.status, sms.to_phone) == ("pending", "13800138000")
