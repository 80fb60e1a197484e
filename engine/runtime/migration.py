"""Moving running instances from one version of their process to another (instance migration).

An instance runs on the version it started on; when the procedure changes, a process owner may move the
requests already running to the new version. SpiffWorkflow 3.2 can re-bind a workflow to a new spec
(``SpiffWorkflow.bpmn.util.diff``: align the specs, swap each task's spec, reset and re-predict the
waiting branches). We use its alignment but only the safe subset of it: every active element (a task
waiting for a person, a waiting timer or signal, a running subprocess) must exist in the new version
under the same id, in a subprocess the new version still has; anything else is refused with the reason.

The active tasks keep their ids (the inbox, claims and timer rows follow them), their data and their
internal state; only what lies ahead of them is re-predicted from the new version. A waiting timer keeps
the due time already promised unless the owner asks to recompute deadlines: the new duration is then
counted from when the timer was armed (not from now), so a 30-minute promise changed to 20 minutes ends
10 minutes earlier, not 10 minutes later.

:func:`rebind` changes a workflow in memory and is shared by the commit path (:func:`migrate`) and
replay, so a replay of a migrated instance follows it across the migration exactly.
"""

from __future__ import annotations

import ast
import datetime as dt
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.util.diff import SpecDiff
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import case, func, literal, or_, select, update
from sqlalchemy.orm import Session

from engine import repository
from engine.core import clock
from engine.core.errors import EngineError, NotFound
from engine.core.tables import Instance, SlaClock, TaskRow, Timer
from engine.runtime import instances, serialization, steps, timer_rows
from engine.runtime.workflow import all_tasks

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


class CannotMigrate(EngineError):
    """The instance cannot move to that version; the message says why (in Chinese)."""


@dataclass
class TimerChange:
    element_id: str
    name: str
    sla_key: str | None
    old_due: dt.datetime | None
    new_due: dt.datetime | None
    expression_old: str
    expression_new: str

    @property
    def moved(self) -> bool:
        return self.old_due != self.new_due


@dataclass
class Plan:
    """What migrating one instance does (the preview), or why it cannot."""

    instance_id: str
    process_id: str
    from_version: int
    to_version: int
    reasons: list[str] = field(default_factory=list)  # why it cannot move; empty: it can
    moves: list[tuple[str, str, str]] = field(default_factory=list)  # (element id, old name, new name)
    timers: list[TimerChange] = field(default_factory=list)

    @property
    def movable(self) -> bool:
        return not self.reasons


def _active(wf) -> list:
    return [t for t in all_tasks(wf) if t.state & ACTIVE and t.task_spec.bpmn_id]


def _specs_of(version) -> dict:
    return {version.spec.name: version.spec, **version.subprocess_specs}


def check(wf, new_version) -> list[str]:
    """Why ``wf`` cannot be re-bound to ``new_version`` (the safe subset), in Chinese; empty when it can."""
    reasons = []
    new_specs = _specs_of(new_version)
    if any(t.state == TaskState.ERROR for t in all_tasks(wf)):
        reasons.append("实例有出错的步骤，请先处理异常")
    done = set()
    for task in all_tasks(wf):
        if task.state & (ACTIVE | TaskState.PREDICTED_MASK):
            continue
        target = new_specs.get(task.workflow.spec.name)
        if target is not None and task.task_spec.name not in target.task_specs and task.task_spec.name not in done:
            done.add(task.task_spec.name)
            reasons.append(f"已经过的「{task.task_spec.bpmn_name or task.task_spec.name}」（{task.task_spec.name}）"
                           "在新版本中已删除，实例的历史仍引用它")
    for task in _active(wf):
        spec_name = task.workflow.spec.name
        label = f"「{task.task_spec.bpmn_name or task.task_spec.bpmn_id}」（{task.task_spec.bpmn_id}）"
        target = new_specs.get(spec_name)
        if target is None:
            reasons.append(f"{label}所在的子流程 {spec_name} 在新版本中不存在")
        elif task.task_spec.name not in target.task_specs:
            reasons.append(f"正在进行的{label}在新版本中不存在（或改了 id）")
        elif type(target.task_specs[task.task_spec.name]).__name__ != type(task.task_spec).__name__:
            reasons.append(f"正在进行的{label}在新版本中换了类型"
                           f"（{type(task.task_spec).__name__} → {type(target.task_specs[task.task_spec.name]).__name__}）")
    return reasons


