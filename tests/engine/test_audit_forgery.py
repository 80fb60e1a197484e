"""``liyuan audit verify`` against someone who can write the database (issue 13, item 2).

Each test performs one forgery from the issue with full write access — triggers out of the way, hashes
recomputed where the forger would recompute them — and shows verify exits 1 naming what was altered; the
same history untouched verifies with exit 0.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from sqlalchemy import text

from engine.audit import history, signing
from engine.core import clock, db
from tests.engine.helpers import complete, forger, start
from tests.timers import helpers as timer_helpers
from webapp.cli import main


def _verify(capsys, *extra) -> tuple[int, str]:
    code = main(["audit", "verify", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _history(db_url=None):
    """Two requests: one repaired and rated, one waiting for the resident's confirmation; with ``db_url``
    a third, left alone past its 30-minute response deadline and escalated by the poller."""
    clock.freeze()
    late = None
    if db_url is not None:
        late = start()
        clock.advance(minutes=31)
        assert timer_helpers.poller(db_url).run_due().fired == 1
    done = start()
    clock.advance(minutes=5)
    complete(done, "record", {"category": "b", "summary": "厨房漏水"})
    clock.advance(hours=1)
    complete(done, "fix", {"fix_note": "更换阀门", "fixed": True}, "engineer", "engineering")
    complete(done, "confirm", {"satisfaction": 2, "comment": "太慢"})
    waiting = start()
    complete(waiting, "record", {"category": "g", "summary": "借梯子"})
    return (done, waiting, late) if db_url is not None else (done, waiting)


def test_an_untouched_database_verifies_with_exit_0_projections_included(deployed, db_url, capsys):
    _history(db_url)
    code, out = _verify(capsys, "--projections")
    assert code == 0, out
    assert "ok:" in out and "signed checkpoint" in out


def _events(conn, chain):
    return conn.execute(text("SELECT id, chain, seq, at, actor, kind, element_id, payload, state_fingerprint "
                             "FROM audit_events WHERE chain = :c ORDER BY seq"), {"c": chain}).mappings().all()


def test_rehashing_a_whole_chain_after_changing_a_payload_is_found(deployed, db_url, capsys):
    done, _ = _history()
    with forger(db_url) as conn:
        prev = history.GENESIS
        for row in _events(conn, done):
            row = dict(row, at=clock.as_utc(row["at"]) if isinstance(row["at"], dt.datetime)
                       else dt.datetime.fromisoformat(row["at"]).replace(tzinfo=dt.UTC))
            if row["kind"] == "task_completed" and "satisfaction" in row["payload"]:
                row["payload"] = row["payload"].replace('"satisfaction":2', '"satisfaction":5')
            new = history.row_hash(prev, row)
            conn.execute(text("UPDATE audit_events SET payload = :p, prev_hash = :prev, hash = :h WHERE id = :id"),
                         {"p": row["payload"], "prev": prev, "h": new, "id": row["id"]})
            prev = new
    assert main(["audit", "verify", "--chain", done]) == 0  # the chain alone is consistent again
    capsys.readouterr()
    code, out = _verify(capsys)
    assert code == 1
    assert "重算的根与已签名检查点不符" in out and done in out  # names the rewritten instance


def test_deleting_the_last_events_of_an_instance_is_found(deployed, db_url, capsys):
    done, _ = _history()
    with forger(db_url) as conn:
        last = [r["id"] for r in _events(conn, done)][-2:]
        conn.execute(text(f"DELETE FROM audit_leaves WHERE event_id IN ({last[0]}, {last[1]})"))
        conn.execute(text(f"DELETE FROM audit_events WHERE id IN ({last[0]}, {last[1]})"))
    code, out = _verify(capsys)
    assert code == 1
    assert "叶子缺失" in out and f"实例 {done} 保存的状态与其日志最后一条" in out


def test_deleting_an_instance_with_all_its_events_and_rows_is_found(deployed, db_url, capsys):
    done, waiting = _history()
    with forger(db_url) as conn:
        ids = [r["id"] for r in _events(conn, done)]
        conn.execute(text(f"DELETE FROM audit_leaves WHERE event_id IN ({','.join(map(str, ids))})"))
        conn.execute(text("DELETE FROM audit_events WHERE chain = :c"), {"c": done})
        for table in ("tasks", "timers", "sla_clocks", "requests"):
            conn.execute(text(f"DELETE FROM {table} WHERE instance_id = :c"), {"c": done})
        conn.execute(text("DELETE FROM instances WHERE id = :c"), {"c": done})
    code, out = _verify(capsys)
    assert code == 1 and "叶子缺失" in out and "事件及其叶子被删除" in out


def _forged_event(conn, chain):
    last = _events(conn, chain)[-1]
    head = conn.execute(text("SELECT hash FROM audit_events WHERE id = :id"), {"id": last["id"]}).scalar()
    row = {"chain": chain, "seq": last["seq"] + 1, "at": dt.datetime(2026, 12, 1, tzinfo=dt.UTC), "actor": "admin",
           "kind": "task_completed", "element_id": "fix", "payload": json.dumps({"data": {"fixed": True}}),
           "state_fingerprint": None}
    row["prev_hash"], row["hash"] = head, history.row_hash(head, row)
    conn.execute(text("INSERT INTO audit_events (chain, seq, at, actor, kind, element_id, payload, state_fingerprint,"
                      " prev_hash, hash) VALUES (:chain, :seq, :at, :actor, :kind, :element_id, :payload,"
                      " :state_fingerprint, :prev_hash, :hash)"), row)
    return row["seq"]


def test_an_event_appended_with_the_triggers_intact_is_found(deployed, db_url, capsys):
    _, waiting = _history()
    with db.get_engine(db_url).begin() as conn:  # next in sequence and chained: the triggers let it in
        seq = _forged_event(conn, waiting)
    code, out = _verify(capsys)
    assert code == 1 and "不在默克尔树中" in out and f"{waiting} 第 {seq} 条" in out


def test_an_event_appended_with_its_leaf_and_a_checkpoint_signed_by_another_key_is_found(deployed, db_url, capsys):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _, waiting = _history()
    with db.get_engine(db_url).begin() as conn:
        seq = _forged_event(conn, waiting)
        size = conn.execute(text("SELECT count(*) FROM audit_leaves")).scalar()
        event_id = conn.execute(text("SELECT max(id) FROM audit_events")).scalar()
        conn.execute(text("INSERT INTO audit_leaves (leaf, event_id) VALUES (:l, :e)"), {"l": size, "e": event_id})
    code, out = _verify(capsys)
    assert code == 1 and "没有任何已签名检查点覆盖" in out and f"{waiting} 第 {seq} 条" in out
    other = Ed25519PrivateKey.generate()
    with db.get_engine(db_url).begin() as conn:  # the forger signs a checkpoint over the forged tree
        at = "2026-12-01T00:00:00+00:00"
        conn.execute(text("INSERT INTO audit_checkpoints VALUES (:s, :r, :at, :k, :sig)"),
                     {"s": size + 1, "r": "00" * 32, "at": at, "k": signing.key_id(signing.private_key().public_key()),
                      "sig": signing.sign(other, size + 1, "00" * 32, at)})
    code, out = _verify(capsys)
    assert code == 1 and f"检查点（树大小 {size + 1}，来源 数据库）的签名无效" in out
    public = base64.b64encode(signing.raw_public(other.public_key())).decode()
    code, out = _verify(capsys, "--public-key", public)  # an auditor handed the wrong key is told so too
    assert code == 1 and "签名无效或不是本系统密钥所签" in out


@pytest.mark.parametrize("forgery, expected", [
    ("UPDATE requests SET satisfaction = 5 WHERE instance_id = :done", "字段 satisfaction：表中为 5，按审计日志应为 2"),
    ("UPDATE requests SET priority = 'P4' WHERE instance_id = :waiting", "字段 priority：表中为 'P4'"),
    ("UPDATE instances SET status = 'completed' WHERE id = :waiting", "字段 status：表中为 'completed'，按审计日志应为 'running'"),
    ("DELETE FROM tasks WHERE instance_id = :waiting", "tasks（实例 {waiting}）字段 mini_request:confirm：表中为 '缺失'"),
    ("UPDATE sla_clocks SET status = 'met' WHERE instance_id = :late",
     "sla_clocks（实例 {late}）字段 response@record_late：表中为 'met'，按审计日志应为 'breached'"),
    # the slowest steps: the engineer's hour on 'fix' made a minute, the step deleted, a step never done added
    ("UPDATE step_timings SET seconds = 60 WHERE instance_id = :done AND element_id = 'fix'",
     "step_timings（实例 {done}）字段 mini_repair:fix seconds：表中为 60.0，按审计日志应为 3600.0"),
    ("DELETE FROM step_timings WHERE instance_id = :done AND element_id = 'fix'",
     "step_timings（实例 {done}）字段 mini_repair:fix：表中为 '缺失'，按审计日志应为 '应有于 "),
    ("INSERT INTO step_timings (id, instance_id, process_id, element_id, name, lane, ready_at, completed_at, seconds,"
     " completed_by) SELECT 'forged', instance_id, process_id, 'confirm', name, lane, ready_at, completed_at, seconds,"
     " completed_by FROM step_timings WHERE instance_id = :waiting AND element_id = 'record'",
     "step_timings（实例 {waiting}）字段 mini_request:confirm：表中为 '"),
])
def test_rows_reports_read_changed_instead_of_the_log_are_found_by_projections(deployed, db_url, capsys,
                                                                               forgery, expected):
    done, waiting, late = _history(db_url)
    with db.get_engine(db_url).begin() as conn:  # projections are ordinary tables: no trigger to drop
        changed = conn.execute(text(forgery), {"done": done, "waiting": waiting, "late": late}).rowcount
    assert changed >= 1
    code, out = _verify(capsys)
    assert code == 0  # chains and tree are intact: only recomputing the projections finds it
    code, out = _verify(capsys, "--projections")
    assert code == 1 and "PROJECTION" in out
    assert expected.format(done=done, waiting=waiting, late=late) in out, out
