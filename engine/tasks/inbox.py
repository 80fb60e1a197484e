"""The user-task projection: the inbox, claiming, assignment (派单) and who may do what.

The ``tasks`` table holds exactly the READY user tasks of every instance and is rewritten in the same
transaction as the instance, so the inbox is one indexed query and never deserializes a workflow.
A task is offered to the holders of the role its lane names; an ``assignee`` (from the BPMN, or the person
on duty in that role) or a claim narrows it to one person. A task of the lane 责任部门 is offered to every
member of the department it names (the department's inbox), one of the lane 部门主管 to that department's head.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import and_, case, not_, or_, select
from sqlalchemy.orm import Session, object_session

from engine import identity, runtime
from engine.audit import history
from engine.core import db, errors
from engine.core.tables import Instance, TaskRow, User

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
    not_excluded = or_(TaskRow.excluded.is_(None),
                       not_(TaskRow.excluded.contains(json.dumps(user.username, ensure_ascii=False), autoescape=True)))
    return and_(not_excluded, or_(TaskRow.assignee == user.username, TaskRow.claimed_by == user.username,
                                  and_(TaskRow.assignee.is_(None), or_(*offered))))


def inbox(session: Session, user: User, *, include_others_claims: bool = False) -> list[TaskRow]:
    """My ready tasks, nearest deadline first (tasks without a deadline after, oldest first)."""
    query = select(TaskRow).where(offered_clause(session, user))
    if not include_others_claims:
        query = query.where(or_(TaskRow.claimed_by.is_(None), TaskRow.claimed_by == user.username))
    query = query.order_by(case((TaskRow.due_at.is_(None), 1), else_=0), TaskRow.due_at, TaskRow.ready_at)
    return list(session.scalars(query))


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
    history.append(session, row.instance_id, user.username, "task_claimed", element_id=row.element_id,
                   payload={"task_id": row.id})
    return row


def release(session: Session, task_id: str, user: User) -> TaskRow:
    row = get(session, task_id)
    if row.claimed_by != user.username and not (user.role_codes & DISPATCHERS):
        raise errors.Forbidden("只能退回自己领取的任务")
    row.claimed_by = None
    history.append(session, row.instance_id, user.username, "task_released", element_id=row.element_id,
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
    history.append(session, row.instance_id, dispatcher.username, "task_assigned", element_id=row.element_id,
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
             expected_revision: int | None = None) -> Instance:
    """Complete a task as ``user``: checks the right to do it, then the runtime validates and runs (the
    check reads a snapshot, so the write lock waits for the runtime's write, not for its scripts)."""
    with db.reading(session) as read:
        row = get(read, task_id)
        reason = refusal(read, user, row)
        if reason:
            raise errors.Forbidden(refused_message(reason))
        if not may_work_on(user, row, read):
            raise errors.Forbidden("您没有处理此任务的权限")
    return runtime.complete_task(session, row.instance_id, task_id, data, user.username,
                                 expected_revision=expected_revision)
