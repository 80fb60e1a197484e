"""SQLite's planner statistics, and the inbox's SLA-clock query at the shape of a large history.

SQLite gathers no statistics by itself; ``db.refresh_statistics`` runs a sampled ``ANALYZE`` at start-up, hourly
and after migrations. It once ran it inside the connection's transaction and never committed, so nothing was
kept. And with statistics, a sampled ``ANALYZE`` over a table where most clocks guard no single task and tens of
thousands were breached long ago priced the status index as the cheaper way into ``sla_clocks``: the inbox read
every armed and breached clock on every page (70 ms at 100,000 requests). Both are checked here on a seeded
file of that shape.
"""

from __future__ import annotations

import shutil
import sqlite3
import types
import uuid

from sqlalchemy import event, text

from engine.core import db
from engine.helpdesk import queries


def _seeded(tmp_path, sqlite_template) -> str:
    path = tmp_path / "shape.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    at = "2026-11-01 00:00:00.000000"
    rows = []
    for n in range(6000):  # a history: most clocks met or guarding no task, many breached, a few armed
        status = "armed" if n % 20 == 0 else "breached" if n % 3 == 0 else "met"
        rows.append({"instance_id": f"i{n % 2000}", "timer_task_id": str(uuid.uuid4()), "sla_key": "response",
                     "element_id": "b_resp", "guarded_task_id": str(uuid.uuid4()) if n % 4 == 0 else None,
                     "guarded_element_id": "assess", "status": status, "armed_at": at, "due_at": at})
    # The clocks alone, through a plain connection (foreign keys off: their instances do not matter here).
    columns = list(rows[0])
    with sqlite3.connect(path) as conn:
        conn.executemany(f"INSERT INTO sla_clocks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         [tuple(r[c] for c in columns) for r in rows])
    return url


def test_refresh_statistics_keeps_them(tmp_path, sqlite_template):
    url = _seeded(tmp_path, sqlite_template)
    db.refresh_statistics(url)
    db.dispose_all()
    with db.get_engine(url).connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'sla_clocks'")).scalar()
    assert kept >= 3


def test_the_inbox_finds_its_clocks_through_the_guarded_task_index(tmp_path, sqlite_template):
    url = _seeded(tmp_path, sqlite_template)
    db.refresh_statistics(url)
    engine = db.get_engine(url)
    sent = []
    event.listen(engine, "before_cursor_execute", lambda c, cur, st, params, ctx, many: sent.append((st, params)))
    page = [types.SimpleNamespace(id=str(uuid.uuid4()), instance_id=f"i{n}") for n in range(50)]
    with db.read_session(url) as session:
        queries.clocks_for_tasks(session, page)
    statement, params = next((s, p) for s, p in sent if "guarded_task_id IN" in s)
    with engine.connect() as conn:
        plan = " ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
    assert "ix_sla_clocks_guarded_task" in plan, plan
