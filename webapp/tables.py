"""Tables the web app needs beside the engine's: form drafts, "read up to here" markers and failed sign-ins.

They live in their own module (imported by ``migrations/env.py`` and by the web code that uses them) so
the engine stays free of UI state. Notifications themselves are rows of the engine's outbox (written with
the change that causes them, see ``engine/notify``) and, for breached deadlines, the SLA clocks; only the
per-user "read up to" marker is the web app's.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, String
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
    __table_args__ = (Index("ix_web_login_failures_key", "username", "address", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(Timestamp)
