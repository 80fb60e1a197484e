"""A timer whose firing raises is retried with back-off, then becomes an incident an admin can retry."""

from __future__ import annotations

import datetime as dt

from engine.core import clock, db
from engine.helpdesk import intake
from engine.timers import firing, incidents
from tests.timers import helpers as h


def test_a_failing_timer_is_retried_then_becomes_an_incident_and_others_keep_firing(deployed, db_url, capsys):
    clock.freeze()
    poller = h.poller(db_url, backoff_seconds=2.0)
    broken = h.start("mini_broken", {})  # its script reads the fee schedule, which is still empty
    clock.advance(minutes=5, seconds=1)
    stats = poller.run_due()
    assert (stats.fired, stats.failed) == (0, 1)
    [row] = h.timer_rows(broken)
    assert row.attempts == 1 and row.last_error
    assert clock.as_utc(row.next_attempt_at) == clock.now() + dt.timedelta(seconds=2)
    assert row.lease_owner is None

    other = h.start()  # an unrelated request whose timer comes due while the broken one backs off
    for delay in (2, 4, 8):  # doubling back-off
        clock.advance(seconds=delay - 0.5)
        assert poller.run_due().failed == 0  # still backing off
        clock.advance(seconds=0.5)
        assert poller.run_due().failed == 1
    [row] = h.timer_rows(broken)
    assert row.attempts == 4
    clock.advance(minutes=31)
    stats = poller.run_due()
    assert (stats.fired, stats.incidents) == (1, 1)
    assert "urge" in h.ready(other)  # the other timer was not held up

    assert h.instance(broken).status == "incident"
    with db.read_session() as session:
        [incident] = incidents.list_incidents(session)
    assert (incident.instance_id, incident.element_id, incident.resolved_at) == (broken, "b_price", None)
    assert "IndexError" in incident.error or "index" in incident.error
    clock.advance(hours=1)
    assert poller.run_due().total == 0  # an incident is not retried on its own

    from webapp.cli import main

    assert main(["incidents"]) == 0
    assert f"#{incident.id}" in capsys.readouterr().out

    with db.transaction() as session:  # the admin fixes the cause: the fee schedule is filled in
        intake.ensure_default_fees(session)
    assert main(["incidents", "retry", str(incident.id), "--actor", "admin"]) == 0
    assert h.instance(broken).status == "running"
    assert poller.run_due().fired == 1
    assert set(h.ready(broken)) == {"b_quote"}
    with db.read_session() as session:
        assert incidents.list_incidents(session) == []
        [resolved] = incidents.list_incidents(session, open_only=False)
    assert resolved.resolved_by == "admin"
    assert main(["incidents", "retry", str(incident.id)]) == 1  # already resolved
    assert h.count_events("incident_raised") == 1 and h.count_events("incident_retried") == 1


def test_backoff_doubles_and_is_capped():
    p = firing.Poller("sqlite:///:memory:", backoff_seconds=2, backoff_cap_seconds=10)
    assert [p.backoff(n).total_seconds() for n in range(1, 6)] == [2, 4, 8, 10, 10]


def test_an_incident_holds_every_timer_of_its_request_until_the_admin_retries(db_url):
    """A request whose one timer became an incident fires none of its timers — not even its other SLA clock —
    until an admin retries; then they fire as another request's did. (The poller reads ``timers.fire_at`` only,
    so holding and releasing it is what keeps a broken request quiet.)"""
    from tests.conftest import deploy_procedure

    deploy_procedure(clock.now())
    call = {"channel": "hotline", **h.CALL, "recorded_by": "assistant"}
    held, other = h.start("help_request", dict(call)), h.start("help_request", dict(call))
    rows = {r.sla_key: r for r in h.timer_rows(held)}
    assert {"response", "resolve_ordinary"} <= set(rows)
    poller = h.poller(db_url)
    with db.transaction() as session:
        from engine.core.tables import Timer

        row = session.get(Timer, rows["response"].id)
        row.attempts = firing.MAX_ATTEMPTS
        incidents.raise_incident(session, row, "测试：脚本出错", row.element_id, clock.now())
    clock.advance(hours=25)  # both of its clocks, and the other request's, are long past due
    assert poller.run_due().fired >= 1
    assert {f["chain"] for f in h.firings()} == {other}
    assert poller.next_due() is None or poller.next_due() > clock.now()  # nothing of the held request is due
    assert len(h.timer_rows(held)) == 2  # held, not dropped

    with db.read_session() as session:
        [incident] = incidents.list_incidents(session)
    with db.transaction() as session:
        incidents.retry_incident(session, incident.id, "admin")
    claimed = poller.claim()  # both of its clocks are due again, not only the one that failed
    assert sorted(c.sla_key for c in claimed) == ["resolve_ordinary", "response"]
    for c in sorted(claimed, key=lambda c: c.due_at):
        poller.fire(c)
    # then it escalates exactly as the request that was never held did
    assert [f["sla"] for f in h.firings(held)] == [f["sla"] for f in h.firings(other)]
    assert "response" in [f["sla"] for f in h.firings(held)]
