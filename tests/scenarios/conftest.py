"""Scenario fixture: the REAL procedure (bpmn/ + forms/) deployed, the demo staff signed up, fees seeded.

Every scenario runs on SQLite and on PostgreSQL (``db_url``) with the clock frozen at a known working-day
morning, so deadlines are moved by ``clock.advance`` and fired by the timer poller, never by sleeping.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select, text

from engine import forms, identity, repository
from engine.core import clock, config, db
from engine.helpdesk import intake
from engine.repository import bundle

# Friday 2026-11-27 09:00 Asia/Shanghai: a normal office morning.
MORNING = dt.datetime(2026, 11, 27, 9, 0, tzinfo=clock.SHANGHAI)
PASSWORD = "demo-pass-123"

_schema_checks: dict[str, list[str]] = {}
_password_hashes: dict[str, str] = {}
_snapshots: dict[str, object] = {}  # backend -> the state right after the first real deployment


@pytest.fixture
def procedure(db_url, monkeypatch, tmp_path_factory):
    """Deploy bpmn/ with forms/ exactly as ``liyuan deploy`` would; yields the database URL.

    The first scenario on each backend really deploys (validation, versions, blobs, the repository's
    audit chain), creates the demo users and seeds the fee schedule; later scenarios start from a copy
    of that database state (SQLite: the file, via the backup API; PostgreSQL: the rows), since
    deploying the same bytes again is the same state. Within that first deployment two pure costs are
    memoised for the session: a form schema's meta-validation and the argon2 hash of the demo password.
    """
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    clock.freeze(MORNING)
    if backend in _snapshots:
        _restore(db_url, _snapshots[backend])
        yield db_url
        return

    real_check, real_hash = forms.check_schema, identity.hash_password

    def check_schema(schema, ui_schema=None):
        key = repr((schema, ui_schema))
        if key not in _schema_checks:
            _schema_checks[key] = real_check(schema, ui_schema)
        return list(_schema_checks[key])

    def hash_password(password):
        if password not in _password_hashes:
            _password_hashes[password] = real_hash(password)
        return _password_hashes[password]

    monkeypatch.setattr(forms, "check_schema", check_schema)
    monkeypatch.setattr(identity.users, "hash_password", hash_password)
    with db.transaction() as session:
        results = repository.deploy(session, bundle.read_paths([config.bpmn_dir()]), actor="process_owner")
        identity.ensure_demo_users(session, PASSWORD)
        intake.ensure_default_fees(session)
    assert {r.process_id for r in results} >= {"help_request", "emergency_patient", "consultation", "paid_service"}
    _snapshots[backend] = _capture(db_url, tmp_path_factory.mktemp("deployed") / "deployed.db")
    yield db_url


def _sqlite_file(url: str) -> Path:
    return Path(url.split("///", 1)[1])


def _capture(url: str, spare: Path):
    if url.startswith("sqlite"):
        with sqlite3.connect(_sqlite_file(url)) as src, sqlite3.connect(spare) as dst:
            src.backup(dst)
        return spare
    engine = db.get_engine(url)
    metadata = MetaData()
    metadata.reflect(bind=engine)
    with engine.connect() as conn:
        # In key order: the audit tables' triggers accept each chain's events only in sequence, and a
        # table's physical order is not its insertion order once rows were deleted between tests.
        return [(t, [dict(r._mapping) for r in conn.execute(select(t).order_by(*t.primary_key.columns))])
                for t in metadata.sorted_tables if t.name != "alembic_version"]


def _restore(url: str, snapshot) -> None:
    if isinstance(snapshot, Path):
        shutil.copy(snapshot, _sqlite_file(url))
        return
    with db.get_engine(url).begin() as conn:
        for table, rows in snapshot:
            if rows:
                conn.execute(table.insert(), rows)
        for table, rows in snapshot:
            pk = list(table.primary_key.columns)
            if rows and len(pk) == 1:
                column = pk[0].name
                seq = conn.scalar(text("select pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column})
                if seq:  # rows came with their ids: move the sequence past them
                    conn.execute(text("select setval(:s, :v)"), {"s": seq, "v": max(r[column] for r in rows)})
