"""The schema: Alembic's migrations build exactly what the models describe, and a migration that adds a
projected column fills it for requests that existed before, from the audit log."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

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
