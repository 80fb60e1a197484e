"""The audit log holds every input needed to re-run an instance (issue 2, item 5; the auditors' replay)."""

from __future__ import annotations

import json

from sqlalchemy import text

from engine.core import clock, db
from engine.runtime import replay
from tests.engine.helpers import complete, start
from webapp.cli import main


def _replay(iid):
    with db.read_session() as session:
        return replay.replay(session, iid)


def test_a_finished_request_replays_to_the_same_state_at_every_step(deployed, capsys):
    clock.freeze()
    iid = start()
    clock.advance(minutes=7)
    complete(iid, "record", {"category": "b", "summary": "厨房漏水"})
    clock.advance(hours=2)
    complete(iid, "fix", {"fix_note": "更换阀门", "fixed": True}, "engineer", "engineering")
    complete(iid, "confirm", {"satisfaction": 4, "comment": "及时"})
    result = _replay(iid)
    assert result.ok, (result.error, result.first_mismatch)
    assert [s.kind for s in result.steps] == ["started", "task_completed", "task_completed", "task_completed"]
    assert [s.ready for s in result.steps] == [["record"], ["fix"], ["confirm"], []]
    assert main(["audit", "replay", iid]) == 0
    assert "replay reproduces the recorded history" in capsys.readouterr().out


def test_a_running_request_with_an_armed_timer_replays(deployed):
    clock.freeze()
    iid = start()  # arms the 30-minute response timer; its due time is part of the fingerprint
    clock.advance(minutes=3)
    assert _replay(iid).ok


def test_an_altered_instance_state_is_detected_by_replay(deployed, db_url, capsys):
    iid = start()
    complete(iid, "record", {"category": "g", "summary": "借梯子"})
    with db.get_engine(db_url).begin() as conn:  # someone rewrites the submitted summary in the blob
        state = conn.execute(text("SELECT state FROM instances WHERE id = :id"), {"id": iid}).scalar()
        old, new = json.dumps("借梯子")[1:-1], json.dumps("借电钻")[1:-1]
        assert old in state
        conn.execute(text("UPDATE instances SET state = :s WHERE id = :id"), {"s": state.replace(old, new), "id": iid})
    result = _replay(iid)
    assert not result.ok and "altered" in result.error
    assert main(["audit", "replay", iid]) == 1
    assert "does NOT reproduce" in capsys.readouterr().out
