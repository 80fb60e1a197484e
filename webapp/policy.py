"""Who may see and do what: the one place both the web pages and the JSON API ask.

Roles are the codes in ``engine.identity.ROLES``. Every view and API route names an *area*; a user may
enter an area when they hold one of its roles. Rules about single records (a resident sees only their own
requests; a task is only for its lane, assignee or claimant) are functions here too, so a page and the API
cannot disagree.
"""

from __future__ import annotations

from engine import identity
from engine import tasks as engine_tasks
from engine.core.tables import TaskRow, User
from engine.helpdesk.tables import HelpRequest

STAFF = frozenset({"assistant", "cs_supervisor", "security_lead", "guard", "gate_guard", "caregiver",
                   "engineering", "cleaning", "eng_head", "security_head", "cleaning_head", "manager", "leader"})
SUPERVISORS = frozenset(engine_tasks.DISPATCHERS)  # who may 派单: the engine decides, the pages follow

AREAS: dict[str, frozenset[str]] = {
    "inbox": STAFF,                                   # 待办: complete, claim, release tasks
    "dispatch": SUPERVISORS,                          # 派单 to a named colleague
    "intake": frozenset({"assistant", "cs_supervisor"}),  # hotline call recording
    "requests": STAFF | {"auditor", "admin"},         # request list and pages (staff view)
    "request_data": STAFF | {"auditor"},              # full request data on the request page
    "reports": frozenset({"cs_supervisor", "manager", "leader"}),  # SLA, monthly statistics
    "modeler": frozenset({"process_owner"}),          # edit and deploy diagrams
    "audit": frozenset({"auditor"}),                  # replay, verify, export the audit log
    "admin": frozenset({"admin"}),                    # users, fee schedule, incidents, duty roster
    # 信息传递：跟进部门接收情况 — jobs handed over to a department and not yet taken
    "handovers": frozenset({"assistant", "cs_supervisor", "manager"}),
    "portal": frozenset({"customer"}),                # residents: own requests, rate, urge
    "notifications": STAFF | {"customer", "process_owner", "auditor", "admin"},
    # starting a deployed process by its id: who exactly is decided by the process's start lane
    "start": STAFF | {"customer", "process_owner"},
    # the missed-timer alarm: those who rely on escalations firing, and the admin who can restart things
    "timer_alarm": frozenset({"cs_supervisor", "manager", "admin"}),
    "account": frozenset(identity.ROLE_BY_CODE),      # one's own password: everybody signed in
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


# --- view declarations ---------------------------------------------------------------------------------------
# Every Flask view says who may enter it: ``@requires("inbox")`` (any of several areas: ``@requires("inbox",
# "portal")``) or ``@public``. The authorization test (tests/api/test_authorization.py) walks ``app.url_map``
# and fails on a view that declares neither, so a new route cannot silently be open to everybody.
# Put the decorator *below* ``@bp.get(...)`` so Flask registers the wrapped function.

API_PREFIX = "/api/"


def current_user() -> User | None:
    """The person behind this request: under ``/api/`` only the bearer-token user the API set on ``g``
    (a session cookie never authenticates the CSRF-exempt API); elsewhere Flask-Login's user.

    A Flask-Login user object may be the ``User`` row itself or a wrapper exposing it as ``.user``.
    """
    from flask import g, request

    if request.path.startswith(API_PREFIX):
        return g.get("api_user")
    try:
        from flask_login import current_user as session_user
    except ImportError:  # pragma: no cover - Flask-Login is a dependency
        return None
    if session_user is None or not getattr(session_user, "is_authenticated", False):
        return None
    return getattr(session_user, "user", session_user)


def _refuse_anonymous():
    from flask import abort, current_app, request

    manager = getattr(current_app, "login_manager", None)
    if request.path.startswith(API_PREFIX) or manager is None:
        abort(401)
    return manager.unauthorized()  # redirect to the login page (or 401 when no login view is set)


def requires(*areas: str):
    """Only holders of a role of one of ``areas`` (keys of ``AREAS``) may enter: 401/login for anonymous, 403 else."""
    unknown = [a for a in areas if a not in AREAS]
    if not areas or unknown:
        raise ValueError(f"unknown area(s): {unknown or 'none given'}")

    def decorate(view):
        import functools

        from flask import abort

        @functools.wraps(view)
        def guarded(*args, **kwargs):
            user = current_user()
            if user is None or not user.is_active:
                return _refuse_anonymous()
            if not any(allowed(user, a) for a in areas):
                abort(403)
            return view(*args, **kwargs)

        guarded.area = areas[0] if len(areas) == 1 else areas
        guarded.areas = tuple(areas)
        return guarded

    return decorate


def public(view):
    """Mark a view as open to everybody (sign-in page, landing page, OpenAPI document, static files)."""
    view.area = None
    view.areas = ()
    view.public = True
    return view


def view_areas(view) -> tuple[str, ...] | None:
    """The areas a view declared, ``()`` for public, ``None`` when it declared nothing (a bug)."""
    if getattr(view, "public", False):
        return ()
    return getattr(view, "areas", None)


def can_view_task(user: User, task: TaskRow, request: HelpRequest | None) -> bool:
    """A task's page/detail: whoever may work on it, and whoever may see its request's full data."""
    if can_work_on(user, task) or (task.assignee == user.username) or task.claimed_by == user.username:
        return True
    return allowed(user, "request_data") and (request is None or can_view_request(user, request))
