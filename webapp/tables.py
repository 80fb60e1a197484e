"""Tables the web app needs beside the engine's: form drafts, "read up to here" markers, failed sign-ins,
API tokens and the rate limiter's counters.

They live in their own module (imported by ``migrations/env.py`` and by the web code that uses them) so
the engine stays free of UI state. Notifications themselves are rows of the engine's outbox (written with
the change that causes them, see ``engine/notify``) and, for breached deadlines, the SLA clocks; only the
per-user "read up to" marker is the web app's.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.tables import Base, BigId, Timestamp


class Draft(Base):
    """What a person typed into a task form and saved without submitting (one per user and task)."""

    __tablename__ = "web_drafts"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class ReadMarker(Base):
    """Notifications older than ``read_at`` count as read for ``username``."""

    __tablename__ = "web_read_markers"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    read_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class LoginFailure(Base):
    """One failed sign-in, by (lower-cased) username and client address.

    Kept in the database rather than in a process's memory so that every web worker and the JSON API count
    the same failures, and a restart does not reset a lockout in progress.
    """

    __tablename__ = "web_login_failures"
    __table_args__ = (Index("ix_web_login_failures_key", "username", "address", "at"),
                      Index("ix_web_login_failures_address", "address", "at"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(Timestamp)


class ApiToken(Base):
    """One bearer token issued by ``POST /api/v1/auth/token`` (webapp.api.tokens).

    The token itself is this row's id signed with the app's secret key, so nothing secret is stored here.
    It is good while it has not expired, nobody revoked it and its user's ``auth_epoch`` is still ``epoch``
    (signing out, a password change or deactivation move the user on). Rows let an admin list and revoke.
    """

    __tablename__ = "web_api_tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class RateLimitCounter(Base):
    """A fixed-window counter of Flask-Limiter (webapp.ratelimit's ``database://`` storage): every web
    process counts in the same row, so the limit holds however many workers serve the site."""

    __tablename__ = "web_rate_limits"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch, UTC
