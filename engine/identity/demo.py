"""The demo staff and residents that `liyuan init --demo` and the tests create, each in a department.

Kept apart from ``users`` (accounts) and ``departments`` (organisation) because it needs both.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.tables import User, UserDepartment
from engine.identity.users import DEMO_USERS, add_user

# username -> department code (engine.identity.departments.DEPARTMENTS) of the demo staff.
DEMO_DEPARTMENTS: dict[str, str] = {
    "assistant": "customer_service", "assistant_b": "customer_service", "cs_supervisor": "customer_service",
    "security_lead": "security", "security_lead2": "security", "security_head": "security",
    "guard1": "security", "guard2": "security", "gate_guard": "security", "caregiver": "security",
    "engineer": "engineering", "engineer_b": "engineering", "eng_head": "engineering",
    "cleaner": "cleaning", "cleaning_head": "cleaning",
    "manager": "management", "leader": "management",
}


def ensure_demo_users(session: Session, password: str | None) -> tuple[str, list[str]]:
    """Create the missing demo users and put each in its department (:data:`DEMO_DEPARTMENTS`); returns
    (password, usernames created). Existing users keep their password, roles and any department they have.

    Who exists and who has a department is read in two queries, not two per user: every API and web test
    starts from the demo users, so this runs a thousand times in one ``make test``."""
    password = password or secrets.token_urlsafe(9)
    names = [username for username, _display, _role in DEMO_USERS]
    existing = {u.username: u for u in session.scalars(select(User).where(User.username.in_(names)))}
    placed = set(session.scalars(select(UserDepartment.user_id).where(
        UserDepartment.user_id.in_([u.id for u in existing.values()]))))
    created = []
    for username, display, role in DEMO_USERS:
        user = existing.get(username)
        if user is None:
            user = add_user(session, username, password, [role], display_name=display)
            created.append(username)
        if username in DEMO_DEPARTMENTS and user.id not in placed:
            session.add(UserDepartment(user_id=user.id, department=DEMO_DEPARTMENTS[username]))
    session.flush()
    return password, created
