"""The user-task projection: the inbox, claiming, assignment (派单) and who may do what.

The ``tasks`` table holds exactly the READY user tasks of every instance and is rewritten in the same
transaction as the instance, so the inbox is one indexed query and never deserializes a workflow.
A task is offered to the holders of the role its lane names; an ``assignee`` (from the BPMN) or a claim
narrows it to one person.
"""

from __future__ import annotations

from sqlalchemy import bindparam, case, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from . import clock, history, identity, runtime, scripting
from .models import Instance, TaskRow, User

# Roles that may hand a task to a named colleague (派单).
DISPATCHERS = {"cs_supervisor", "security_lead", "manager", "leader"}


_T = TaskRow.__table__
_ROWS_OF_INSTANCE = select(_T.c.id, _T.c.due_at, _T.c.sla_key).where(_T.c.instance_id == bindparam("iid"))


def deadlines(waiting) -> dict[str, tuple]:
    """Task id -> (due, SLA key) of the nearest SLA deadline timer guarding it."""
    out: dict[str, tuple] = {}
    for w in waiting:
        if w.guarded_task_id and w.sla_key:
            best = out.get(w.guarded_task_id)
            if best is None or w.due_at < best[0]:
                out[w.guarded_task_id] = (w.due_at, w.sla_key)
    return out


def sync(session: Session, instance: Instance, wf, version, waiting_now, *, new: bool = False) -> None:
    """Make the instance's rows equal to its READY user tasks, keeping claims on tasks that stay ready.

    Core statements rather than ORM objects: this runs on every change that alters the ready tasks or
    their deadlines (the runtime skips it otherwise), and is one SELECT (none for a new instance), at
    most one DELETE and one INSERT.
    """
    ready = runtime.ready_user_tasks(wf)
    ids = {str(t.id) for t in ready}
    table = _T
    existing = {} if new else {r.id: r for r in session.execute(_ROWS_OF_INSTANCE, {"iid": instance.id})}
    stale = [i for i in existing if i not in ids]
    if stale:
        session.execute(delete(table).where(table.c.id.in_(stale)))
    due_by_task = deadlines(waiting_now)
    now = clock.now()
    new_rows = []
    for task in ready:
        tid = str(task.id)
        due, sla = due_by_task.get(tid, (None, None))
        row = existing.get(tid)
        if row is not None:
            if (clock.as_utc(row.due_at), row.sla_key) != (due, sla):
                session.execute(update(table).where(table.c.id == tid).values(due_at=due, sla_key=sla))
            continue
        spec = task.task_spec
        ext = spec.extensions or {}
        props = version.properties.get(task.workflow.spec.name, {}).get(spec.bpmn_id, {})
        new_rows.append({
            "id": tid, "instance_id": instance.id, "process_id": task.workflow.spec.name,
            "element_id": spec.bpmn_id, "name": spec.bpmn_name or spec.bpmn_id, "lane": spec.lane,
            "form": props.get("formJsonSchemaFilename"), "ui_form": props.get("formUiSchemaFilename"),
            "clause": props.get("clause"), "instructions": ext.get("instructionsForEndUser"),
            "assignee": _assignee(props.get("assignee"), task), "claimed_by": None, "ready_at": now,
            "due_at": due, "sla_key": sla})
    if new_rows:
        session.execute(insert(table), new_rows)


def _assignee(expression: str | None, task) -> str | None:
    if not expression:
        return None
    try:
        value = scripting.RestrictedEnvironment().evaluate(expression, dict(task.data))
    except Exception:  # missing data: the task stays with its lane
        return None
    return str(value) if value else None


# --- who may do what -----------------------------------------------------------------------------------------

def may_work_on(user: User, row: TaskRow) -> bool:
    """Lane role (or named assignee), and not held by somebody else."""
    if row.claimed_by and row.claimed_by != user.username:
        return False
    if row.assignee:
        return row.assignee == user.username
    if "customer" in user.role_codes and row.lane == identity.ROLE_BY_CODE["customer"].name:
        return False  # a customer task without an assignee is nobody's by default
    return row.lane in identity.roles_for_lanes(user.role_codes)


def inbox(session: Session, user: User, *, include_others_claims: bool = False) -> list[TaskRow]:
    """My ready tasks, nearest deadline first (tasks without a deadline after, oldest first)."""
    lanes = identity.roles_for_lanes(user.role_codes - {"customer"})
    visible = or_(TaskRow.assignee == user.username, TaskRow.claimed_by == user.username,
                  (TaskRow.lane.in_(lanes) & TaskRow.assignee.is_(None)))
    query = select(TaskRow).where(visible)
    if not include_others_claims:
        query = query.where(or_(TaskRow.claimed_by.is_(None), TaskRow.claimed_by == user.username))
    query = query.order_by(case((TaskRow.due_at.is_(None), 1), else_=0), TaskRow.due_at, TaskRow.ready_at)
    return list(session.scalars(query))


def get(session: Session, task_id: str) -> TaskRow:
    row = session.get(TaskRow, task_id)
    if row is None:
        raise runtime.Conflict("该任务已完成或已取消，请刷新待办列表", task_id=task_id)
    return row


def claim(session: Session, task_id: str, user: User) -> TaskRow:
    row = get(session, task_id)
    if row.claimed_by == user.username:
        return row
    if row.claimed_by:
        raise runtime.Conflict(f"该任务已由 {row.claimed_by} 领取", claimed_by=row.claimed_by)
    if not may_work_on(user, row):
        raise runtime.Forbidden("您没有处理此任务的权限")
    row.claimed_by = user.username
    history.append(session, row.instance_id, user.username, "task_claimed", element_id=row.element_id,
                   payload={"task_id": row.id})
    return row


def release(session: Session, task_id: str, user: User) -> TaskRow:
    row = get(session, task_id)
    if row.claimed_by != user.username and not (user.role_codes & DISPATCHERS):
        raise runtime.Forbidden("只能退回自己领取的任务")
    row.claimed_by = None
    history.append(session, row.instance_id, user.username, "task_released", element_id=row.element_id,
                   payload={"task_id": row.id})
    return row


def assign(session: Session, task_id: str, dispatcher: User, username: str) -> TaskRow:
    """派单: a supervisor hands the task to a named colleague who holds the lane's role."""
    if not dispatcher.role_codes & DISPATCHERS:
        raise runtime.Forbidden("只有主管可以派单")
    row = get(session, task_id)
    target = identity.get_user(session, username)
    if target is None or not target.is_active:
        raise runtime.EngineError(f"找不到用户 {username}")
    if row.lane not in identity.roles_for_lanes(target.role_codes) and row.assignee != username:
        raise runtime.EngineError(f"{target.display_name} 不具备「{row.lane}」角色，不能派给他/她")
    row.claimed_by = username
    history.append(session, row.instance_id, dispatcher.username, "task_assigned", element_id=row.element_id,
                   payload={"task_id": row.id, "to": username})
    return row


def complete(session: Session, task_id: str, user: User, data: dict, *,
             expected_revision: int | None = None) -> Instance:
    """Complete a task as ``user``: checks the right to do it, then the runtime validates and runs."""
    row = get(session, task_id)
    if not may_work_on(user, row):
        raise runtime.Forbidden("您没有处理此任务的权限")
    return runtime.complete_task(session, row.instance_id, task_id, data, user.username,
                                 expected_revision=expected_revision)
