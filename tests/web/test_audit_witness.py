"""Publishing checkpoints to witnesses (issue 13, item 1): pushed to an HTTP witness in the background,
served for witnesses to pull with consistency proofs, checked by ``liyuan audit witness`` against its own
copy — which notices a tree rewritten and re-signed by someone holding the key. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, text

from engine import runtime
from engine.audit import merkle, signing, witness
from engine.core import db
from engine.core.tables import AuditCheckpoint, AuditEvent, AuditLeaf
from tests.engine.helpers import forger, roll_back, tree_snapshot
from tests.web.conftest import PROCESS, RESIDENT_PHONE
from webapp.cli import main


def _commit(n: int = 1) -> list[str]:
    """``n`` committed changes (each a new request); their instance ids."""
    ids = []
    for _ in range(n):
        with db.transaction() as session:
            ids.append(runtime.start(session, PROCESS, {"channel": "hotline", "caller_name": "陈先生",
                                                        "phone": RESIDENT_PHONE, "address": "3栋2单元1201",
                                                        "description": "漏水", "category": "d"}, "assistant").id)
    return ids


def _checkpoint_sizes(above: int = 0) -> list[int]:
    with db.read_session() as session:
        return list(session.scalars(select(AuditCheckpoint.tree_size).where(AuditCheckpoint.tree_size > above)
                                    .order_by(AuditCheckpoint.tree_size)))


class FakeWitness:
    """An outside witness: records each POSTed checkpoint; refuses the first ``refuse`` requests."""

    def __init__(self, refuse: int = 0):
        self.received: list[dict] = []
        self.refuse = refuse
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.refuse > 0:
                    outer.refuse -= 1
                    self.send_response(503)
                else:
                    outer.received.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/checkpoints"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_witness():
    w = FakeWitness()
    yield w
    w.close()


def test_each_new_checkpoint_is_pushed_and_a_refusal_is_retried_with_the_next(seeded, fake_witness, monkeypatch):
    before = max(_checkpoint_sizes() or [0])
    monkeypatch.setenv(witness.URL_ENV, fake_witness.url)
    fake_witness.refuse = 1
    _commit()  # the witness refuses: the commit stands all the same
    assert witness.wait_sent() == 1 and fake_witness.received == []
    assert len(_checkpoint_sizes(before)) == 1
    _commit(2)  # the next checkpoints carry the refused one with them, in order
    assert witness.wait_sent() == 0
    sizes = _checkpoint_sizes(before)
    assert [r["tree_size"] for r in fake_witness.received] == sizes and len(sizes) == 3
    public = signing.private_key().public_key()
    for row in fake_witness.received:
        assert signing.signature_ok(public, row["tree_size"], row["root"], row["at"], row["signature"])


def test_a_witness_that_is_down_never_fails_a_commit(seeded, monkeypatch):
    gone = FakeWitness()
    gone.close()  # nothing listens there any more
    monkeypatch.setenv(witness.URL_ENV, gone.url)
    before = max(_checkpoint_sizes() or [0])
    _commit(2)
    assert len(_checkpoint_sizes(before)) == 2  # both committed and signed
    assert witness.wait_sent() == 2  # still waiting for the witness, to be retried with the next one


@pytest.fixture
def served(app):
    """The web app on a real port, as an outside witness reaches it."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _resign(conn, size: int) -> str:
    """The forger (who also holds the key) replaces the checkpoint of ``size`` by one over the rewritten leaves."""
    hashes = conn.execute(select(AuditEvent.hash).join(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
                          .where(AuditLeaf.leaf < size).order_by(AuditLeaf.leaf)).scalars().all()
    frontier: list = []
    for h in hashes:
        merkle.push(frontier, merkle.event_leaf(h))
    root = merkle.root(frontier).hex()
    row = conn.execute(select(AuditCheckpoint.at).where(AuditCheckpoint.tree_size == size)).first()
    key = signing.private_key()
    conn.execute(text("DELETE FROM audit_checkpoints WHERE tree_size = :s"), {"s": size})
    conn.execute(AuditCheckpoint.__table__.insert().values(
        tree_size=size, root=root, at=row.at, key_id=signing.key_id(key.public_key()),
        signature=signing.sign(key, size, root, row.at)))
    return root


def test_the_witness_command_keeps_a_copy_and_notices_a_rewritten_tree(served, db_url, tmp_path, capsys):
    public = signing.public_b64(signing.private_key().public_key())
    copy = tmp_path / "witness.jsonl"
    args = ["audit", "witness", "--url", served, "--copy", str(copy), "--public-key", public]
    _commit()
    assert main(args) == 0
    assert [json.loads(line)["tree_size"] for line in copy.read_text().splitlines()] == _checkpoint_sizes()
    _commit(2)
    assert main(args) == 0 and "新增 2 个" in capsys.readouterr().out
    kept = copy.read_text()
    old_size = max(_checkpoint_sizes())

    _commit()  # a legitimate checkpoint beyond the copy …
    new_size = max(_checkpoint_sizes())
    with forger(db_url) as conn:  # … then an early event rewritten and the newest checkpoint re-signed over it
        first = conn.execute(select(AuditLeaf.event_id).where(AuditLeaf.leaf == 0)).scalar_one()
        conn.execute(text("UPDATE audit_events SET hash = :h WHERE id = :id"), {"h": "f" * 64, "id": first})
        _resign(conn, new_size)
    assert main(args) == 1
    out = capsys.readouterr().out
    assert f"树大小 {new_size} 的树不是本地副本中树大小 {old_size} 的延续" in out and "未更新" in out
    assert copy.read_text() == kept  # the evidence is kept as it was

    with forger(db_url) as conn:  # the forger re-signs the old sizes too
        _resign(conn, old_size)
    assert main(args) == 1
    assert f"树大小 {old_size} 的根与本地副本不同" in capsys.readouterr().out
    with forger(db_url) as conn:  # or drops them
        conn.execute(text("DELETE FROM audit_checkpoints WHERE tree_size <= :s"), {"s": old_size})
    assert main(args) == 1
    assert f"服务器不再提供本地副本中树大小 {old_size} 的检查点" in capsys.readouterr().out

    other = base64.b64encode(bytes(32)).decode()  # a key that is not the company's
    assert main(["audit", "witness", "--url", served, "--copy", str(tmp_path / "x.jsonl"), "--public-key",
                 signing.public_b64(signing.load_public(other))]) == 1
    assert "签名无效" in capsys.readouterr().out


def test_the_witness_reports_a_lawful_restore_and_still_calls_an_unsigned_rollback_a_rewrite(served, db_url,
                                                                                            tmp_path, capsys):
    public = signing.public_b64(signing.private_key().public_key())
    copy = tmp_path / "witness.jsonl"
    args = ["audit", "witness", "--url", served, "--copy", str(copy), "--public-key", public]
    _commit()
    backup = tree_snapshot(db_url)  # the nightly backup
    restored_to = max(_checkpoint_sizes())
    later = _commit(2)
    assert main(args) == 0  # the witness saw the checkpoints the restore will discard
    seen = max(_checkpoint_sizes())
    capsys.readouterr()

    kept = copy.read_text()
    roll_back(db_url, backup, later)  # the database goes back to the backup, nobody says so
    assert main(args) == 1
    out = capsys.readouterr().out
    assert f"服务器不再提供本地副本中树大小 {seen} 的检查点" in out and "合法恢复" not in out
    assert copy.read_text() == kept  # the evidence is kept as it was

    assert main(["audit", "restored", "--actor", "it_admin"]) == 0  # the admin signs "restored to checkpoint N"
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "不一致" not in out
    [line] = [x for x in out.splitlines() if x.startswith("合法恢复")]
    assert "it_admin" in line and f"树大小 {restored_to}" in line and "被此次恢复舍弃的历史" in line
    assert copy.read_text().startswith(kept)  # appended to, never rewritten: the discarded history stays as seen
    assert [json.loads(x).get("record") for x in copy.read_text().splitlines()].count("restore") == 1

    after = _commit(2)  # life goes on; the new history reuses sizes the discarded one had
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "不一致" not in out and "合法恢复" not in out and "新增 2 个检查点" in out

    roll_back(db_url, backup, after)  # back to the same backup again, and this time nobody signs anything
    assert main(args) == 1  # a second rollback, unsigned this time, is a rewrite again
    out = capsys.readouterr().out
    assert "服务器不再提供本地副本中树大小" in out and "合法恢复" not in out


def test_a_restore_record_signed_by_another_key_is_refused(served, db_url, tmp_path, capsys):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from engine.audit import keys

    public = signing.public_b64(signing.private_key().public_key())
    copy = tmp_path / "witness.jsonl"
    args = ["audit", "witness", "--url", served, "--copy", str(copy), "--public-key", public]
    _commit()
    backup = tree_snapshot(db_url)
    size = max(_checkpoint_sizes())
    later = _commit(2)
    assert main(args) == 0
    roll_back(db_url, backup, later)
    with forger(db_url) as conn:  # a restore record the forger signs with a key of his own
        root = conn.execute(select(AuditCheckpoint.root).where(AuditCheckpoint.tree_size == size)).scalar_one()
        at = "2026-12-01T00:00:00+00:00"
        record = {"record": "restore", "tree_size": size, "root": root, "at": at, "key_id": "x",
                  "signature": base64.b64encode(Ed25519PrivateKey.generate().sign(
                      keys.restore_text(size, root, at))).decode()}
    with db.transaction() as session:
        from engine.audit import history

        history.append(session, keys.CHAIN, "forger", "restored", element_id=str(size), payload=record)
    capsys.readouterr()
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "伪造的恢复" in out and "合法恢复" not in out


def test_checkpoints_and_proofs_are_served_to_anyone_and_bad_input_is_refused(app):
    _commit(3)
    client = app.test_client()  # not signed in: a witness has no account
    res = client.get("/audit/checkpoints")
    assert res.status_code == 200 and res.mimetype == "application/x-ndjson"
    rows = [json.loads(line) for line in res.get_data(as_text=True).splitlines()]
    assert [r["tree_size"] for r in rows] == _checkpoint_sizes()
    smaller, larger = rows[0], rows[-1]
    assert [r["tree_size"] for r in (json.loads(x) for x in client.get(
        f"/audit/checkpoints?since={smaller['tree_size']}").get_data(as_text=True).splitlines())] == _checkpoint_sizes(
        smaller["tree_size"])
    proof = client.get(f"/audit/consistency?first={smaller['tree_size']}&second={larger['tree_size']}").get_json()
    assert merkle.verify_consistency(smaller["tree_size"], larger["tree_size"], bytes.fromhex(smaller["root"]),
                                     bytes.fromhex(larger["root"]), [bytes.fromhex(p) for p in proof["proof"]])
    for query in ("", "?first=x&second=2", "?first=0&second=3", f"?first=1&second={larger['tree_size'] + 5}",
                  "?first=5&second=2"):
        res = client.get(f"/audit/consistency{query}")
        assert res.status_code == 400 and res.get_json()["error"], query


def test_the_monthly_report_prints_the_checkpoint_the_manager_signs(client_for):
    import csv
    import datetime as dt
    import io

    from engine.core import clock

    clock.freeze(dt.datetime(2026, 11, 30, 23, 0, tzinfo=clock.SHANGHAI))
    _commit()
    with db.read_session() as session:
        november = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc())).first()
    clock.freeze(dt.datetime(2026, 12, 1, 0, 30, tzinfo=clock.SHANGHAI))  # December in Shanghai, still 30 Nov UTC
    _commit()
    with db.read_session() as session:
        latest = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc())).first()
    assert latest.tree_size > november.tree_size

    manager = client_for("manager")
    html = manager.get("/reports?month=2026-11").get_data(as_text=True)
    assert f'data-testid="checkpoint-size">{november.tree_size}<' in html
    assert f'data-testid="checkpoint-root">{november.root}<' in html and november.key_id in html
    assert "公司经理签字" in html
    html = manager.get("/reports?month=2026-12").get_data(as_text=True)  # the month still running: the latest
    assert f'data-testid="checkpoint-size">{latest.tree_size}<' in html and latest.root in html
    assert 'data-testid="checkpoint-none"' in manager.get("/reports?month=2026-01").get_data(as_text=True)

    rows = list(csv.reader(io.StringIO(manager.get("/reports/export.csv?month=2026-11").get_data(as_text=True)[1:])))
    assert ["树大小", str(november.tree_size)] in rows and ["根（SHA-256）", november.root] in rows
    assert ["签名密钥 key id", november.key_id] in rows and ["公司经理签字", ""] in rows


