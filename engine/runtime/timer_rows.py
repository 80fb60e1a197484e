"""The ``timers`` and ``sla_clocks`` tables: which BPMN timers wait, when they are due, what their SLA says.

SpiffWorkflow keeps a waiting timer's due time inside the serialized workflow
(``task.internal_data['event_value']``) and never fires anything by itself. The runtime mirrors every
waiting timer into the ``timers`` table in the same transaction that arms or cancels it, so a poller can
find due work with one indexed query instead of deserializing instances, and a crash can never leave a
timer armed in the blob but missing from the table (or the reverse). Firing them is :mod:`engine.timers`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity, SubWorkflowTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from engine import scripting
from engine.core import clock
from engine.core.tables import SlaClock, Timer
from engine.runtime.workflow import all_tasks


@dataclass(frozen=True)
class WaitingTimer:
    task_id: str
    element_id: str
    process_id: str
    kind: str  # boundary | intermediate | start
    due_at: dt.datetime
    sla_key: str | None
    guarded_task_id: str | None  # None for a clock of the whole request (see :func:`is_watcher`)
    guarded_element_id: str | None
    # False for a clock the diagram keeps off the open tasks' deadlines (``sla_tasks = none``): a date someone
    # promised is watched and reported, but the inbox keeps showing each task's own limit.
    labels_tasks: bool = True

    @property
    def watches_instance(self) -> bool:
        """A boundary timer on a clock watcher: its deadline applies to the instance, not to one task."""
        return self.kind == "boundary" and self.guarded_task_id is None and self.guarded_element_id is not None


def is_watcher(task_spec) -> bool:
    """Whether an activity is a clock watcher: an embedded subprocess run beside the work (it only waits for
    the signal that stops the clock), whose boundary timer measures the request from the moment the watcher
    started (e.g. from receipt) until that signal, whichever tasks are open meanwhile. Its clock guards no
    single task, so it is recorded without a guarded task id and shown on every open task of the request."""
    return isinstance(task_spec, SubWorkflowTask) and not isinstance(task_spec, CallActivity)


def _is_timer(event_definition) -> bool:
    if isinstance(event_definition, TimerEventDefinition):
        return True
    return isinstance(event_definition, MultipleEventDefinition) and any(
        isinstance(e, TimerEventDefinition) for e in event_definition.event_definitions)


def due_at(task) -> dt.datetime | None:
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
        due = due_at(task)
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
                                str(guarded.id) if guarded and not is_watcher(guarded.task_spec) else None,
                                guarded.task_spec.bpmn_id if guarded else None, props.get("sla_tasks") != "none"))
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


_T = Timer.__table__

# ``timers.fire_at`` — when a poller may next claim the row, NULL while it may not — is what the poller's
# index reads instead of joining instances. Whoever changes what it depends on (due time, retry, lease,
# the instance's status) sets it in the same statement; these are the values it takes:
FREE_AT = func.coalesce(_T.c.next_attempt_at, _T.c.due_at)
"""A row no poller holds: its retry time, else its due time (a retry is only ever set after the due time)."""


def fire_at_for(instance, due: dt.datetime) -> dt.datetime | None:
    """A new or moved row's ``fire_at``: its due time, unless its instance waits on an incident (held
    until an admin retries, see engine.timers.incidents)."""
    return due if instance.status == "running" else None


_ROWS_OF_INSTANCE = (select(_T.c.task_id, _T.c.due_at, _T.c.sla_key)
                     .where(_T.c.instance_id == bindparam("iid")))
_DELETE_GONE = delete(_T).where(_T.c.instance_id == bindparam("iid"),
                                _T.c.task_id.in_(bindparam("gone", expanding=True)))
_MOVE = (update(_T).where(_T.c.instance_id == bindparam("iid"), _T.c.task_id == bindparam("tid"))
         .values(due_at=bindparam("due"), attempts=0, next_attempt_at=None, last_error=None,
                 # a row leased to the poller firing it stays leased; the poller frees it (firing._RELEASE)
                 fire_at=case((_T.c.lease_owner.is_(None), bindparam("fire", type_=_T.c.fire_at.type)),
                              else_=_T.c.fire_at)))
_ARMED_CLOCKS = select(SlaClock).where(SlaClock.instance_id == bindparam("iid"), SlaClock.status == "armed")


def due_times(waiting_now: list[WaitingTimer]) -> dict[str, dt.datetime]:
    """What the timer rows of an instance are made of: task id -> due time. When it is unchanged by a
    change, :func:`sync` would write nothing, and the runtime skips it."""
    return {w.task_id: w.due_at for w in waiting_now}


def sync(session: Session, instance, wf, waiting_now: list[WaitingTimer], *, new: bool = False,
         rows: dict | None = None) -> list[SlaClock]:
    """Rewrite the instance's timer rows and settle SLA clocks; returns the clocks breached by this change.

    This runs on every change that arms, moves or removes a timer, so it issues as few statements as it
    can (Core, compiled once): one SELECT (none for a new instance, or when the caller passes the ``rows`` it
    read under the instance's lock in this transaction), then only what changed. Clocks are only read when
    a timer with an SLA key went away (an armed clock always has its timer row).
    """
    now = clock.now()
    if rows is None:
        rows = {} if new else {r.task_id: r for r in session.connection().execute(_ROWS_OF_INSTANCE, {"iid": instance.id})}
    current = {w.task_id: w for w in waiting_now}
    gone = [tid for tid in rows if tid not in current]
    breached = []
    if gone:
        session.connection().execute(_DELETE_GONE, {"iid": instance.id, "gone": gone})
        settled = [tid for tid in gone if rows[tid].sla_key]
        if settled:
            tasks = {str(t.id): t for t in _tasks_by_id(wf, settled)}
            for clk in session.scalars(_ARMED_CLOCKS, {"iid": instance.id}):
                if clk.timer_task_id not in settled:
                    continue
                task = tasks.get(clk.timer_task_id)
                if task is not None and task.state == TaskState.COMPLETED:
                    clk.status, clk.breached_at = "breached", now
                    breached.append(clk)
                elif task is not None and withdrawn(task):
                    session.delete(clk)
                else:
                    clk.status, clk.met_at = "met", now
    new_rows, new_clocks = [], []
    for w in waiting_now:
        row = rows.get(w.task_id)
        if row is None:
            new_rows.append({"instance_id": instance.id, "task_id": w.task_id, "process_id": w.process_id,
                             "element_id": w.element_id, "kind": w.kind, "guarded_task_id": w.guarded_task_id,
                             "sla_key": w.sla_key, "due_at": w.due_at, "fire_at": fire_at_for(instance, w.due_at),
                             "attempts": 0, "created_at": now})
            if w.sla_key:
                new_clocks.append({"instance_id": instance.id, "timer_task_id": w.task_id, "sla_key": w.sla_key,
                                   "element_id": w.element_id, "guarded_task_id": w.guarded_task_id,
                                   "guarded_element_id": w.guarded_element_id, "status": "armed",
                                   "armed_at": now, "due_at": w.due_at})
        elif clock.as_utc(row.due_at) != w.due_at:  # a cycle timer moved on to its next occurrence
            session.execute(_MOVE, {"iid": instance.id, "tid": w.task_id, "due": w.due_at,
                                    "fire": fire_at_for(instance, w.due_at)})
    if new_rows:
        session.connection().execute(insert(_T), new_rows)
    if new_clocks:
        session.execute(insert(SlaClock.__table__), new_clocks)
    return breached


def withdrawn(timer_task) -> bool:
    """Whether the deadline stopped applying instead of being met: a sibling boundary event marked
    ``sla_withdraw`` (e.g. "the problem is complex", so the 24-hour rule for ordinary problems no longer
    applies) interrupted the activity the timer watched. Such a clock is removed, as if ``sla_when`` had
    been false when it was armed: it counts neither as met nor as breached."""
    parent = timer_task.parent
    if parent is None:
        return False
    for sibling in parent.children:
        props = (getattr(sibling.task_spec, "extensions", None) or {}).get("properties") or {}
        if sibling is not timer_task and sibling.state == TaskState.COMPLETED and props.get("sla_withdraw"):
            return True
    return False


def _tasks_by_id(wf, ids):
    wanted = set(ids)
    return [t for t in all_tasks(wf) if str(t.id) in wanted]
