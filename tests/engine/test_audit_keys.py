"""Key rotation and lawful restores (issue 13, item 3): a new key comes in by a record both keys sign, and a
restore to a signed checkpoint is recorded, signed, so verify tells it apart from a rollback."""

from __future__ import annotations

import base64
import json
import shutil

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from engine.audit import keys, signing
from engine.core import clock, db
from tests.engine.helpers import complete, forger, roll_back, start, tree_snapshot
from webapp.cli import main


@pytest.fixture
def own_key(audit_key_file, tmp_path, monkeypatch):
    """This test's own copy of the signing key, so rotating it leaves the run's key alone."""
    path = tmp_path / "keys" / "audit-signing.key"
    path.parent.mkdir()
    shutil.copy(audit_key_file, path)
    monkeypatch.setenv("LIYUAN_AUDIT_KEY_FILE", str(path))
    return path


def _verify(capsys, *extra) -> tuple[int, str]:
    code = main(["audit", "verify", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_rotated_key_is_trusted_through_the_record_both_keys_signed(deployed, own_key, audit_signing, capsys):
    old_public = signing.public_b64(signing.private_key().public_key())
    start()
    assert main(["audit", "rotate-key"]) == 0
    new_public = signing.public_b64(signing.private_key().public_key())
    assert new_public != old_public
    assert list(own_key.parent.glob("audit-signing.key.retired-*"))  # the old key is kept, not lost
    start()  # signed by the new key from now on
    published = [json.loads(line) for line in audit_signing.read_text().splitlines()]
    rotation = next(r for r in published if r.get("record") == "rotation")
    assert (rotation["old_public_key"], rotation["new_public_key"]) == (old_public, new_public)
    assert {r["key_id"] for r in published if "tree_size" in r} == {rotation["old_key_id"], rotation["new_key_id"]}
    assert _verify(capsys)[0] == 0  # anchored on the new key
    code, out = _verify(capsys, "--public-key", old_public)  # anchored on the key the auditor first received
    assert code == 0, out


def test_a_rotation_not_signed_by_the_key_in_force_is_refused(deployed, own_key, audit_signing, db_url, capsys):
    start()
    ours = signing.public_b64(signing.private_key().public_key())
    thief = Ed25519PrivateKey.generate()
    theirs = signing.public_b64(thief.public_key())
    at = "2026-12-01T00:00:00+00:00"
    body = keys.rotation_text(ours, theirs, at)
    forged = {"record": "rotation", "old_public_key": ours, "new_public_key": theirs, "at": at,
              "old_key_id": signing.key_id(signing.load_public(ours)), "new_key_id": signing.key_id(thief.public_key()),
              "old_signature": base64.b64encode(thief.sign(body)).decode(),
              "new_signature": base64.b64encode(thief.sign(body)).decode()}
    with audit_signing.open("a") as fh:
        fh.write(json.dumps(forged) + "\n")
    with db.get_engine(db_url).begin() as conn:
        size = conn.execute(text("SELECT count(*) FROM audit_leaves")).scalar()
        conn.execute(text("INSERT INTO audit_checkpoints VALUES (:s, :r, :at, :k, :sig)"),
                     {"s": size + 5, "r": "00" * 32, "at": at, "k": forged["new_key_id"],
                      "sig": signing.sign(thief, size + 5, "00" * 32, at)})
    code, out = _verify(capsys)
    assert code == 1 and "伪造的轮换" in out and f"树大小 {size + 5}，来源 数据库）的签名无效" in out


def test_a_lawful_restore_is_told_apart_from_a_rollback(deployed, db_url, capsys):
    clock.freeze()
    kept = start()
    complete(kept, "record", {"category": "b", "summary": "厨房漏水"})
    backup = tree_snapshot(db_url)
    lost = start()
    complete(lost, "record", {"category": "g", "summary": "借梯子"})
    roll_back(db_url, backup, [lost])
    code, out = _verify(capsys)
    assert code == 1 and "末尾的事件被删除" in out  # unexplained, a restore is a rollback

    assert main(["audit", "restored"]) == 0
    code, out = _verify(capsys)
    assert code == 0, out
    assert "belong to history discarded by a signed lawful restore" in out
    complete(kept, "fix", {"fix_note": "更换阀门", "fixed": True}, "engineer", "engineering")  # life goes on
    code, out = _verify(capsys, "--projections")
    assert code == 0, out


def test_a_restore_to_a_state_no_checkpoint_signed_is_refused(deployed, db_url, capsys):
    clock.freeze()
    iid = start()
    complete(iid, "record", {"category": "b", "summary": "厨房漏水"})
    with forger(db_url) as conn:  # the last event alone: a tree no checkpoint signed
        last = conn.execute(text("SELECT max(id) FROM audit_events")).scalar()
        conn.execute(text("DELETE FROM audit_leaves WHERE event_id = :e"), {"e": last})
        conn.execute(text("DELETE FROM audit_events WHERE id = :e"), {"e": last})
    assert main(["audit", "restored"]) == 1
    assert "不是任何已签名检查点" in capsys.readouterr().err
