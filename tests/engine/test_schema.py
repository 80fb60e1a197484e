"""The schema: Alembic's migrations build exactly what the models describe, and a migration that adds a
projected column fills it for requests that existed before, from the audit log."""

from __future__ import annotations

import zlib

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from engine.core import db, migrate  # noqa: F401 - models_web registers the web tables
from engine.core.tables import Base
from engine.helpdesk import text_search
from engine.helpdesk.tables import HelpRequest
from tests.engine.helpers import complete, start


def _modelled(_obj, name, type_, _reflected, _compare_to) -> bool:
    """All but the search index of migration 0063, which is each database's own DDL and no model's: SQLite's
    FTS5 table (with its shadow tables) and PostgreSQL's trigram indexes (engine.helpdesk.text_search)."""
    if type_ == "table" and name.startswith(text_search.FTS_TABLE):
        return False
    return not (type_ == "index" and name in text_search.TRGM_INDEXES)


def test_the_migrations_build_exactly_the_schema_the_models_describe(db_url):
    with db.get_engine(db_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _modelled})
        assert compare_metadata(context, Base.metadata) == []


def _ratings(iid: str) -> tuple:
    with db.read_session() as session:
        req = session.get(HelpRequest, iid)
        return req.satisfaction, req.rating_speed, req.rating_quality, req.rating_attitude


def test_sub_ratings_are_projected_and_migration_0004_rebuilds_them_from_the_log(deployed, db_url):
    rated, unrated = start(), start()
    for iid, confirm in ((rated, {"satisfaction": 4, "speed": 5, "quality": 3, "attitude": 4}),
                         (unrated, {"satisfaction": 2})):
        complete(iid, "record", {"category": "b", "summary": "厨房漏水"})
        complete(iid, "fix", {"fix_note": "更换阀门", "fixed": True}, "engineer", "engineering")
        complete(iid, "confirm", confirm)
    assert _ratings(rated) == (4, 5, 3, 4)
    assert _ratings(unrated) == (2, None, None, None)

    db.dispose_all()
    cfg = migrate.alembic_config(db_url)
    try:
        command.downgrade(cfg, "0003")  # the columns are gone ...
        with db.get_engine(db_url).connect() as conn:
            assert "rating_speed" not in {c["name"] for c in inspect(conn).get_columns("requests")}
    finally:
        command.upgrade(cfg, "head")  # ... and come back filled from the recorded form data
    assert migrate.current(db_url) == ScriptDirectory.from_config(cfg).get_current_head()
    assert _ratings(rated) == (4, 5, 3, 4)
    assert _ratings(unrated) == (2, None, None, None)


def _paid_and_source(iid: str) -> tuple:
    with db.read_session() as session:
        req = session.get(HelpRequest, iid)
        return req.paid_cents, req.rating_source


def test_paid_charge_and_rating_source_are_projected_and_migration_0016_rebuilds_them_from_the_log(deployed, db_url):
    resident, callback = start(), start()
    for iid, confirm, fix in ((resident, {"satisfaction": 4}, {"amount_charged": 80.5}),
                              (callback, {"satisfaction": 2, "callback_note": "电话回访：已修好"}, {})):
        complete(iid, "record", {"category": "b", "summary": "厨房漏水"})
        complete(iid, "fix", {"fix_note": "更换阀门", "fixed": True, **fix}, "engineer", "engineering")
        complete(iid, "confirm", confirm)
    assert _paid_and_source(resident) == (8050, "resident")
    assert _paid_and_source(callback) == (None, "callback")

    db.dispose_all()
    cfg = migrate.alembic_config(db_url)
    try:
        command.downgrade(cfg, "0009")  # the columns are gone ...
        with db.get_engine(db_url).connect() as conn:
            assert "paid_cents" not in {c["name"] for c in inspect(conn).get_columns("requests")}
    finally:
        command.upgrade(cfg, "head")  # ... and come back filled from the recorded form data
    assert _paid_and_source(resident) == (8050, "resident")
    assert _paid_and_source(callback) == (None, "callback")


def _stored_state(db_url: str, iid: str) -> tuple:
    with db.get_engine(db_url).connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("instances")}
        packed = ", state_packed" if "state_packed" in columns else ""
        return tuple(conn.execute(text(f"SELECT state{packed} FROM instances WHERE id = :id"), {"id": iid}).one())


def test_migration_0065_packs_the_state_of_instances_finished_before_and_its_downgrade_unpacks_it(deployed, db_url):
    from engine import runtime
    from engine.runtime import replay

    finished, running = start(), start()
    complete(finished, "record", {"category": "b", "summary": "厨房漏水"})
    complete(finished, "fix", {"fix_note": "更换阀门", "fixed": True}, "engineer", "engineering")
    complete(finished, "confirm", {"satisfaction": 4})
    state, packed = _stored_state(db_url, finished)
    assert state == "" and packed is not None  # packed by the write that finished it
    text_before = zlib.decompress(packed).decode()
    running_before = _stored_state(db_url, running)

    db.dispose_all()
    cfg = migrate.alembic_config(db_url)
    try:
        command.downgrade(cfg, "0064")  # before 0065: the text is back in ``state``, the column gone
        assert _stored_state(db_url, finished) == (text_before,)
        assert _stored_state(db_url, running) == (running_before[0],)
    finally:
        command.upgrade(cfg, "head")  # ... and the upgrade packs the instances that finished before it
    assert _stored_state(db_url, finished) == ("", zlib.compress(text_before.encode(), 6))
    assert _stored_state(db_url, running) == running_before
    with db.read_session() as session:
        assert runtime.load(session, finished).workflow.is_completed()
        result = replay.replay(session, finished)
        assert result.ok, result.error
