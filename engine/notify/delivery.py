"""Sending what waits in the outbox: run by the scheduler, retried with backoff, every attempt recorded.

One pass (:func:`send_due`) does, per batch:

1. **claim** (a short write transaction): the pending messages that are due and not leased by another
   sender get this sender's lease. On PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``, so two
   scheduler processes never claim the same message: the second skips the rows the first is claiming and
   then sees them leased. On SQLite the write transaction (``BEGIN IMMEDIATE``) already serialises claims.
2. **send** each message *outside* any transaction: a slow provider never holds a database lock.
3. **record** each outcome (a short transaction): an ``outbox_attempts`` row (time, sender, answer or
   error); a success marks the message ``sent``; a failure schedules the next try after a backoff that
   doubles (30 s, 1 min, 2 min … capped at 1 h), and after ``LIYUAN_SMS_MAX_ATTEMPTS`` (default 5) failures
   the message is ``failed`` and waits for the admin (管理 → 通知发送), who can send it again.

A sender that dies after claiming leaves a lease that expires (:data:`LEASE`); the message is then claimed
again. So delivery is at-least-once, like the timers: a provider's duplicate SMS is the rarer evil than a
lost one.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from engine.core import clock, db
from engine.core.errors import Conflict, NotFound
from engine.notify import senders
from engine.notify.tables import OutboxAttempt, OutboxMessage

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)
FIRST_BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=1)


def max_attempts() -> int:
    try:
        return max(1, int(os.environ.get("LIYUAN_SMS_MAX_ATTEMPTS", "5")))
    except ValueError:
        return 5


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failure."""
    return min(FIRST_BACKOFF * (2 ** max(0, attempts - 1)), MAX_BACKOFF)


@dataclass
class Outcome:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.failed


@dataclass(frozen=True)
class _Claimed:
    id: int
    to_phone: str
    body: str


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(url: str | None, owner: str, limit: int = 20) -> list[_Claimed]:
    """Lease up to ``limit`` due SMS messages to ``owner`` (see the module docstring)."""
    with db.transaction(url) as session:
        now = clock.now()
        query = (select(OutboxMessage.id, OutboxMessage.to_phone, OutboxMessage.body)
                 .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
                        or_(OutboxMessage.lease_expires_at.is_(None), OutboxMessage.lease_expires_at < now))
                 .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
        if session.get_bind().dialect.name == "postgresql":
            # Two schedulers: each skips the rows the other is claiming right now (then sees its lease).
            query = query.with_for_update(skip_locked=True)
        rows = [_Claimed(r.id, r.to_phone, r.body) for r in session.execute(query)]
        if rows:
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                            .values(lease_owner=owner, lease_expires_at=now + LEASE))
    return rows


def record(url: str | None, owner: str, message_id: int, sender: str, *, ok: bool, detail: str) -> str | None:
    """Write one attempt's outcome; returns the message's new status (None: our lease was lost meanwhile)."""
    with db.transaction(url) as session:
        message = session.get(OutboxMessage, message_id, with_for_update=True)
        if message is None or message.lease_owner != owner or message.status != "pending":
            return None
        now = clock.now()
        session.add(OutboxAttempt(message_id=message_id, at=now, sender=sender, ok=ok, detail=detail[:2000]))
        message.attempts += 1
        message.lease_owner = message.lease_expires_at = None
        if ok:
            message.status, message.sent_at, message.last_error = "sent", now, None
        else:
            message.last_error = detail[:2000]
            if message.attempts >= max_attempts():
                message.status, message.next_attempt_at = "failed", None
                log.warning("短信发送失败（已尝试 %s 次），等待管理员处理：#%s %s", message.attempts, message_id, detail)
            else:
                message.next_attempt_at = now + backoff(message.attempts)
        return message.status


def send_due(url: str | None = None, *, owner: str | None = None, sender: senders.SmsSender | None = None,
             batch: int = 20, stop=None) -> Outcome:
    """Send everything due now, batch by batch, until nothing due is left (or ``stop`` is set)."""
    owner = owner or default_owner()
    sender = sender or senders.from_env()
    outcome = Outcome()
    while stop is None or not stop.is_set():
        claimed = claim(url, owner, batch)
        for message in claimed:
            try:
                ok, detail = True, sender.send(message.to_phone, message.body)
            except senders.SendError as exc:
                ok, detail = False, str(exc)
            except Exception as exc:  # noqa: BLE001 - an adapter's bug must not stop the other messages
                ok, detail = False, f"发送程序出错：{exc!r}"
            status = record(url, owner, message.id, sender.name, ok=ok, detail=detail)
            if status == "sent":
                outcome.sent += 1
            elif status == "failed":
                outcome.failed += 1
            elif status == "pending":
                outcome.retrying += 1
        if len(claimed) < batch:
            break
    return outcome


def release(url: str | None, owner: str) -> None:
    """Give back this sender's leases (a clean stop), so another scheduler sends them at once."""
    with db.transaction(url) as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.lease_owner == owner)
                        .values(lease_owner=None, lease_expires_at=None))


# --- what the admin sees and does ------------------------------------------------------------------------

def troubled(session: Session, limit: int = 200) -> list[OutboxMessage]:
    """SMS messages that are failed, waiting for a retry, or skipped, newest first."""
    query = (select(OutboxMessage).where(OutboxMessage.channel != "inapp",
                                         OutboxMessage.status.in_(("failed", "pending", "skipped")))
             .order_by(OutboxMessage.id.desc()).limit(limit))
    return list(session.scalars(query))


def counts(session: Session) -> dict[str, int]:
    query = (select(OutboxMessage.status, func.count()).where(OutboxMessage.channel != "inapp")
             .group_by(OutboxMessage.status))
    return {status: n for status, n in session.execute(query)}


def attempts_of(session: Session, message_ids: list[int]) -> dict[int, list[OutboxAttempt]]:
    out: dict[int, list[OutboxAttempt]] = {i: [] for i in message_ids}
    if message_ids:
        for a in session.scalars(select(OutboxAttempt).where(OutboxAttempt.message_id.in_(message_ids))
                                 .order_by(OutboxAttempt.id)):
            out[a.message_id].append(a)
    return out


def retry(session: Session, message_id: int) -> OutboxMessage:
    """Send a failed message again from the next pass, with a fresh set of attempts (the earlier attempts
    stay recorded)."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.channel == "inapp":
        raise NotFound("找不到这条消息", message_id=message_id)
    if message.status != "failed":
        raise Conflict("只有发送失败的消息可以重发", status=message.status)
    message.status, message.attempts, message.next_attempt_at = "pending", 0, clock.now()
    message.lease_owner = message.lease_expires_at = None
    session.flush()
    return message
