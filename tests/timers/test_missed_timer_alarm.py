"""The missed-timer alarm: timers more than a minute overdue mean no scheduler is firing deadlines."""

from __future__ import annotations

from engine import timers
from engine.core import clock, db
from tests.timers import helpers as h


def _overdue() -> timers.Overdue:
    with db.read_session() as session:
        return timers.overdue(session)


def test_timers_a_minute_overdue_raise_the_alarm_until_a_poller_fires_them(deployed, db_url, capsys):
    from webapp.cli import main

    clock.freeze()
    due = clock.now()
    h.tick_instances(2, due)
    h.start()  # its response timer is due in 30 minutes: not overdue
    clock.advance(seconds=59)
    assert _overdue().count == 0  # late, but within the grace a busy poller may need
    assert main(["timers", "--check"]) == 0
    assert "ok: no timer is overdue" in capsys.readouterr().out

    clock.advance(minutes=3, seconds=2)
    missed = _overdue()
    assert (missed.count, missed.oldest_due, missed.minutes()) == (2, due, 4)
    assert main(["timers", "--check"]) == 1
    assert "ALARM: 2 timer(s) overdue by more than 60 s" in capsys.readouterr().out
    assert main(["timers"]) == 0  # the listing still works, with the alarm on top
    assert capsys.readouterr().out.startswith("ALARM: 2 timer(s)")

    assert h.poller(db_url).run_due().fired == 2
    assert _overdue().count == 0
    assert main(["timers", "--check"]) == 0


def test_timers_late_on_purpose_do_not_raise_the_alarm(deployed, db_url):
    """A timer backing off after a failure, or held by an incident, is late by design and shown elsewhere."""
    clock.freeze()
    poller = h.poller(db_url, backoff_seconds=600.0, max_attempts=2)
    broken = h.start("mini_broken", {})  # its script fails while the fee schedule is empty
    clock.advance(minutes=5, seconds=1)
    assert poller.run_due().failed == 1
    clock.advance(minutes=9)  # due 9 minutes ago, but its retry is not due for another minute
    assert _overdue().count == 0
    clock.advance(minutes=1)
    assert _overdue().count == 0  # the retry just came due: within the grace
    clock.advance(minutes=2)
    assert _overdue().count == 1  # nobody retried it: that is a missed timer
    assert poller.run_due().incidents == 1
    assert h.instance(broken).status == "incident"
    clock.advance(hours=2)
    assert _overdue().count == 0


def test_lateness_histogram_buckets_include_their_upper_bound():
    values = [0, 100, 101, 1000, 1001, 10_000, 60_000, 60_001]
    assert timers.lateness_histogram(values) == [2, 2, 2, 1, 1]  # ≤0.1 s, ≤1 s, ≤10 s, ≤1 min, later
    assert timers.lateness_histogram([]) == [0, 0, 0, 0, 0]
