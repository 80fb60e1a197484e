"""Web test fixtures: the Flask app over a migrated database (SQLite and PostgreSQL, via ``db_url``) with
the web fixture process deployed and one user per role.

``tests/web/fixtures`` holds ``web_help_request``, shaped like the real help request (record → repair by
工程部 with a 30-minute response clock → the resident confirms and rates). It lives here rather than in
tests/fixtures so the engine tests' ``deployed`` fixture keeps deploying exactly what they expect.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from engine import identity, repository
from engine.core import db
from engine.helpdesk import intake
from engine.repository import bundle

WEB_FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROCESS = "web_help_request"
PASSWORD = "liyuan-test-pw"
RESIDENT_PHONE = "13800000001"
OTHER_PHONE = "13900000002"


def web_bundle():
    return bundle.read_paths([WEB_FIXTURES / "bpmn", WEB_FIXTURES / "forms"], default_forms=False)


def seed(url: str | None = None) -> None:
    """Deploy the web fixture process, the fee schedule and the demo users (+ a second engineer and two
    residents with phone numbers)."""
    with db.transaction(url) as session:
        repository.deploy(session, web_bundle(), actor="tester")
        intake.ensure_default_fees(session)
        identity.ensure_demo_users(session, PASSWORD)
        identity.add_user(session, "engineer2", PASSWORD, ["engineering"], display_name="冯工程师")
        identity.add_user(session, RESIDENT_PHONE, PASSWORD, ["customer"], display_name="陈先生", phone=RESIDENT_PHONE)
        identity.add_user(session, OTHER_PHONE, PASSWORD, ["customer"], display_name="黄女士", phone=OTHER_PHONE)


def make_app(**overrides):
    from webapp.app import create_app

    config = {"TESTING": True, "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": False,
              "HELP_REQUEST_PROCESS": PROCESS}
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="session")
def password_hash() -> str:
    return identity.hash_password(PASSWORD)


@pytest.fixture
def seeded(db_url, password_hash, monkeypatch):
    """Argon2 runs once per session, not once per seeded user per test."""
    with monkeypatch.context() as m:
        m.setattr(identity.users, "hash_password", lambda _pw: password_hash)
        seed(db_url)
    return db_url


@pytest.fixture
def app(seeded):
    return make_app()


@pytest.fixture
def client_for(app):
    """``client_for("engineer")`` → a test client signed in as that user."""

    def make(username: str, password: str = PASSWORD):
        client = app.test_client()
        res = client.post("/login", data={"username": username, "password": password})
        assert res.status_code == 302, res.get_data(as_text=True)
        return client

    return make


@pytest.fixture
def studio_for(seeded, tmp_path):
    """``studio_for("process_owner")`` → a signed-in client of an app whose studio finds no scenario files
    (publishing then runs none)."""
    (tmp_path / "no-scenarios").mkdir()
    app = make_app(SCENARIO_DIR=str(tmp_path / "no-scenarios"))

    def sign_in(username: str):
        client = app.test_client()
        assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
        return client

    return sign_in


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


TASK_ID = re.compile(r'data-task-id="([0-9a-f-]{36})"')


def record_call(client, **overrides) -> str:
    """The 物业助理 records a hotline call; returns the instance id."""
    data = {"caller_name": "陈先生", "phone": RESIDENT_PHONE, "address": "3栋2单元1201",
            "description": "厨房水管漏水", "category": "b", **overrides}
    from sqlalchemy import select

    from engine.helpdesk.tables import HelpRequest

    def known() -> set[str]:
        with db.read_session() as session:
            return set(session.scalars(select(HelpRequest.instance_id)))

    # The request this call created, told apart from the others by set difference: under a frozen clock
    # several requests share one created_at, and "the newest" would be whichever the index returns first.
    before = known()
    res = client.post("/intake/hotline", data=data)
    assert res.status_code == 302, res.get_data(as_text=True)
    [created] = known() - before
    return created


@contextlib.contextmanager
def selects_sent(db_url: str) -> Iterator[list[str]]:
    """The SELECT statements sent on ``db_url`` while the block runs (filled as they are sent)."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = db.get_engine(db_url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def task_ids(html: str) -> list[str]:
    return TASK_ID.findall(html)


def insert_open_requests(template_id: str, count: int, *, request=None, task=None) -> list[str]:
    """``count`` open hotline requests written straight into the tables (thousands in a second), each a
    copy of the instance ``template_id`` with one task of its own in the 物业助理 lane, the n-th received n
    minutes ago; ``request(n)`` / ``task(n)`` override columns of the n-th. Returns the task ids in order."""
    import datetime as dt
    import uuid

    from sqlalchemy import insert

    from engine.core import clock
    from engine.core.tables import Instance, TaskRow
    from engine.helpdesk.tables import HelpRequest

    ids = []
    with db.transaction() as session:
        tpl = session.get(Instance, template_id)
        now = clock.now()
        instances, requests, tasks = [], [], []
        for n in range(count):
            iid, tid, at = str(uuid.uuid4()), str(uuid.uuid4()), now - dt.timedelta(minutes=n)
            instances.append({"id": iid, "process_id": tpl.process_id, "version_id": tpl.version_id,
                              "status": "running", "revision": 1, "state": tpl.state,
                              "state_fingerprint": tpl.state_fingerprint, "started_by": "assistant",
                              "started_at": at, "updated_at": at, "completed_at": None})
            requests.append({"instance_id": iid, "channel": "hotline", "caller_name": f"住户{n}",
                             "phone": f"139{n:08d}", "address": f"{n % 30 + 1}栋", "building": None,
                             "description": "水管漏水", "category": "b", "priority": "P3", "status": "open",
                             "created_at": at, "updated_at": at, "closed_at": None, "confidential": False,
                             "complained_staff": None, **(request(n) if request else {})})
            tasks.append({"id": tid, "instance_id": iid, "process_id": tpl.process_id, "element_id": "record",
                          "name": "登记", "lane": "物业助理", "department": None, "ready_at": at,
                          "due_at": None, "queue_at": at, **(task(n) if task else {})})
            ids.append(tid)
        conn = session.connection()
        for table, rows in ((Instance, instances), (HelpRequest, requests), (TaskRow, tasks)):
            conn.execute(insert(table.__table__), rows)
    return ids
