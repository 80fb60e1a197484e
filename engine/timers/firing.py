"""The poller: claims due timer rows with a lease and fires each in its own instance transaction."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from engine import runtime
from engine.core import clock, config, db, errors
from engine.core.tables import Instance, Timer
from engine.runtime.timer_rows import FREE_AT, due_at
from engine.timers import MAX_ATTEMPTS, incidents, start_timers, trouble
from engine.timers.active import SingleActive, sqlite_path
from engine.timers.start_timers import TIMER_ACTOR, _versions_marker, sync_start_timers

log = logging.getLogger(__name__)

# --- firing ------------------------------------------------------------------------------------------------
#
# A poller claims due rows with a lease, then fires each in its own instance transaction. Delivery is
# at-least-once (a poller may die after firing and before anyone knows); the effect happens once because a
# firing is computed from a snapshot of the instance and its rows (scripts run outside the write lock) and
# written with the instance's revision check: of two deliveries one wins, the other is a Conflict and then
# finds its row gone (the first firing deleted it) and is dropped.
#
# PostgreSQL: any number of pollers; the claim is ``SELECT … FOR UPDATE SKIP LOCKED`` in a short
# transaction. SQLite: one active poller per database file (:mod:`engine.timers.active`).

ACTOR = TIMER_ACTOR


class _Stale(Exception):
    """The row no longer matches a waiting timer of its instance: drop it, change nothing.

    Raised inside the change, before anything is written; the runtime wraps it in ``ScriptFailure`` (its
    ``__cause__``), which rolls nothing back because nothing was flushed yet.
    """


class _NotDue(Exception):
    """The instance says the timer is due later than the row did (clocks of two processes disagree)."""

    def __init__(self, due):
        super().__init__(f"not due before {due}")
        self.due = due


@dataclass(frozen=True)
class Claimed:
    id: int
    instance_id: str | None
    task_id: str | None
    process_id: str
    element_id: str
    kind: str
    sla_key: str | None
    due_at: dt.datetime
    attempts: int


@dataclass
class TickStats:
    fired: int = 0
    stale: int = 0
    failed: int = 0
    incidents: int = 0
    deferred: int = 0
    database_errors: int = 0  # passes cut short by a database error (the poller then pauses)

    @property
    def total(self) -> int:
        return self.fired + self.stale + self.failed + self.incidents + self.deferred


_ROW_BY_ID = select(Timer).where(Timer.id == bindparam("id"))
_LOCK_ROW = _ROW_BY_ID.with_for_update()
_LOCK_INSTANCE = select(Instance).where(Instance.id == bindparam("iid")).with_for_update()
_T = Timer.__table__
# All timer rows of the instance (the fired one among them): timers.sync reuses them.
_ROWS = select(_T.c.id, _T.c.task_id, _T.c.process_id, _T.c.element_id, _T.c.kind, _T.c.sla_key, _T.c.due_at,
               _T.c.attempts, _T.c.lease_owner).where(_T.c.instance_id == bindparam("iid"))
# Rows are read from a snapshot: drop or move one only while it is still leased to this poller.
_DROP = delete(_T).where(_T.c.id == bindparam("id"), _T.c.lease_owner == bindparam("owner"))
# (UPDATE parameters named like a column would be taken for SET values: hence b_id.)
# Every statement that takes or gives back a lease sets ``fire_at`` with it (see engine.runtime.timer_rows).
_RELEASE = (update(_T).where(_T.c.id == bindparam("b_id"))
            .values(lease_owner=None, lease_expires_at=None, fire_at=FREE_AT))
_LATER = bindparam("due", type_=_T.c.due_at.type)
_RESCHEDULE = (update(_T).where(_T.c.id == bindparam("b_id"), _T.c.lease_owner == bindparam("owner"))
               .values(due_at=_LATER, lease_owner=None, lease_expires_at=None, fire_at=_LATER))


class Poller:
    """Claims due timer rows and fires them. One per scheduler process (several on PostgreSQL)."""

    def __init__(self, url: str | None = None, *, owner: str | None = None, batch: int = 100,
                 lease_seconds: float = 60.0, max_attempts: int = MAX_ATTEMPTS, backoff_seconds: float = 2.0,
                 backoff_cap_seconds: float = 600.0):
        self.url = url or config.database_url()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.batch = batch
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.sqlite = self.url.startswith("sqlite")
        path = sqlite_path(self.url) if self.sqlite else None
        self._single = SingleActive(path + ".timers.lock") if path else None
        self._versions_seen: tuple | None = None
        self.database = trouble.DatabaseBackoff()

    # --- roles ---

    def is_active(self) -> bool:
        """PostgreSQL pollers are all active; on SQLite only the holder of the file lock is."""
        return self._single is None or self._single.acquire(self.owner)

    def release(self) -> None:
        """Give back leases of rows claimed but not fired, and (SQLite) the active role."""
        try:
            with db.transaction(self.url) as session:
                session.execute(update(Timer).where(Timer.lease_owner == self.owner)
                                .values(lease_owner=None, lease_expires_at=None, fire_at=FREE_AT))
        finally:
            if self._single is not None:
                self._single.release()

    def sync_start_timers_if_changed(self) -> None:
        """Re-arm timer start events when a deployment added versions (cheap check on every tick)."""
        with db.read_session(self.url) as session:
            marker = _versions_marker(session)
        if marker == self._versions_seen:
            return
        with db.transaction(self.url) as session:
            sync_start_timers(session)
        self._versions_seen = marker

    # --- one pass ---

    def run_due(self, stop=None) -> TickStats:
        """Fire everything due now, oldest first, batch by batch, until nothing is due (or ``stop`` is set)."""
        stats = TickStats()
        if self.database.paused() or not self.is_active():
            return stats
        try:
            self._drain(stats, stop)
            # Deployments are checked after the drain, so a start-up backlog is not held up by parsing
            # every process; a start row armed here is fired by the next pass.
            self.sync_start_timers_if_changed()
        except Exception as exc:
            if not trouble.is_database_trouble(exc):
                raise
            stats.database_errors += 1
            self.database.note(exc)
        else:
            self.database.clear()
        return stats

    def _drain(self, stats: TickStats, stop) -> None:
        while stop is None or not stop.is_set():
            if not self._anything_due():
                break
            claimed = self.claim()
            if not claimed:
                break
            # Two connections per batch (writes, and the snapshots firings are computed from); each
            # firing is still its own transaction.
            engine = db.get_engine(self.url)
            with engine.connect() as conn, engine.connect() as reader:
                for i, c in enumerate(claimed):
                    if stop is not None and stop.is_set():
                        self._unlease([x.id for x in claimed[i:]])
                        return
                    try:
                        outcome = self.fire(c, conn, reader)
                    except Exception as exc:
                        if trouble.is_database_trouble(exc):  # give the rest back, best effort
                            self._unlease_quietly([x.id for x in claimed[i:]])
                        raise
                    setattr(stats, outcome, getattr(stats, outcome) + 1)

    # Due work is read from ``timers.fire_at`` alone (index ix_timers_fire_at): it is NULL while the
    # instance waits on an incident, a retry's time while one is pending, the lease's end while leased. The
    # lease and attempts conditions below only re-check, on the rows the index range yields, what
    # ``fire_at`` already says (a row moved by its instance while leased keeps its lease).

    def _claimable(self, now):
        return (Timer.fire_at <= now, Timer.attempts < self.max_attempts,
                or_(Timer.lease_expires_at.is_(None), Timer.lease_expires_at < now))

    def _anything_due(self) -> bool:
        now = clock.now()
        with db.read_session(self.url) as session:
            return session.scalar(select(Timer.id).where(*self._claimable(now))
                                  .order_by(Timer.fire_at, Timer.id).limit(1)) is not None

    def next_due(self) -> dt.datetime | None:
        """When the next timer (or retry, or expired lease) becomes claimable; ``None`` when nothing is
        armed. One index entry: the first of ``ix_timers_fire_at``."""
        with db.read_session(self.url) as session:
            value = session.scalar(select(func.min(Timer.fire_at)))
        return clock.as_utc(value)

    def claim(self, limit: int | None = None) -> list[Claimed]:
        """Lease up to ``limit`` due rows to this poller in one short transaction, oldest first (one range
        of ``ix_timers_fire_at``)."""
        now = clock.now()
        until = now + self.lease
        with db.transaction(self.url) as session:
            query = (select(Timer.id, Timer.instance_id, Timer.task_id, Timer.process_id, Timer.element_id,
                            Timer.kind, Timer.sla_key, Timer.due_at, Timer.attempts)
                     .where(*self._claimable(now))
                     .order_by(Timer.fire_at, Timer.id).limit(limit or self.batch))
            if not self.sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).all()
            if rows:
                session.execute(update(Timer).where(Timer.id.in_([r.id for r in rows]))
                                .values(lease_owner=self.owner, lease_expires_at=until, fire_at=until))
        return [Claimed(r.id, r.instance_id, r.task_id, r.process_id, r.element_id, r.kind, r.sla_key,
                        clock.as_utc(r.due_at), r.attempts) for r in rows]

    def _unlease(self, ids: list[int]) -> None:
        if ids:
            with db.transaction(self.url) as session:
                session.execute(update(Timer).where(Timer.id.in_(ids), Timer.lease_owner == self.owner)
                                .values(lease_owner=None, lease_expires_at=None, fire_at=FREE_AT))

    def _unlease_quietly(self, ids: list[int]) -> None:
        try:
            self._unlease(ids)
        except Exception as exc:  # the database is in trouble: the leases expire on their own
            log.warning("could not give back %s timer leases: %s", len(ids), exc)

    # --- firing ---

    def fire(self, c: Claimed, connection=None, reader=None) -> str:
        """Fire one claimed row in its own transaction (on ``connection``, reading from ``reader``, when
        given); returns 'fired',
        'stale', 'deferred', 'failed' or 'incidents'. A database error is raised (see :mod:`trouble`):
        the caller pauses the whole poller."""
        try:
            with db.transaction(self.url, connection=connection) as session:
                if c.instance_id is None:
                    return self._fire_start(session, c)
                return self._fire_instance(session, c, reader)
        except Exception as exc:
            if trouble.is_race(exc):  # lost a race with a person's change: try again shortly
                log.info("timer %s deferred: %s", c.id, exc)
                self._defer(c, dt.timedelta(seconds=0.2))
                return "deferred"
            if trouble.is_database_trouble(exc):
                raise
            if not isinstance(exc, errors.ScriptFailure):
                log.exception("timer %s (%s) could not fire", c.id, c.element_id)
            return self._failed(c, exc)

    @contextlib.contextmanager
    def _reading(self, session: Session, reader) -> Iterator[Session]:
        """A read snapshot: on the batch's reader connection, or one ``db.reading`` opens."""
        if reader is None:
            with db.reading(session) as read:
                yield read
        else:
            with db.transaction(self.url, write=False, connection=reader) as read:
                yield read

    def _lock(self, session: Session, c: Claimed) -> Timer | None:
        """Lock the instance first, then the row (the same order every instance change takes), and
        return the row only if it is still ours."""
        if self.sqlite:  # BEGIN IMMEDIATE already holds the database's write lock
            row = session.scalars(_ROW_BY_ID, {"id": c.id}).first()
        else:
            if c.instance_id is not None:
                session.scalars(_LOCK_INSTANCE, {"iid": c.instance_id}).first()
            row = session.scalars(_LOCK_ROW, {"id": c.id}).first()
        if row is None or row.lease_owner != self.owner:
            return None
        return row

    def _payload(self, c: Claimed, row: Timer, now: dt.datetime) -> dict:
        due = clock.as_utc(row.due_at)
        return {"timer_id": row.id, "task_id": row.task_id, "process_id": row.process_id,
                "element_id": row.element_id, "timer_kind": row.kind, "sla": row.sla_key,
                "due_at": due.isoformat(), "fired_at": now.isoformat(),
                "lateness_ms": int((now - due).total_seconds() * 1000), "attempt": row.attempts + 1}

    def _fire_instance(self, session: Session, c: Claimed, reader=None) -> str:
        """The hot path: Core statements only. The instance and its timer rows are read from a snapshot
        (``reader``, a connection held for the batch) and the timer's scripts run on that copy, outside the
        write lock; the firing is then one ordinary change of the instance (revision check, projections,
        audit events, the row deleted). Whoever changed the instance meanwhile makes it a ``Conflict``,
        retried shortly; a row another poller took meanwhile is fired once, by the revision check."""
        with self._reading(session, reader) as read:
            return self._fire_from(session, read, c)

    def _fire_from(self, session: Session, read: Session, c: Claimed) -> str:
        try:
            loaded = runtime.load(read, c.instance_id)
        except errors.NotFound:
            loaded = None
        rows = read.connection().execute(_ROWS, {"iid": c.instance_id}).all()
        row = next((r for r in rows if r.id == c.id), None)
        if row is None or row.lease_owner != self.owner:
            return "stale"
        if loaded is None or loaded.instance.status != "running":
            session.connection().execute(_DROP, {"id": row.id, "owner": self.owner})
            return "stale"
        loaded.timer_rows = {r.task_id: r for r in rows}
        now = clock.now()

        def before(wf):
            task = _find_task(wf, row.task_id)
            if task is None or task.state != TaskState.WAITING:
                raise _Stale()
            due = due_at(task)
            if due is None:
                raise _Stale()
            if due > now:
                raise _NotDue(due)
            wf.refresh_timers()

        try:
            runtime.run_steps(session, c.instance_id, ACTOR, "timer_fired", self._payload(c, row, now),
                              before=before, element_id=row.element_id, loaded=loaded, read=read)
        except errors.ScriptFailure as exc:
            if isinstance(exc.__cause__, _Stale):
                session.execute(_DROP, {"id": row.id, "owner": self.owner})
                return "stale"
            if isinstance(exc.__cause__, _NotDue):
                session.execute(_RESCHEDULE, {"b_id": row.id, "due": exc.__cause__.due, "owner": self.owner})
                return "deferred"
            raise
        # The timer fired, so sync deleted its row; a cycle timer's row stays with its next due time.
        task = _find_task(loaded.workflow, row.task_id)
        if task is not None and task.state == TaskState.WAITING:
            session.connection().execute(_RELEASE, {"b_id": row.id})
        return "fired"

    def _fire_start(self, session: Session, c: Claimed) -> str:
        """A timer start event (see :func:`engine.timers.start_timers.fire`)."""
        row = self._lock(session, c)
        if row is None:
            return "stale"
        return "fired" if start_timers.fire(session, row, lambda now: self._payload(c, row, now)) else "stale"

    # --- failures ---

    def backoff(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(seconds=min(self.backoff_seconds * 2 ** (attempts - 1), self.backoff_cap_seconds))

    def _defer(self, c: Claimed, delay: dt.timedelta) -> None:
        retry = clock.now() + delay
        with db.transaction(self.url) as session:
            session.execute(update(Timer).where(Timer.id == c.id, Timer.lease_owner == self.owner)
                            .values(lease_owner=None, lease_expires_at=None, next_attempt_at=retry, fire_at=retry))

    def _failed(self, c: Claimed, exc: Exception) -> str:
        """Count the failure: retry with back-off, or raise an incident once the attempts are used up — at
        once when running the timer again cannot help (``trouble.hopeless``)."""
        error = trouble.error_text(exc)
        now = clock.now()
        with db.transaction(self.url) as session:
            row = self._lock(session, c)
            if row is None:
                return "stale"
            row.attempts = max(row.attempts + 1, self.max_attempts if trouble.hopeless(exc) else 0)
            row.last_error = error
            row.lease_owner, row.lease_expires_at = None, None
            if row.attempts < self.max_attempts:
                row.next_attempt_at = row.fire_at = now + self.backoff(row.attempts)
                log.warning("timer %s (%s) failed, attempt %s, retry at %s: %s", row.id, row.element_id,
                            row.attempts, row.next_attempt_at, error)
                return "failed"
            incident = incidents.raise_incident(session, row, error, trouble.failed_element(exc) or row.element_id,
                                                now)
            log.error("timer %s (%s) cannot fire (attempt %s): incident %s: %s", row.id, row.element_id,
                      row.attempts, incident.id, error)
            return "incidents"


def _find_task(wf, task_id: str | None):
    return runtime.find_task(wf, task_id) if task_id else None
