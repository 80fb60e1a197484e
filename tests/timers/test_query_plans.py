"""The poller finds due work from one index: neither ``next_due`` nor the claim reads instances or scans timers.

The scheduler asks ``next_due`` after every pass and claims batch after batch through a backlog, so at 100,000
requests a join with ``instances`` or a scan of ``timers`` on every tick is what made firings slow (issue 16).
The statements are recorded as the poller sends them (a ``before_cursor_execute`` hook, so the check follows
the code, not a copy of its SQL) over a few thousand armed timers — half past due, half in the future, some of
instances held by an incident — with planner statistics gathered, then explained with their own parameters:

- SQLite (``EXPLAIN QUERY PLAN``): each is a ``SEARCH timers USING … INDEX ix_timers_fire_at`` and nothing
  else is read (no ``SCAN``, no ``instances``, no temporary B-tree for the order).
- PostgreSQL (``EXPLAIN`` with sequential scans priced out): each reads ``ix_timers_fire_at`` and no other
  table, with no Sort; ``next_due`` run with ``EXPLAIN ANALYZE`` reads exactly one index row.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, text, update

from engine.core import clock, db
from engine.core.tables import Instance, Timer
from tests.timers import helpers as h

PAST, FUTURE = 800, 800


def _seed(url: str) -> list[str]:
    start = clock.freeze()
    due = h.tick_instances(PAST, start + dt.timedelta(minutes=1), dt.timedelta(seconds=1))
    h.tick_instances(FUTURE, start + dt.timedelta(hours=3), dt.timedelta(seconds=1))
    clock.advance(hours=2)  # the first ones came due during an outage
    held = due[::10]  # instances waiting on an incident: their rows are not claimable
    with db.transaction(url) as session:
        session.execute(update(Instance).where(Instance.id.in_(held)).values(status="incident"))
        session.execute(update(Timer).where(Timer.instance_id.in_(held)).values(fire_at=None))
    with db.get_engine(url).begin() as conn:
        conn.execute(text("ANALYZE"))
    return held


def _recorded(url: str, action) -> list[tuple[str, object]]:
    captured = []

    def record(_conn, _cursor, statement, parameters, _context, executemany):
        if not executemany and statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    engine = db.get_engine(url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return captured


def _sqlite_plan(conn, statement, params) -> list[str]:
    cursor = conn.connection.dbapi_connection.cursor()
    return [row[3] for row in cursor.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()]


def _pg_plan(conn, statement, params, *, analyze: bool = False) -> dict:
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.execute(f"EXPLAIN ({'ANALYZE, ' if analyze else ''}FORMAT JSON) " + statement, params)
    return cursor.fetchone()[0][0]["Plan"]


def _nodes(node) -> list[dict]:
    return [node, *(n for child in node.get("Plans", ()) for n in _nodes(child))]


def test_next_due_and_the_claim_read_one_index_of_timers_and_no_instances(deployed, db_url):
    held = _seed(db_url)
    poller = h.poller(db_url, batch=100)
    sent = {"next_due": _recorded(db_url, poller.next_due), "claim": _recorded(db_url, poller.claim),
            "anything due": _recorded(db_url, poller._anything_due)}
    assert all(len(statements) == 1 for statements in sent.values()), sent

    sqlite = db_url.startswith("sqlite")
    with db.get_engine(db_url).connect() as conn:
        if not sqlite:
            conn.execute(text("SET enable_seqscan = off"))
        for name, [(statement, params)] in sent.items():
            if sqlite:
                plan = _sqlite_plan(conn, statement, params)
                assert len(plan) == 1 and plan[0].startswith("SEARCH timers USING") \
                    and "INDEX ix_timers_fire_at" in plan[0], (name, plan, statement)
                continue
            nodes = _nodes(_pg_plan(conn, statement, params))
            read = {(n.get("Relation Name"), n.get("Index Name")) for n in nodes if n.get("Relation Name")}
            assert read == {("timers", "ix_timers_fire_at")}, (name, read, statement)
            assert not any(n["Node Type"] in ("Sort", "Seq Scan") for n in nodes), (name, nodes)
        if not sqlite:  # next_due: the first entry of the index, and nothing more
            [(statement, params)] = sent["next_due"]
            scans = [n for n in _nodes(_pg_plan(conn, statement, params, analyze=True)) if "Index Name" in n]
            assert [(s["Index Name"], s["Actual Rows"]) for s in scans] == [("ix_timers_fire_at", 1)]

    # and what they answer is right: the oldest claimable row, held instances and leased rows skipped
    free = [r for r in h.timer_rows() if r.instance_id not in held and r.lease_owner is None]
    oldest = clock.as_utc(min(r.due_at for r in free))
    assert poller.next_due() == oldest
    claimed = poller.claim()
    assert len(claimed) == 100 and not {c.instance_id for c in claimed} & set(held)
    assert claimed[0].due_at == oldest and [c.due_at for c in claimed] == sorted(c.due_at for c in claimed)
    assert not {c.id for c in claimed} & {c.id for c in poller.claim()}