def test_the_month_end_statistics_carry_the_checkpoint_the_manager_signs_off(client_for):
    import datetime as dt

    from engine import repository
    from engine.core import clock, config
    from engine.repository import bundle
    from tests.scenarios import driver as d

    with db.transaction() as session:
        repository.deploy(session, bundle.read_paths([config.PROJECT_ROOT / "bpmn" / "monthly_statistics.bpmn"]),
                          actor="tester")
    clock.freeze(dt.datetime(2026, 11, 30, 23, 0, tzinfo=clock.SHANGHAI))
    _commit()
    with db.read_session() as session:
        november = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc())).first()
    clock.freeze(dt.datetime(2026, 11, 30, 23, 59, tzinfo=clock.SHANGHAI))
    assert d.fire_due() == 0
    assert d.advance(minutes=1, seconds=1) == 1  # the statistics start at midnight for the month just ended
    [run] = d.instances_of("monthly_statistics")
    html = client_for("manager").get("/reports?month=2026-11").get_data(as_text=True)
    stats = html.split('data-testid="statistics-run"')[1].split("</article>")[0]
    assert f'<dt>审计检查点树大小</dt><dd class="pre">{november.tree_size}</dd>' in stats
    assert november.root in stats and november.key_id in stats
    page = client_for("manager").get(f"/requests/{run.id}").get_data(as_text=True)
    assert "审计检查点根" in page and november.root in page
