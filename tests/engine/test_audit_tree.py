"""Every audit event is a leaf of one append-only Merkle tree, each commit signs a checkpoint kept outside
the database, and the database itself refuses an event that is not next in its chain (issue 13, item 1)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from engine.audit import history, merkle, signing
from engine.core import db
from tests.engine.helpers import complete, start
from webapp.cli import main


def _rows(sql: str, **params):
    with db.read_session() as session:
        return session.execute(text(sql), params).all()


def test_each_commit_adds_its_events_as_leaves_and_signs_one_checkpoint_published_outside_the_database(
        deployed, audit_signing):
    iid = start()
    complete(iid, "record", {"category": "b", "summary": "厨房漏水"})
    leaves = _rows("SELECT l.leaf, e.hash FROM audit_leaves l JOIN audit_events e ON e.id = l.event_id ORDER BY l.leaf")
    events = _rows("SELECT id FROM audit_events")
    assert [leaf for leaf, _ in leaves] == list(range(len(events)))  # every event, in one gap-free order
    checkpoints = _rows("SELECT tree_size, root, at, key_id, signature FROM audit_checkpoints ORDER BY tree_size")
    assert len(checkpoints) == 3  # deploy, start, complete: one per committed change
    published = [json.loads(line) for line in audit_signing.read_text().splitlines()]
    assert [(p["tree_size"], p["root"], p["signature"]) for p in published] == \
           [(c[0], c[1], c[4]) for c in checkpoints]
    key = signing.private_key().public_key()
    for size, root, at, _kid, sig in checkpoints:
        frontier: list = []
        for _leaf, event_hash in leaves[:size]:
            merkle.push(frontier, merkle.event_leaf(event_hash))
        assert merkle.root(frontier).hex() == root  # the signed root is the RFC 9162 root of the first `size`
        assert signing.signature_ok(key, size, root, at, sig)
        assert not signing.signature_ok(key, size + 1, root, at, sig)
    assert checkpoints[-1][0] == len(events)


def _insert_event(db_url, chain: str, seq: int, prev_hash: str):
    row = {"chain": chain, "seq": seq, "at": "2026-12-01 00:00:00", "actor": "dba", "kind": "data_edited",
           "element_id": None, "payload": "{}", "state_fingerprint": None, "prev_hash": prev_hash}
    row["hash"] = history.row_hash(prev_hash, dict(row, at=__import__("datetime").datetime(2026, 12, 1)))
    with db.get_engine(db_url).begin() as conn:
        conn.execute(text("INSERT INTO audit_events (chain, seq, at, actor, kind, element_id, payload, "
                          "state_fingerprint, prev_hash, hash) VALUES (:chain, :seq, :at, :actor, :kind, "
                          ":element_id, :payload, :state_fingerprint, :prev_hash, :hash)"), row)


def test_the_database_refuses_an_event_out_of_sequence_or_not_chained_to_its_head(deployed, db_url):
    iid = start()
    (last_seq, head), = _rows("SELECT seq, hash FROM audit_events WHERE chain = :c ORDER BY seq DESC LIMIT 1", c=iid)
    with pytest.raises(DatabaseError, match="not the next event"):
        _insert_event(db_url, iid, last_seq + 2, head)  # skips a number
    with pytest.raises(DatabaseError, match="not the next event"):
        _insert_event(db_url, iid, last_seq, head)  # reuses one (the unique index would also refuse it)
    with pytest.raises(DatabaseError, match="not the next event"):
        _insert_event(db_url, iid, last_seq + 1, "f" * 64)  # not chained to the head
    with pytest.raises(DatabaseError, match="not the next event"):
        _insert_event(db_url, "new-chain", 1, "f" * 64)  # a new chain starts at the genesis hash
    _insert_event(db_url, iid, last_seq + 1, head)  # the next event, chained: accepted (verify catches it)


def test_the_database_refuses_a_leaf_out_of_order_and_any_change_to_leaves_or_checkpoints(deployed, db_url):
    start()
    (size,), = _rows("SELECT count(*) FROM audit_leaves")
    (event_id,), = _rows("SELECT min(id) FROM audit_events")
    for sql in (f"INSERT INTO audit_leaves (leaf, event_id) VALUES ({size + 1}, {event_id})",
                "INSERT INTO audit_leaves (leaf, event_id) VALUES (:n, 999999)".replace(":n", str(size)),
                "UPDATE audit_leaves SET event_id = event_id WHERE leaf = 0",
                "DELETE FROM audit_leaves WHERE leaf = 0",
                "UPDATE audit_checkpoints SET root = root",
                "DELETE FROM audit_checkpoints"):
        with pytest.raises(DatabaseError, match="audit (leaf refused|tree is append-only)"):
            with db.get_engine(db_url).begin() as conn:
                conn.execute(text(sql))


def test_keygen_writes_a_key_only_its_owner_can_read_and_never_overwrites_one(tmp_path, capsys):
    path = tmp_path / "keys" / "audit.key"
    assert main(["audit", "keygen", "--file", str(path)]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    out = capsys.readouterr().out
    before = path.read_bytes()
    assert main(["audit", "keygen", "--file", str(path)]) == 1
    assert path.read_bytes() == before
    assert "已存在" in capsys.readouterr().err
    public = out.split("public key (base64): ")[1].split()[0]
    assert len(__import__("base64").b64decode(public)) == 32


def test_without_a_key_the_tree_grows_but_nothing_is_signed(deployed, monkeypatch, tmp_path, audit_signing):
    monkeypatch.setenv("LIYUAN_AUDIT_KEY_FILE", str(tmp_path / "absent.key"))
    (before,), = _rows("SELECT count(*) FROM audit_checkpoints")
    start()
    (after,), = _rows("SELECT count(*) FROM audit_checkpoints")
    (leaves,), = _rows("SELECT count(*) FROM audit_leaves")
    (events,), = _rows("SELECT count(*) FROM audit_events")
    assert after == before and leaves == events