def rebind(wf, new_version, *, recompute: bool = False) -> None:
    """Re-bind ``wf`` (and its subprocesses) to ``new_version``'s specs; :func:`check` must have passed.

    Runs with the clock pinned by the caller, so a replay at the recorded instant does the same."""
    registry = serialization._serializer().registry
    new_specs = _specs_of(new_version)
    workflows = [wf, *wf.subprocesses.values()]
    wf.subprocess_specs = new_version.subprocess_specs  # subprocesses started from now on: the new specs
    for workflow in workflows:
        new_spec = new_specs[workflow.spec.name]
        diff = SpecDiff(registry, workflow.spec, new_spec)
        old_timers = {t.id: (t.task_spec, dict(t.internal_data)) for t in workflow.tasks.values()
                      if t.state & ACTIVE}
        workflow.spec = new_spec
        for name in new_spec.data_objects:  # declared by the new version only: starts unset, as in a new start
            workflow.data.setdefault("data_objects", {}).setdefault(name, None)
        for task in workflow.tasks.values():
            aligned = new_spec.task_specs.get(task.task_spec.name) or diff.alignment.get(task.task_spec)
            if aligned is not None:
                task.task_spec = aligned
        for task in list(workflow.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True)):
            if task.id not in workflow.tasks:
                continue  # dropped with an earlier task's branch
            old_spec, internal = old_timers.get(task.id, (None, dict(task.internal_data)))
            if recompute and "event_value" in internal and old_spec is not None:
                internal["event_value"] = _recomputed(old_spec, task, internal["event_value"])
            task._drop_children(force=True)
            task._set_state(TaskState.FUTURE)
            task.internal_data = internal
            task.task_spec._predict(task, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)
            task.task_spec._update(task)
        if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
            workflow.last_task = None
    steps.run(wf)


def _recomputed(old_spec, task, value):
    """The due time under the new timer, counted from when the old one was armed (old due - old duration).
    A date (not a duration) or an expression over data is evaluated afresh."""
    new_def = getattr(task.task_spec, "event_definition", None)
    old_def = getattr(old_spec, "event_definition", None)
    if not isinstance(value, str) or isinstance(new_def, CycleTimerEventDefinition | TimeDateEventDefinition):
        return _evaluate(task, new_def, value)
    old_len, new_len = _duration(old_def), _duration(new_def)
    if old_len is None or new_len is None:
        return _evaluate(task, new_def, value)
    armed = TimerEventDefinition.get_datetime(value) - old_len
    return (armed + new_len).isoformat()


def _evaluate(task, definition, fallback):
    if definition is None:
        return fallback
    try:
        value = task.workflow.script_engine.evaluate(task, definition.expression)
        if isinstance(definition, TimeDateEventDefinition) or isinstance(value, dict):
            return value
        return (clock.now() + _as_delta(value)).isoformat()
    except Exception:  # noqa: BLE001 - keep the promised time rather than lose the deadline
        return fallback


def _duration(definition) -> dt.timedelta | None:
    if definition is None or isinstance(definition, CycleTimerEventDefinition | TimeDateEventDefinition):
        return None
    try:
        return _as_delta(ast.literal_eval(definition.expression))
    except (ValueError, SyntaxError, TypeError):
        return None


def _as_delta(text) -> dt.timedelta:
    return TimerEventDefinition.get_timedelta_from_start(TimerEventDefinition.parse_iso_duration(str(text)))


# --- planning and committing -----------------------------------------------------------------------------

def plan(session: Session, instance_id: str, to_version: int, *, recompute: bool = False) -> Plan:
    """The preview: what would move, which timers and SLA clocks change, or why it cannot move. Writes nothing."""
    loaded = instances.load(session, instance_id)
    inst = loaded.instance
    old_number = loaded.version.version.version
    out = Plan(instance_id, inst.process_id, old_number, to_version)
    row = repository.get_version(session, inst.process_id, to_version)
    if row is None:
        raise NotFound(f"流程 {inst.process_id} 没有第{to_version}版", process_id=inst.process_id)
    if inst.status != "running":
        out.reasons.append({"completed": "实例已办结", "incident": "实例有未处理的异常"}.get(
            inst.status, f"实例状态为 {inst.status}"))
        return out
    if row.id == inst.version_id:
        out.reasons.append(f"实例已在第{to_version}版上")
        return out
    new_version = repository.load(session, row)
    out.reasons = check(loaded.workflow, new_version)
    if out.reasons:
        return out
    before = {w.task_id: w for w in timer_rows.waiting(loaded.workflow, loaded.version)}
    names = {str(t.id): (t.task_spec.bpmn_id, t.task_spec.bpmn_name or "") for t in _active(loaded.workflow)}
    old_exprs = {str(t.id): _expression(t.task_spec) for t in _active(loaded.workflow)}
    try:
        with clock.pinned(clock.now()):
            rebind(loaded.workflow, new_version, recompute=recompute)
            # The state must load again under the new version (a finished step whose element the new
            # version deleted cannot be stored): the safe subset refuses what it cannot keep.
            serialization.loads(serialization.dumps(loaded.workflow), new_version.spec, new_version.subprocess_specs)
    except Exception as exc:  # noqa: BLE001 - any failure here means: not safe to move
        out.reasons.append(f"按第{to_version}版重建实例状态失败：{type(exc).__name__}: {exc}")
        return out
    after = {w.task_id: w for w in timer_rows.waiting(loaded.workflow, new_version)}
    for task in _active(loaded.workflow):
        tid = str(task.id)
        if tid in names:
            out.moves.append((task.task_spec.bpmn_id, names[tid][1], task.task_spec.bpmn_name or ""))
        if tid in before or tid in after:
            w_old, w_new = before.get(tid), after.get(tid)
            out.timers.append(TimerChange(task.task_spec.bpmn_id, task.task_spec.bpmn_name or "",
                                          (w_new or w_old).sla_key, w_old.due_at if w_old else None,
                                          w_new.due_at if w_new else None, old_exprs.get(tid, ""),
                                          _expression(task.task_spec)))
    return out


