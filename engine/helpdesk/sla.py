"""SLA clocks: the deadlines the 工作规程 promises, and whether each was met or breached.

A clock is armed with its timer (see :func:`engine.timers.sync`): *met* when the guarded work finished
before the timer fired, *breached* when the timer fired first. The inbox reads open clocks for its
countdowns and the monthly report reads :func:`summary`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.core import clock
from engine.core.tables import SlaClock


def open_clocks(session: Session) -> list[SlaClock]:
    """Armed clocks, nearest deadline first."""
    return list(session.scalars(select(SlaClock).where(SlaClock.status == "armed")
                                .order_by(SlaClock.due_at, SlaClock.id)))


def for_instance(session: Session, instance_id: str) -> list[SlaClock]:
    return list(session.scalars(select(SlaClock).where(SlaClock.instance_id == instance_id)
                                .order_by(SlaClock.armed_at, SlaClock.id)))


def all_clocks(session: Session, *, open_only: bool = False, limit: int | None = None) -> list[SlaClock]:
    if open_only:
        return open_clocks(session)[:limit] if limit else open_clocks(session)
    query = select(SlaClock).order_by(SlaClock.armed_at.desc(), SlaClock.id.desc())
    return list(session.scalars(query.limit(limit) if limit else query))


def remaining(clk: SlaClock, now: dt.datetime | None = None) -> dt.timedelta:
    """Time left on an armed clock (negative once overdue but not yet fired)."""
    return clock.as_utc(clk.due_at) - (now or clock.now())


@dataclass(frozen=True)
class KeySummary:
    sla_key: str
    total: int
    met: int
    breached: int
    open: int

    @property
    def compliance(self) -> float | None:
        """Met as a percentage of the settled clocks; ``None`` when none settled yet."""
        settled = self.met + self.breached
        return round(100.0 * self.met / settled, 1) if settled else None


def summary(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, KeySummary]:
    """Per SLA key, the clocks armed in [start, end): total, met, breached, still open, compliance %."""
    counts: dict[str, dict[str, int]] = {}
    rows = session.execute(select(SlaClock.sla_key, SlaClock.status, func.count())
                           .where(SlaClock.armed_at >= start, SlaClock.armed_at < end)
                           .group_by(SlaClock.sla_key, SlaClock.status))  # counted in SQL, not row by row
    for key, status, n in rows:
        c = counts.setdefault(key, {"met": 0, "breached": 0, "armed": 0})
        c[status] = c.get(status, 0) + n
    return {key: KeySummary(key, sum(c.values()), c["met"], c["breached"], c["armed"])
            for key, c in sorted(counts.items())}
