"""A finished request keeps its workflow state compressed (issue 16: disk per request), and everything that reads
a finished request still works from it: the staff page and its timeline, the resident's page, the auditor's
replay, ``liyuan audit verify --projections`` — and a packed state that was altered is still caught.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import zlib

from sqlalchemy import text

from engine.core import db
from engine.runtime import store
from tests.web.conftest import RESIDENT_PHONE, record_call
from tests.web.test_audit_admin_reports import _repaired_and_rated
from webapp.cli import main


def _row(db_url: str, iid: str):
    with db.get_engine(db_url).connect() as conn:
        return conn.execute(text("SELECT status, state, state_packed, state_fingerprint FROM instances WHERE id = :id"),
                            {"id": iid}).one()


def _store_packed(db_url: str, iid: str, packed: bytes) -> None:
    with db.get_engine(db_url).begin() as conn:  # a DBA with every right rewrites the stored state
        conn.execute(text("UPDATE instances SET state_packed = :p WHERE id = :id"), {"p": packed, "id": iid})


def test_a_finished_request_is_stored_packed_and_a_running_one_as_text(client_for, db_url):
    finished = _repaired_and_rated(client_for)
    running = record_call(client_for("assistant"), description="楼道灯不亮")

    status, state, packed, _fp = _row(db_url, running)
    assert status == "running" and packed is None and json.loads(state)["tasks"]
    status, state, packed, _fp = _row(db_url, finished)
    assert status == "completed" and state == "" and packed is not None
    unpacked = zlib.decompress(packed).decode()
    assert json.loads(unpacked)["tasks"]
    assert len(packed) * 4 < len(unpacked.encode())  # compressed at least fourfold
    assert store.unpack(state, packed) == unpacked


def test_a_finished_request_still_shows_its_page_timeline_portal_and_replay(client_for, db_url, capsys):
    iid = _repaired_and_rated(client_for)
    assert _row(db_url, iid).state_packed is not None

    staff = client_for("cs_supervisor").get(f"/requests/{iid}")
    html = staff.get_data(as_text=True)
    assert staff.status_code == 200
    assert "热线来电登记，求助已受理" in html and "更换角阀" in html  # the timeline and the process data
    assert '"active": []' in html or '"active":[]' in html.replace(", ", ",")  # nothing left on the diagram

    page = client_for(RESIDENT_PHONE).get(f"/portal/requests/{iid}").get_data(as_text=True)
    assert 'data-testid="status">已关闭<' in page

    replayed = client_for("auditor").post(f"/audit/{iid}/replay").get_data(as_text=True)
    assert "✓ 全部" in replayed and replayed.count('class="step ok"') == 3

    assert main(["audit", "replay", iid]) == 0
    assert main(["audit", "verify", "--projections"]) == 0
    assert "projections recomputed from the log" in capsys.readouterr().out


def test_an_altered_packed_state_is_caught_by_replay_and_the_projections_check(client_for, db_url, capsys):
    iid = _repaired_and_rated(client_for)
    unpacked = zlib.decompress(_row(db_url, iid).state_packed).decode()
    old, new = json.dumps("更换角阀")[1:-1], json.dumps("更换水管")[1:-1]
    assert old in unpacked
    _store_packed(db_url, iid, zlib.compress(unpacked.replace(old, new).encode()))

    replayed = client_for("auditor").post(f"/audit/{iid}/replay").get_data(as_text=True)
    assert "✗ 不一致" in replayed and "保存的状态被修改过" in replayed
    assert main(["audit", "replay", iid]) == 1
    assert main(["audit", "verify", "--projections"]) == 1
    capsys.readouterr()

    _store_packed(db_url, iid, b"not zlib at all")  # unreadable bytes are tampering too, not a crash
    replayed = client_for("auditor").post(f"/audit/{iid}/replay").get_data(as_text=True)
    assert "✗ 不一致" in replayed and "压缩" in replayed
    assert main(["audit", "replay", iid]) == 1
