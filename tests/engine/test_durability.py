"""Durability: concurrent completion, a crash before commit, and a tamper-evident audit log (issue 2)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap

from sqlalchemy import text

from engine.audit import history
from engine.core import db, errors
from tests.conftest import ROOT
from tests.engine.helpers import complete, ensure_user, ready, revision, start
from webapp.cli import main


def _complete_in_child(url: str, task_id: str, barrier, results) -> None:
    """Runs in a separate process: wait for the other one, then complete the same task."""
    os.environ["LIYUAN_DATABASE_URL"] = url
    from engine import identity, tasks
    from engine.core import db as child_db

    barrier.wait()
    try:
        with child_db.transaction() as session:
            tasks.complete(session, task_id, identity.get_user(session, "assistant"),
                           {"category": "g", "summary": f"pid {os.getpid()}"})
        results.put("ok")
    except errors.Conflict as exc:
        results.put("conflict: " + exc.message)
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(f"error: {exc!r}")


def test_two_processes_completing_the_same_task_one_wins(deployed, db_url):
    ensure_user("assistant", "assistant")
    iid = start()
    task_id = ready(iid)["record"]
    before = revision(iid)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_complete_in_child, args=(db_url, task_id, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes[0] == "conflict: " + outcomes[0].split(": ", 1)[1] and outcomes[1] == "ok", outcomes
    assert "请刷新" in outcomes[0]
    assert revision(iid) == before + 1
    assert set(ready(iid)) == {"confirm"}


CRASH_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    os.environ["LIYUAN_DATABASE_URL"] = sys.argv[1]
    from engine.core import db
    from engine.audit import history
    from engine import identity, tasks
    real_append = history.append_all  # the commit path appends a change's events with one call
    def append_then_die(*args, **kwargs):
        real_append(*args, **kwargs)          # the engine step ran and the events are flushed ...
        os.kill(os.getpid(), signal.SIGKILL)  # ... but the transaction never commits
    history.append_all = append_then_die
    with db.transaction() as session:
        tasks.complete(session, sys.argv[2], identity.get_user(session, "assistant"),
                       {"category": "g", "summary": "killed before commit"})
""")


def test_sigkill_between_engine_step_and_commit_keeps_the_previous_revision(deployed, db_url):
    ensure_user("assistant", "assistant")
    iid = start()
    before = revision(iid)
    task_id = ready(iid)["record"]
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, db_url, task_id], cwd=ROOT, capture_output=True,
                          timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    db.dispose_all()
    assert revision(iid) == before
    assert set(ready(iid)) == {"record"}
    with db.read_session() as session:
        count, breaks = history.verify(session)
    assert breaks == [] and count > 0
    complete(iid, "record", {"category": "g", "summary": "after the crash"})  # the instance still works
    assert revision(iid) == before + 1


def test_audit_verify_passes_untouched_and_names_an_edited_row(deployed, db_url, capsys):
    iid = start()
    complete(iid, "record", {"category": "g", "summary": "借用梯子"})
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    with db.read_session() as session:
        victim = history.events(session, iid)[2]
    assert victim.kind == "task_completed"
    engine = db.get_engine(db_url)
    postgres = engine.dialect.name == "postgresql"
    try:
        with engine.begin() as conn:  # a DBA who gets past the trigger edits a submitted form value
            if postgres:
                conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update"))
            else:
                conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("UPDATE audit_events SET payload = replace(payload, '借用梯子', '借用电钻') "
                              "WHERE id = :id"), {"id": victim.id})
    finally:
        if postgres:  # the PostgreSQL test database is shared by the session's tests
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update"))
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"row #{victim.id} (seq 3)" in out and "altered" in out
    assert out.count("BROKEN") == 1


def test_the_database_refuses_to_update_or_delete_audit_rows(deployed, db_url):
    start()
    engine = db.get_engine(db_url)
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        try:
            with engine.begin() as conn:
                conn.execute(text(statement))
        except Exception as exc:  # noqa: BLE001 - sqlite and psycopg raise different classes
            assert "append-only" in str(exc)
        else:
            raise AssertionError(f"{statement} was allowed")
