"""Shared fixtures: every database test runs once on SQLite and once on PostgreSQL.

``db_url`` is parametrized over both backends. SQLite gets a fresh file per test (copied from a database
migrated once per session); PostgreSQL gets one database per session, migrated once and truncated between
tests. When PostgreSQL is unreachable its half is skipped with the reason — except under ``CI=true``,
where that is an error.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

import engine.helpdesk
from engine import repository
from engine.core import clock, config, db, migrate
from engine.repository import bundle
from tests import postgres_status

# The test run is an entry point like the web app and the CLI: the help desk plugs into the runtime once.
engine.helpdesk.install()

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
UNDER_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def audit_key_file(tmp_path_factory) -> Path:
    """One checkpoint signing key for the run, outside every test database, as in production."""
    from engine.audit import signing

    path = tmp_path_factory.mktemp("audit-key") / "audit-signing.key"
    signing.keygen(path)
    return path


@pytest.fixture(autouse=True)
def audit_signing(audit_key_file, tmp_path, monkeypatch) -> Path:
    """Every test signs checkpoints with the run's key into its own published file (never the repo's var/)."""
    monkeypatch.setenv("LIYUAN_AUDIT_KEY_FILE", str(audit_key_file))
    monkeypatch.delenv("LIYUAN_AUDIT_KEY", raising=False)
    monkeypatch.delenv("LIYUAN_AUDIT_PUBLIC_KEY", raising=False)
    path = tmp_path / "audit-checkpoints.jsonl"
    monkeypatch.setenv("LIYUAN_AUDIT_CHECKPOINT_FILE", str(path))
    return path


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing():
    """Argon2 at its smallest cost for the test run (as Django's test settings swap in a fast hasher):
    the production parameters (argon2-cffi's defaults, RFC 9106's low-memory choice) cost about 50-100 ms
    per hash or check, and the web and API tests create some twenty users and sign several in per test.
    Still argon2id, so the code paths and the stored format are the ones production runs; the dummy hash
    of unknown users is made with the same parameters (tests/web/test_sessions.py checks that)."""
    from argon2 import PasswordHasher

    from engine.identity import users

    production = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    users._dummy.clear()
    yield
    users._hasher = production
    users._dummy.clear()


@pytest.fixture(autouse=True)
def secret_key(monkeypatch) -> str:
    """The installation secret (signed SMS links, sessions) from the environment, never the repo's var/."""
    monkeypatch.setenv("LIYUAN_SECRET_KEY", "test-installation-secret")
    return "test-installation-secret"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    db.dispose_all()
    return path


@pytest.fixture(scope="session")
def postgres_database():
    reason = postgres_status.reachable()
    if reason is not None:
        if UNDER_CI:
            pytest.fail(f"PostgreSQL unreachable under CI: {reason}")
        pytest.skip(f"PostgreSQL unreachable: {reason}")
    name = f"liyuan_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(postgres_status.URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_status.URL.rsplit("/", 1)[0]
    url = f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    migrate.upgrade(url)
    yield url
    db.dispose_all()
    with psycopg.connect(postgres_status.URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_postgres(url: str) -> None:
    """Empty every table and restart every sequence between tests.

    ``DELETE`` with foreign-key and append-only triggers off (``session_replication_role = replica``, which
    needs a superuser, as the test server's ``postgres`` is) takes about 10 ms on these nearly empty tables;
    ``TRUNCATE`` of some thirty tables took 350-700 ms, most of a PostgreSQL test's set-up. Without the
    right, TRUNCATE it is.
    """
    engine = db.get_engine(url)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "select tablename from pg_tables where schemaname = 'public' and tablename <> 'alembic_version'"))]
        superuser = conn.scalar(text("select rolsuper from pg_roles where rolname = current_user"))
        if not superuser:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            return
        sequences = [r[0] for r in conn.execute(text(
            "select sequencename from pg_sequences where schemaname = 'public'"))]
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in tables:
            conn.execute(text(f'DELETE FROM "{table}"'))
        for sequence in sequences:
            conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, monkeypatch, sqlite_template):
    """A migrated, empty database; ``LIYUAN_DATABASE_URL`` points at it for the test's duration."""
    if request.param == "sqlite":
        path = tmp_path / "liyuan.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        _truncate_postgres(url)
    monkeypatch.setenv("LIYUAN_DATABASE_URL", url)
    clock.reset()
    yield url
    clock.reset()
    if request.param == "sqlite":
        engine = db._engines.pop(url, None)
        if engine is not None:
            engine.dispose()


@pytest.fixture
def fixture_bundle():
    """The small test processes in tests/fixtures/bpmn with their forms."""
    return bundle.read_paths([FIXTURES / "bpmn", FIXTURES / "forms"], default_forms=False)


def deploy_procedure(at=None) -> list:
    """The real procedure (bpmn/ with forms/) deployed as ``liyuan deploy`` would, in the test's database; the
    clock frozen at ``at`` first when given (the tests' Friday office morning, mostly)."""
    if at is not None:
        clock.freeze(at)
    with db.transaction() as session:
        return repository.deploy(session, bundle.read_paths([config.bpmn_dir()]), actor="process_owner")


@pytest.fixture
def deployed(db_url, fixture_bundle):
    with db.transaction() as session:
        return repository.deploy(session, fixture_bundle, actor="tester")
