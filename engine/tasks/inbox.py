"""The user-task projection: the inbox, claiming, assignment (派单) and who may do what.

The ``tasks`` table holds exactly the READY user tasks of every instance and is rewritten in the same
transaction as the instance, so the inbox reads a few indexes (one per way a task reaches a person, in
queue order, a page at a time) and never deserializes a workflow.
A task is offered to the holders of the role its lane names; an ``assignee`` (from the BPMN, or the person
on duty in that role) or a claim narrows it to one person. A task of the lane 责任部门 is offered to every
member of the department it names (the department's inbox), one of the lane 部门主管 to that department's head.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import and_, not_, or_, select
from sqlalchemy.orm import Session, object_session

from engine import identity, runtime
from engine.audit import history
from engine.core import clock, db, errors, keyset
from engine.core.tables import NO_DEADLINE, Instance, TaskRow, User

# Roles that may hand a task to a named colleague (派单): the supervisors and the department heads.
DISPATCHERS = {"cs_supervisor", "security_lead", "manager", "leader", "eng_head", "security_head", "cleaning_head"}

_DEPARTMENTS = identity.departments


# --- a domain's own refusals ---------------------------------------------------------------------------------
# The inbox knows lanes, departments and names; a domain may know more about who must keep away from a task
# (the help desk: the staff member a complaint is about). It registers a check at start-up that names what
# the person is to the request ("此投诉的被投诉人"), or None; a refused person may not work on, claim,
# complete or be handed (派单) the task, whatever their lane.

Refusal = Callable[[Session, User, TaskRow], "str | None"]
_refusals: dict[str, Refusal] = {}


def add_refusal(name: str, check: Refusal) -> None:
    """Register ``check(session, user, row)``; idempotent by name (entry points install domains once each)."""
    _refusals[name] = check


def refusal(session: Session | None, user: User, row: TaskRow) -> str | None:
    """What makes ``user`` someone who must keep away from this task (e.g. "此投诉的被投诉人"), or None.
    Without a session to ask, a registered check cannot be run: refused (fail closed)."""
    if not _refusals:
        return None
    session = session or object_session(row)
    if session is None:
        return "无法核实的人员"
    for check in _refusals.values():
        reason = check(session, user, row)
        if reason:
            return reason
    return None


def refused_message(reason: str) -> str:
    """The 403 a refused person reads."""
    return f"您是{reason}，不能查看或办理此任务"


# --- who may do what -----------------------------------------------------------------------------------------

def may_work_on(user: User, row: TaskRow, session: Session | None = None) -> bool:
    """Lane role, department (or named assignee), and not held by somebody else. A task handed by 派单 to
    someone it is offered to is theirs even when it was first assigned to another (the person on duty who
    is away). A department task needs the session to look up the user's department; without one it is
    refused. Nobody a domain refuses (:func:`refusal`) may work on it, not even its assignee."""
    if row.claimed_by and row.claimed_by != user.username:
        return False
    if refusal(session, user, row):
        return False
    if row.excluded and runtime.task_rows.is_excluded(row, user.username):
        return False  # already worked on this request (the 回访 is not made by the handler)
    if row.assignee == user.username:
        return True
    if row.assignee and row.claimed_by != user.username:
        return False
    if row.lane == _DEPARTMENTS.DEPARTMENT_LANE:
        session = session or object_session(row)
        return bool(row.department and session is not None
                    and _DEPARTMENTS.department_of(session, user) == row.department)
    if row.lane == _DEPARTMENTS.HEAD_LANE:
        return bool(row.department and row.department in _DEPARTMENTS.headed_by(user))
    if "customer" in user.role_codes and row.lane == identity.ROLE_BY_CODE["customer"].name:
        return False  # a customer task without an assignee is nobody's by default
    return row.lane in identity.roles_for_lanes(user.role_codes)


def offered_clause(session: Session, user: User):
    """SQL: the tasks ``user`` sees in their inbox (named for them, claimed by them, or offered to them)."""
    lanes = identity.roles_for_lanes(user.role_codes - {"customer"})
    mine = _DEPARTMENTS.department_of(session, user)
    offered = [TaskRow.lane.in_(lanes)]
    if mine:
        offered.append(and_(TaskRow.lane == _DEPARTMENTS.DEPARTMENT_LANE, TaskRow.department == mine))
    headed = _DEPARTMENTS.headed_by(user)
    if headed:
        offered.append(and_(TaskRow.lane == _DEPARTMENTS.HEAD_LANE, TaskRow.department.in_(headed)))
    return and_(_not_excluded(user), or_(TaskRow.assignee == user.username, TaskRow.claimed_by == user.username,
                                  and_(TaskRow.assignee.is_(None), or_(*offered))))


def inbox(session: Session, user: User, *, include_others_claims: bool = False, after: str | None = None,
          limit: int | None = None, visible=None) -> list[TaskRow]:
    """My ready tasks, nearest deadline first (tasks without a deadline after, oldest first): all of them,
    or ``limit`` of them after the cursor ``after`` (see :func:`cursor_of`).

    The tasks of :func:`offered_clause`, read as one query per way a task reaches me (named for me, claimed
    by me, each lane offered to me), each served by an index already in queue order, then merged: an OR of
    them would make the database read and sort every candidate task for every page. ``visible``: a SQL
    condition on ``tasks`` the rows must also meet (the reader's need-to-know, webapp.policy.listable_tasks),
    so a page of ``limit`` reads about ``limit`` rows even when many are hidden from the reader."""
    common = [_not_excluded(user)]
    if not include_others_claims:
        common.append(or_(TaskRow.claimed_by.is_(None), TaskRow.claimed_by == user.username))
    if visible is not None:
        common.append(visible)
    found: dict[str, TaskRow] = {}
    for way in _ways(session, user):
        for row in session.scalars(queue_page(select(TaskRow).where(way, *common), after, limit)):
            found[row.id] = row
    rows = sorted(found.values(), key=_queue_key)
    return rows if limit is None else rows[:limit]


def inbox_total(session: Session, user: User, cap: int = 1000, *, visible=None) -> tuple[int, bool]:
    """How many tasks :func:`inbox` holds (with the same ``visible``), counted up to ``cap``: (count, more
    than that)."""
    ids: set[str] = set()
    base = [_not_excluded(user), or_(TaskRow.claimed_by.is_(None), TaskRow.claimed_by == user.username)]
    if visible is not None:
        base.append(visible)
    for way in _ways(session, user):
        ids.update(session.scalars(queue_page(select(TaskRow.id).where(way, *base), None, cap + 1)))
    return min(len(ids), cap), len(ids) > cap


def _not_excluded(user: User):
    return or_(TaskRow.excluded.is_(None),
               not_(TaskRow.excluded.contains(json.dumps(user.username, ensure_ascii=False), autoescape=True)))


def _ways(session: Session, user: User) -> list:
    """The branches of :func:`offered_clause`, each one an index's equality prefix."""
    ways = [TaskRow.assignee == user.username, TaskRow.claimed_by == user.username]
    unassigned = TaskRow.assignee.is_(None)
    for lane in sorted(identity.roles_for_lanes(user.role_codes - {"customer"})):
        ways.append(and_(TaskRow.lane == lane, unassigned))
    mine = _DEPARTMENTS.department_of(session, user)
    if mine:
        ways.append(and_(TaskRow.lane == _DEPARTMENTS.DEPARTMENT_LANE, unassigned, TaskRow.department == mine))
    for dept in sorted(_DEPARTMENTS.headed_by(user)):
        ways.append(and_(TaskRow.lane == _DEPARTMENTS.HEAD_LANE, unassigned, TaskRow.department == dept))
    return ways


# --- paging: the queue order and its cursors (engine.core.keyset) ----------------------------------------------

_QUEUE = (TaskRow.queue_at, TaskRow.ready_at, TaskRow.id)


def queue_page(query, after: str | None, limit: int | None):
    """``query`` over ``tasks`` in queue order (nearest deadline first, tasks without one after, then the
    oldest, the id breaking ties), continuing after the cursor ``after`` and cut at ``limit`` rows."""
    key = keyset.decode(after, 3)
    if key is not None:
        query = query.where(keyset.after(list(_QUEUE), list(key)))
    query = query.order_by(*_QUEUE)
    return query if limit is None else query.limit(limit)


def _queue_key(row: TaskRow) -> tuple:
    return (clock.as_utc(row.queue_at or NO_DEADLINE), clock.as_utc(row.ready_at), row.id)


def cursor_of(row: TaskRow) -> str:
    """The cursor of the page that continues after ``row``."""
    return keyset.encode(_queue_key(row))


def get(session: Session, task_id: str) -> TaskRow:
    row = session.get(TaskRow, task_id)
    if row is None:
        raise errors.Conflict("该任务已完成或已取消，请刷新待办列表", task_id=task_id)
    return row


def claim(session: Session, task_id: str, user: User) -> TaskRow:
    row = get(session, task_id)
    reason = refusal(session, user, row)
    if reason:
        raise errors.Forbidden(refused_message(reason))
    if row.claimed_by == user.username:
        return row
    if row.claimed_by:
        raise errors.Conflict(f"该任务已由 {row.claimed_by} 领取", claimed_by=row.claimed_by)
    if not may_work_on(user, row, session):
        raise errors.Forbidden("您没有处理此任务的权限")
    row.claimed_by = user.username
    history.append_once(session, row.instance_id, user.username, "task_claimed", element_id=row.element_id,
                   payload={"task_id": row.id})
    return row


def release(session: Session, task_id: str, user: User) -> TaskRow:
    row = get(session, task_id)
    if row.claimed_by != user.username and not (user.role_codes & DISPATCHERS):
        raise errors.Forbidden("只能退回自己领取的任务")
    row.claimed_by = None
    history.append_once(session, row.instance_id, user.username, "task_released", element_id=row.element_id,
                   payload={"task_id": row.id})
    return row


def assign(session: Session, task_id: str, dispatcher: User, username: str) -> TaskRow:
    """派单: a supervisor hands the task to a named colleague who holds the lane's role.

    Never a task of the resident's own lane (their confirmation, their rating: another person answering
    for them would forge their word) nor one the diagram binds to a named person (an ``assignee`` from the
    BPMN). A task the duty roster gave to the person on duty is not bound that way: it moves to a colleague
    (see :func:`_duty_assigned`)."""
    if not dispatcher.role_codes & DISPATCHERS:
        raise errors.Forbidden("只有主管可以派单")
    row = get(session, task_id)
    if row.lane == identity.ROLE_BY_CODE["customer"].name:
        raise errors.Forbidden("住户本人的任务（确认、评价等）只能由住户本人办理，不能派单")
    if row.assignee and row.assignee != username and not _duty_assigned(session, row):
        raise errors.Forbidden(f"该任务指定由 {row.assignee} 本人办理，不能派给他人")
    target = identity.get_user(session, username)
    if target is None or not target.is_active:
        raise errors.EngineError(f"找不到用户 {username}")
    reason = refusal(session, target, row)
    if reason:
        raise errors.EngineError(f"{target.display_name} 是{reason}，不能派给他/她")
    if row.excluded and runtime.task_rows.is_excluded(row, username):
        raise errors.EngineError(f"{target.display_name} 已经办理过此求助，此任务（如回访）须由其他人完成")
    if not _may_receive(session, target, row):
        raise errors.EngineError(f"{target.display_name} 不具备「{offered_to(row)}」的身份，不能派给他/她")
    row.claimed_by = username
    history.append_once(session, row.instance_id, dispatcher.username, "task_assigned", element_id=row.element_id,
                   payload={"task_id": row.id, "to": username})
    return row


def _duty_assigned(session: Session, row: TaskRow) -> bool:
    """Whether a task's ``assignee`` came from the duty roster rather than from the diagram: the roster
    only ever names a holder of the lane's role, in a role lane; a diagram's ``assignee`` names a person
    whatever their role (today: the resident of the request)."""
    role = identity.lane_role(row.lane or "")
    if role is None:
        return False
    holder = identity.get_user(session, row.assignee)
    return holder is not None and role.code in holder.role_codes


def _may_receive(session: Session, target: User, row: TaskRow) -> bool:
    """Whether 派单 may hand ``row`` to ``target``: the one it is assigned to, or anyone it is offered to."""
    if row.assignee == target.username:
        return True
    if row.lane == _DEPARTMENTS.DEPARTMENT_LANE:
        return bool(row.department) and _DEPARTMENTS.department_of(session, target) == row.department
    if row.lane == _DEPARTMENTS.HEAD_LANE:
        return bool(row.department) and row.department in _DEPARTMENTS.headed_by(target)
    return row.lane in identity.roles_for_lanes(target.role_codes)


def offered_to(row: TaskRow) -> str:
    """Whom a task is for, as a person reads it: the role, "工程部", or "工程部主管"."""
    dept = identity.DEPARTMENT_BY_CODE.get(row.department or "")
    if dept and row.lane == _DEPARTMENTS.DEPARTMENT_LANE:
        return dept.name
    if dept and row.lane == _DEPARTMENTS.HEAD_LANE:
        return dept.head_name
    return row.lane or ""


def complete(session: Session, task_id: str, user: User, data: dict, *,
             expected_revision: int | None = None, read: Session | None = None) -> Instance:
    """Complete a task as ``user``: checks the right to do it, then the runtime validates and runs (the
    check reads a snapshot, so the write lock waits for the runtime's write, not for its scripts).
    ``read``: the snapshot the caller already read the task from (``db.reading(session)``), so the check
    and the runtime read there too instead of opening their own (fewer round trips per completion)."""
    if read is not None:
        return _complete(session, read, task_id, user, data, expected_revision)
    with db.reading(session) as snapshot:
        return _complete(session, snapshot, task_id, user, data, expected_revision)


def _complete(session: Session, read: Session, task_id: str, user: User, data: dict,
              expected_revision: int | None) -> Instance:
    row = get(read, task_id)
    reason = refusal(read, user, row)
    if reason:
        raise errors.Forbidden(refused_message(reason))
    if not may_work_on(user, row, read):
        raise errors.Forbidden("您没有处理此任务的权限")
    return runtime.complete_task(session, row.instance_id, task_id, data, user.username,
                                 expected_revision=expected_revision, read=read)
