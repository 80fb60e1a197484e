"""Who may see and do what: the one place both the web pages and the JSON API ask.

Roles are the codes in ``engine.identity.ROLES``. Every view and API route names an *area*; a user may
enter an area when they hold one of its roles. Rules about single records (a resident sees only their own
requests; a task is only for its lane, assignee or claimant) are functions here too, so a page and the API
cannot disagree.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, exists, false, func, or_, select, true
from sqlalchemy.orm import Session, object_session

from engine import identity
from engine import tasks as engine_tasks
from engine.core.tables import AuditEvent, TaskRow, User
from engine.helpdesk import month_figures
from engine.helpdesk.tables import HelpRequest

STAFF = frozenset({"assistant", "cs_supervisor", "security_lead", "guard", "gate_guard", "caregiver",
                   "engineering", "cleaning", "eng_head", "security_head", "cleaning_head", "manager", "leader"})
SUPERVISORS = frozenset(engine_tasks.DISPATCHERS)  # who may 派单: the engine decides, the pages follow

REPORT_READERS = frozenset({"cs_supervisor", "manager", "leader"})  # the company's month and any department's

AREAS: dict[str, frozenset[str]] = {
    "inbox": STAFF,                                   # 待办: complete, claim, release tasks
    "dispatch": SUPERVISORS,                          # 派单 to a named colleague
    "intake": frozenset({"assistant", "cs_supervisor"}),  # hotline call recording
    "requests": STAFF | {"auditor", "admin"},         # request list and pages (staff view)
    "request_data": STAFF | {"auditor"},              # full request data on the request page
    "follow_up": STAFF,                               # 6 反馈与跟踪: open a request linked to one they read
    "reports": REPORT_READERS,                         # SLA, monthly statistics
    # 部门主管: their own department's month (the page and its workbook), never the company's: report_scope
    "department_reports": frozenset(d.head_role for d in identity.departments.DEPARTMENTS) - REPORT_READERS,
    "modeler": frozenset({"process_owner"}),          # edit and deploy diagrams
    # the second approver of a publish, when the admin requires one (engine.helpdesk.publish_approval)
    "publish_approval": frozenset({"manager"}),
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


def report_scope(user: User, wanted: str | None) -> tuple[str | None, str | None]:
    """Whose month ``user`` may read when asking for ``wanted`` (a department code, or None: the company's):
    ``(department, None)`` to show, department None meaning the whole company, or ``(None, refusal)`` with
    the reason in Chinese.

    The 客服部主管, 公司经理 and 公司领导 read the company's month and any department's (an unknown code reads
    as the company's, as a hand-edited filter narrows less). A 部门主管 reads only the department they head:
    another department's month or the company's is refused."""
    known = wanted if wanted in identity.departments.DEPARTMENT_BY_CODE else None
    if allowed(user, "reports"):
        return known, None
    headed = sorted(identity.departments.headed_by(user)) if allowed(user, "department_reports") else []
    if known and known in headed:
        return known, None
    own = "、".join(identity.departments.DEPARTMENT_BY_CODE[code].name for code in headed)
    if not own:
        return None, "您没有权限查看月度报表。"
    if known:
        other = identity.departments.DEPARTMENT_BY_CODE[known].name
        return None, f"部门主管只能查看本部门（{own}）的月度报表，无权查看{other}的报表。"
    return None, f"全公司的月度报表仅限客服部主管、公司经理和公司领导查看；您可以查看本部门（{own}）的月度报表。"


def report_department_for(user: User | None) -> str | None:
    """The department whose month the nav bar's 报表 opens for ``user``: their own for a 部门主管 without
    the company's month, None (the company's) for everybody else."""
    if user is None or allowed(user, "reports") or not allowed(user, "department_reports"):
        return None
    return min(identity.departments.headed_by(user), default=None)


def can_view_request(user: User, request: HelpRequest) -> bool:
    """Whether ``user`` may read ``request``: the need-to-know rule of :func:`visible_requests`."""
    return may_read_request(user, request)


# --- need-to-know ----------------------------------------------------------------------------------------------
# Staff read what their work needs (issue 12): their department's requests, what they handle, what their role
# supervises. One rule, written once as SQL (``visible_requests``) and asked of single rows by running that
# SQL for the one row (``may_read_request``), so a list and a page cannot disagree.

ALL_REQUESTS = frozenset({"cs_supervisor", "manager", "leader", "auditor"})  # 客服部主管 and above; auditors
INTAKE_DESK = frozenset({"assistant"})  # 物业助理: a caller's earlier requests, whoever handled them
OWNER_DEPARTMENT = "customer_service"  # a request not handed over (转交) stays with 客服部
ACCESS_CHAIN = month_figures.READS_CHAIN  # the global audit chain of reads of restricted requests
RESTRICTED_READ = "restricted_read"


def _restricted():
    """Complaints and confidential consultations: read only on a need to know, and every read audited."""
    return or_(HelpRequest.category == "c", HelpRequest.complained_staff.is_not(None),
               HelpRequest.confidential.is_(True))


def is_restricted(request: HelpRequest) -> bool:
    return request.category == "c" or bool(request.complained_staff) or bool(request.confidential)


def visible_requests(session: Session, user: User | None):
    """A SQL condition on ``requests``: the rows ``user`` may read (see :func:`_visible_requests`). Built once
    per web request for the same reader and session: a page, its notification badge and its need-to-know
    checks ask for it several times, and each build reads the reader's department."""
    from flask import g, has_request_context

    if user is None or not has_request_context():
        return _visible_requests(session, user)
    key = (session, user.username, user.is_active, frozenset(user.role_codes))
    built = g.setdefault("visible_requests", {})
    if key not in built:
        built[key] = _visible_requests(session, user)
    return built[key]


def _visible_requests(session: Session, user: User | None):
    """A SQL condition on ``requests``: the rows ``user`` may read.

    - a resident: their own requests;
    - nobody: a complaint naming them as 被投诉人;
    - 客服部主管, 公司经理, 公司领导 and auditors: every other request;
    - other staff: requests they handle (acted on, or a task of it named for/claimed by them; for an
      ordinary request also a task offered to them), their department's ordinary requests (a request not
      handed over belongs to 客服部), complaints of the department they head; the intake desk (物业助理) and
      the admin every ordinary request (a caller's history); a confidential consultation only its handlers.
    """
    if user is None or not user.is_active:
        return false()
    roles, me = user.role_codes, user.username
    clauses = []
    if "customer" in roles:
        clauses.append(HelpRequest.customer_username == me)
    staff = roles & (STAFF | ALL_REQUESTS | {"admin"})
    if staff:
        if roles & ALL_REQUESTS:
            seen = true()
        else:
            acted = exists(select(AuditEvent.id).where(AuditEvent.chain == HelpRequest.instance_id,
                                                       AuditEvent.actor == me))
            own_task = exists(select(TaskRow.id).where(TaskRow.instance_id == HelpRequest.instance_id,
                                                       or_(TaskRow.assignee == me, TaskRow.claimed_by == me)))
            offered = exists(select(TaskRow.id).where(TaskRow.instance_id == HelpRequest.instance_id,
                                                      engine_tasks.offered_clause(session, user)))
            owner = func.coalesce(HelpRequest.department, OWNER_DEPARTMENT)
            # The row's own columns are tested before the EXISTS subqueries: the database stops at the first
            # true term, so an ordinary request of the reader's desk or department costs no subquery.
            ordinary = []
            if roles & INTAKE_DESK or "admin" in roles:
                ordinary.append(true())
            mine = identity.departments.department_of(session, user)
            if mine:
                ordinary.append(owner == mine)
            ordinary.append(offered)
            headed = identity.departments.headed_by(user)
            seen = or_(and_(~_restricted(), or_(*ordinary)),
                       and_(HelpRequest.confidential.is_not(True), owner.in_(headed)) if headed else false(),
                       own_task, acted)
        clauses.append(and_(seen, or_(HelpRequest.complained_staff.is_(None), HelpRequest.complained_staff != me)))
    return or_(*clauses) if clauses else false()


def may_read_request(user: User | None, request: HelpRequest, session: Session | None = None) -> bool:
    """Whether ``user`` may read this one request: :func:`visible_requests` asked for its row."""
    if user is None or request is None:
        return False
    session = session or object_session(request)
    if session is None:  # a detached row: the simple rules only
        return ("customer" in user.role_codes and request.customer_username == user.username) or (
            bool(user.role_codes & ALL_REQUESTS) and request.complained_staff != user.username)
    query = select(HelpRequest.instance_id).where(HelpRequest.instance_id == request.instance_id,
                                                  visible_requests(session, user))
    return session.scalar(query) is not None


def readable_instances(session: Session, user: User, instance_ids) -> set[str]:
    """Of these instance ids, those a list may link for ``user``: instances that are no help request, and the
    requests :func:`visible_requests` lets them read (notifications, report drill-downs)."""
    ids = {i for i in instance_ids if i}
    if not ids:
        return set()
    requests = set(session.scalars(select(HelpRequest.instance_id).where(HelpRequest.instance_id.in_(ids))))
    readable = set(session.scalars(select(HelpRequest.instance_id).where(HelpRequest.instance_id.in_(ids),
                                                                         visible_requests(session, user))))
    return (ids - requests) | readable


def readable_clause(session: Session, user: User, instance_id):
    """SQL on any table keyed by an instance id (``instance_id``: its column): the rows a list may show
    ``user`` — instances that are no help request, and the requests :func:`visible_requests` lets them read.
    The watch list of hand-overs and the other task lists filter with it in the query itself."""
    a_request = select(HelpRequest.instance_id).where(HelpRequest.instance_id == instance_id)
    readable = a_request.where(visible_requests(session, user))
    return or_(~exists(a_request), exists(readable))


def listable_tasks(session: Session, user: User, *, offered: bool = False):
    """SQL on ``tasks``: the rows :func:`seen_tasks` lets a list show ``user``, so the inbox and 全部待办
    filter need-to-know in the query and a page of 50 reads about 50 rows: never a task of a complaint
    naming them (被投诉人); a task of a request they may not read only when it is offered to them
    (engine.tasks.offered_clause, which holds every task :func:`can_work_on` allows). ``offered``: the rows
    are already the reader's own inbox (every one offered to them), so only the complaint rule is left.
    :func:`seen_tasks` stays the last word on each row shown; this condition never hides one it allows."""
    about_me = exists(select(HelpRequest.instance_id).where(HelpRequest.instance_id == TaskRow.instance_id,
                                                            HelpRequest.complained_staff == user.username))
    if offered:
        return ~about_me
    return and_(~about_me, or_(engine_tasks.offered_clause(session, user),
                               readable_clause(session, user, TaskRow.instance_id)))


# A refresh (the inbox's ten-second poll) that shows a restricted request this user's reads already put on the
# record this recently is not recorded again: see :func:`note_restricted_reads`.
REREAD_AFTER = dt.timedelta(minutes=5)


def note_restricted_reads(user: User, requests, where: str, *, refresh: bool = False) -> None:
    """Record on the ``access`` audit chain that ``user`` read these restricted requests (a page, the API, a
    list): who, which, where. Its own short transaction; the event is appended again from the new head
    when a concurrent reader took the same chain position (``history.append_once``).

    ``refresh``: the same list fetched again by itself (the inbox's ten-second poll, ``/inbox/list``),
    not a person's act of opening something. Each poll that shows a restricted request is a read and is
    recorded — except a request this user's reads already put on the chain within :data:`REREAD_AFTER`
    (by any page, the poll included). Decided so because the record's question is "who had it before
    their eyes, and when": a read five minutes ago already answers it for the poll that follows, while
    an event per request every ten seconds would bury the access chain (360 an hour for an inbox left
    open) and with it the reads an auditor is looking for. A request that newly appears in the list is
    recorded at the first poll that shows it; one that stays on screen is recorded again once every
    five minutes, so the chain still shows how long it was seen. A page load (``refresh`` False) is
    always recorded. Two polls racing may both record a read: a duplicate, never a gap.
    """
    ids = sorted({r.instance_id for r in requests if r is not None and is_restricted(r)})
    if refresh and ids:
        ids = sorted(set(ids) - _read_lately(user, ids))
    if not ids:
        return
    from engine.audit import history
    from engine.core import db

    with db.transaction() as session:
        history.append_once(session, ACCESS_CHAIN, user.username, RESTRICTED_READ, element_id=where,
                            payload={"instances": ids, "where": where})


def _read_lately(user: User, ids: list[str]) -> set[str]:
    """Of ``ids``, those whose read by ``user`` is on the access chain within :data:`REREAD_AFTER` (read in a
    read snapshot: a poll that records nothing takes no write lock)."""
    import json

    from engine.core import clock, db

    since = clock.now() - REREAD_AFTER
    with db.read_session() as session:
        payloads = session.scalars(select(AuditEvent.payload).where(
            AuditEvent.kind == RESTRICTED_READ, AuditEvent.at >= since, AuditEvent.chain == ACCESS_CHAIN,
            AuditEvent.actor == user.username))
        seen = {iid for text in payloads for iid in json.loads(text).get("instances", [])}
    return seen & set(ids)


def can_work_on(user: User, task: TaskRow) -> bool:
    """The engine's rule (lane, department, named person, claim, and the domain's refusals: never the
    被投诉人 of the complaint the task belongs to)."""
    return engine_tasks.may_work_on(user, task)


def work_refusal(user: User, task: TaskRow) -> str:
    """Why ``user`` may not open or do ``task``, as the 403 page and the API say it in Chinese."""
    reason = engine_tasks.refusal(object_session(task), user, task)
    if reason:
        return engine_tasks.refused_message(reason)
    if task.claimed_by and task.claimed_by != user.username:
        return f"该任务已由 {task.claimed_by} 领取，如需接手请联系主管派单。"
    return "您没有处理此任务的权限。"


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
    """A task's page/detail: whoever may work on it, and whoever may see its request's full data; never the
    被投诉人 of the complaint it belongs to."""
    if request is not None and request.complained_staff and request.complained_staff == user.username:
        return False
    if can_work_on(user, task) or (task.assignee == user.username) or task.claimed_by == user.username:
        return True
    return allowed(user, "request_data") and (request is None or can_view_request(user, request))


def seen_tasks(session: Session, user: User, rows, requests: dict) -> set[str]:
    """The ids of the ``rows`` a list (inbox, overview) may show ``user``, for a page at once: never a task of
    a complaint naming the reader as 被投诉人, never one of a request the reader may not read unless it is
    offered to them to do. The need-to-know question for every request not offered to them is asked in one
    query (:func:`readable_instances`) instead of one per row. ``requests``: each row's request by instance
    id (a task with none is shown)."""
    out: set[str] = set()
    undecided = []
    for row in rows:
        req = requests.get(row.instance_id)
        if req is None:
            out.add(row.id)
        elif req.complained_staff and req.complained_staff == user.username:
            continue
        elif can_work_on(user, row):
            out.add(row.id)
        else:
            undecided.append(row)
    if undecided:
        readable = readable_instances(session, user, {row.instance_id for row in undecided})
        out.update(row.id for row in undecided if row.instance_id in readable)
    return out
