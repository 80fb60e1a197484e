"""Departments, their heads, and the duty roster.

The 工作规程 hands work to *departments* (转交相关部门: 工程部, 保洁部, 护管(保安)部, 客服部 …), reports to a
department's head (部门主管) and calls on "the duty lead" (护管部值班负责人) — whoever is on duty now. Roles say
what a person may do; a department says whose inbox a handed-over job lands in. So:

- every staff member belongs to at most one department (``user_departments``);
- each department names the role of its head (工程部 → 工程部主管 …);
- two lanes route by the department a task names (its ``department`` property, an expression over the task
  data such as ``department``): 责任部门 — every member of that department sees the task; 部门主管 — the
  holders of that department's head role;
- a roster line (``duty_shifts``) puts a person on duty in a role for a time; a task of that role's lane
  goes to the person on duty when it becomes ready, and to every holder of the role when nobody is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from engine.core import clock
from engine.core.tables import DutyShift, User, UserDepartment
from engine.identity.users import ROLE_BY_CODE, IdentityError, get_user


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    head_role: str  # role code of the department head

    @property
    def head_name(self) -> str:
        return ROLE_BY_CODE[self.head_role].name


DEPARTMENTS: tuple[Department, ...] = (
    Department("customer_service", "客服部", "cs_supervisor"),
    Department("engineering", "工程部", "eng_head"),
    Department("security", "护管部", "security_head"),
    Department("cleaning", "保洁部", "cleaning_head"),
    Department("management", "公司管理层", "manager"),
)
DEPARTMENT_BY_CODE = {d.code: d for d in DEPARTMENTS}

# Lanes that route by the task's department rather than by a role.
DEPARTMENT_LANE = "责任部门"
HEAD_LANE = "部门主管"
ROUTING_LANES = (DEPARTMENT_LANE, HEAD_LANE)

# A roster line longer than this is almost surely a typing mistake (a year instead of a day).
MAX_SHIFT = dt.timedelta(days=31)


def department(code_or_name: object) -> Department | None:
    """The department named by its code ("engineering") or its Chinese name ("工程部")."""
    text = str(code_or_name or "").strip()
    return DEPARTMENT_BY_CODE.get(text) or next((d for d in DEPARTMENTS if d.name == text), None)


# --- membership --------------------------------------------------------------------------------------------

def department_of(session: Session, user: User) -> str | None:
    return session.scalar(select(UserDepartment.department).where(UserDepartment.user_id == user.id))


def set_department(session: Session, user: User, code: str | None) -> None:
    """Put ``user`` in department ``code`` (or in none)."""
    if code and code not in DEPARTMENT_BY_CODE:
        raise IdentityError(f"未知部门：{code}")
    session.execute(delete(UserDepartment).where(UserDepartment.user_id == user.id))
    if code:
        session.add(UserDepartment(user_id=user.id, department=code))
    session.flush()


def departments_by_user(session: Session) -> dict[int, str]:
    return dict(session.execute(select(UserDepartment.user_id, UserDepartment.department)).all())


def members(session: Session, code: str) -> list[User]:
    return list(session.scalars(select(User).join(UserDepartment, UserDepartment.user_id == User.id)
                                .where(UserDepartment.department == code, User.is_active.is_(True))
                                .order_by(User.username)))


def headed_by(user: User) -> set[str]:
    """The departments whose head role ``user`` holds."""
    return {d.code for d in DEPARTMENTS if d.head_role in user.role_codes}


# --- the duty roster ---------------------------------------------------------------------------------------

def on_duty(session: Session, roles: set[str], at: dt.datetime | None = None) -> dict[str, str]:
    """Role code -> username of the active user on duty in that role at ``at`` (now by default). When two
    lines overlap, the one that started last wins (a relief taking over early)."""
    if not roles:
        return {}
    rows = session.execute(_ON_DUTY, {"roles": sorted(roles), "at": at or clock.now()}).all()
    return {role: username for role, username in rows}  # later starts overwrite earlier ones


# Built once: every change that opens a task asks it (a timer firing too), and building it cost more than running it.
_AT = bindparam("at", type_=DutyShift.starts_at.type)
_ON_DUTY = (select(DutyShift.role, DutyShift.username).join(User, User.username == DutyShift.username)
            .where(DutyShift.role.in_(bindparam("roles", expanding=True)), DutyShift.starts_at <= _AT,
                   DutyShift.ends_at > _AT, User.is_active.is_(True))
            .order_by(DutyShift.starts_at, DutyShift.id))


def shifts(session: Session, *, ending_after: dt.datetime | None = None) -> list[DutyShift]:
    query = select(DutyShift).order_by(DutyShift.starts_at, DutyShift.id)
    if ending_after is not None:
        query = query.where(DutyShift.ends_at > ending_after)
    return list(session.scalars(query))


def add_shift(session: Session, *, department_code: str, role: str, username: str, starts_at: dt.datetime,
              ends_at: dt.datetime, actor: str) -> DutyShift:
    """A roster line, checked: the department and role exist, the person holds the role and belongs to the
    department, and the shift ends after it starts and lasts at most :data:`MAX_SHIFT`."""
    dept = department(department_code)
    if dept is None:
        raise IdentityError("请选择部门")
    if role not in ROLE_BY_CODE or not ROLE_BY_CODE[role].staff:
        raise IdentityError("请选择值班角色")
    user = get_user(session, (username or "").strip())
    if user is None or not user.is_active:
        raise IdentityError(f"找不到用户 {username}")
    if role not in user.role_codes:
        raise IdentityError(f"{user.display_name} 不具备「{ROLE_BY_CODE[role].name}」角色")
    if department_of(session, user) != dept.code:
        raise IdentityError(f"{user.display_name} 不属于{dept.name}")
    starts_at, ends_at = clock.as_utc(starts_at), clock.as_utc(ends_at)
    if ends_at <= starts_at:
        raise IdentityError("值班结束时间必须晚于开始时间")
    if ends_at - starts_at > MAX_SHIFT:
        raise IdentityError("一次值班不能超过31天")
    shift = DutyShift(department=dept.code, role=role, username=user.username, starts_at=starts_at,
                      ends_at=ends_at, created_by=actor, created_at=clock.now())
    session.add(shift)
    session.flush()
    return shift


def remove_shift(session: Session, shift_id: int) -> None:
    shift = session.get(DutyShift, shift_id)
    if shift is None:
        raise IdentityError("该值班安排不存在或已删除")
    session.delete(shift)
    session.flush()