def _expression(spec) -> str:
    definition = getattr(spec, "event_definition", None)
    return getattr(definition, "expression", "") or ""


def migrate(session: Session, instance_id: str, to_version: int, actor: str, *,
            recompute: bool = False) -> Plan:
    """Move the instance to ``to_version`` in the caller's transaction, with its audit event ("migrated",
    both versions recorded); raises :class:`CannotMigrate` (nothing written) when it cannot move."""
    preview = plan(session, instance_id, to_version, recompute=recompute)
    if not preview.movable:
        raise CannotMigrate("无法迁移：" + "；".join(preview.reasons), instance_id=instance_id)
    loaded = instances.load(session, instance_id, lock=True)
    row = repository.get_version(session, loaded.instance.process_id, to_version)
    new_version = repository.load(session, row)
    payload = {"process_id": loaded.instance.process_id, "from_version": preview.from_version,
               "to_version": to_version, "recompute_deadlines": recompute}

    def run():
        rebind(loaded.workflow, new_version, recompute=recompute)
        loaded.version = new_version  # the projections below are written from the new version
        loaded.instance.version_id = row.id

    instances.run_change(session, loaded, actor=actor, kind="migrated", element_id=loaded.instance.process_id,
                         payload=payload, run=run)
    _refresh_projections(session, loaded, preview)
    return preview


def _refresh_projections(session: Session, loaded, preview: Plan) -> None:
    """What the commit path keeps when a task stays ready or a timer stays armed — its name, lane, form,
    clause, SLA key and clock — now comes from the new version."""
    from engine.runtime import task_rows

    wf, version, iid = loaded.workflow, loaded.version, loaded.instance.id
    ready = {str(t.id): t for t in all_tasks(wf) if t.state == TaskState.READY and t.task_spec.manual}
    for row in session.scalars(select(TaskRow).where(TaskRow.instance_id == iid)):
        task = ready.get(row.id)
        if task is not None:
            for key, value in task_rows.describe(task, version).items():
                if key != "assignee":  # a person's 派单 stays
                    setattr(row, key, value)
    waiting = {w.task_id: w for w in timer_rows.waiting(wf, version)}
    held = or_(Timer.fire_at.is_(None), Timer.lease_owner.is_not(None))
    for tid, w in waiting.items():
        # a row held (incident) or leased stays so; a free one is claimable at its new due time
        free_at = func.coalesce(Timer.next_attempt_at, literal(w.due_at, Timer.due_at.type))
        session.execute(update(Timer).where(Timer.instance_id == iid, Timer.task_id == tid)
                        .values(element_id=w.element_id, sla_key=w.sla_key, due_at=w.due_at,
                                fire_at=case((held, Timer.fire_at), else_=free_at)))
        session.execute(update(SlaClock).where(SlaClock.instance_id == iid, SlaClock.timer_task_id == tid,
                                               SlaClock.status == "armed")
                        .values(element_id=w.element_id, due_at=w.due_at))
    session.flush()


def instances_on(session: Session, process_id: str, version: int, instance_id: str | None = None) -> list[str]:
    """Ids of the running instances of ``process_id`` on ``version`` (or just ``instance_id``, checked)."""
    row = repository.get_version(session, process_id, version)
    if row is None:
        raise NotFound(f"流程 {process_id} 没有第{version}版", process_id=process_id)
    query = select(Instance.id).where(Instance.version_id == row.id, Instance.status.in_(("running", "incident")))
    if instance_id is not None:
        found = session.get(Instance, instance_id)
        if found is None or found.process_id != process_id:
            raise NotFound(f"找不到流程 {process_id} 的实例 {instance_id}", instance_id=instance_id)
        if found.version_id != row.id:
            raise CannotMigrate(f"实例 {instance_id} 不在第{version}版上", instance_id=instance_id)
        return [instance_id]
    return list(session.scalars(query.order_by(Instance.started_at, Instance.id)))
