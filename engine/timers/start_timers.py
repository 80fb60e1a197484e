"""Timer start events: one armed ``timers`` row per latest version whose start event is a timer."""

from __future__ import annotations

import ast
import calendar
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine import repository, runtime
from engine.core import clock
from engine.core.tables import Instance, ProcessVersion, Timer
from engine.runtime import listeners

log = logging.getLogger(__name__)
TIMER_ACTOR = "scheduler"  # who starts the instances of timer start events (firing.ACTOR)

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
# - ``timeDate``: once, if it lies in the future when armed. ``timeDuration``: once per deployed version,
#   that long after the version is armed; once it has started an instance it is not armed again (not by the
#   firing, nor by a restarted poller's sync).
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

    @property
    def repeats(self) -> bool:
        """Only a cycle has a next occurrence after firing; a date or a duration fires once."""
        return self.timer_type == "cycle"

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


def start_data(occurrence: dt.datetime, session: Session | None = None, process_id: str | None = None) -> dict:
    """What a timer-started instance begins with: the period it covers (the month before the occurrence,
    in Shanghai) and whatever the domain's start-data listeners add (the help desk fills in the month's
    figures for its monthly statistics, so the first form arrives filled in). The runtime records this data
    in the instance's ``started`` event, so a replay starts from the same figures."""
    local = occurrence.astimezone(clock.SHANGHAI)
    data = {"period": (local - dt.timedelta(microseconds=1)).strftime("%Y-%m"), "scheduled_at": local.isoformat()}
    if process_id is not None:
        data.update(listeners.start_data(session, process_id, data))
    return data


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
            if row is None and not spec.repeats and _started_by_timer(session, version.id):
                continue  # a once-only start event of this version has fired already
            # A new version keeps an occurrence already due (downtime backlog) if the rule still yields it.
            after = min(now, clock.as_utc(row.due_at) - dt.timedelta(microseconds=1)) if row is not None else now
            due = spec.next_occurrence(after=after, armed_at=now)
            if row is not None:
                session.delete(row)
            if due is not None:
                session.add(Timer(instance_id=None, task_id=tag, process_id=process_id, element_id=spec.element_id,
                                  kind="start", due_at=due, fire_at=due, attempts=0, created_at=now))
                armed += 1
    for key, row in existing.items():
        if key not in wanted:
            session.delete(row)
    session.flush()
    return armed


def fire(session: Session, row: Timer, payload: Callable[[dt.datetime], dict]) -> bool:
    """Fire a due start row: start an instance of the latest version, let its start event proceed at once,
    and arm the next occurrence (a cycle only). False when the latest version no longer starts on it."""
    occurrence = clock.as_utc(row.due_at)
    version = repository.latest_version(session, row.process_id)
    spec = next((s for s in start_timer_specs(repository.load(session, version))
                 if s.element_id == row.element_id), None) if version else None
    session.delete(row)
    if spec is None:
        return False
    now = clock.now()
    instance = runtime.start(session, row.process_id, start_data(occurrence, session, row.process_id), TIMER_ACTOR)
    runtime.run_steps(session, instance.id, TIMER_ACTOR, "timer_fired", payload(now),
                      before=lambda wf: _force_start(wf, row.element_id, now), element_id=row.element_id)
    following = spec.next_occurrence(after=occurrence, armed_at=occurrence) if spec.repeats else None
    if following is not None:
        session.add(Timer(instance_id=None, task_id=row.task_id, process_id=row.process_id,
                          element_id=row.element_id, kind="start", due_at=following, fire_at=following, attempts=0,
                          created_at=now))
    return True


def _started_by_timer(session: Session, version_id: int) -> bool:
    return session.scalar(select(Instance.id).where(Instance.version_id == version_id,
                                                    Instance.started_by == TIMER_ACTOR).limit(1)) is not None


def _versions_marker(session: Session) -> tuple:
    return tuple(session.execute(select(func.max(ProcessVersion.id), func.count(ProcessVersion.id))).one())
