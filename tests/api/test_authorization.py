"""The authorization walk: every role against every route of the app, pages and API alike.

The routes come from ``app.url_map``, so a page added tomorrow is walked tomorrow. Each view declares who
may enter it with ``@policy.requires(area, ...)`` or ``@policy.public``; the expected answer comes from
``policy.AREAS`` and the response must agree exactly:

- anonymous on a guarded route: 401 (API) or a redirect to the sign-in page;
- signed in without a role of the route's areas: 403;
- signed in with one: anything but 401/403/a sign-in redirect, and never a 5xx;
- public routes: never 403 or 5xx.

Path parameters get well-formed ids that exist nowhere, so what is walked here is the area gate; the
per-record rules (a resident sees only their own requests) are walked below with real records.
Pages are requested with a Flask-Login session, API routes with a bearer token — never the other way round.
"""

from __future__ import annotations

import uuid

import flask
import pytest

from engine import identity, runtime
from engine.core import db
from engine.core.tables import User
from webapp import policy
from webapp.web import EPOCH_KEY

from .conftest import ONLINE, ready_task

SKIPPED_METHODS = {"HEAD", "OPTIONS"}
FLASK_BUILTIN_PUBLIC = {"static"}  # Flask's own static-file view: files, no data
GHOST_ID = str(uuid.UUID(int=0xDEAD))
ROLE_USERS = {role.code: next(u for u, _n, r in identity.DEMO_USERS if r == role.code) for role in identity.ROLES}


def _declared_areas(app, endpoint):
    if endpoint in FLASK_BUILTIN_PUBLIC:
        return ()
    return policy.view_areas(app.view_functions[endpoint])


def _routes(app):
    """(method, rule) for every route; fails naming every view that declares neither an area nor public."""
    undeclared = [r.endpoint for r in app.url_map.iter_rules() if _declared_areas(app, r.endpoint) is None]
    assert not undeclared, f"views without @policy.requires(...) or @policy.public: {sorted(set(undeclared))}"
    return [(m, r) for r in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
            for m in sorted(r.methods - SKIPPED_METHODS)]


def _url(rule, values: dict | None = None) -> str:
    args = {a: (values or {}).get(a, GHOST_ID if a.endswith("id") else "ghost.txt") for a in rule.arguments}
    return rule.build(args, append_unknown=False)[1]


# Routes whose area admits some readers for part of what they show: a 部门主管 ("department_reports") enters
# the month page and its workbook only for their own department (policy.report_scope). The walk asks for what
# the role may see; the refusals of the rest are walked in test_a_department_head_sees_only_their_month.
DEPARTMENT_SCOPED = {"reports.index", "reports.export_xlsx"}


def _scoped_query(endpoint: str, user) -> str:
    department = policy.report_department_for(user) if user is not None and endpoint in DEPARTMENT_SCOPED else None
    return f"?department={department}" if department else ""


def _is_api(rule) -> bool:
    return rule.rule.startswith(policy.API_PREFIX)


def _to_login(response) -> bool:
    return response.status_code in (301, 302, 303, 307, 308) and "/login" in response.headers.get("Location", "")


class Visitor:
    """One fresh test client per request (a POST /logout must not sign the next request out)."""

    def __init__(self, app, client_api, username: str | None):
        self.app, self.api, self.username = app, client_api, username
        self.session_id = None
        if username is not None:
            user = client_api.users[username]
            with app.test_request_context():
                flask.session[EPOCH_KEY] = self._epoch()
                loaded = app.login_manager._user_callback(str(user.id))  # the app's own user loader
            assert loaded is not None, username
            self.session_id = loaded.get_id()

    def _epoch(self) -> int:
        """The user's sign-in generation now: a POST /logout walked earlier moved it on, as it should."""
        with db.read_session() as session:
            return session.get(User, self.api.users[self.username].id).auth_epoch

    def request(self, method: str, rule, url: str, *, follow: bool = False):
        web = self.app.test_client()
        headers = {}
        if _is_api(rule):
            if self.username is not None:
                headers["Authorization"] = f"Bearer {self.api.token(self.username)}"
            return web.open(url, method=method, json={} if method != "GET" else None, headers=headers,
                            follow_redirects=follow)
        if self.session_id is not None:
            with web.session_transaction() as sess:
                sess["_user_id"], sess["_fresh"] = self.session_id, True
                sess[EPOCH_KEY] = self._epoch()
        return web.open(url, method=method, data={} if method != "GET" else None, follow_redirects=follow)


