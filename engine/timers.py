"""The timer table: which BPMN timers are waiting, when they are due, and what their SLA clocks say.

SpiffWorkflow keeps a waiting timer's due time inside the serialized workflow
(``task.internal_data['event_value']``) and never fires anything by itself. We mirror every waiting
timer into the ``timers`` table in the same transaction that arms or cancels it, so a poller can find
due work with one indexed query instead of deserializing instances, and a crash can never leave a
timer armed in the blob but missing from the table (or the reverse).
"""

from __future__ import annotations

import ast
import calendar
import datetime as dt
import fcntl
import json
import logging
import math
import os
import socket
import uuid
from dataclasses import dataclass

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import and_, bindparam, delete, func, inspect, or_, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from . import clock, config, db, history, scripting
from .models import AuditEvent, Incident, Instance, ProcessVersion, SlaClock, Timer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WaitingTimer:
    task_id: str
    element_id: str
    process_id: str
    kind: str  # boundary | intermediate | start
    due_at: dt.datetime
    sla_key: str | None
    guarded_task_id: str | None
    guarded_element_id: str | None


def _is_timer(event_definition) -> bool:
    if isinstance(event_definition, TimerEventDefinition):
        return True
    return isinstance(event_definition, MultipleEventDefinition) and any(
        isinstance(e, TimerEventDefinition) for e in event_definition.event_definitions)


def _due(task) -> dt.datetime | None:
    value = task.internal_data.get("event_value")
    if isinstance(value, dict):  # cycle: {'cycles': remaining, 'next': iso, 'duration': seconds}
        if value.get("cycles") == 0:
            return None
        value = value.get("next")
    if not value:
        return None
    due = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else value
    return clock.as_utc(due)


def waiting(wf, version) -> list[WaitingTimer]:
    """Every waiting timer of the instance, inside call activities too (the top workflow's event manager
    tracks them all)."""
    out = []
    for task in list(wf.event_manager.tasks.values()):
        spec = task.task_spec
        if task.state != TaskState.WAITING or not _is_timer(getattr(spec, "event_definition", None)):
            continue
        due = _due(task)
        if due is None:
            continue
        process_id = task.workflow.spec.name
        props = version.properties.get(process_id, {}).get(spec.bpmn_id, {})
        guarded = None
        if isinstance(spec, BoundaryEvent) and task.parent is not None:
            guarded = next((c for c in task.parent.children if not isinstance(c.task_spec, BoundaryEvent)), None)
        kind = "boundary" if isinstance(spec, BoundaryEvent) else "start" if isinstance(spec, StartEvent) \
            else "intermediate"
        out.append(WaitingTimer(str(task.id), spec.bpmn_id, process_id, kind, due, _sla_key(props, task),
                                str(guarded.id) if guarded else None,
                                guarded.task_spec.bpmn_id if guarded else None))
    return out


def _sla_key(props: dict, task) -> str | None:
    """The timer's SLA key, unless its ``sla_when`` condition says the deadline does not apply to this case
    (e.g. the 24-hour rule is for ordinary problems: ``sla_when = complexity != 'complex'``). A condition
    that cannot be evaluated keeps the SLA: a deadline is never dropped by accident."""
    key = props.get("sla") or None
    condition = props.get("sla_when")
    if key is None or not condition:
        return key
    try:
        applies = scripting.RestrictedEnvironment().evaluate(condition, dict(task.data))
    except Exception:  # noqa: BLE001 - see docstring
        return key
    return key if applies else None


_ROWS_OF_INSTANCE = select(Timer).where(Timer.instance_id == bindparam("iid"))
_ARMED_CLOCKS = select(SlaClock).where(SlaClock.instance_id == bindparam("iid"), SlaClock.status == "armed")


