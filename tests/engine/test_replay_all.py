"""``liyuan audit replay --all`` (issue 13, item 7): every instance replayed, on several worker processes,
a planted mismatch named by instance and first differing step, exit 1; an untouched database exits 0."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from engine.audit import history
from engine.core import clock, db
from engine.runtime import replay_all
from tests.engine.helpers import complete, forger, start
from webapp.cli import main


def _requests() -> list[str]:
    clock.freeze()
    ids = []
    for n in range(5):
        iid = start()
        clock.advance(minutes=5)
        complete(iid, "record", {"category": "b", "summary": f"第{n}号报修"})
        if n % 2:
            complete(iid, "fix", {"fix_note": "更换阀门", "fixed": True}, "engineer", "engineering")
            complete(iid, "confirm", {"satisfaction": 4, "comment": "好"})
        ids.append(iid)
    return ids


def _rewrite_summary(db_url, iid: str) -> int:
    """What a forger with every right does: change the form data a step recorded and re-hash the chain so
    the chain alone is consistent again. Returns the seq of the changed event."""
    changed = None
    with forger(db_url) as conn:
        prev = history.GENESIS
        rows = conn.execute(text("SELECT id, chain, seq, at, actor, kind, element_id, payload, state_fingerprint "
                                 "FROM audit_events WHERE chain = :c ORDER BY seq"), {"c": iid}).mappings().all()
        for row in rows:
            row = dict(row, at=clock.as_utc(row["at"]) if isinstance(row["at"], dt.datetime)
                       else dt.datetime.fromisoformat(row["at"]).replace(tzinfo=dt.UTC))
            if row["kind"] == "task_completed" and "报修" in row["payload"]:
                row["payload"] = row["payload"].replace("报修", "投诉")
                changed = row["seq"]
            new = history.row_hash(prev, row)
            conn.execute(text("UPDATE audit_events SET payload = :p, prev_hash = :prev, hash = :h WHERE id = :id"),
                         {"p": row["payload"], "prev": prev, "h": new, "id": row["id"]})
            prev = new
    assert changed is not None
    return changed


def test_an_untouched_database_replays_with_exit_0(deployed, db_url, capsys):
    ids = _requests()
    assert main(["audit", "replay", "--all", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert f"{len(ids)} 个实例重放与记录一致，0 个不一致" in out


def test_the_progress_bar_goes_to_stderr_only_when_asked_or_on_a_terminal(deployed, db_url, capsys):
    ids = _requests()
    assert main(["audit", "replay", "--all", "--jobs", "1"]) == 0
    assert capsys.readouterr().err == ""  # stderr is not a terminal here: no bar in a log or a pipe
    assert main(["audit", "replay", "--all", "--jobs", "1", "--progress"]) == 0
    captured = capsys.readouterr()
    assert f"{len(ids)}/{len(ids)}" in captured.err and "剩余约" in captured.err
    assert "[#" not in captured.out  # the findings on stdout stay clean


def test_a_planted_mismatch_is_named_by_instance_and_step_on_every_worker_count(deployed, db_url, capsys):
    ids = _requests()
    seq = _rewrite_summary(db_url, ids[3])
    for jobs in (1, 2):
        # chunks of one instance, so two worker processes really share the work
        outcomes = replay_all.replay_all(db_url, jobs=jobs, chunk=1)
        assert [o.instance_id for o in outcomes] == ids  # every instance, in order, whichever worker ran it
        bad = [o for o in outcomes if not o.ok]
        assert [o.instance_id for o in bad] == [ids[3]]
        assert f"第 {seq} 条事件" in bad[0].problem
    assert main(["audit", "replay", "--all", "--jobs", "2"]) == 1
    out = capsys.readouterr().out
    assert f"MISMATCH 实例 {ids[3]}：第 {seq} 条事件" in out
    assert f"{len(ids) - 1} 个实例重放与记录一致，1 个不一致" in out


def test_verify_projections_finds_an_edited_row_with_jobs(deployed, db_url, capsys):
    ids = _requests()
    with db.get_engine(db_url).begin() as conn:  # a rating changed in the report table, the log left alone
        conn.execute(text("UPDATE requests SET satisfaction = 1 WHERE instance_id = :id"), {"id": ids[1]})
    assert main(["audit", "verify", "--projections", "--jobs", "2"]) == 1
    out = capsys.readouterr().out
    assert f"requests（实例 {ids[1]}）字段 satisfaction" in out
    assert sum("PROJECTION" in line for line in out.splitlines()) == 1


def test_replay_needs_an_instance_or_all(db_url, capsys):
    assert main(["audit", "replay"]) == 2
    assert "--all" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: "--jobs: 应为正整数"
        main(["audit", "replay", "--all", "--jobs", "0"])