def _verdict(response, rule, areas, user) -> str | None:
    """None when the response matches the policy, else what is wrong."""
    status = response.status_code
    may = areas == () or (user is not None and any(policy.allowed(user, a) for a in areas))
    if status >= 500:
        return f"server error {status}"
    if areas == ():  # public: a failed sign-in may well be 401, a sign-out redirects to the sign-in page
        return "403 on a public route" if status == 403 else None
    if may:
        if status in (401, 403) or _to_login(response):
            return f"refused ({status}) though policy allows"
        return None
    if user is None:
        ok = status == 401 if _is_api(rule) else (_to_login(response) or status == 401)
        return None if ok else f"anonymous got {status}, expected 401 / sign-in redirect"
    return None if status == 403 else f"got {status}, expected 403"


@pytest.fixture
def walk_app(app):
    app.config.update(WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False)
    return app


@pytest.mark.parametrize("role", [None, *ROLE_USERS])
def test_every_role_gets_exactly_the_routes_policy_allows(walk_app, client, role):
    username = ROLE_USERS.get(role)
    user = client.users[username] if username else None
    visitor = Visitor(walk_app, client, username)
    problems = []
    for method, rule in _routes(walk_app):
        areas = _declared_areas(walk_app, rule.endpoint)
        response = visitor.request(method, rule, _url(rule) + _scoped_query(rule.endpoint, user))
        wrong = _verdict(response, rule, areas, user)
        if wrong:
            problems.append(f"{method} {rule.rule} [{','.join(areas) or 'public'}]: {wrong}")
    assert not problems, f"role {role or 'anonymous'}:\n" + "\n".join(problems)


HEADS = [code for code in policy.AREAS["department_reports"]]


@pytest.mark.parametrize("role", sorted(HEADS))
def test_a_department_head_sees_only_their_month(walk_app, client, role):
    """Every route a 部门主管 enters by "department_reports" must be scoped (DEPARTMENT_SCOPED), and on each:
    their own department 200, the company's and every other department's 403 with the reason in Chinese."""
    rules = [(m, r) for m, r in _routes(walk_app) if "department_reports" in _declared_areas(walk_app, r.endpoint)]
    assert rules and {r.endpoint for _m, r in rules} <= DEPARTMENT_SCOPED
    username = ROLE_USERS[role]
    user = client.users[username]
    own = policy.report_department_for(user)
    assert own in identity.departments.headed_by(user)
    visitor = Visitor(walk_app, client, username)
    problems = []
    for method, rule in rules:
        for department in (None, *identity.departments.DEPARTMENT_BY_CODE):
            url = _url(rule) + (f"?department={department}" if department else "")
            response = visitor.request(method, rule, url)
            want = 200 if department == own else 403
            if response.status_code != want or (want == 403 and "月度报表" not in response.get_data(as_text=True)):
                problems.append(f"{method} {url}: {response.status_code}, expected {want}")
    assert not problems, f"role {role}:\n" + "\n".join(problems)


def test_the_walk_refuses_a_view_that_declares_nothing(walk_app):
    walk_app.add_url_rule("/forgot-to-guard", "forgot", lambda: "open")
    with pytest.raises(AssertionError, match="forgot"):
        _routes(walk_app)


def test_the_walk_covers_pages_and_api(walk_app):
    rules = {r.rule for _m, r in _routes(walk_app)}
    assert "/api/v1/tasks/<task_id>/complete" in rules and "/api/v1/auth/token" in rules


