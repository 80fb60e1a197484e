"""API test fixtures: the app with the API registered, the demo users, tokens and a JSON helper.

Processes: ``mini_request`` (+ ``mini_repair``) from tests/fixtures, and ``api_pick`` (a form whose
options come from task data) from tests/api/fixtures. ``HELP_REQUEST_PROCESS`` is ``mini_request``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine import identity, repository
from engine.core import db
from engine.repository import bundle
from tests.conftest import deploy_procedure
from webapp import api
from webapp.app import create_app

HERE = Path(__file__).resolve().parent
PASSWORD = "demo-pass-123"
# Extra people beyond the demo set: a second resident and a second person in each busy lane.
EXTRA_USERS = (("customer2", "黄业主", "customer"), ("assistant2", "马助理", "assistant"),
               ("engineer2", "冯工程师", "engineering"))


def make_app(**config):
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "HELP_REQUEST_PROCESS": "mini_request",
                      "WTF_CSRF_ENABLED": False, **config})
    api.init_app(app)  # no-op once the app factory registers it
    return app


@pytest.fixture
def app(deployed):
    with db.transaction() as session:
        repository.deploy(session, bundle.read_paths([HERE / "fixtures"], default_forms=False), actor="tester")
    return make_app()


@pytest.fixture(scope="session")
def password_hash() -> str:
    return identity.hash_password(PASSWORD)


@pytest.fixture
def users(db_url, password_hash, monkeypatch) -> dict:
    """username -> User for every demo user and the extras; all share ``PASSWORD``."""
    monkeypatch.setattr(identity.users, "hash_password", lambda _pw: password_hash)  # argon2 once, not 18x per test
    with db.transaction() as session:
        identity.ensure_demo_users(session, PASSWORD)
        for username, name, role in EXTRA_USERS:
            identity.add_user(session, username, PASSWORD, [role], display_name=name)
        found = {u.username: u for u in identity.list_users(session)}
        for u in found.values():
            u.role_codes  # noqa: B018 - load roles while the session is open
    return found


class Api:
    """``client.get("/tasks", as_="assistant")``: JSON in, (status, JSON) out, with the user's token."""

    def __init__(self, app, users):
        self.app, self.users = app, users
        self.client = app.test_client()
        self._tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self._tokens:
            with self.app.app_context():
                self._tokens[username] = api.auth.issue_token(self.users[username])
        return self._tokens[username]

    def call(self, method: str, path: str, as_: str | None = None, json=None, client=None, **kw):
        headers = kw.pop("headers", {})
        if as_ is not None:
            headers["Authorization"] = f"Bearer {self.token(as_)}"
        response = (client or self.client).open("/api/v1" + path, method=method, json=json, headers=headers, **kw)
        return response.status_code, response.get_json(silent=True)

    def get(self, path, as_=None, **kw):
        return self.call("GET", path, as_, **kw)

    def post(self, path, as_=None, json=None, **kw):
        return self.call("POST", path, as_, json=json, **kw)


@pytest.fixture
def client(app, users) -> Api:
    return Api(app, users)


HOTLINE = {"channel": "hotline", "caller_name": "张先生", "phone": "13800138000", "address": "3栋2单元501",
           "description": "厨房水管漏水", "category": "b"}
ONLINE = {**HOTLINE, "channel": "online", "caller_name": "林业主"}


@pytest.fixture
def hotline(client) -> str:
    """A hotline request recorded by the assistant: its first task ``record`` waits in 物业助理's lane."""
    status, body = client.post("/requests", "assistant", HOTLINE)
    assert status == 201, body
    return body["instance_id"]


def ready_task(client: Api, instance_id: str, as_: str = "assistant") -> dict:
    status, body = client.get("/tasks", as_)
    assert status == 200, body
    mine = [t for t in body["tasks"] if t["instance_id"] == instance_id]
    assert len(mine) == 1, body
    return mine[0]


FRIDAY_MORNING = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


@pytest.fixture
def procedure(db_url):
    """The real procedure of bpmn/ deployed, the clock frozen on a Friday morning."""
    deploy_procedure(at=FRIDAY_MORNING)
    return make_app(HELP_REQUEST_PROCESS="help_request")


def mine(api: Api, username: str, iid: str) -> dict[str, dict]:
    """My ready tasks of one request, by element id, as GET /tasks lists them."""
    status, body = api.get("/tasks", username)
    assert status == 200, body
    return {t["element_id"]: t for t in body["tasks"] if t["instance_id"] == iid}
