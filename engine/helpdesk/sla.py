"""SLA clocks: the deadlines the 工作规程 promises, and whether each was met or breached.

A clock is armed with its timer (see :func:`engine.timers.sync`): *met* when the guarded work finished
before the timer fired, *breached* when the timer fired first. The inbox reads open clocks for its
countdowns and the monthly report reads :func:`summary`.

A request the resident (or the 回访 call) says is *not* solved was not solved when the quality check said
so: its 24-hour resolution clock, met at that check, counts as breached in the figures (:data:`REOPENING`).
The clock row itself stays as the timers settled it, so a replay still reproduces it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.core import clock
from engine.core.tables import AuditEvent, SlaClock

# The clock that stops counting as met when the resident says "not solved", and the tasks where they say it
# (the portal's confirmation, the 客服部's 回访 call).
REOPENED_KEY = "resolve_ordinary"
REOPENING = ("confirm_customer", "callback")


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


def summary(session: Session, start: dt.datetime, end: dt.datetime, narrow=None) -> dict[str, KeySummary]:
    """Per SLA key, the clocks armed in [start, end): total, met, breached, still open, compliance %.
    ``narrow``: applied to each query over the clocks (a department's month: month_figures.Scope.clocks)."""
    narrow = narrow or (lambda query: query)
    counts: dict[str, dict[str, int]] = {}
    rows = session.execute(narrow(select(SlaClock.sla_key, SlaClock.status, func.count())
                                  .where(SlaClock.armed_at >= start, SlaClock.armed_at < end))
                           .group_by(SlaClock.sla_key, SlaClock.status))  # counted in SQL, not row by row
    for key, status, n in rows:
        c = counts.setdefault(key, {"met": 0, "breached": 0, "armed": 0})
        c[status] = c.get(status, 0) + n
    # A resolution met in time but then "not solved" at the resident's confirmation (or the 回访) does not
    # count as solved within its deadline: moved from met to breached (the clock row itself is unchanged).
    met = list(session.scalars(narrow(select(SlaClock.instance_id).where(
        SlaClock.armed_at >= start, SlaClock.armed_at < end, SlaClock.sla_key == REOPENED_KEY,
        SlaClock.status == "met"))))
    reopened = not_solved(session, set(met)) if met else set()
    moved = sum(1 for iid in met if iid in reopened)
    if moved:
        counts[REOPENED_KEY]["met"] -= moved
        counts[REOPENED_KEY]["breached"] += moved
    return {key: KeySummary(key, sum(c.values()), c["met"], c["breached"], c["armed"])
            for key, c in sorted(counts.items())}


def not_solved(session: Session, instance_ids) -> set[str]:
    """Of these requests, those the resident or the 回访 call said were not solved (``problem_solved`` false
    at a confirmation), read from the audit log."""
    ids, found = list(instance_ids), set()
    for i in range(0, len(ids), 500):  # bounded IN lists (SQLite's parameter limit)
        rows = session.execute(select(AuditEvent.chain, AuditEvent.payload).where(
            AuditEvent.kind == "task_completed", AuditEvent.element_id.in_(REOPENING),
            AuditEvent.chain.in_(ids[i:i + 500])))
        found |= {chain for chain, payload in rows
                  if (json.loads(payload).get("data") or {}).get("problem_solved") is False}
    return found
