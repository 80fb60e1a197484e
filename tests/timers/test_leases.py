"""Leases: a killed poller's claims expire and another poller takes them; many pollers never double-fire."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import threading
from collections import Counter

import pytest

from engine.core import clock
from tests.timers import helpers as h

ROOT = h.FIXTURES.parent.parent

CLAIM_AND_HANG = """
import sys, time, datetime as dt
from engine.core import clock
from engine.timers import firing
clock.freeze(dt.datetime.fromisoformat(sys.argv[2]))
poller = firing.Poller(sys.argv[1], owner="doomed", lease_seconds=30)
assert poller.is_active()
print(len(poller.claim()), flush=True)
time.sleep(600)
"""


def test_a_killed_pollers_claims_are_taken_over_after_their_lease_expires(deployed, db_url):
    start = clock.freeze()
    iids = h.tick_instances(3, start + dt.timedelta(seconds=1))
    clock.advance(seconds=2)
    doomed = subprocess.Popen([sys.executable, "-c", CLAIM_AND_HANG, db_url, clock.now().isoformat()],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert doomed.stdout.readline().strip() == "3"
        successor = h.poller(db_url, owner="successor")
        if db_url.startswith("sqlite"):
            assert not successor.is_active()  # a standby while the active poller lives
        assert {r.lease_owner for r in h.timer_rows()} == {"doomed"}
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    assert successor.is_active()
    assert successor.run_due().fired == 0  # the dead poller's leases still hold
    clock.advance(seconds=29)
    assert successor.run_due().fired == 0
    clock.advance(seconds=2)
    assert successor.run_due().fired == 3
    assert Counter(f["chain"] for f in h.firings()) == Counter(iids)


def test_sqlite_has_one_active_poller_and_standbys(deployed, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL runs every poller actively (SKIP LOCKED)")
    clock.freeze()
    h.tick_instances(2, clock.now())
    clock.advance(seconds=1)
    active, standby = h.poller(db_url, owner="one"), h.poller(db_url, owner="two")
    assert active.is_active() and not standby.is_active()
    assert standby.run_due().total == 0
    active.release()
    assert standby.is_active() and not active.is_active()
    assert standby.run_due().fired == 2


def test_the_same_claim_delivered_twice_fires_once(deployed, db_url):
    clock.freeze()
    [iid] = h.tick_instances(1, clock.now())
    clock.advance(seconds=1)
    poller = h.poller(db_url)
    [claimed] = poller.claim()
    assert poller.fire(claimed) == "fired"
    assert poller.fire(claimed) == "stale"
    revision = h.instance(iid).revision
    assert poller.fire(claimed) == "stale" and h.instance(iid).revision == revision
    assert len(h.firings(iid)) == 1 and h.instance(iid).status == "completed"


def test_a_lease_stolen_after_expiry_leaves_the_first_poller_nothing_to_do(deployed, db_url):
    clock.freeze()
    [iid] = h.tick_instances(1, clock.now())
    clock.advance(seconds=1)
    slow, fast = h.poller(db_url, owner="slow", lease_seconds=5), h.poller(db_url, owner="fast")
    [claimed] = slow.claim()
    clock.advance(seconds=6)  # slow stalls past its lease
    assert fast.run_due().fired == 1
    assert slow.fire(claimed) == "stale"
    assert len(h.firings(iid)) == 1


@pytest.mark.parametrize("lease_seconds", [60, -1], ids=["leases", "leases-always-expired"])
def test_two_pollers_on_postgresql_fire_200_timers_exactly_once(deployed, db_url, lease_seconds):
    if not db_url.startswith("postgresql"):
        pytest.skip("concurrent pollers are a PostgreSQL deployment")
    start = clock.freeze()
    iids = h.tick_instances(200, start + dt.timedelta(seconds=1), dt.timedelta(milliseconds=5))
    clock.advance(seconds=5)
    pollers = [h.poller(db_url, owner=f"p{i}", batch=10, lease_seconds=lease_seconds) for i in range(2)]
    results, errors = {}, []

    def run(p):
        try:
            total = 0
            while True:
                stats = p.run_due()
                total += stats.fired
                if stats.total == 0:
                    break
            results[p.owner] = total
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in pollers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    per_instance = Counter(f["chain"] for f in h.firings())
    assert per_instance == Counter(iids)  # every one exactly once
    assert sum(results.values()) == 200
    assert all(n > 0 for n in results.values()), results  # both took part
    assert [r for r in h.timer_rows() if r.instance_id] == []


def test_downtime_backlog_fires_oldest_first(deployed, db_url):
    start = clock.freeze()
    offsets = [30, 10, 50, 20, 40]
    with_due = {h.tick_instances(1, start + dt.timedelta(minutes=m))[0]: m for m in offsets}
    clock.advance(hours=2)  # nothing ran in between
    assert h.poller(db_url, batch=2).run_due().fired == 5
    fired = h.firings()
    assert [with_due[f["chain"]] for f in fired] == sorted(offsets)
    assert [f["lateness_ms"] for f in fired] == [(120 - m) * 60_000 for m in sorted(offsets)]


def test_liyuan_timers_shows_upcoming_timers_and_lateness(deployed, db_url, capsys):
    from webapp.cli import main

    clock.freeze()
    h.start()
    h.tick_instances(2, clock.now() + dt.timedelta(seconds=1))
    clock.advance(seconds=2)
    h.poller(db_url).run_due()
    assert main(["timers"]) == 0
    out = capsys.readouterr().out
    assert "record_late" in out and "response" in out and "mini_monthly" in out
    assert "lateness of the last 2 firings: p50 1.000s  p99 1.000s  max 1.000s" in out
    assert main(["sla", "--open"]) == 0
    assert "response" in capsys.readouterr().out
