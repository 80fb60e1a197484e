"""One engine step sends a fixed, small set of statements (issue 16 item 3): one write per table, the tasks no
longer ready deleted and returned by one ``DELETE … RETURNING``, the audit events inserted by one INSERT that
returns their ids (the Merkle seal reads nothing back but the tree head). Counted per kind and table on every
step of the bench process's lifecycle (parallel split, call activity), on SQLite and PostgreSQL, so an extra
query per step fails here instead of in the next benchmark run. Also: the events of a savepoint rolled back
never become leaves of the tree."""

from __future__ import annotations

import collections
from pathlib import Path

from sqlalchemy import event, func, select

from bench.phases import statement_kind
from engine import repository, runtime
from engine.audit import history, tree
from engine.core import db
from engine.core.tables import AuditEvent, AuditLeaf, TaskRow
from engine.repository import bundle

BENCH = Path(__file__).resolve().parents[2] / "bench"
START = {"channel": "hotline", "caller_name": "测试", "phone": "13800000000", "address": "1栋101", "description": "x"}

# What every step's transaction writes and reads, at most once each (the tests sign checkpoints).
ONCE = {"SELECT instances", "UPDATE instances", "DELETE tasks", "INSERT step_timings", "INSERT audit_events",
        "SELECT audit_tree_head", "INSERT audit_leaves", "UPDATE audit_tree_head", "INSERT audit_checkpoints"}
MAYBE = {"SELECT tasks",  # only when a task ready before the step still is (the parallel branch)
         "INSERT tasks", "UPDATE requests", "BEGIN",  # BEGIN: SQLite's read snapshot and write lock
         "SELECT process_versions"}  # the first load of a version in this process (then cached)


def _walk(db_url: str) -> list[collections.Counter]:
    with db.transaction() as session:
        repository.deploy(session, bundle.read_paths([BENCH / "bpmn", BENCH / "forms"], default_forms=False),
                          actor="tester")
    with db.transaction() as session:
        iid = runtime.start(session, "bench_lifecycle", START, "tester").id
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement_kind(statement))

    engine = db.get_engine(db_url)
    counted, step = [], 0
    while True:
        with db.read_session() as session:
            task_id = session.scalar(select(TaskRow.id).where(TaskRow.instance_id == iid)
                                     .order_by(TaskRow.ready_at, TaskRow.id).limit(1))
        if task_id is None:
            return counted
        seen.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            with db.transaction() as session:
                runtime.complete_task(session, iid, task_id, {"value": 150 if step % 2 else 42, "note": "x"},
                                      "tester")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        counted.append(collections.Counter(seen))
        step += 1


def test_an_engine_step_sends_each_statement_once_at_most(db_url):
    steps = _walk(db_url)
    assert len(steps) >= 8
    for number, kinds in enumerate(steps):
        unexpected = set(kinds) - ONCE - MAYBE
        assert not unexpected, (number, kinds)
        repeated = {k: n for k, n in kinds.items() if n > 1 and not (k == "BEGIN" and n == 2)}
        assert not repeated, (number, kinds)
        assert {"SELECT instances", "UPDATE instances", "DELETE tasks", "INSERT audit_events"} <= set(kinds)
        assert "SELECT audit_events" not in kinds  # the INSERT returned the ids the seal needs
        assert number == 0 or "SELECT process_versions" not in kinds
    # without BEGIN: 9 on a step that ends one task and readies the next; the parallel branch reads its
    # sibling's row; the last step writes the request row (status) and readies nothing
    totals = [sum(n for k, n in kinds.items() if k not in ("BEGIN", "SELECT process_versions")) for kinds in steps]
    assert max(totals) <= 10, totals


def test_events_of_a_rolled_back_savepoint_never_become_leaves(db_url):
    with db.transaction() as session:
        history.append(session, "system", "tester", "before")
        try:
            with session.begin_nested():
                history.append(session, "system", "tester", "undone")
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            session.info.get("audit_heads", {}).pop("system", None)  # as the appenders that retry do
        history.append(session, "system", "tester", "after")
    with db.read_session() as session:
        kinds = list(session.scalars(select(AuditEvent.kind).join(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
                                     .where(AuditEvent.chain == "system").order_by(AuditLeaf.leaf)))
        assert kinds == ["before", "after"]
        leaves = session.scalar(select(func.count()).select_from(AuditLeaf))
        assert leaves == session.scalar(select(func.count()).select_from(AuditEvent))
        assert tree.current_root(session)[0] == leaves
        assert history.verify(session)[1] == []
