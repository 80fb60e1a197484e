"""Users, roles and the lane-to-role mapping.

A BPMN lane's name *is* a role's Chinese name, so the people who may do a task are the holders of the
role its lane names. Passwords are hashed with argon2 (argon2-cffi's defaults, which follow RFC 9106) and
must pass :func:`engine.identity.passwords.problem` whenever one is set.

Sessions: ``User.auth_epoch`` is the account's sign-in generation. The web app writes it into each session
cookie and API token it issues and refuses any whose generation is no longer the user's, so
:func:`end_sessions` (signing out, a password change, deactivation) ends every one of them at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.core import clock
from engine.core.tables import User, UserRole

from . import passwords


@dataclass(frozen=True)
class Role:
    code: str
    name: str  # Chinese name; also the lane name in BPMN
    staff: bool = True


ROLES: tuple[Role, ...] = (
    Role("assistant", "物业助理"),
    Role("cs_supervisor", "客服部主管"),
    Role("security_lead", "护管部值班负责人"),
    Role("guard", "护管员"),
    Role("gate_guard", "入口值班员"),
    Role("caregiver", "护理人员"),
    Role("engineering", "工程部"),
    Role("cleaning", "保洁部"),
    Role("eng_head", "工程部主管"),
    Role("security_head", "护管部主管"),
    Role("cleaning_head", "保洁部主管"),
    Role("manager", "公司经理"),
    Role("leader", "公司领导"),
    Role("process_owner", "流程负责人"),
    Role("auditor", "审计员"),
    Role("admin", "管理员"),
    Role("customer", "业主/住户", staff=False),
)
ROLE_BY_CODE = {r.code: r for r in ROLES}
ROLE_BY_NAME = {r.name: r for r in ROLES}

# username -> (display name, role code); one demo user per role (two assistants — the 回访 is never made by the one who handled the request —, two guards, two engineers, two duty leads).
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("assistant", "李助理", "assistant"),
    ("assistant_b", "杨助理", "assistant"),
    ("cs_supervisor", "王主管", "cs_supervisor"),
    ("security_lead", "赵队长", "security_lead"),
    ("security_lead2", "钟队长", "security_lead"),
    ("security_head", "唐主管", "security_head"),
    ("guard1", "陈护管", "guard"),
    ("guard2", "刘护管", "guard"),
    ("gate_guard", "周值班", "gate_guard"),
    ("caregiver", "吴护理", "caregiver"),
    ("engineer", "郑工程师", "engineering"),
    ("engineer_b", "马工程师", "engineering"),
    ("eng_head", "黄主管", "eng_head"),
    ("cleaner", "孙保洁", "cleaning"),
    ("cleaning_head", "白主管", "cleaning_head"),
    ("manager", "钱经理", "manager"),
    ("leader", "冯总", "leader"),
    ("process_owner", "何流程", "process_owner"),
    ("auditor", "许审计", "auditor"),
    ("admin", "高管理员", "admin"),
    ("customer", "林业主", "customer"),
)

_hasher = PasswordHasher()


class IdentityError(ValueError):
    """A user-facing problem with an account (message in Chinese)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_dummy: list[User] = []


def _dummy_user() -> User:
    """A user nobody is, with a hash of the same argon2 parameters as every real one."""
    if not _dummy:
        _dummy.append(User(username="", password_hash=_hasher.hash(secrets.token_urlsafe(16))))
    return _dummy[0]


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user ``username`` if ``password`` is theirs, else ``None``.

    Exactly one argon2 verification runs whatever the outcome — against a dummy hash when there is no such
    user or the account is disabled — so the answer takes as long for a name that does not exist as for a
    wrong password, and response times do not tell which usernames exist.
    """
    user = get_user(session, username) if username and len(username) <= 64 else None
    if user is None or not user.is_active:
        verify_password(_dummy_user(), password)
        return None
    return user if verify_password(user, password) else None


def check_password(password: str, *, username: str | None = None, phone: str | None = None) -> None:
    """Raise :class:`IdentityError` with the Chinese reason when ``password`` may not be used."""
    problem = passwords.problem(password, username=username, phone=phone)
    if problem:
        raise IdentityError(problem)


def end_sessions(session: Session, user: User) -> int:
    """Move the user to a new sign-in generation: every session and API token issued before is refused
    from the next request on (in every server process: they all read the generation from the database).
    Returns the new generation."""
    session.execute(update(User).where(User.id == user.id).values(auth_epoch=User.auth_epoch + 1))
    epoch = session.scalar(select(User.auth_epoch).where(User.id == user.id))
    user.auth_epoch = epoch
    return epoch


def set_password(session: Session, user: User, password: str) -> int:
    """A new password (checked against the rules), and every session and token of the old one ended.
    Returns the new sign-in generation, for the one session that made the change to carry on under."""
    check_password(password, username=user.username, phone=user.phone)
    session.execute(update(User).where(User.id == user.id).values(password_hash=hash_password(password)))
    return end_sessions(session, user)


def lane_role(lane: str | None) -> Role | None:
    return ROLE_BY_NAME.get(lane) if lane else None


def roles_for_lanes(role_codes: set[str]) -> set[str]:
    """The lane names a holder of these roles works in."""
    return {ROLE_BY_CODE[c].name for c in role_codes if c in ROLE_BY_CODE}


def add_user(session: Session, username: str, password: str, roles: list[str], *,
             display_name: str | None = None, phone: str | None = None) -> User:
    username = username.strip()
    if not username or len(username) > 64:
        raise IdentityError("用户名不能为空，且不超过64个字符")
    unknown = [r for r in roles if r not in ROLE_BY_CODE]
    if unknown:
        raise IdentityError(f"未知角色：{', '.join(unknown)}")
    check_password(password, username=username, phone=phone)
    # Checked here, not left to the column: SQLite would store any length and PostgreSQL fail with a 500.
    if display_name and len(display_name) > 100:
        raise IdentityError("姓名不超过100个字")
    if phone and len(phone) > 32:
        raise IdentityError("手机号码过长")
    if session.scalar(select(User).where(User.username == username)):
        raise IdentityError(f"用户名 {username} 已存在")
    if phone and session.scalar(select(User).where(User.phone == phone)):
        raise IdentityError("该手机号已注册")
    user = User(username=username, display_name=display_name or username, password_hash=hash_password(password),
                phone=phone, is_active=True, created_at=clock.now())
    user.roles = [UserRole(role=r) for r in dict.fromkeys(roles)]
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))