def sync(session: Session, instance: Instance, wf, waiting_now: list[WaitingTimer]) -> list[SlaClock]:
    """Rewrite the instance's timer rows and settle SLA clocks; returns the clocks breached by this change.

    This runs on every change of every instance, so it issues as few statements as it can: clocks are only
    read when a timer with an SLA key went away (an armed clock always has its timer row).
    """
    now = clock.now()
    rows = {r.task_id: r for r in session.scalars(_ROWS_OF_INSTANCE, {"iid": instance.id})}
    current = {w.task_id: w for w in waiting_now}
    gone = [tid for tid in rows if tid not in current]
    breached = []
    if gone:
        session.execute(delete(Timer).where(Timer.instance_id == instance.id, Timer.task_id.in_(gone)),
                        execution_options={"synchronize_session": False})
        for tid in gone:
            session.expunge(rows[tid])
        settled = [tid for tid in gone if rows[tid].sla_key]
        if settled:
            states = {str(t.id): t.state for t in _tasks_by_id(wf, settled)}
            for clk in session.scalars(_ARMED_CLOCKS, {"iid": instance.id}):
                if clk.timer_task_id not in settled:
                    continue
                if states.get(clk.timer_task_id) == TaskState.COMPLETED:
                    clk.status, clk.breached_at = "breached", now
                    breached.append(clk)
                else:
                    clk.status, clk.met_at = "met", now
    for w in waiting_now:
        row = rows.get(w.task_id)
        if row is None:
            session.add(Timer(instance_id=instance.id, task_id=w.task_id, process_id=w.process_id,
                              element_id=w.element_id, kind=w.kind, guarded_task_id=w.guarded_task_id,
                              sla_key=w.sla_key, due_at=w.due_at, attempts=0, created_at=now))
            if w.sla_key:
                session.add(SlaClock(instance_id=instance.id, timer_task_id=w.task_id, sla_key=w.sla_key,
                                     element_id=w.element_id, guarded_task_id=w.guarded_task_id,
                                     guarded_element_id=w.guarded_element_id, status="armed", armed_at=now,
                                     due_at=w.due_at))
        elif clock.as_utc(row.due_at) != w.due_at:  # a cycle timer moved on to its next occurrence
            row.due_at, row.attempts, row.next_attempt_at, row.last_error = w.due_at, 0, None, None
    return breached


def _tasks_by_id(wf, ids):
    wanted = set(ids)
    from .runtime import all_tasks  # local: runtime imports this module

    return [t for t in all_tasks(wf) if str(t.id) in wanted]


# --- firing ------------------------------------------------------------------------------------------------
#
# A poller claims due rows with a lease, then fires each in its own instance transaction. Delivery is
# at-least-once (a poller may die after firing and before anyone knows); the effect happens once because
# the firing transaction locks the instance, re-reads the row under that lock and only fires a row that
# is still there and still leased to it: the first firing deletes the row (``sync`` sees the timer is no
# longer waiting), so a second delivery finds nothing and is dropped.
#
# PostgreSQL: any number of pollers; the claim is ``SELECT … FOR UPDATE SKIP LOCKED`` in a short
# transaction. SQLite: one active poller per database file, chosen by an exclusive ``flock`` on a file
# beside the database. Other pollers are standbys that try the lock on every tick; the OS drops the lock
# the moment the active process dies (even SIGKILL), and the rows that process had claimed become
# claimable when their leases expire.

MAX_ATTEMPTS = 5
ACTOR = "scheduler"


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

    @property
    def total(self) -> int:
        return self.fired + self.stale + self.failed + self.incidents + self.deferred


class _SingleActive:
    """SQLite's "one active poller": an exclusive, non-blocking flock held for the poller's lifetime."""

    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None

    def acquire(self, owner: str) -> bool:
        if self.fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{owner}\n".encode())
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _sqlite_path(url: str) -> str | None:
    path = url.split("///", 1)[1] if "///" in url else ""
    return None if not path or path == ":memory:" else path.split("?", 1)[0]


