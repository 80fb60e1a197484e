"""One-time codes for setting a new password without the old one.

A code is six digits, good for :data:`LIFETIME`, and spent by its first correct use; after
:data:`MAX_ATTEMPTS` wrong guesses it is spent too, so guessing one of a million codes is hopeless. Only a
salted SHA-256 of the code is stored. Asking again replaces the previous code; at most
:data:`MAX_PER_HOUR` codes are made for one account per hour, so nobody floods a resident's phone.
How the code reaches the person is the caller's business (the web app's ``deliver_code``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.core import clock
from engine.core.tables import PasswordResetCode, User

LIFETIME = dt.timedelta(minutes=15)
MAX_ATTEMPTS = 5
MAX_PER_HOUR = 3


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def issue_reset_code(session: Session, user: User) -> str | None:
    """A new code for ``user`` (earlier ones stop working); ``None`` when the hourly allowance is used."""
    now = clock.now()
    recent = session.scalar(select(func.count()).select_from(PasswordResetCode).where(
        PasswordResetCode.user_id == user.id, PasswordResetCode.created_at > now - dt.timedelta(hours=1)))
    if recent >= MAX_PER_HOUR:
        return None
    session.execute(update(PasswordResetCode).where(PasswordResetCode.user_id == user.id,
                                                    PasswordResetCode.used_at.is_(None)).values(used_at=now))
    code = f"{secrets.randbelow(1_000_000):06d}"
    salt = secrets.token_hex(16)
    session.add(PasswordResetCode(user_id=user.id, code_hash=_digest(salt, code), salt=salt, created_at=now,
                                  expires_at=now + LIFETIME, attempts=0))
    session.flush()
    return code


def redeem_reset_code(session: Session, user: User, code: str) -> bool:
    """Whether ``code`` is ``user``'s current code; a right code is spent, a wrong one counts as an attempt
    (the caller must commit either way)."""
    now = clock.now()
    row = session.scalar(select(PasswordResetCode).where(
        PasswordResetCode.user_id == user.id, PasswordResetCode.used_at.is_(None),
        PasswordResetCode.expires_at > now).order_by(PasswordResetCode.id.desc()).limit(1).with_for_update())
    if row is None:
        return False
    code = (code or "").strip()
    if hmac.compare_digest(row.code_hash, _digest(row.salt, code)):
        row.used_at = now
        return True
    row.attempts += 1
    if row.attempts >= MAX_ATTEMPTS:
        row.used_at = now
    return False
