"""Deadline timers fire through the poller: boundary (both kinds), intermediate, inside call activities."""

from __future__ import annotations

from engine.core import clock
from tests.timers import helpers as h


def test_a_request_left_alone_for_30_minutes_is_escalated_to_the_supervisor(deployed, db_url):
    clock.freeze()
    iid = h.start()
    poller = h.poller(db_url)
    clock.advance(minutes=29, seconds=59)
    assert poller.run_due().fired == 0
    assert h.lanes(iid) == {"record": "物业助理"}
    clock.advance(seconds=2)
    assert poller.run_due().fired == 1
    # non-interrupting: the assistant still has the task, the supervisor now has the urge task
    assert h.lanes(iid) == {"record": "物业助理", "urge": "客服部主管"}
    [clk] = h.clocks(iid)
    assert (clk.sla_key, clk.status) == ("response", "breached")
    assert h.timer_rows(iid) == []
    [fired] = h.firings(iid)
    assert fired["element_id"] == "record_late" and fired["sla"] == "response"
    assert fired["lateness_ms"] == 1000
    assert fired["fired_at"] > fired["due_at"]


def test_a_request_recorded_in_time_meets_its_clock_and_nothing_escalates(deployed, db_url):
    clock.freeze()
    iid = h.start()
    clock.advance(minutes=20)
    h.complete(iid, "record", _record_data())
    [clk] = h.clocks(iid)
    assert clk.status == "met" and clk.met_at is not None
    assert h.timer_rows(iid) == []
    clock.advance(hours=2)
    assert h.poller(db_url).run_due().fired == 0
    assert "urge" not in h.lanes(iid)


def _record_data() -> dict:
    return h.minimal(h.form("mini_record.schema.json"))


def test_an_interrupting_timer_cancels_the_task_and_hands_it_up(deployed, db_url):
    clock.freeze()
    iid = h.start("mini_timers", {})
    assert h.lanes(iid) == {"handle": "物业助理"}
    clock.advance(hours=1, seconds=1)
    assert h.poller(db_url).run_due().fired == 1
    assert h.lanes(iid) == {"escalate": "客服部主管"}
    [clk] = h.clocks(iid)
    assert (clk.sla_key, clk.status) == ("resolve_ordinary", "breached")


def test_intermediate_timers_wait_also_inside_a_called_process(deployed, db_url):
    clock.freeze()
    poller = h.poller(db_url)
    iid = h.start("mini_timers", {})
    h.complete(iid, "handle", {"note": "好了"})
    [cool] = h.timer_rows(iid)
    assert (cool.element_id, cool.kind, cool.sla_key) == ("cool_off", "intermediate", None)
    [clk] = h.clocks(iid)
    assert clk.status == "met"  # handled within the hour
    clock.advance(minutes=10, seconds=1)
    assert poller.run_due().fired == 1
    [inner] = h.timer_rows(iid)
    assert (inner.process_id, inner.element_id) == ("mini_wait", "wait_inner")
    assert h.ready(iid) == {}
    clock.advance(minutes=4)
    assert poller.run_due().fired == 0
    clock.advance(minutes=1, seconds=1)
    assert poller.run_due().fired == 1
    assert set(h.ready(iid)) == {"after_wait"}
    assert [f["element_id"] for f in h.firings(iid)] == ["cool_off", "wait_inner"]


def test_a_row_whose_timer_no_longer_waits_is_dropped_without_effect(deployed, db_url):
    from engine.core import db
    from engine.core.tables import Timer

    clock.freeze()
    iid = h.start()
    revision = h.instance(iid).revision
    with db.transaction() as session:
        session.add(Timer(instance_id=iid, task_id="00000000-0000-0000-0000-000000000000", process_id="mini_request",
                          element_id="record_late", kind="boundary", due_at=clock.now(), attempts=0,
                          created_at=clock.now()))
    clock.advance(seconds=1)
    stats = h.poller(db_url).run_due()
    assert (stats.fired, stats.stale) == (0, 1)
    assert h.instance(iid).revision == revision
    assert len(h.timer_rows(iid)) == 1  # the real timer, still armed
    assert h.firings(iid) == []
