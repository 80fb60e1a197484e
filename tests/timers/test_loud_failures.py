"""Timers that fail loudly (issue 12, item 8): a timer that cannot fire becomes an incident at once and holds
up no other; a database error pauses the poller and the missed-timer alarm reports what waits; a
``timeDuration`` start event fires once, a cycle as its cycle says."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from xml.sax.saxutils import escape

import pytest
from sqlalchemy.exc import OperationalError

from engine import repository
from engine.core import clock, db
from engine.repository import bundle
from engine.timers import firing, incidents, monitoring
from tests.timers import helpers as h

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="PID" isExecutable="true">"""
TAIL = """
    <bpmn:userTask id="review" name="复核">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="review.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="act"/>
    <bpmn:sequenceFlow id="f3" sourceRef="act" targetRef="review"/>
    <bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def _timer_then_script(process_id: str, script: str, wait: str = "PT1M") -> bytes:
    """start → wait (one minute) → script → review."""
    return (HEAD.replace("PID", process_id) + """
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"WAIT"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="act"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>""" + escape(script) + "</bpmn:script></bpmn:scriptTask>" + TAIL).replace("WAIT", wait).encode()


def _timer_start(process_id: str, kind: str, expression: str) -> bytes:
    """A timer start event (``kind``: timeDuration | timeCycle | timeDate) → script → review."""
    return (HEAD.replace("PID", process_id) + f"""
    <bpmn:startEvent id="wait"><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:{kind}>"{expression}"</bpmn:{kind}></bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:scriptTask id="act"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>n = 1</bpmn:script></bpmn:scriptTask>""" + TAIL.replace(
        '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>', "")).encode()


def _deploy(process_id: str, xml: bytes) -> None:
    form = json.dumps({"type": "object", "properties": {}}).encode()
    src = bundle.Bundle(bpmn={f"{process_id}.bpmn": bundle.SourceFile(f"{process_id}.bpmn", "test", xml)},
                        forms={"review.schema.json": bundle.SourceFile("review.schema.json", "test", form)})
    with db.transaction() as session:
        repository.deploy(session, src, actor="owner")


def _open_incidents():
    with db.read_session() as session:
        return incidents.list_incidents(session)


@pytest.mark.parametrize("script, says", [
    ("total = float('nan')", "字段 total"),
    ("point = complex(1, 2)", "字段 point"),
    ("grid = {}\ngrid[(1, 2)] = 3", "字段 grid"),
])
def test_a_timer_storing_a_value_json_cannot_hold_is_an_incident_at_once_and_blocks_no_other(
        deployed, db_url, script, says):
    clock.freeze()
    _deploy("bad_store", _timer_then_script("bad_store", script))
    poller = h.poller(db_url, batch=10)
    bad = h.start("bad_store", {})
    others = h.tick_instances(3, clock.now() + dt.timedelta(seconds=30))  # due in the same batch, after it
    clock.advance(minutes=1, seconds=1)

    stats = poller.run_due()

    assert (stats.incidents, stats.fired, stats.failed) == (1, 3, 0)
    assert all(h.instance(i).status == "completed" for i in others)
    assert h.instance(bad).status == "incident"
    [incident] = _open_incidents()
    assert incident.instance_id == bad and incident.element_id == "wait"  # the timer that could not fire
    assert "无法保存的值" in incident.error and says in incident.error
    clock.advance(hours=1)
    assert poller.run_due().total == 0  # not retried on its own
    with db.read_session() as session:
        from engine.core.tables import Instance
        state = session.get(Instance, bad).state
    json.loads(state, parse_constant=lambda c: pytest.fail(f"stored {c}"))  # the last good state, strict JSON


def test_a_runaway_timer_script_is_an_incident_at_once_with_the_budget_message(deployed, db_url, monkeypatch):
    monkeypatch.setenv("LIYUAN_SCRIPT_TIME_LIMIT", "0.5")
    clock.freeze()
    _deploy("runaway_timer", _timer_then_script("runaway_timer", "while True:\n    pass"))
    poller = h.poller(db_url)
    bad = h.start("runaway_timer", {})
    [other] = h.tick_instances(1, clock.now() + dt.timedelta(seconds=59))
    clock.advance(minutes=1, seconds=1)

    stats = poller.run_due()

    assert (stats.incidents, stats.fired) == (1, 1)
    assert h.instance(other).status == "completed"
    [incident] = _open_incidents()
    assert incident.instance_id == bad and incident.element_id == "act"
    assert "超过时间限制（0.5 秒）" in incident.error


def _disk_io_error(*args, **kwargs):
    raise OperationalError("UPDATE instances ...", {}, sqlite3.OperationalError("disk I/O error"))


def test_a_database_error_pauses_the_poller_with_growing_backoff_and_raises_the_missed_timer_alarm(
        deployed, db_url, monkeypatch, caplog):
    clock.freeze()
    poller = h.poller(db_url)
    [iid] = h.tick_instances(1, clock.now() + dt.timedelta(seconds=1))
    clock.advance(seconds=2)
    calls = []

    def broken(*args, **kwargs):
        calls.append(clock.now())
        _disk_io_error()

    with monkeypatch.context() as patched:
        patched.setattr(firing.runtime, "run_steps", broken)
        stats = poller.run_due()
        assert (stats.database_errors, stats.fired, stats.deferred) == (1, 0, 0)
        assert "database error" in caplog.text and "disk I/O error" in caplog.text

        # Not every 0.2 s: the poller waits 1 s, then 2 s, then 4 s …
        for pause in (1, 2, 4, 8):
            clock.advance(seconds=pause - 0.1)
            assert poller.run_due().total == 0 and poller.run_due().database_errors == 0
            clock.advance(seconds=0.1)
            assert poller.run_due().database_errors == 1
        assert len(calls) == 5
        [row] = h.timer_rows(iid)
        assert row.attempts == 0 and row.next_attempt_at is None  # the timer itself is not to blame

        clock.advance(seconds=60)  # a minute late: whoever looks sees the alarm
        with db.read_session() as session:
            alarm = monitoring.overdue(session)
        assert alarm.count == 1

    # the database recovers
    clock.advance(seconds=60)
    assert poller.run_due().fired == 1
    assert h.instance(iid).status == "completed"
    with db.read_session() as session:
        assert monitoring.overdue(session).count == 0
    assert poller.database.failures == 0


def test_a_lost_race_is_still_retried_shortly(deployed, db_url, monkeypatch):
    from engine.core import errors

    clock.freeze()
    poller = h.poller(db_url)
    [iid] = h.tick_instances(1, clock.now() + dt.timedelta(seconds=1))
    clock.advance(seconds=2)

    def conflict(*args, **kwargs):
        raise errors.Conflict("此求助刚被他人更新")

    with monkeypatch.context() as patched:
        patched.setattr(firing.runtime, "run_steps", conflict)
        assert poller.run_due().deferred == 1
    clock.advance(seconds=0.2)
    assert poller.run_due().fired == 1 and poller.database.failures == 0


def test_a_duration_start_event_fires_once_even_across_restarts(deployed, db_url):
    clock.freeze()
    _deploy("once", _timer_start("once", "timeDuration", "PT3S"))
    poller = h.poller(db_url)
    assert poller.run_due().fired == 0  # armed now, due in three seconds
    clock.advance(seconds=3, milliseconds=1)
    assert poller.run_due().fired == 1
    for _ in range(5):
        clock.advance(seconds=3)
        assert poller.run_due().fired == 0
    restarted = h.poller(db_url, owner="restarted")  # a new process syncs the start timers afresh
    clock.advance(seconds=10)
    assert restarted.run_due().fired == 0
    clock.advance(seconds=10)
    assert restarted.run_due().fired == 0
    assert len(h.instances_of("once")) == 1
    assert [r for r in h.start_rows() if r.process_id == "once"] == []


def test_a_cycle_start_event_fires_as_often_as_its_cycle_says(deployed, db_url):
    clock.freeze(h.shanghai("2026-12-01T09:00:00"))
    _deploy("thrice", _timer_start("thrice", "timeCycle", "R3/2026-12-01T09:00:10+08:00/PT10S"))
    poller = h.poller(db_url)
    poller.run_due()
    fired = 0
    for _ in range(10):
        clock.advance(seconds=10)
        fired += poller.run_due().fired
    assert fired == 3 and len(h.instances_of("thrice")) == 3


def test_a_runaway_timer_script_runs_outside_the_write_lock(deployed, db_url, monkeypatch):
    import threading
    import time

    monkeypatch.setenv("LIYUAN_SCRIPT_TIME_LIMIT", "2")
    clock.freeze()
    _deploy("runaway_timer", _timer_then_script("runaway_timer", "while True:\n    pass"))
    bad = h.start("runaway_timer", {})
    clock.advance(minutes=1, seconds=1)
    poller, outcome = h.poller(db_url), []
    worker = threading.Thread(target=lambda: outcome.append(poller.run_due()))
    worker.start()
    time.sleep(0.4)  # the timer's script is spinning now
    began = time.monotonic()
    other = h.start()  # a person registers a request meanwhile
    meanwhile = time.monotonic() - began
    still_running = worker.is_alive()
    worker.join(timeout=30)

    assert still_running and meanwhile < 1.5, f"the request waited {meanwhile:.1f}s for the timer's script"
    assert h.instance(other).status == "running"
    assert outcome[0].incidents == 1 and h.instance(bad).status == "incident"


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_liyuan_serve_stays_responsive_and_stops_on_sigterm_while_a_timer_script_runs_away(deployed, db_url):
    """The finding as it was seen: a deployed endless loop, the real server. Pages keep answering while the
    loop spins, SIGTERM stops the server, and the timer ends as an incident."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.conftest import ROOT

    _deploy("runaway_timer", _timer_then_script("runaway_timer", "while True:\n    pass", wait="PT1S"))
    bad = h.start("runaway_timer", {})
    time.sleep(1.1)  # its timer is due
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LIYUAN_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), "LIYUAN_SCRIPT_TIME_LIMIT": "4"}
    proc = subprocess.Popen([sys.executable, "-m", "webapp.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = ""
    try:
        answered = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(answered) < 5:
            try:
                started = time.monotonic()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as res:
                    answered.append((res.status, time.monotonic() - started))
            except OSError:
                time.sleep(0.1)
        assert [status for status, _ in answered] == [200] * 5
        assert max(seconds for _, seconds in answered) < 1.5
        proc.send_signal(signal.SIGTERM)  # while the loop may still spin: the budget ends it
        sent = time.monotonic()
        output, _ = proc.communicate(timeout=20)
        assert time.monotonic() - sent < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            output, _ = proc.communicate()
    assert proc.returncode == 0, output
    with db.read_session() as session:
        [incident] = incidents.list_incidents(session)
    assert incident.instance_id == bad and "超过时间限制（4 秒）" in incident.error


def test_a_row_due_earlier_than_its_instance_says_is_moved_to_the_instance_s_time(deployed, db_url):
    """Two processes' clocks disagree: the row is rescheduled, not fired early, not dropped."""
    from sqlalchemy import update

    from engine.core.tables import Timer

    clock.freeze()
    [iid] = h.tick_instances(1, clock.now() + dt.timedelta(minutes=10))
    with db.transaction() as session:
        session.execute(update(Timer).where(Timer.instance_id == iid).values(due_at=clock.now(), fire_at=clock.now()))
    assert h.poller(db_url).run_due().deferred == 1
    [row] = h.timer_rows(iid)
    assert clock.as_utc(row.due_at) == clock.now() + dt.timedelta(minutes=10) and row.lease_owner is None
