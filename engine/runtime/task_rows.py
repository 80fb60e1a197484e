"""The ``tasks`` table: the READY user tasks of every instance, rewritten in the instance's transaction.

The runtime keeps these rows equal to the workflow's ready user tasks on every change, so the inbox
(:mod:`engine.tasks`) is one indexed query and never deserializes a workflow. They sit with the runtime
because the runtime writes them; the rooms that read and act on them stand above it.
"""

from __future__ import annotations

import json

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine import identity, scripting
from engine.core import clock
from engine.core.tables import NO_DEADLINE, AuditEvent, Instance, StepTiming, TaskRow
from engine.runtime.workflow import ready_user_tasks

_T = TaskRow.__table__
_S = StepTiming.__table__
# what a completed task's step-timing row copies from its inbox row (deleted by the same change)
_TIMED = ("process_id", "element_id", "name", "lane", "department", "clause", "ready_at")
# The instance's rows of tasks no longer ready, deleted and returned in one statement (a completed task's row
# becomes its step timing); then only the rows of tasks that were ready before the change are read.
_DELETE_STALE = (delete(_T).where(_T.c.instance_id == bindparam("iid"),
                                  _T.c.id.not_in(bindparam("ready", expanding=True)))
                 .returning(_T.c.id, _T.c.due_at, _T.c.sla_key, *(_T.c[name] for name in _TIMED)))
_KEPT = select(_T.c.id, _T.c.due_at, _T.c.sla_key).where(_T.c.instance_id == bindparam("iid"),
                                                         _T.c.id.in_(bindparam("ids", expanding=True)))
# A new task's row; one that exists already (the projection said otherwise) is left as it is.
_INSERT_NEW = {"sqlite": sqlite.insert(_T).on_conflict_do_nothing(index_elements=[_T.c.id]),
               "postgresql": postgresql.insert(_T).on_conflict_do_nothing(index_elements=[_T.c.id])}


def queue_at(due):
    """The inbox's sort key of a task due at ``due`` (none: after every task with a deadline)."""
    return due if due is not None else NO_DEADLINE


def deadlines(waiting, ready_ids=()) -> dict[str, tuple]:
    """Task id -> (due, SLA key) of the nearest SLA deadline timer guarding it; a clock watched for the
    whole request (``watches_instance``, e.g. the response time counted from receipt) guards every ready task,
    unless the diagram keeps it off the tasks (``labels_tasks``: a promised date, watched in the SLA view)."""
    out: dict[str, tuple] = {}
    for w in waiting:
        if not w.sla_key or not w.labels_tasks:
            continue
        for tid in (ready_ids if w.watches_instance else (w.guarded_task_id,) if w.guarded_task_id else ()):
            best = out.get(tid)
            if best is None or w.due_at < best[0]:
                out[tid] = (w.due_at, w.sla_key)
    return out


def sync(session: Session, instance: Instance, wf, version, waiting_now, *, new: bool = False,
         actor: str | None = None, now=None, completed: str | None = None, was_ready=None) -> None:
    """Make the instance's rows equal to its READY user tasks, keeping claims on tasks that stay ready.

    Core statements rather than ORM objects: this runs on every change that alters the ready tasks or
    their deadlines (the runtime skips it otherwise). It is one DELETE … RETURNING of the rows of tasks no
    longer ready (none for a new instance), one SELECT of the rows of tasks still ready (only when some
    task of ``was_ready``, the ids ready before the change, still is; every ready task when the caller
    does not say), at most one INSERT of new tasks' rows (``ON CONFLICT DO NOTHING``: a row that exists
    after all is kept, claim and all) — and, when the change completed the user task ``completed`` (by
    ``actor``), one INSERT of its step timing (:func:`timing_row`). ``now``: the change's instant, the
    time of its audit event, so that a replay of the log finds the same ready and completion times.
    """
    ready = ready_user_tasks(wf)
    ids = {str(t.id) for t in ready}
    table = _T
    existing, removed = {}, {}
    if not new:
        removed = {r.id: r for r in session.execute(_DELETE_STALE, {"iid": instance.id, "ready": sorted(ids)})}
        kept = sorted(ids if was_ready is None else ids & set(was_ready))
        if kept:
            existing = {r.id: r for r in session.execute(_KEPT, {"iid": instance.id, "ids": kept})}
    now = now or clock.now()
    if completed is not None and completed in removed:
        session.execute(insert(_S), [timing_row(removed[completed], instance.id, now, actor or "")])
    due_by_task = deadlines(waiting_now, ids)
    new_rows = []
    for task in ready:
        tid = str(task.id)
        due, sla = due_by_task.get(tid, (None, None))
        row = existing.get(tid)
        if row is not None:
            if (clock.as_utc(row.due_at), row.sla_key) != (due, sla):
                session.execute(update(table).where(table.c.id == tid)
                                .values(due_at=due, queue_at=queue_at(due), sla_key=sla))
            continue
        new_rows.append({
            "id": tid, "instance_id": instance.id, "process_id": task.workflow.spec.name,
            **describe(task, version), "claimed_by": None, "ready_at": now, "due_at": due,
            "queue_at": queue_at(due), "sla_key": sla,
            "excluded": _excluded(session, instance.id, _props(task, version).get("exclude_actors"), actor)})
    if new_rows:
        _assign_on_duty(session, new_rows)
        session.execute(_INSERT_NEW[session.get_bind().dialect.name], new_rows)


