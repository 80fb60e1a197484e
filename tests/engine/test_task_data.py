"""A task's data read straight from the stored state (what ``GET /api/v1/tasks/<id>`` shows) is the data the
deserialized workflow holds: at every step of a process with a parallel split and a call activity, for
each ready task, with a date in the data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from engine import repository, runtime
from engine.core import db
from engine.core.tables import TaskRow
from engine.repository import bundle

BENCH = Path(__file__).resolve().parents[2] / "bench"
START = {"channel": "hotline", "caller_name": "测试", "phone": "13800000000", "address": "1栋101", "description": "x",
         "visited_at": dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)}


def _compare(session, iid: str) -> int:
    loaded = runtime.load(session, iid)
    rows = session.scalars(select(TaskRow).where(TaskRow.instance_id == iid)).all()
    for row in rows:
        task = runtime.find_task(loaded.workflow, row.id)
        assert runtime.serialization.task_data(loaded.instance.state, row.id) == task.data
    return len(rows)


def test_task_data_from_the_state_is_the_deserialized_task_data(db_url):
    with db.transaction() as session:
        repository.deploy(session, bundle.read_paths([BENCH / "bpmn", BENCH / "forms"], default_forms=False),
                          actor="tester")
    with db.transaction() as session:
        iid = runtime.start(session, "bench_lifecycle", START, "tester").id
    compared, step = 0, 0
    while True:
        with db.read_session() as session:
            compared += _compare(session, iid)
            task_id = session.scalar(select(TaskRow.id).where(TaskRow.instance_id == iid)
                                     .order_by(TaskRow.ready_at, TaskRow.id).limit(1))
        if task_id is None:
            break
        with db.transaction() as session:
            runtime.complete_task(session, iid, task_id, {"value": 150 + step, "note": f"第{step}步"}, "tester")
        step += 1
    assert step >= 8 and compared > step  # the parallel branch had two ready tasks at once
    with db.read_session() as session:
        state = runtime.load(session, iid).instance.state
    assert runtime.serialization.task_data(state, "no-such-task") is None