# --- per-record rules ----------------------------------------------------------------------------------------


def _record_routes(app, param: str):
    return [(m, r) for m, r in _routes(app) if param in r.arguments]


def test_resident_cannot_reach_another_residents_request_by_page_or_api(walk_app, client):
    theirs = client.post("/requests", "customer2", ONLINE)[1]["instance_id"]
    mine = client.post("/requests", "customer", ONLINE)[1]["instance_id"]
    resident = Visitor(walk_app, client, "customer")
    routes = _record_routes(walk_app, "instance_id")
    assert any(_is_api(r) for _m, r in routes) and any(not _is_api(r) for _m, r in routes)
    leaks, own_refused = [], []
    for method, rule in routes:
        response = resident.request(method, rule, _url(rule, {"instance_id": theirs}))
        if response.status_code not in (403, 404):
            leaks.append(f"{method} {rule.rule}: {response.status_code}")
        areas = _declared_areas(walk_app, rule.endpoint)
        if method == "GET" and any(policy.allowed(client.users["customer"], a) for a in areas):
            # (the staff request page may send a resident on to their portal page)
            own = resident.request(method, rule, _url(rule, {"instance_id": mine}), follow=True)
            if own.status_code != 200:
                own_refused.append(f"{method} {rule.rule}: {own.status_code}")
    assert not leaks, "customer reached customer2's request:\n" + "\n".join(leaks)
    assert not own_refused, "customer refused their own request:\n" + "\n".join(own_refused)
    body = resident.request("GET", next(r for _m, r in routes if r.endpoint == "api.get_instance"),
                            f"/api/v1/instances/{theirs}").get_data(as_text=True)
    assert "customer2" not in body and theirs not in body


def test_resident_cannot_open_or_act_on_a_staff_task_by_page_or_api(walk_app, client, hotline):
    task_id = ready_task(client, hotline)["id"]
    resident = Visitor(walk_app, client, "customer")
    leaks = []
    for method, rule in _record_routes(walk_app, "task_id"):
        response = resident.request(method, rule, _url(rule, {"task_id": task_id}))
        if response.status_code not in (403, 404, 409):
            leaks.append(f"{method} {rule.rule}: {response.status_code}")
    assert not leaks, "customer reached a 物业助理 task:\n" + "\n".join(leaks)
    with db.read_session() as session:
        assert runtime.get_instance(session, hotline).revision == 1  # and nothing changed
    assert ready_task(client, hotline)["claimed_by"] is None


def test_staff_cannot_reach_a_request_outside_their_need_to_know_by_page_or_api(walk_app, client):
    """The walk with a real record for staff: an engineer against another department's request and against a
    complaint about a colleague, every route taking a request id, every method; nothing answers but 403/404
    and nothing changes."""
    from sqlalchemy import update

    from engine.helpdesk.tables import HelpRequest

    handed = client.post("/requests", "assistant", {**ONLINE, "channel": "hotline"})[1]["instance_id"]
    complaint = client.post("/requests", "assistant", {**ONLINE, "channel": "hotline"})[1]["instance_id"]
    with db.transaction() as session:
        session.execute(update(HelpRequest).where(HelpRequest.instance_id == handed).values(department="cleaning"))
        session.execute(update(HelpRequest).where(HelpRequest.instance_id == complaint)
                        .values(category="c", complained_staff="engineer_b", department="engineering"))
    engineer = Visitor(walk_app, client, "engineer")
    leaks = []
    for iid in (handed, complaint):
        for method, rule in _record_routes(walk_app, "instance_id"):
            response = engineer.request(method, rule, _url(rule, {"instance_id": iid}))
            if response.status_code not in (403, 404):
                leaks.append(f"{method} {rule.rule}: {response.status_code}")
    assert not leaks, "engineer reached a request outside his need to know:\n" + "\n".join(leaks)
    with db.read_session() as session:
        assert runtime.get_instance(session, handed).revision == 1
        assert runtime.get_instance(session, complaint).revision == 1