def timing_row(row, instance_id: str, completed_at, completed_by: str) -> dict:
    """The ``step_timings`` row of a task completed at ``completed_at``, from its inbox row: the ready time
    is the one the inbox showed (the change that made the task ready), the labels those of its diagram."""
    ready_at = clock.as_utc(row.ready_at)
    return {"id": row.id, "instance_id": instance_id, **{name: getattr(row, name) for name in _TIMED},
            "ready_at": ready_at, "completed_at": completed_at, "completed_by": completed_by,
            "seconds": (completed_at - ready_at).total_seconds()}


def _props(task, version) -> dict:
    return version.properties.get(task.workflow.spec.name, {}).get(task.task_spec.bpmn_id, {})


def describe(task, version) -> dict:
    """The columns of a task's row that its version's diagram decides (a migration rewrites these)."""
    spec = task.task_spec
    ext = spec.extensions or {}
    props = version.properties.get(task.workflow.spec.name, {}).get(spec.bpmn_id, {})
    return {"element_id": spec.bpmn_id, "name": spec.bpmn_name or spec.bpmn_id, "lane": spec.lane,
            "form": props.get("formJsonSchemaFilename"), "ui_form": props.get("formUiSchemaFilename"),
            "clause": props.get("clause"), "instructions": ext.get("instructionsForEndUser"),
            "assignee": _evaluate(props.get("assignee"), task),
            "department": _department(props.get("department"), task)}


def _excluded(session: Session, instance_id: str, rule: str | None, actor: str | None) -> str | None:
    """The people a task with ``exclude_actors`` must not go to: whoever completed the named tasks of this
    instance (``*``: any of its tasks), the person completing one right now included (their event is
    appended after the rows are written). A JSON list, or None without the rule."""
    if not rule:
        return None
    query = select(AuditEvent.actor).where(AuditEvent.chain == instance_id, AuditEvent.kind == "task_completed")
    if rule.strip() != "*":
        query = query.where(AuditEvent.element_id.in_([e.strip() for e in rule.split(",") if e.strip()]))
    people = set(session.scalars(query.distinct()))
    if actor:
        people.add(actor)
    return json.dumps(sorted(people), ensure_ascii=False)


def is_excluded(row, username: str) -> bool:
    """Whether this task row may not be offered to ``username`` (see :func:`_excluded`)."""
    return bool(row.get("excluded") if isinstance(row, dict) else row.excluded) and username in json.loads(
        row["excluded"] if isinstance(row, dict) else row.excluded)


def _evaluate(expression: str | None, task) -> str | None:
    if not expression:
        return None
    try:
        value = scripting.RestrictedEnvironment().evaluate(expression, dict(task.data))
    except Exception:  # missing data: the task stays with its lane
        return None
    return str(value) if value else None


def _department(expression: str | None, task) -> str | None:
    """The department code a task's ``department`` property names (by code or Chinese name)."""
    found = identity.departments.department(_evaluate(expression, task))
    return found.code if found else None


def _assign_on_duty(session: Session, rows: list[dict]) -> None:
    """A task of a role's lane, with no assignee of its own, goes to whoever is on duty in that role now
    (the duty roster); with nobody on duty it stays with every holder of the role. Decided once, when the
    task becomes ready: a later roster change does not move it (派单 does)."""
    roles = {role.code: role.name for row in rows if row["assignee"] is None
             and (role := identity.lane_role(row["lane"])) is not None}
    duty = identity.departments.on_duty(session, set(roles))
    by_lane = {roles[code]: username for code, username in duty.items()}
    for row in rows:
        if row["assignee"] is None and row["lane"] in by_lane and not is_excluded(row, by_lane[row["lane"]]):
            row["assignee"] = by_lane[row["lane"]]
