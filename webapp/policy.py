"""Who may see and do what: the one place both the web pages and the JSON API ask.

Roles are the codes in ``engine.identity.ROLES``. Every view and API route names an *area*; a user may
enter an area when they hold one of its roles. Rules about single records (a resident sees only their own
requests; a task is only for its lane, assignee or claimant) are functions here too, so a page and the API
cannot disagree.
"""

from __future__ import annotations

from engine import tasks as engine_tasks
from engine.models import HelpRequest, TaskRow, User

STAFF = frozenset({"assistant", "cs_supervisor", "security_lead", "guard", "gate_guard", "caregiver",
                   "engineering", "cleaning", "manager", "leader"})
SUPERVISORS = frozenset({"cs_supervisor", "security_lead", "manager", "leader"})

AREAS: dict[str, frozenset[str]] = {
    "inbox": STAFF,                                   # 待办: complete, claim, release tasks
    "dispatch": SUPERVISORS,                          # 派单 to a named colleague
    "intake": frozenset({"assistant", "cs_supervisor"}),  # hotline call recording
    "requests": STAFF | {"auditor", "admin"},         # request list and pages (staff view)
    "request_data": STAFF | {"auditor"},              # full request data on the request page
    "reports": frozenset({"cs_supervisor", "manager", "leader"}),  # SLA, monthly statistics
    "modeler": frozenset({"process_owner"}),          # edit and deploy diagrams
    "audit": frozenset({"auditor"}),                  # replay, verify, export the audit log
    "admin": frozenset({"admin"}),                    # users, fee schedule, incidents
    "portal": frozenset({"customer"}),                # residents: own requests, rate, urge
    "notifications": STAFF | {"customer", "process_owner", "auditor", "admin"},
}


def allowed(user: User | None, area: str) -> bool:
    if user is None or not user.is_active:
        return False
    return bool(user.role_codes & AREAS[area])


def can_view_request(user: User, request: HelpRequest) -> bool:
    """Staff, auditors and admins see every request; a resident only their own."""
    if allowed(user, "requests"):
        return True
    return "customer" in user.role_codes and request.customer_username == user.username


def can_work_on(user: User, task: TaskRow) -> bool:
    return engine_tasks.may_work_on(user, task)


def visible_data(user: User, data: dict) -> dict:
    """What of a request's data a person may read: residents never see internal or confidential fields."""
    if allowed(user, "request_data"):
        return data
    hidden_prefixes = ("internal_", "_")
    if data.get("confidential"):
        return {k: data[k] for k in ("caller_name", "address", "description", "category") if k in data}
    return {k: v for k, v in data.items() if not k.startswith(hidden_prefixes)
            and k not in {"confidential_note", "supervisor_note", "escalation_note"}}
