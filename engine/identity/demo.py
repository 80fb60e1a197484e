"""The demo staff and residents that `liyuan init --demo` and the tests create, each in a department.

Kept apart from ``users`` (accounts) and ``departments`` (organisation) because it needs both.
"""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from engine.identity import departments
from engine.identity.users import DEMO_USERS, add_user, get_user

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
    (password, usernames created). Existing users keep their password, roles and any department they have."""
    password = password or secrets.token_urlsafe(9)
    created = []
    for username, display, role in DEMO_USERS:
        user = get_user(session, username)
        if user is None:
            user = add_user(session, username, password, [role], display_name=display)
            created.append(username)
        if username in DEMO_DEPARTMENTS and departments.department_of(session, user) is None:
            departments.set_department(session, user, DEMO_DEPARTMENTS[username])
    return password, created
