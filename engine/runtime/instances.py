"""Starting instances, completing their tasks and running engine steps, one transaction per change.

Every change follows the same path (:func:`_commit_change`): load the instance row, rebuild the workflow
from its pinned version, let SpiffWorkflow run, then write the new state with ``revision + 1`` (a Core
UPDATE carrying ``WHERE revision = <read revision>``, see :mod:`engine.runtime.store`), rewrite the projections
(inbox tasks, timers, SLA clocks, and each registered domain projection such as the help desk's request
row) and append the audit events — all in the caller's transaction.
Scripts are untrusted and may run up to their budget: unless the caller's transaction has already begun,
the instance is loaded and run on a read snapshot (:func:`engine.core.db.reading`), so SQLite's write lock
is taken only by the write; whoever committed in between makes the revision check fail, a ``Conflict``.
Projections that cannot have changed (same ready tasks and deadlines, same waiting timers, same request
fields) are not rewritten.
A change that loses a race, or targets a task that is no longer ready, is a :class:`Conflict`; a script
that fails rolls the whole transaction back, so nothing is half-written.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine import forms, repository, scripting
from engine.audit import history, personal
from engine.core import clock, db
from engine.core.errors import Conflict, EngineError, InvalidData, NotFound, ScriptFailure
from engine.core.tables import Instance
from engine.repository import LoadedVersion
from engine.runtime import listeners, serialization, steps, store, task_rows, timer_rows
from engine.runtime.store import InstanceRow
from engine.runtime.workflow import all_tasks, current_data, find_task, ready_user_tasks, state_fingerprint


@dataclass
class Loaded:
    instance: InstanceRow
    workflow: BpmnWorkflow
    version: LoadedVersion
    # The instance's timer rows (task id -> row), when the caller already read them under the instance's
    # lock in this transaction (the poller does): timer_rows.sync then need not read them again.
    timer_rows: dict | None = None


@dataclass
class Effects:
    reached: list = field(default_factory=list)  # user tasks that became READY
    cancelled: list = field(default_factory=list)  # user tasks cancelled (e.g. by an interrupting timer)
    # [process id, element id] of every flow node (gateways, scripts, events, call activities included) that
    # completed in this step: the path the step took, kept in the audit event so that what a run passed
    # through can be read back from the log alone (the clause matrix's proof by scenario).
    passed: list = field(default_factory=list)
    ended: bool = False


# --- loading -----------------------------------------------------------------------------------------------

def get_instance(session: Session, instance_id: str) -> Instance:
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound("找不到该求助记录", instance_id=instance_id)
    return instance


def load(session: Session, instance_id: str, *, lock: bool = False) -> Loaded:
    """The instance (a plain :class:`~engine.runtime.store.InstanceRow`), its workflow and its pinned version.
    ``lock``: take the row lock now (PostgreSQL ``FOR UPDATE``) rather than at the write."""
    found = store.load(session, instance_id, lock=lock)
    if found is None:
        raise NotFound("找不到该求助记录", instance_id=instance_id)
    instance, row = found
    version = repository.load(session, row)
    wf = serialization.loads(instance.state, version.spec, version.subprocess_specs)
    wf.script_engine = scripting.script_engine()
    return Loaded(instance, wf, version)


# --- changes -----------------------------------------------------------------------------------------------

def start(session: Session, process_id: str, data: dict | None, actor: str, *,
          version: int | None = None) -> InstanceRow:
    """Start an instance of the latest (or the given) version and run it to its first wait state."""
    with db.reading(session) as read:
        row = (repository.get_version(read, process_id, version) if version
               else repository.latest_version(read, process_id))
        if row is None:
            raise NotFound(f"流程 {process_id} 尚未部署", process_id=process_id)
        loaded_version = repository.load(read, row)
        data = dict(data or {})
        wf = steps.new_workflow(loaded_version, data)
        now = clock.now()
        instance = InstanceRow(id=str(uuid.uuid4()), process_id=process_id, version_id=row.id, status="running",
                               revision=1, state="", state_fingerprint="", started_by=actor, started_at=now,
                               updated_at=now)
        loaded = Loaded(instance, wf, loaded_version)
        _commit_change(session, loaded, actor=actor, kind="started", element_id=process_id,
                       payload={"process_id": process_id, "version": row.version, "data": data},
                       run=lambda: steps.run(wf), new=True, read=read)
    return instance


def complete_task(session: Session, instance_id: str, task_id: str, data: dict, actor: str, *,
                  expected_revision: int | None = None, read: Session | None = None) -> InstanceRow:
    """Validate ``data`` against the task's form, complete the task and run the engine to the next wait.

    Computed on a snapshot, the change can lose a race to another change of the instance made meanwhile
    (e.g. a colleague's task on a parallel branch). It is then computed once more, now under the write
    lock the failed write took, so it succeeds if the task is still waiting — what a person would have
    done on the "refresh and retry" page. ``read``: a snapshot the caller already holds (from
    ``db.reading(session)``), used for the first computation instead of opening another.
    """
    try:
        return _complete_task(session, instance_id, task_id, data, actor, expected_revision, read)
    except _LostRace:
        if not db.began(session):
            raise
        return _complete_task(session, instance_id, task_id, data, actor, expected_revision, None)


def _complete_task(session: Session, instance_id: str, task_id: str, data: dict, actor: str,
                   expected_revision: int | None, snapshot: Session | None) -> InstanceRow:
    with _reading(session, snapshot) as read:
        loaded = load(read, instance_id)
        if expected_revision is not None and loaded.instance.revision != expected_revision:
            raise Conflict("此求助已被他人更新，请刷新后重试", revision=loaded.instance.revision)
        task = find_task(loaded.workflow, task_id)
        if task is None:
            raise Conflict("该任务不属于此求助，或已不存在，请刷新后重试", task_id=task_id)
        if task.state != TaskState.READY or not task.task_spec.manual:
            raise Conflict("该任务已由他人完成或已取消，请刷新查看最新状态", task_id=task_id,
                           state=TaskState.get_name(task.state))
        clean = validate_task_data(loaded.version, task, data)

        def run():
            steps.complete(loaded.workflow, task, clean)

        _commit_change(session, loaded, actor=actor, kind="task_completed", element_id=task.task_spec.bpmn_id,
                       payload={"task_id": str(task.id), "process_id": task.workflow.spec.name,
                                "element_id": task.task_spec.bpmn_id, "data": clean}, run=run, read=read)
    return loaded.instance


@contextlib.contextmanager
def _reading(session: Session, snapshot: Session | None):
    """``db.reading(session)``, or the caller's ``snapshot`` while ``session`` has not begun (once it holds
    the write lock, it is where a change is computed, as ``db.reading`` says)."""
    if snapshot is None or db.began(session):
        with db.reading(session) as read:
            yield read
    else:
        yield snapshot


def task_form(version: LoadedVersion, task) -> tuple[dict | None, dict | None]:
    props = (task.task_spec.extensions or {}).get("properties", {})
    schema = version.forms.get(props.get("formJsonSchemaFilename", ""))
    ui_schema = version.forms.get(props.get("formUiSchemaFilename", ""))
    return schema, ui_schema


def validate_task_data(version: LoadedVersion, task, data: dict) -> dict:
    """Only the form's own fields are accepted (a post cannot overwrite e.g. ``customer_username``), and a
    ``readOnly`` field takes the task's own value whatever was posted (as the web form's coerce does)."""
    schema, ui_schema = task_form(version, task)
    if schema is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidData({"": "提交的数据格式不正确"})
    resolved = forms.resolve_options(schema, ui_schema, task.data)
    allowed = resolved.get("properties")
    given = {k: v for k, v in data.items() if allowed is None or k in allowed}
    for name, prop in (allowed or {}).items():  # a field the form only displays keeps the server's value
        if isinstance(prop, dict) and prop.get("readOnly"):
            given.pop(name, None)
            if name in task.data:
                given[name] = task.data[name]
    clean = forms.normalise(resolved, given)
    errors = forms.validate(resolved, clean)
    if errors:
        raise InvalidData(errors)
    return clean


def run_steps(session: Session, instance_id: str, actor: str, kind: str, payload: dict, *,
              before=None, element_id: str | None = None, loaded: Loaded | None = None,
              read: Session | None = None) -> Loaded:
    """Run a change that is not a task completion (timer firing, retry) through the same commit path
    (``loaded``: the instance the caller already loaded, in this transaction or from the snapshot ``read``)."""
    loaded = loaded or load(session, instance_id)

    def run():
        if before is not None:
            before(loaded.workflow)
        steps.run(loaded.workflow)

    _commit_change(session, loaded, actor=actor, kind=kind, element_id=element_id, payload=payload, run=run,
                   read=read)
    return loaded


def run_change(session: Session, loaded: Loaded, *, actor: str, kind: str, element_id: str | None,
               payload: dict, run) -> Effects:
    """Any other change of a loaded instance (a migration) through the one commit path: ``run`` changes the
    workflow in memory; the state, projections and audit event are then written as for every change."""
    return _commit_change(session, loaded, actor=actor, kind=kind, element_id=element_id, payload=payload, run=run)


class _LostRace(Conflict):
    """The revision changed between reading the instance and writing it."""


@dataclass
class _Before:
    """What the projections were written from at the last commit (the loaded state)."""

    states: dict = field(default_factory=dict)  # task id -> state
    ready: frozenset = frozenset()  # ids of READY user tasks
    waiting: list = field(default_factory=list)  # timer_rows.WaitingTimer
    projected: dict = field(default_factory=dict)  # listeners' projection name -> values from the data


def _snapshot(wf: BpmnWorkflow, loaded: Loaded) -> _Before:
    states, ready = {}, set()
    for t in all_tasks(wf):
        states[t.id] = t.state
        if t.state == TaskState.READY and t.task_spec.manual:
            ready.add(t.id)
    return _Before(states, frozenset(ready), timer_rows.waiting(wf, loaded.version),
                   listeners.project(loaded.instance.process_id, current_data(wf)))


def _effects(wf: BpmnWorkflow, before: dict) -> Effects:
    fx = Effects(ended=wf.is_completed())
    seen: set[tuple[str, str]] = set()
    for t in all_tasks(wf):
        old = before.get(t.id)
        if t.state == TaskState.COMPLETED and old != TaskState.COMPLETED and t.task_spec.bpmn_id:
            node = (t.workflow.spec.name, t.task_spec.bpmn_id)
            if node not in seen:
                seen.add(node)
                fx.passed.append(list(node))
        if not t.task_spec.manual:
            continue
        if t.state == TaskState.READY and old != TaskState.READY:
            fx.reached.append(t)
        elif t.state == TaskState.CANCELLED and old not in (None, TaskState.CANCELLED) \
                and not (old & TaskState.PREDICTED_MASK):
            fx.cancelled.append(t)
    return fx


def _commit_change(session: Session, loaded: Loaded, *, actor: str, kind: str, element_id: str | None,
                   payload: dict, run, new: bool = False, read: Session | None = None) -> Effects:
    """Run ``run`` (SpiffWorkflow) on the loaded copy, then write its outcome in ``session``. ``read``: where
    recorded helpers read (the snapshot the copy was loaded from; ``session`` by default)."""
    wf = loaded.workflow
    before = _Before() if new else _snapshot(wf, loaded)
    # One instant per change: timers armed, now() in scripts and the audit event's time are all the same
    # moment, so replaying the recorded input at the recorded time reproduces the state exactly.
    now = clock.now()
    # Domain helpers that read the database (the fee schedule) are recorded in the event: a replay must
    # see what this run saw, e.g. the prices of that day.
    consulted: dict[str, Any] = {}
    try:
        with clock.pinned(now), scripting.recorded_helpers(listeners.helper_providers(read or session, consulted)):
            run()
    except scripting.ScriptOverBudget as exc:
        # Running it again would only spend the budget again: callers (the poller) raise an incident at once.
        raise ScriptFailure(f"流程脚本执行出错：{_short(exc)}（{_element(exc)}），本次操作未保存", error=str(exc),
                            element_id=_element(exc), permanent=True) from exc
    except SpiffWorkflowException as exc:
        raise ScriptFailure(f"流程脚本执行出错：{_short(exc)}", error=str(exc)) from exc
    except EngineError:
        raise
    except Exception as exc:  # a helper or guard raised outside SpiffWorkflow's wrapping
        raise ScriptFailure(f"流程脚本执行出错：{exc}", error=repr(exc)) from exc
    errored = [t for t in all_tasks(wf) if t.state == TaskState.ERROR]
    if errored:
        raise ScriptFailure(f"流程在 {errored[0].task_spec.bpmn_id} 处出错", element_id=errored[0].task_spec.bpmn_id)

    if consulted:
        payload = {**payload, **consulted}
    instance = loaded.instance
    fx = _effects(wf, before.states)
    try:
        instance.state = serialization.dumps(wf)
        instance.state_fingerprint = state_fingerprint(wf, loaded.version.personal_fields)
    except (TypeError, ValueError) as exc:
        # A script stored something JSON cannot hold; running it again would store it again.
        fields = "、".join(_unstorable(wf)) or "?"
        raise ScriptFailure(f"流程脚本存入了无法保存的值（字段 {fields}），本次操作未保存；脚本只能存入文字、"
                            "有限的数字、真假值、列表和以文字为键的字典", error=repr(exc), permanent=True) from exc
    instance.updated_at = now
    if fx.ended:
        instance.status, instance.completed_at = "completed", now
    if new:
        store.insert_new(session, instance)
        history.known_head(session, instance.id, None)  # a new id: its chain starts here
    else:
        head = store.write(session, instance)
        if head is False:
            raise _LostRace("此求助刚被他人更新，您的操作未保存，请刷新后重试")
        history.known_head(session, instance.id, head)

    # The projections and events below are written by one flush at the end (no autoflush per query):
    # a step is a handful of statements, not one per row.
    with session.no_autoflush:
        _write_projections_and_events(session, loaded, fx, before, actor=actor, kind=kind,
                                      element_id=element_id, payload=payload, now=now)
    session.flush()
    return fx


def _write_projections_and_events(session: Session, loaded: Loaded, fx: Effects, before: _Before, *, actor: str,
                                  kind: str, element_id: str | None, payload: dict, now) -> None:
    instance, wf = loaded.instance, loaded.workflow
    waiting_now = timer_rows.waiting(wf, loaded.version)
    ready_now = frozenset(t.id for t in ready_user_tasks(wf))
    ready_ids = [str(i) for i in ready_now]  # same ready tasks: only their deadlines can have changed
    if ready_now != before.ready or (task_rows.deadlines(waiting_now, ready_ids)
                                     != task_rows.deadlines(before.waiting, ready_ids)):
        task_rows.sync(session, instance, wf, loaded.version, waiting_now, new=not before.states,
                       actor=actor if kind == "task_completed" else None, now=now,
                       completed=payload.get("task_id") if kind == "task_completed" else None,
                       was_ready={str(i) for i in before.ready})
    fired = []
    if timer_rows.due_times(waiting_now) != timer_rows.due_times(before.waiting):
        fired = timer_rows.sync(session, instance, wf, waiting_now, new=not before.states, rows=loaded.timer_rows)
    listeners.write_projections(session, instance, current_data(wf), before.projected, ended=fx.ended)

    fp = instance.state_fingerprint
    if isinstance(payload.get("data"), dict) and loaded.version.personal_fields:
        # Personal values go beside the log; the event commits to them by salted hash (engine.audit.personal).
        payload = {**payload, "data": personal.commit_data(session, instance.id, payload["data"],
                                                           loaded.version.personal_fields)}
    events = [dict(actor=actor, kind=kind, element_id=element_id,
                   payload={**payload, "revision": instance.revision, "passed": fx.passed})]
    escalating = kind == "timer_fired" or bool(fired)
    for t in fx.cancelled:
        events.append(dict(actor="engine", kind="task_cancelled", element_id=t.task_spec.bpmn_id,
                           payload={"task_id": str(t.id)}))
    for t in fx.reached:
        events.append(dict(actor="engine", kind="escalated" if escalating else "task_reached",
                           element_id=t.task_spec.bpmn_id,
                           payload={"task_id": str(t.id), "lane": t.task_spec.lane,
                                    "process_id": t.workflow.spec.name}))
    if fx.ended:
        events.append(dict(actor="engine", kind="instance_completed", element_id=instance.process_id, payload={}))
    history.append_all(session, instance.id, events, state_fingerprint=fp, at=now)


def _unstorable(wf: BpmnWorkflow) -> list[str]:
    """The data fields (of any task) whose value is not strict JSON, for the message."""
    found: set[str] = set()
    for task in all_tasks(wf):
        for key, value in task.data.items():
            try:
                json.dumps(value, allow_nan=False, default=_plain)
            except (TypeError, ValueError):
                found.add(str(key))
    return sorted(found)


def _plain(value):
    if isinstance(value, set | frozenset):  # the serializer stores sets as lists
        return list(value)
    if isinstance(value, _dt.date | _dt.time | _dt.timedelta | uuid.UUID):  # and these by its registry
        return str(value)
    raise TypeError(type(value).__name__)


def _element(exc) -> str:
    task = getattr(exc, "task", None)
    return task.task_spec.bpmn_id if task is not None else "?"


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__

