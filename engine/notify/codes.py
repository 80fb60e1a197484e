"""One-time codes sent to a phone through the outbox: proving that a number is yours, resetting a password.

:func:`send_code` writes the code's hash and its SMS in the caller's transaction (the code itself is never
stored); :func:`check_code` accepts the newest unexpired code of that number and purpose once. Limits
keep a number from being flooded or guessed: one code a minute per number and purpose, five tries per code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import clock
from engine.notify import outbox, senders, templates
from engine.notify.tables import PhoneCode

VALID = dt.timedelta(minutes=10)
RESEND_AFTER = dt.timedelta(minutes=1)
MAX_TRIES = 5


class CodeError(ValueError):
    """The code cannot be sent or is not accepted (message in Chinese)."""


def _hash(phone: str, purpose: str, code: str) -> str:
    return hashlib.sha256(f"{purpose}|{phone}|{code}".encode()).hexdigest()


def send_code(session: Session, phone: str, purpose: str) -> int:
    """Send a fresh 6-digit code to the mobile ``phone`` for ``purpose`` (e.g. ``verify_phone``,
    ``reset_password``); returns the code's row id. The SMS leaves with the scheduler's next pass."""
    mobile = senders.mobile_number(phone)
    if mobile is None:
        raise CodeError("该号码不是手机号，无法接收验证码")
    now = clock.now()
    last = session.scalars(select(PhoneCode).where(PhoneCode.phone == mobile, PhoneCode.purpose == purpose)
                           .order_by(PhoneCode.id.desc()).limit(1)).first()
    if last is not None and now - clock.as_utc(last.created_at) < RESEND_AFTER:
        raise CodeError("验证码发送过于频繁，请一分钟后再试")
    code = f"{secrets.randbelow(10**6):06d}"
    row = PhoneCode(phone=mobile, purpose=purpose, code_hash=_hash(mobile, purpose, code), created_at=now,
                    expires_at=now + VALID, tries=0)
    session.add(row)
    session.flush()
    body = templates.render(session, "code", {"code": code, "minutes": str(int(VALID.total_seconds() // 60))})
    outbox.sms(session, "code", mobile, body)
    return row.id


def check_code(session: Session, phone: str, purpose: str, code: str) -> bool:
    """Whether ``code`` is the newest unexpired, unused code sent to ``phone`` for ``purpose``; a right
    code is used up, a wrong one counts against the code's tries."""
    mobile = senders.mobile_number(phone)
    if mobile is None:
        return False
    now = clock.now()
    row = session.scalars(select(PhoneCode).where(PhoneCode.phone == mobile, PhoneCode.purpose == purpose)
                          .order_by(PhoneCode.id.desc()).limit(1).with_for_update()).first()
    if row is None or row.used_at is not None or clock.as_utc(row.expires_at) <= now:
        raise CodeError("验证码已失效，请重新获取")
    if row.tries >= MAX_TRIES:
        raise CodeError("验证码错误次数过多，请重新获取")
    if not hmac.compare_digest(row.code_hash, _hash(mobile, purpose, (code or "").strip())):
        row.tries += 1
        session.flush()
        return False
    row.used_at = now
    session.flush()
    return True
