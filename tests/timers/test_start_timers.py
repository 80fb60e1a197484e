"""Timer start events: a new instance at 00:00 Asia/Shanghai on the 1st, for the month just ended."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.core import clock
from engine.timers import start_timers
from tests.timers import helpers as h


def test_the_monthly_statistics_start_at_midnight_on_the_first_for_the_month_just_ended(deployed, db_url):
    clock.freeze(h.shanghai("2026-11-30T23:59:00"))
    poller = h.poller(db_url)
    assert poller.run_due().fired == 0
    [row] = h.start_rows()
    assert (row.process_id, row.element_id, row.kind) == ("mini_monthly", "m_start", "start")
    assert clock.as_utc(row.due_at) == h.shanghai("2026-12-01T00:00:00")

    clock.advance(seconds=59)
    assert poller.run_due().fired == 0 and h.instances_of("mini_monthly") == []
    clock.advance(seconds=1, milliseconds=1)
    assert poller.run_due().fired == 1

    [inst] = h.instances_of("mini_monthly")
    assert h.ready(inst.id).keys() == {"m_review"}
    assert h.lanes(inst.id) == {"m_review": "流程负责人"}
    [fired] = h.firings(inst.id)
    assert fired["timer_kind"] == "start" and fired["lateness_ms"] == 1
    from engine import runtime
    from engine.core import db

    with db.read_session() as session:
        data = runtime.current_data(runtime.load(session, inst.id).workflow)
    assert data["period"] == "2026-11" and data["title"] == "月度统计 2026-11"
    assert h.timer_rows(inst.id) == []  # the instance's own start event does not wait for next month

    [following] = h.start_rows()
    assert clock.as_utc(following.due_at) == h.shanghai("2027-01-01T00:00:00")
    clock.advance(days=20)
    assert poller.run_due().fired == 0
    assert len(h.instances_of("mini_monthly")) == 1


def test_missed_months_are_caught_up_oldest_first_after_downtime(deployed, db_url):
    clock.freeze(h.shanghai("2026-09-15T10:00:00"))
    poller = h.poller(db_url)
    poller.run_due()
    clock.freeze(h.shanghai("2026-12-05T08:00:00"))  # nothing ran from September to December
    assert poller.run_due().fired == 3
    from engine import runtime
    from engine.core import db

    periods = []
    for inst in h.instances_of("mini_monthly"):
        with db.read_session() as session:
            periods.append(runtime.current_data(runtime.load(session, inst.id).workflow)["period"])
    assert periods == ["2026-09", "2026-10", "2026-11"]
    [following] = h.start_rows()
    assert clock.as_utc(following.due_at) == h.shanghai("2027-01-01T00:00:00")


def test_a_start_row_fired_twice_starts_one_instance(deployed, db_url):
    clock.freeze(h.shanghai("2026-11-30T23:59:59"))
    first = h.poller(db_url, owner="a", lease_seconds=5)
    first.sync_start_timers_if_changed()
    clock.advance(seconds=2)
    [claimed] = first.claim()
    assert first.fire(claimed) == "fired"
    assert first.fire(claimed) == "stale"  # redelivery of the same claim
    assert len(h.instances_of("mini_monthly")) == 1


def test_a_new_version_keeps_one_start_row_and_the_next_occurrence(deployed, db_url):
    from engine import repository
    from engine.core import db
    from engine.repository import bundle

    clock.freeze(h.shanghai("2026-11-10T12:00:00"))
    poller = h.poller(db_url)
    poller.run_due()
    [before] = h.start_rows()
    src = bundle.read_paths([h.FIXTURES / "bpmn", h.FIXTURES / "forms"], default_forms=False)
    monthly = src.bpmn["mini_monthly.bpmn"]
    src.bpmn["mini_monthly.bpmn"] = type(monthly)(monthly.name, monthly.path,
                                                   monthly.content.replace("审阅月报".encode(), "审核月报".encode()))
    with db.transaction() as session:
        result = {r.process_id: r for r in repository.deploy(session, src, actor="tester")}
    assert result["mini_monthly"].version == 2
    poller.run_due()
    [after] = h.start_rows()
    assert after.due_at == before.due_at and after.task_id != before.task_id
    clock.freeze(h.shanghai("2026-12-01T00:00:01"))
    assert poller.run_due().fired == 1
    [inst] = h.instances_of("mini_monthly")
    with db.read_session() as session:
        assert repository.session_version(session, inst) == 2


@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("R/P1M", "2026-11-30T23:59:00", "2026-12-01T00:00:00"),
    ("R/P1M", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
    ("R/P1M", "2026-12-31T23:59:59", "2027-01-01T00:00:00"),
    ("R/P1D", "2026-02-28T08:00:00", "2026-03-01T00:00:00"),
    ("R/PT1H", "2026-02-28T08:00:00", "2026-02-28T09:00:00"),
    ("R/P1W", "2026-11-27T08:00:00", "2026-11-30T00:00:00"),  # Friday -> Monday
    ("R/2026-01-31T09:00:00+08:00/P1M", "2026-02-01T00:00:00", "2026-02-28T09:00:00"),
    ("R3/2026-01-01T00:00:00+08:00/P1M", "2026-03-01T00:00:00", None),
    ("R/P1M/2027-01-01T00:00:00+08:00", "2026-11-15T00:00:00", "2026-12-01T00:00:00"),
])
def test_next_occurrence_of_a_cycle_in_shanghai(expression, after, expected):
    spec = start_timers.StartTimerSpec("s", "cycle", expression)
    got = spec.next_occurrence(after=h.shanghai(after), armed_at=h.shanghai(after))
    assert got == (h.shanghai(expected) if expected else None)
    if got is not None:
        assert got.tzinfo == dt.UTC


def test_period_is_the_month_before_the_occurrence():
    assert start_timers.start_data(h.shanghai("2027-01-01T00:00:00"))["period"] == "2026-12"
    assert start_timers.start_data(h.shanghai("2026-12-01T00:00:00"))["period"] == "2026-11"