_ROW_BY_ID = select(Timer).where(Timer.id == bindparam("id"))
_LOCK_ROW = _ROW_BY_ID.with_for_update()
_LOCK_INSTANCE = select(Instance).where(Instance.id == bindparam("iid")).with_for_update()


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
        path = _sqlite_path(self.url) if self.sqlite else None
        self._single = _SingleActive(path + ".timers.lock") if path else None
        self._versions_seen: tuple | None = None

    # --- roles ---

    def is_active(self) -> bool:
        """PostgreSQL pollers are all active; on SQLite only the holder of the file lock is."""
        return self._single is None or self._single.acquire(self.owner)

    def release(self) -> None:
        """Give back leases of rows claimed but not fired, and (SQLite) the active role."""
        try:
            with db.transaction(self.url) as session:
                session.execute(update(Timer).where(Timer.lease_owner == self.owner)
                                .values(lease_owner=None, lease_expires_at=None))
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
        if not self.is_active():
            return stats
        self._drain(stats, stop)
        # Deployments are checked after the drain, so a start-up backlog is not held up by parsing every
        # process; a start row armed here is fired by the next pass.
        self.sync_start_timers_if_changed()
        return stats

    def _drain(self, stats: TickStats, stop) -> None:
        while stop is None or not stop.is_set():
            if not self._anything_due():
                break
            claimed = self.claim()
            if not claimed:
                break
            for i, c in enumerate(claimed):
                if stop is not None and stop.is_set():
                    self._unlease([x.id for x in claimed[i:]])
                    return
                outcome = self.fire(c)
                setattr(stats, outcome, getattr(stats, outcome) + 1)

    def _eligible(self, now):
        return and_(or_(Timer.next_attempt_at.is_(None), Timer.next_attempt_at <= now),
                    or_(Timer.lease_expires_at.is_(None), Timer.lease_expires_at < now),
                    Timer.attempts < self.max_attempts,
                    or_(Timer.instance_id.is_(None), Instance.status == "running"))

    def _anything_due(self) -> bool:
        now = clock.now()
        with db.read_session(self.url) as session:
            return session.scalar(select(Timer.id).outerjoin(Instance, Instance.id == Timer.instance_id)
                                  .where(Timer.due_at <= now, self._eligible(now)).limit(1)) is not None

    def next_due(self) -> dt.datetime | None:
        """When the next claimable timer (or retry) comes due; ``None`` when nothing is armed."""
        now = clock.now()
        with db.read_session(self.url) as session:
            value = session.scalar(select(func.min(func.coalesce(Timer.next_attempt_at, Timer.due_at)))
                                   .select_from(Timer).outerjoin(Instance, Instance.id == Timer.instance_id)
                                   .where(self._eligible(now)))
        return clock.as_utc(value)

    def claim(self, limit: int | None = None) -> list[Claimed]:
        """Lease up to ``limit`` due rows to this poller in one short transaction."""
        now = clock.now()
        with db.transaction(self.url) as session:
            query = (select(Timer.id, Timer.instance_id, Timer.task_id, Timer.process_id, Timer.element_id,
                            Timer.kind, Timer.sla_key, Timer.due_at, Timer.attempts)
                     .outerjoin(Instance, Instance.id == Timer.instance_id)
                     .where(Timer.due_at <= now, self._eligible(now))
                     .order_by(Timer.due_at, Timer.id).limit(limit or self.batch))
            if not self.sqlite:
                query = query.with_for_update(of=Timer, skip_locked=True)
            rows = session.execute(query).all()
            if rows:
                session.execute(update(Timer).where(Timer.id.in_([r.id for r in rows]))
                                .values(lease_owner=self.owner, lease_expires_at=now + self.lease))
        return [Claimed(r.id, r.instance_id, r.task_id, r.process_id, r.element_id, r.kind, r.sla_key,
                        clock.as_utc(r.due_at), r.attempts) for r in rows]

    def _unlease(self, ids: list[int]) -> None:
        if ids:
            with db.transaction(self.url) as session:
                session.execute(update(Timer).where(Timer.id.in_(ids), Timer.lease_owner == self.owner)
                                .values(lease_owner=None, lease_expires_at=None))

    # --- firing ---

    def fire(self, c: Claimed) -> str:
        """Fire one claimed row; returns 'fired', 'stale', 'deferred', 'failed' or 'incidents'."""
        from . import runtime

        try:
            with db.transaction(self.url) as session:
                if c.instance_id is None:
                    return self._fire_start(session, c)
                return self._fire_instance(session, c)
        except runtime.ScriptFailure as exc:
            return self._failed(c, exc)
        except (runtime.Conflict, OperationalError, DBAPIError) as exc:
            # Lost a race with a person's change (or a deadlock/serialization error): try again shortly.
            log.info("timer %s deferred: %s", c.id, exc)
            self._defer(c, dt.timedelta(seconds=0.2))
            return "deferred"

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

    def _fire_instance(self, session: Session, c: Claimed) -> str:
        from . import runtime

        row = self._lock(session, c)
        if row is None:
            return "stale"
        instance = session.get(Instance, c.instance_id)
        if instance is None or instance.status != "running":
            session.delete(row)
            return "stale"
        now = clock.now()

        def before(wf):
            task = _find_task(wf, row.task_id)
            if task is None or task.state != TaskState.WAITING:
                raise _Stale()
            due = _due(task)
            if due is None:
                raise _Stale()
            if due > now:
                raise _NotDue(due)
            wf.refresh_timers()

        try:
            runtime.run_steps(session, instance.id, ACTOR, "timer_fired", self._payload(c, row, now),
                              before=before, element_id=row.element_id)
        except runtime.ScriptFailure as exc:
            if isinstance(exc.__cause__, _Stale):
                session.delete(row)
                return "stale"
            if isinstance(exc.__cause__, _NotDue):
                row.due_at, row.lease_owner, row.lease_expires_at = exc.__cause__.due, None, None
                return "deferred"
            raise
        # The timer fired, so sync deleted its row; a cycle timer's row stays with its next due time.
        if inspect(row).persistent:
            row.lease_owner, row.lease_expires_at = None, None
        return "fired"

    def _fire_start(self, session: Session, c: Claimed) -> str:
        """A timer start event: start an instance, let its start event proceed at once, arm the next one."""
        from . import repository, runtime

        row = self._lock(session, c)
        if row is None:
            return "stale"
        occurrence = clock.as_utc(row.due_at)
        version = repository.latest_version(session, row.process_id)
        spec = next((s for s in start_timer_specs(repository.load(session, version))
                     if s.element_id == row.element_id), None) if version else None
        if spec is None:  # the latest version no longer starts on this timer
            session.delete(row)
            return "stale"
        now = clock.now()
        instance = runtime.start(session, row.process_id, start_data(occurrence), ACTOR)
        runtime.run_steps(session, instance.id, ACTOR, "timer_fired", self._payload(c, row, now),
                          before=lambda wf: _force_start(wf, row.element_id, now), element_id=row.element_id)
        following = spec.next_occurrence(after=occurrence, armed_at=occurrence)
        session.delete(row)
        if following is not None:
            session.add(Timer(instance_id=None, task_id=row.task_id, process_id=row.process_id,
                              element_id=row.element_id, kind="start", due_at=following, attempts=0,
                              created_at=now))
        return "fired"

    # --- failures ---

    def backoff(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(seconds=min(self.backoff_seconds * 2 ** (attempts - 1), self.backoff_cap_seconds))

    def _defer(self, c: Claimed, delay: dt.timedelta) -> None:
        with db.transaction(self.url) as session:
            session.execute(update(Timer).where(Timer.id == c.id, Timer.lease_owner == self.owner)
                            .values(lease_owner=None, lease_expires_at=None, next_attempt_at=clock.now() + delay))

    def _failed(self, c: Claimed, exc) -> str:
        error = _error_text(exc)
        now = clock.now()
        with db.transaction(self.url) as session:
            row = self._lock(session, c)
            if row is None:
                return "stale"
            row.attempts += 1
            row.last_error = error
            row.lease_owner, row.lease_expires_at = None, None
            if row.attempts < self.max_attempts:
                row.next_attempt_at = now + self.backoff(row.attempts)
                log.warning("timer %s (%s) failed, attempt %s, retry at %s: %s", row.id, row.element_id,
                            row.attempts, row.next_attempt_at, error)
                return "failed"
            row.next_attempt_at = None
            element = _failed_element(exc) or row.element_id
            incident = Incident(instance_id=row.instance_id, timer_id=row.id, element_id=element, error=error,
                                created_at=now)
            session.add(incident)
            session.flush()
            if row.instance_id is not None:
                instance = session.get(Instance, row.instance_id)
                instance.status, instance.incident = "incident", error
                history.append(session, instance.id, ACTOR, "incident_raised", element_id=element,
                               payload={"incident_id": incident.id, "timer_id": row.id, "attempts": row.attempts,
                                        "error": error}, state_fingerprint=instance.state_fingerprint, at=now)
            log.error("timer %s (%s) failed %s times: incident %s: %s", row.id, row.element_id, row.attempts,
                      incident.id, error)
            return "incidents"


def _error_text(exc) -> str:
    message = getattr(exc, "message", None) or str(exc)
    detail = ((getattr(exc, "details", None) or {}).get("error") or "").strip()
    return f"{message}\n{detail}" if detail and detail not in message else message


def _failed_element(exc) -> str | None:
    """The BPMN element that raised: named by the runtime, or by SpiffWorkflow's task exception."""
    named = (getattr(exc, "details", None) or {}).get("element_id")
    task = getattr(exc.__cause__, "task", None)
    return named or (task.task_spec.bpmn_id if task is not None else None)


def _find_task(wf, task_id: str | None):
    from .runtime import find_task

    return find_task(wf, task_id) if task_id else None


# --- incidents -------------------------------------------------------------------------------------------

def list_incidents(session: Session, *, open_only: bool = True) -> list[Incident]:
    query = select(Incident).order_by(Incident.created_at.desc(), Incident.id.desc())
    if open_only:
        query = query.where(Incident.resolved_at.is_(None))
    return list(session.scalars(query))


def retry_incident(session: Session, incident_id: int, actor: str) -> Incident:
    """Resolve the incident and re-arm its timer for the next poll (the admin fixed the cause)."""
    from .runtime import Conflict, NotFound

    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("找不到该异常记录", incident_id=incident_id)
    if incident.resolved_at is not None:
        raise Conflict("该异常已处理", incident_id=incident_id)
    now = clock.now()
    incident.resolved_at, incident.resolved_by = now, actor
    if incident.timer_id is not None:
        session.execute(update(Timer).where(Timer.id == incident.timer_id)
                        .values(attempts=0, next_attempt_at=None, last_error=None, lease_owner=None,
                                lease_expires_at=None))
    if incident.instance_id is not None:
        instance = session.get(Instance, incident.instance_id)
        if instance is not None and instance.status == "incident":
            instance.status, instance.incident = "running", None
            history.append(session, instance.id, actor, "incident_retried", element_id=incident.element_id,
                           payload={"incident_id": incident.id, "timer_id": incident.timer_id},
                           state_fingerprint=instance.state_fingerprint, at=now)
    session.flush()
    return incident


# --- timer start events ------------------------------------------------------------------------------------
#
# SpiffWorkflow runs a timer start event *inside* an instance that already exists, and a cycle start event
# makes parallel branches in that one instance. "Start a new instance every month" is therefore ours: each
# latest process version whose start event is a timer keeps one ``timers`` row with ``instance_id`` NULL
# and ``kind='start'``, due at the next occurrence. Firing it starts an instance, forces its start event
# (a past ``event_value``, then ``refresh_timers``), deletes the row and inserts the next occurrence, all in
# one transaction.
#
# Next occurrence, all in Asia/Shanghai (no DST):
# - ``timeCycle "R[n]/start/P…"``: start + k·period (calendar-aware), the first strictly after the previous
#   occurrence; at most n occurrences.
# - ``timeCycle "R[n]/P…"`` (no start): anchored at the beginning of the period's largest unit — years at
#   1 Jan 00:00, months at the 1st 00:00, weeks at Monday 00:00, days at 00:00, hours at :00, minutes at
#   :00 s. So ``"R/P1M"`` fires at 00:00 on the 1st of every month. (n is not counted without a start.)
# - ``timeCycle "R[n]/P…/end"``: end − k·period, the first after the previous occurrence.
# - A ``schedule`` property on the start event (a cycle as above) overrides the timer's own expression.
# - ``timeDate``: once, if it lies in the future when armed. ``timeDuration``: once, that long after arming.
# The instance's start data: ``period`` = "YYYY-MM" of the month before the occurrence (for the monthly
# statistics: the month just ended) and ``scheduled_at`` = the occurrence (ISO, Shanghai).


_UNITS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")


def _parse_duration(text: str) -> dict:
    parsed = TimerEventDefinition.parse_iso_duration(text)
    return {k: parsed.get(k, 0) for k in _UNITS}


def _shift(base: dt.datetime, d: dict, k: int) -> dt.datetime:
    """``base`` + k·d, months first (calendar-aware, day clamped to the month's length), then the rest."""
    months = k * (int(d["years"]) * 12 + int(d["months"]))
    if months:
        index = base.year * 12 + (base.month - 1) + months
        year, month = divmod(index, 12)
        month += 1
        day = min(base.day, calendar.monthrange(year, month)[1])
        base = base.replace(year=year, month=month, day=day)
    return base + k * dt.timedelta(weeks=d["weeks"], days=d["days"], hours=d["hours"], minutes=d["minutes"],
                                   seconds=d["seconds"])


def _approx_seconds(d: dict) -> float:
    return (d["years"] * 365.2425 * 86400 + d["months"] * 30.436875 * 86400 + d["weeks"] * 604800
            + d["days"] * 86400 + d["hours"] * 3600 + d["minutes"] * 60 + d["seconds"])


def _anchor(moment: dt.datetime, d: dict) -> dt.datetime:
    local = moment.astimezone(clock.SHANGHAI).replace(microsecond=0)
    unit = next(u for u in _UNITS if d[u])
    if unit == "years":
        return local.replace(month=1, day=1, hour=0, minute=0, second=0)
    if unit == "months":
        return local.replace(day=1, hour=0, minute=0, second=0)
    if unit == "weeks":
        return (local - dt.timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0)
    if unit == "days":
        return local.replace(hour=0, minute=0, second=0)
    if unit == "hours":
        return local.replace(minute=0, second=0)
    if unit == "minutes":
        return local.replace(second=0)
    return local


def _first_after(base: dt.datetime, d: dict, after: dt.datetime, sign: int = 1,
                 limit: int | None = None) -> dt.datetime | None:
    step = _approx_seconds(d)
    if step <= 0:
        return None
    k = max(0, int(sign * (after - base).total_seconds() / step) - 2) if sign > 0 else 0
    if sign < 0:  # end-anchored: walk back to the earliest occurrence after ``after``
        k = max(0, int((base - after).total_seconds() / step) - 2)
        best = None
        while limit is None or k < limit:
            moment = _shift(base, d, -k)
            if moment <= after:
                break
            best = moment
            k += 1
        return best
    while limit is None or k < limit:
        moment = _shift(base, d, k)
        if moment > after:
            return moment
        k += 1
    return None


@dataclass(frozen=True)
class StartTimerSpec:
    element_id: str
    timer_type: str  # cycle | date | duration
    expression: str

    def next_occurrence(self, *, after: dt.datetime, armed_at: dt.datetime) -> dt.datetime | None:
        after = after.astimezone(clock.SHANGHAI)
        text = self.expression.strip()
        if self.timer_type == "date":
            moment = TimerEventDefinition.get_datetime(text)
            return moment if moment > after else None
        if self.timer_type == "duration":
            moment = _shift(armed_at.astimezone(clock.SHANGHAI), _parse_duration(text), 1)
            return moment.astimezone(clock.UTC) if moment > after else None
        parts = text.upper().split("/")
        count = int(parts[0][1:]) if parts[0][1:] else None
        if len(parts) == 2:
            d = _parse_duration(parts[1])
            moment = _first_after(_anchor(after, d), d, after)
        elif parts[1].startswith("P"):
            d = _parse_duration(parts[1])
            end = TimerEventDefinition.get_datetime(parts[2]).astimezone(clock.SHANGHAI)
            moment = _first_after(end, d, after, sign=-1, limit=count)
        else:
            d = _parse_duration(parts[2])
            start = TimerEventDefinition.get_datetime(parts[1]).astimezone(clock.SHANGHAI)
            moment = start if start > after else _first_after(start, d, after, limit=count)
        return moment.astimezone(clock.UTC) if moment is not None else None


def start_timer_specs(version) -> list[StartTimerSpec]:
    """The timer start events of a loaded version's own process (literal expressions only).

    A start event may carry ``spiffworkflow:property name="schedule"`` with a cycle (e.g.
    ``"R/2026-12-01T00:00:00+08:00/P1M"``): the engine then follows that cycle, whatever the event's own
    timer says (SpiffWorkflow's own cycle start event would repeat *inside* one instance).
    """
    out = []
    props = version.properties.get(version.version.process_id, {})
    for ts in version.spec.task_specs.values():
        ev = getattr(ts, "event_definition", None)
        if not isinstance(ts, StartEvent) or not isinstance(ev, TimerEventDefinition):
            continue
        schedule = (props.get(ts.bpmn_id, {}).get("schedule") or "").strip().strip('"')
        if schedule:
            out.append(StartTimerSpec(ts.bpmn_id, "cycle", schedule))
            continue
        try:
            value = ast.literal_eval(ev.expression)
        except (ValueError, SyntaxError):
            log.warning("start timer %s of %s is not a literal; not scheduled", ts.bpmn_id, version.version.process_id)
            continue
        kind = ("cycle" if isinstance(ev, CycleTimerEventDefinition)
                else "date" if isinstance(ev, TimeDateEventDefinition) else "duration")
        out.append(StartTimerSpec(ts.bpmn_id, kind, str(value)))
    return out


def start_data(occurrence: dt.datetime) -> dict:
    local = occurrence.astimezone(clock.SHANGHAI)
    return {"period": (local - dt.timedelta(microseconds=1)).strftime("%Y-%m"),
            "scheduled_at": local.isoformat()}


def _force_start(wf, element_id: str, now: dt.datetime) -> None:
    """Make the new instance's timer start event proceed now (SpiffWorkflow would wait for its own due)."""
    past = (now - dt.timedelta(seconds=1)).isoformat()
    for task in list(wf.event_manager.tasks.values()):
        spec = task.task_spec
        if task.workflow is not wf or spec.bpmn_id != element_id or task.state != TaskState.WAITING:
            continue
        if isinstance(spec.event_definition, CycleTimerEventDefinition):
            task.internal_data["event_value"] = {"cycles": 1, "next": past, "duration": 1.0}
        else:
            task.internal_data["event_value"] = past
    wf.refresh_timers()


def sync_start_timers(session: Session) -> int:
    """Keep one armed row per timer start event of every process's latest version. Returns rows armed."""
    from . import repository

    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(4242001)"))  # one syncer at a time
    now = clock.now()
    existing = {(r.process_id, r.element_id): r for r in
                session.scalars(select(Timer).where(Timer.instance_id.is_(None), Timer.kind == "start"))}
    wanted = set()
    armed = 0
    for process_id in sorted(repository.deployed_process_ids(session)):
        version = repository.latest_version(session, process_id)
        for spec in start_timer_specs(repository.load(session, version)):
            key = (process_id, spec.element_id)
            wanted.add(key)
            tag = f"v{version.id}"
            row = existing.get(key)
            if row is not None and row.task_id == tag:
                continue
            # A new version keeps an occurrence already due (downtime backlog) if the rule still yields it.
            after = min(now, clock.as_utc(row.due_at) - dt.timedelta(microseconds=1)) if row is not None else now
            due = spec.next_occurrence(after=after, armed_at=now)
            if row is not None:
                session.delete(row)
            if due is not None:
                session.add(Timer(instance_id=None, task_id=tag, process_id=process_id, element_id=spec.element_id,
                                  kind="start", due_at=due, attempts=0, created_at=now))
                armed += 1
    for key, row in existing.items():
        if key not in wanted:
            session.delete(row)
    session.flush()
    return armed


def _versions_marker(session: Session) -> tuple:
    return tuple(session.execute(select(func.max(ProcessVersion.id), func.count(ProcessVersion.id))).one())


# --- observability -----------------------------------------------------------------------------------------

def upcoming(session: Session, limit: int = 50) -> list[Timer]:
    return list(session.scalars(select(Timer).order_by(Timer.due_at, Timer.id).limit(limit)))


@dataclass(frozen=True)
class Lateness:
    count: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def lateness(session: Session, recent: int = 1000) -> Lateness:
    """Lateness of the most recent firings, read back from their audit events (the payload keeps it)."""
    payloads = session.scalars(select(AuditEvent.payload).where(AuditEvent.kind == "timer_fired")
                               .order_by(AuditEvent.id.desc()).limit(recent))
    values = sorted(json.loads(p).get("lateness_ms", 0) for p in payloads)
    return summarize(values)


def summarize(values: list[float]) -> Lateness:
    if not values:
        return Lateness(0, None, None, None)
    values = sorted(values)

    def pct(p):
        return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]

    return Lateness(len(values), pct(50), pct(99), values[-1])
