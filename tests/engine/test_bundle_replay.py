"""``liyuan audit replay --bundle FILE`` (issue 13, item 6): an exported bundle replayed with no database,
from its pinned BPMN and forms and its events. A step whose data was rewritten — with every hash after it
recomputed, so the chain still checks — is named by the replay."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from engine.audit import verify_bundle
from engine.core import clock, db
from tests.engine.helpers import complete, start
from webapp.cli import main


@pytest.fixture
def exported(deployed, tmp_path, capsys) -> Path:
    clock.freeze()
    iid = start()
    complete(iid, "record", {"category": "b", "summary": "厨房漏水"})
    clock.advance(minutes=7)
    complete(iid, "fix", {"fix_note": "更换阀门", "fixed": True}, "engineer", "engineering")
    clock.advance(hours=2)
    complete(iid, "confirm", {"satisfaction": 4})
    path = tmp_path / "bundle.json"
    assert main(["audit", "export", iid, str(path)]) == 0
    capsys.readouterr()
    return path


def _no_database(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("replay --bundle touched the database")

    monkeypatch.setattr(db, "read_session", refuse)
    monkeypatch.setattr(db, "transaction", refuse)
    monkeypatch.setattr(db, "get_engine", refuse)


def _rehash(bundle: dict) -> None:
    """A forger's fix-up: every hash recomputed by the published rule, so the chain checks again."""
    prev = bundle["genesis"]
    for event in bundle["events"]:
        canonical = json.dumps({k: event[k] for k in bundle["canonical_fields"]}, sort_keys=True,
                               ensure_ascii=False, separators=(",", ":"))
        event["prev_hash"], event["hash"] = prev, hashlib.sha256((prev + canonical).encode()).hexdigest()
        prev = event["hash"]


def test_an_exported_bundle_replays_offline_and_reproduces(exported, monkeypatch, capsys):
    _no_database(monkeypatch)
    assert main(["audit", "replay", "--bundle", str(exported)]) == 0
    out = capsys.readouterr().out
    assert "hash chain intact" in out and "replay reproduces the recorded history" in out
    assert out.count(" ok ") == 4 and "MISMATCH" not in out  # started and three forms


def test_a_rewritten_step_with_fixed_hashes_is_named_by_the_replay(exported, monkeypatch, capsys):
    bundle = json.loads(exported.read_text(encoding="utf-8"))
    [fix] = [e for e in bundle["events"] if e["kind"] == "task_completed" and e["element_id"] == "fix"]
    payload = json.loads(fix["payload"])
    payload["data"]["fix_note"] = "客户自行修好"  # the record now says nobody from 工程部 did anything
    fix["payload"] = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    _rehash(bundle)
    assert verify_bundle.check_chain(bundle) == []  # the chain alone cannot tell
    forged = exported.with_name("forged.json")
    forged.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")

    _no_database(monkeypatch)
    assert main(["audit", "replay", "--bundle", str(forged)]) == 1
    out = capsys.readouterr().out
    assert f"第 {fix['seq']} 条（task_completed fix）重放后的状态与记录不符" in out
    assert "replay does NOT reproduce the recorded history" in out
    mismatched = [line for line in out.splitlines() if "MISMATCH" in line]
    assert mismatched and mismatched[0].strip().startswith(f"#{fix['seq']} ")  # earlier steps still match


def test_a_bundle_that_cannot_be_replayed_says_why(exported, tmp_path, monkeypatch, capsys):
    _no_database(monkeypatch)
    bundle = json.loads(exported.read_text(encoding="utf-8"))
    bundle["files"][0]["content_base64"] = "PGJhZD4="  # other bytes than the pinned sha256
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bundle), encoding="utf-8")
    assert main(["audit", "replay", "--bundle", str(bad)]) == 2
    assert "与其 sha256 不符" in capsys.readouterr().err
    junk = tmp_path / "junk.json"
    junk.write_text("not json", encoding="utf-8")
    assert main(["audit", "replay", "--bundle", str(junk)]) == 2
    assert "无法重放审计包" in capsys.readouterr().err
    assert main(["audit", "replay", "--bundle", str(tmp_path / "missing.json")]) == 2
