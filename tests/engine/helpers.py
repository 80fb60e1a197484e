"""Small drivers shared by the engine tests."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import text

from engine import identity, runtime, tasks
from engine.core import db
from engine.core.tables import Instance

CALL = {"channel": "hotline", "caller_name": "张三", "phone": "13800000000", "address": "3栋1201",
        "description": "厨房水管漏水"}


def ensure_user(username: str, role: str):
    with db.transaction() as session:
        user = identity.get_user(session, username)
        if user is None:
            identity.add_user(session, username, "secret-pass-1", [role])


def start(process_id: str = "mini_request", data: dict | None = None) -> str:
    with db.transaction() as session:
        return runtime.start(session, process_id, data or dict(CALL), "assistant").id


def ready(instance_id: str) -> dict[str, str]:
    """{element id: task id} of the instance's ready user tasks."""
    with db.read_session() as session:
        loaded = runtime.load(session, instance_id)
        return {t.task_spec.bpmn_id: str(t.id) for t in runtime.ready_user_tasks(loaded.workflow)}


def complete(instance_id: str, element_id: str, data: dict, username: str = "assistant", role: str = "assistant"):
    ensure_user(username, role)
    task_id = ready(instance_id)[element_id]
    with db.transaction() as session:
        return tasks.complete(session, task_id, identity.get_user(session, username), data)


def revision(instance_id: str) -> int:
    with db.read_session() as session:
        return session.get(Instance, instance_id).revision


AUDIT_TABLES = ("audit_events", "audit_leaves", "audit_checkpoints")


@contextmanager
def forger(db_url):
    """A connection of someone with every right: the append-only triggers are dropped (SQLite: this test's
    own file) or disabled for the duration (PostgreSQL: the session's shared database)."""
    engine = db.get_engine(db_url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for table in AUDIT_TABLES:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all():
                conn.execute(text(f'DROP TRIGGER "{name}"'))
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                for table in AUDIT_TABLES:
                    conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


def tree_snapshot(db_url) -> dict:
    """Where a backup taken now would leave the log: its last event and the tree head."""
    with db.get_engine(db_url).connect() as conn:
        return {"event": conn.execute(text("SELECT max(id) FROM audit_events")).scalar(),
                "size": conn.execute(text("SELECT size FROM audit_tree_head")).scalar(),
                "frontier": conn.execute(text("SELECT frontier FROM audit_tree_head")).scalar()}


def roll_back(db_url, backup: dict, later: list[str]) -> None:
    """The database as the backup (:func:`tree_snapshot`) held it: what came after is gone, including the
    instances started since (``later``); the published checkpoint file is not restored."""
    with forger(db_url) as conn:
        conn.execute(text("DELETE FROM audit_leaves WHERE leaf >= :n"), {"n": backup["size"]})
        conn.execute(text("DELETE FROM audit_checkpoints WHERE tree_size > :n"), {"n": backup["size"]})
        conn.execute(text("DELETE FROM audit_events WHERE id > :e"), {"e": backup["event"]})
        for iid in later:
            for table in ("tasks", "timers", "sla_clocks", "requests"):
                conn.execute(text(f"DELETE FROM {table} WHERE instance_id = :i"), {"i": iid})
            conn.execute(text("DELETE FROM instances WHERE id = :i"), {"i": iid})
        conn.execute(text("UPDATE audit_tree_head SET size = :size, frontier = :frontier"), backup)
