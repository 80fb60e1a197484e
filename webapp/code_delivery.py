"""How a one-time password-reset code reaches its person: the one seam between issuing a code and sending it.

A user with a mobile number gets the code by SMS through the notifications outbox (written in the caller's
transaction, sent by the scheduler, retried, every attempt recorded — :mod:`engine.notify`), in the admin's
``code`` template. A user without one (staff accounts often have none, or a landline) cannot receive an SMS:
the code is written to the server log for the administrator, who hands it over in person.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from engine import notify
from engine.core.tables import User
from engine.identity import reset

log = logging.getLogger("liyuan.codes")


def deliver_code(session: Session, user: User, code: str, *, purpose: str = "password_reset") -> str:
    """Send ``code`` to ``user``; returns ``"sms"`` or ``"log"`` (where the code went)."""
    # A resident who has not proven their number yet gets the code there too: receiving it proves nothing
    # beyond that phone, and a password is all it unlocks.
    number = user.phone or user.pending_phone
    mobile = notify.senders.mobile_number(number) if number else None
    minutes = str(int(reset.LIFETIME.total_seconds() // 60))
    if mobile is not None:
        body = notify.templates.render(session, "code", {"code": code, "minutes": minutes})
        notify.outbox.sms(session, "code", mobile, body)
        return "sms"
    log.warning("一次性验证码（%s）：%s（%s）没有可接收短信的手机号，请管理员当面转交：%s，%s分钟内有效",
                purpose, user.display_name, user.username, code, minutes)
    return "log"
