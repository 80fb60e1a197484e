"""Every page of the web app, walked by every role: nobody gets in beyond ``webapp.policy``.

Routes are read from ``app.url_map`` (API and static excluded), so a new page is walked automatically;
a view that declares neither ``@requires`` nor ``@public`` fails here.
"""

from __future__ import annotations

from sqlalchemy import delete

from engine import identity
from engine.core import db
from tests.web.conftest import PASSWORD, record_call, task_ids
from webapp import policy
from webapp.tables import LoginFailure

USERS = [u for u, _name, _role in identity.DEMO_USERS]


def _pages(app, ids):
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/api/"):
            continue
        view = app.view_functions[rule.endpoint]
        areas = policy.view_areas(view)
        assert areas is not None, f"{rule.rule} declares neither @requires nor @public"
        path = rule.rule.replace("<instance_id>", ids["instance"]).replace("<task_id>", ids["task"])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, path, areas))
    return out


DEPARTMENT_SCOPED = {"/reports", "/reports/export.xlsx"}


def test_every_role_against_every_page(app, client_for):
    # Every demo user posts every form empty from one address: the wrong-current-password posts would add up
    # past the per-address sign-in lock (20) and lock out the last users; this test is about access only.
    from webapp.login_throttle import LoginThrottle
    app.extensions["liyuan_login_limiter"] = LoginThrottle(max_address_failures=1000)
    iid = record_call(client_for("assistant"))
    tid = task_ids(client_for("engineer").get("/inbox").get_data(as_text=True))[0]
    pages = _pages(app, {"instance": iid, "task": tid})
    anonymous = app.test_client()
    for method, path, areas in pages:
        res = anonymous.open(path, method=method)
        if areas:
            assert res.status_code == 302 and "/login" in res.location, (method, path)
    with db.read_session() as session:
        people = {u.username: u for u in identity.list_users(session)}
    for username in USERS:
        # The walk POSTs empty forms (e.g. a password change without the current password): each counts as a
        # failed sign-in from the test's one address, and 20 of them throttle the address. This test is about
        # rights, not throttling (tests/web/test_sessions.py), so each user starts with a clean record.
        with db.transaction() as session:
            session.execute(delete(LoginFailure))
        client = client_for(username, PASSWORD)
        user = people[username]
        for method, path, areas in pages:
            if not areas or path == "/logout":
                continue
            # A 部门主管 enters the month page and its workbook for their own department only (the refusals
            # of the rest: tests/web/test_month_department.py): the walk asks for what the role may see.
            scoped = policy.report_department_for(user) if path in DEPARTMENT_SCOPED else None
            res = client.open(path + (f"?department={scoped}" if scoped else ""), method=method, data={})
            may = any(policy.allowed(user, a) for a in areas)
            if may:
                assert res.status_code != 403 or "tasks/" in path, (username, method, path, res.status_code)
            else:
                assert res.status_code == 403, (username, method, path, res.status_code)
