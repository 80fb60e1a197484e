"""How the timers are doing: what is due next, how late recent firings ran, and which are overdue.

The rows themselves are written by the runtime (:mod:`engine.runtime.timer_rows`) in the transaction that
arms or cancels a timer; firing lives in :mod:`engine.timers.firing` (the ``Poller``), timer start events in
:mod:`engine.timers.start_timers` and incidents in :mod:`engine.timers.incidents`. These figures feed the
admin's 定时器 page, ``liyuan timers`` and the missed-timer alarm.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.core import clock
from engine.core.tables import AuditEvent, Instance, Timer

MAX_ATTEMPTS = 5  # failed firings of a row before it becomes an incident


def upcoming(session: Session, limit: int = 50) -> list[Timer]:
    return list(session.scalars(select(Timer).order_by(Timer.due_at, Timer.id).limit(limit)))


@dataclass(frozen=True)
class Lateness:
    count: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def recent_lateness_ms(session: Session, recent: int = 1000) -> list[int]:
    """Lateness of the most recent firings, read back from their audit events (the payload keeps it)."""
    payloads = session.scalars(select(AuditEvent.payload).where(AuditEvent.kind == "timer_fired")
                               .order_by(AuditEvent.id.desc()).limit(recent))
    return [json.loads(p).get("lateness_ms", 0) for p in payloads]


def lateness(session: Session, recent: int = 1000) -> Lateness:
    return summarize(recent_lateness_ms(session, recent))


LATENESS_BOUNDS_MS = (100, 1_000, 10_000, 60_000)  # histogram buckets: ≤0.1 s, ≤1 s, ≤10 s, ≤1 min, more


def lateness_histogram(values: list[float]) -> list[int]:
    """How many firings fell into each bucket of ``LATENESS_BOUNDS_MS`` (the last: later than a minute)."""
    counts = [0] * (len(LATENESS_BOUNDS_MS) + 1)
    for v in values:
        counts[next((i for i, bound in enumerate(LATENESS_BOUNDS_MS) if v <= bound), len(LATENESS_BOUNDS_MS))] += 1
    return counts


OVERDUE_GRACE = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Overdue:
    """Timers that should have fired and have not: the missed-timer alarm."""

    count: int
    oldest_due: dt.datetime | None

    def minutes(self, now: dt.datetime | None = None) -> int:
        """How long the oldest one has been waiting, in whole minutes."""
        return int(((now or clock.now()) - self.oldest_due).total_seconds() // 60) if self.oldest_due else 0


def overdue(session: Session, grace: dt.timedelta = OVERDUE_GRACE) -> Overdue:
    """Timers due more than ``grace`` ago that a poller could fire but nobody has: no scheduler is running,
    or it is stuck. A running poller fires within milliseconds and a backlog at hundreds per second, so a
    minute is far past normal; timers waiting for a retry or held by an incident are not counted (they
    are late on purpose and shown elsewhere). Leases are ignored: a stuck poller's rows count too."""
    cutoff = clock.now() - grace
    query = (select(func.count(), func.min(Timer.due_at)).select_from(Timer)
             .outerjoin(Instance, Instance.id == Timer.instance_id)
             .where(Timer.due_at <= cutoff, Timer.attempts < MAX_ATTEMPTS,
                    or_(Timer.next_attempt_at.is_(None), Timer.next_attempt_at <= cutoff),
                    or_(Timer.instance_id.is_(None), Instance.status == "running")))
    count, oldest = session.execute(query).one()
    return Overdue(count or 0, clock.as_utc(oldest))


def summarize(values: list[float]) -> Lateness:
    if not values:
        return Lateness(0, None, None, None)
    values = sorted(values)

    def pct(p):
        return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]

    return Lateness(len(values), pct(50), pct(99), values[-1])
