"""Writing messages into the outbox, in the caller's transaction, and reading a person's in-app list.

Callers (the help desk's notices, the one-time codes) write here inside the transaction of the change
that causes the message: the message exists exactly when the change committed. In-app messages are
complete the moment they commit (the list reads these rows); an SMS waits as ``pending`` for
:mod:`engine.notify.delivery`, or is ``skipped`` at once, with the reason, when the number is no mobile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Select, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from engine.core import clock
from engine.notify import senders
from engine.notify.tables import OutboxAttempt, OutboxMessage, PhoneCode

_INSERT = insert(OutboxMessage.__table__)


def _row(event: str, channel: str, body: str, instance_id: str | None, now: dt.datetime, **to) -> dict:
    return {"event": event, "channel": channel, "to_user": to.get("to_user"), "to_role": to.get("to_role"),
            "to_phone": to.get("to_phone"), "instance_id": instance_id, "body": body, "attempts": 0,
            "created_at": now, "status": to.get("status", "sent" if channel == "inapp" else "pending"),
            "sent_at": now if channel == "inapp" else None, "next_attempt_at": None if channel == "inapp" else now,
            "last_error": to.get("last_error")}


def in_app(session: Session, event: str, body: str, *, instance_id: str | None = None,
           users: Iterable[str] = (), roles: Iterable[str] = ()) -> int:
    """One in-app message per named user and per role (a role's message reaches everyone holding it,
    including people who get the role later). Returns how many rows were written."""
    now = clock.now()
    rows = [_row(event, "inapp", body, instance_id, now, to_user=u) for u in dict.fromkeys(users) if u]
    rows += [_row(event, "inapp", body, instance_id, now, to_role=r) for r in dict.fromkeys(roles) if r]
    if rows:
        session.connection().execute(_INSERT, rows)
    return len(rows)


def sms(session: Session, event: str, phone: str | None, body: str, *, instance_id: str | None = None) -> str:
    """Queue an SMS to ``phone``; returns its status: ``pending``, or ``skipped`` (recorded with the reason)
    when the number cannot receive SMS (a landline, a short number) or there is none."""
    now = clock.now()
    mobile = senders.mobile_number(phone)
    if mobile is None:
        reason = f"号码“{phone}”不是手机号，无法接收短信，已跳过" if phone else "没有联系电话，已跳过短信"
        row = _row(event, "sms", body, instance_id, now, to_phone=(phone or "")[:32] or None, status="skipped",
                   last_error=reason)
        row["next_attempt_at"] = None
    else:
        row = _row(event, "sms", body, instance_id, now, to_phone=mobile)
    session.connection().execute(_INSERT, [row])
    return row["status"]


def for_person(session: Session, username: str, role_codes: Iterable[str], since: dt.datetime,
               limit: int = 100) -> list[OutboxMessage]:
    """The in-app messages addressed to this person or to one of their roles, newest first.

    Two queries, each served by its own index (``ix_outbox_user``, ``ix_outbox_role``), then merged: an OR
    of the two would make the database scan the outbox."""
    def newest(who):
        return list(session.scalars(select(OutboxMessage).where(who, OutboxMessage.created_at >= since,
                                                                OutboxMessage.channel == "inapp")
                                    .order_by(OutboxMessage.created_at.desc()).limit(limit)))
    found = newest(OutboxMessage.to_user == username)
    roles = sorted(set(role_codes))
    if roles:
        found += newest(OutboxMessage.to_role.in_(roles))
    found.sort(key=lambda m: (clock.as_utc(m.created_at), m.id), reverse=True)
    return found[:limit]


def arrivals_for_person(username, role_codes: Iterable[str], after: Iterable, limit: int = 100) -> list[Select]:
    """SELECTs of the instance id of each in-app message :func:`for_person` would list that came after every
    bound in ``after`` (datetimes or SQL expressions, e.g. a reader's marker as a scalar subquery), newest
    ``limit`` per query: what a badge counts on every page, as parts of one statement, never loading the
    messages. One part per index (``ix_outbox_user``, ``ix_outbox_role``), as :func:`for_person` reads them.
    ``username``: the reader's name, or a bind parameter standing for it."""
    after = list(after)

    def newest(who):
        return (select(OutboxMessage.instance_id)
                .where(who, *(OutboxMessage.created_at > bound for bound in after), OutboxMessage.channel == "inapp")
                .order_by(OutboxMessage.created_at.desc()).limit(limit))
    parts = [newest(OutboxMessage.to_user == username)]
    roles = sorted(set(role_codes))
    if roles:
        parts.append(newest(OutboxMessage.to_role.in_(roles)))
    return parts


def of_instance(session: Session, instance_id: str) -> list[OutboxMessage]:
    """Every message a request caused, in the order they were written."""
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id)
                                .order_by(OutboxMessage.id)))


def forget(session: Session, instance_ids: Iterable[str], phones: Iterable[str], placeholder: str) -> int:
    """Erase what the outbox holds of a person (their requests' messages, their number, their codes).

    Messages are kept as rows — that a message was sent, when and how often it was tried stays on record —
    but their text, the number and the provider's answers become ``placeholder``; one-time codes to the
    number are deleted. Called by the help desk's lawful erasure in its transaction. Returns the rows touched.
    """
    ids, numbers = list(instance_ids), [p for p in phones if p]
    where = []
    if ids:
        where.append(OutboxMessage.instance_id.in_(ids))
    if numbers:
        where.append(OutboxMessage.to_phone.in_(numbers))
    if not where:
        return 0
    message_ids = list(session.scalars(select(OutboxMessage.id).where(or_(*where))))
    if message_ids:
        chosen = OutboxMessage.id.in_(message_ids)
        session.execute(update(OutboxMessage).where(chosen, OutboxMessage.status == "pending")
                        .values(status="skipped", last_error="个人信息已依法删除，不再发送"))
        session.execute(update(OutboxMessage).where(chosen).values(body=placeholder, to_phone=None))
        session.execute(update(OutboxAttempt).where(OutboxAttempt.message_id.in_(message_ids))
                        .values(detail=placeholder))
    if numbers:
        session.execute(delete(PhoneCode).where(PhoneCode.phone.in_(numbers)))
    return len(message_ids)
