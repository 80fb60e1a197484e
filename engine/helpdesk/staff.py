"""The people a form may name: guards, carers, gate guards and duty leads chosen from real accounts.

The 工作规程 has the duty lead *arrange* two guards, a carer, the gate guard: people, not words. A form
offers them through ``staff_roster()`` (a recorded script helper, see :mod:`engine.runtime.listeners`), so
the choice is validated against the accounts of that day and a replay offers the same list; the task that
follows then goes to the person chosen (its ``assignee`` property names the field).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine import identity

# The roles a form may pick people from (role code -> who they are in the procedure).
PICKABLE = ("security_lead", "guard", "gate_guard", "caregiver")


def roster(session: Session) -> dict[str, list[dict]]:
    """Role code -> the active holders of that role as ``{"code": username, "name": display name}``, for the
    roles in :data:`PICKABLE`; a form's ``ui:options.enum_from`` reads e.g. ``staff.guard``."""
    out: dict[str, list[dict]] = {code: [] for code in PICKABLE}
    for user in identity.list_users(session):
        if not user.is_active:
            continue
        for code in PICKABLE:
            if code in user.role_codes:
                out[code].append({"code": user.username, "name": user.display_name or user.username})
    return out


def empty() -> dict[str, list[dict]]:
    """What the helper returns where no database is at hand (the deploy-time dry run)."""
    return {code: [] for code in PICKABLE}
