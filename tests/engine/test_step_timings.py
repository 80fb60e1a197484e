"""Step timings of a database that had history before migration 0062: the migration cannot replay, so it notes
the instant (``desk_settings.step_timings_since``); verify asks no row of completions up to it, and
``liyuan audit fill-step-timings`` writes them from the log and drops the note, after which each is checked."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from engine.core import clock, db
from engine.core.tables import StepTiming
from engine.helpdesk import projections_check
from engine.helpdesk.tables import DeskSetting
from tests.engine.helpers import complete, start
from tests.engine.test_audit_forgery import _history
from webapp.cli import main


def _rows(db_url) -> list[tuple]:
    with db.read_session(db_url) as session:
        return sorted((r.instance_id, r.process_id, r.element_id, clock.as_utc(r.ready_at),
                       clock.as_utc(r.completed_at), r.seconds, r.completed_by, r.lane)
                      for r in session.scalars(select(StepTiming)))


def test_rows_of_completions_before_the_table_are_filled_from_the_log(deployed, db_url, capsys):
    done, waiting = _history()  # record after 5 minutes, fix an hour later, confirm at once; another recorded
    written = _rows(db_url)
    assert sorted((r[0] == done, r[2], r[5], r[6]) for r in written) == [
        (False, "record", 0.0, "assistant"), (True, "confirm", 0.0, "assistant"), (True, "fix", 3600.0, "engineer"),
        (True, "record", 300.0, "assistant")]
    with db.transaction(db_url) as session:  # as migration 0062 left a database with this history
        session.execute(delete(StepTiming))
        session.add(DeskSetting(key=projections_check.STEPS_SINCE, value=clock.now().isoformat(),
                                updated_at=clock.now(), updated_by="migration 0062"))
    assert main(["audit", "verify", "--projections"]) == 0, capsys.readouterr().out
    capsys.readouterr()

    assert main(["audit", "fill-step-timings"]) == 0
    assert "已按审计日志补写 4 条环节用时记录" in capsys.readouterr().out
    assert _rows(db_url) == written  # the same rows the runtime wrote, recomputed from the log
    with db.read_session(db_url) as session:
        assert session.get(DeskSetting, projections_check.STEPS_SINCE) is None
    assert main(["audit", "fill-step-timings"]) == 0 and "无需补写" in capsys.readouterr().out

    with db.transaction(db_url) as session:  # now that every completion is checked, a deleted row shows
        session.execute(delete(StepTiming).where(StepTiming.instance_id == done, StepTiming.element_id == "record"))
    assert main(["audit", "verify", "--projections"]) == 1
    assert f"step_timings（实例 {done}）字段 mini_request:record：表中为 '缺失'" in capsys.readouterr().out


def test_a_completion_after_the_note_needs_its_row(deployed, db_url, capsys):
    clock.freeze()
    waiting = start()
    with db.transaction(db_url) as session:
        session.add(DeskSetting(key=projections_check.STEPS_SINCE, value=(clock.now() - dt.timedelta(hours=1))
                                .isoformat(), updated_at=clock.now(), updated_by="migration 0062"))
    clock.advance(minutes=2)
    complete(waiting, "record", {"category": "g", "summary": "借梯子"})
    with db.transaction(db_url) as session:
        session.execute(delete(StepTiming))
    assert main(["audit", "verify", "--projections"]) == 1
    assert f"step_timings（实例 {waiting}）字段 mini_request:record：表中为 '缺失'" in capsys.readouterr().out
