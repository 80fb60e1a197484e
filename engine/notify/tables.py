"""The outbox's tables: one row per message to one recipient on one channel, every delivery attempt, the
admin-edited message templates, and the one-time codes sent to prove a phone number.

They share the engine's metadata (one Alembic history). A message row is inserted in the transaction of
the change that causes it, so a change that rolls back leaves no message behind, and a committed change
always has its messages: the scheduler sends them afterwards (see :mod:`engine.notify.delivery`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.tables import Base, BigId, Timestamp


class OutboxMessage(Base):
    """One message. ``channel`` ``inapp`` rows are the in-app list itself (delivered by their commit, so
    ``status`` starts as ``sent``); ``sms`` rows wait as ``pending`` for the scheduler, then become ``sent``,
    ``failed`` (after the last attempt) or were ``skipped`` at once (a number that cannot receive SMS)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_user", "to_user", "created_at"),
        Index("ix_outbox_role", "to_role", "created_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(32))  # received | dispatched | answered | confirm | followup | code …
    channel: Mapped[str] = mapped_column(String(16))  # inapp | sms
    to_user: Mapped[str | None] = mapped_column(String(64))  # a username (in-app)
    to_role: Mapped[str | None] = mapped_column(String(32))  # a role code: everyone holding it (in-app)
    to_phone: Mapped[str | None] = mapped_column(String(32))  # sms
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    sent_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class OutboxAttempt(Base):
    """One try to hand a message to its sender: when, which sender, and what came back."""

    __tablename__ = "outbox_attempts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(Timestamp)
    sender: Mapped[str] = mapped_column(String(32))
    ok: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text)  # the provider's answer, or the error


class MessageTemplate(Base):
    """The admin's wording of one event's message (the defaults live in code until first edited)."""

    __tablename__ = "message_templates"
    event: Mapped[str] = mapped_column(String(32), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_by: Mapped[str] = mapped_column(String(64))


class PhoneCode(Base):
    """A one-time code sent to a phone (proving the number, resetting a password). Only its hash is kept."""

    __tablename__ = "phone_codes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
