"""A runaway script fails its own change and nothing else (issue 12, item 3: "One script stops the deployment").

The attack: a process owner deploys a script that loops forever or allocates without bound. Before, the
script ran under SQLite's write lock with no limit: every other write waited, then failed with "database is
locked", and memory grew to gigabytes. Now the script runs under a time and memory budget, on a copy read
outside the write lock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from xml.sax.saxutils import escape

import pytest

from engine import repository, runtime
from engine.core import db, errors
from engine.core.tables import Instance
from engine.repository import bundle

TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="PID" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="复核">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="review.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="runaway"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>SCRIPT</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="runaway"/>
    <bpmn:sequenceFlow id="f3" sourceRef="runaway" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""

LOOP = "while True:\n    pass"
HOG = "x = []\nwhile True:\n    x.append('a' * 10000)"


def _deploy(process_id: str, script: str) -> None:
    xml = TEMPLATE.replace("PID", process_id).replace("SCRIPT", escape(script)).encode()
    form = json.dumps({"type": "object", "properties": {}}).encode()
    src = bundle.Bundle(bpmn={f"{process_id}.bpmn": bundle.SourceFile(f"{process_id}.bpmn", "test", xml)},
                        forms={"review.schema.json": bundle.SourceFile("review.schema.json", "test", form)})
    with db.transaction() as session:
        repository.deploy(session, src, actor="owner")


def _start(process_id: str) -> str:
    with db.transaction() as session:
        return runtime.start(session, process_id, {"n": 1}, "assistant").id


def _review_task(instance_id: str) -> str:
    with db.read_session() as session:
        loaded = runtime.load(session, instance_id)
        return next(str(t.id) for t in runtime.ready_user_tasks(loaded.workflow))


def _revision(instance_id: str) -> int:
    with db.read_session() as session:
        return session.get(Instance, instance_id).revision


def test_an_endless_loop_fails_its_own_request_while_other_writes_go_through(db_url, monkeypatch):
    monkeypatch.setenv("LIYUAN_SCRIPT_TIME_LIMIT", "2")
    _deploy("runaway_loop", LOOP)
    _deploy("harmless", "y = n + 1")
    victim = _start("runaway_loop")
    task_id = _review_task(victim)
    outcome: dict = {}

    def complete():
        started = time.monotonic()
        try:
            with db.transaction() as session:
                runtime.complete_task(session, victim, task_id, {}, "assistant")
        except errors.EngineError as exc:
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=complete)
    worker.start()
    time.sleep(0.4)  # the loop is running now
    # Meanwhile another person's change (start a request, complete its task) commits at once.
    began = time.monotonic()
    other = _start("harmless")
    with db.transaction() as session:
        runtime.complete_task(session, other, _review_task(other), {}, "assistant")
    meanwhile = time.monotonic() - began
    still_running = worker.is_alive()
    worker.join(timeout=30)

    assert still_running, "the runaway script should still have been running during the other change"
    assert meanwhile < 1.5, f"the other change waited {meanwhile:.1f}s for the runaway script"
    with db.read_session() as session:
        assert session.get(Instance, other).status == "completed"
    error = outcome["error"]
    assert isinstance(error, errors.ScriptFailure)
    assert "超过时间限制（2 秒）" in error.message and "runaway" in error.message and "未保存" in error.message
    assert error.details["permanent"] is True
    assert 1.9 < outcome["seconds"] < 10
    # Nothing of the failed change was written: the task still waits for the reviewer.
    assert _revision(victim) == 1 and _review_task(victim) == task_id


def test_a_script_cannot_catch_its_budget(db_url, monkeypatch):
    monkeypatch.setenv("LIYUAN_SCRIPT_TIME_LIMIT", "0.5")
    _deploy("sly", "while True:\n    try:\n        while True:\n            pass\n    except Exception:\n        pass")
    victim = _start("sly")
    with pytest.raises(errors.ScriptFailure, match="超过时间限制"), db.transaction() as session:
        runtime.complete_task(session, victim, _review_task(victim), {}, "assistant")


@pytest.mark.parametrize("script", ["x = 'a' * 10 ** 10", "x = [0] * 10 ** 9", "x = 10 ** 10 ** 8",
                                    "x = pow(7, 10 ** 9)", "x = 'a'.ljust(10 ** 10)", "x = 1 << 10 ** 9"])
def test_single_huge_operations_are_refused_before_they_allocate(script):
    from engine.scripting import RestrictedEnvironment
    from engine.scripting.budget import BudgetExceeded

    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match="超出内存限制"):
        RestrictedEnvironment().execute(script, {})
    assert time.monotonic() - started < 1


def test_bare_except_is_refused_at_deploy_time():
    from engine import scripting

    assert scripting.check("try:\n    x = 1\nexcept:\n    x = 2") == ["Line 3: 不允许不带异常类型的 except，请写明要捕获的异常"]
    assert scripting.check("x = 3 * 4\ny = 'ab' * 2\nz = 2 ** 10") == []


def test_memory_stays_bounded_while_a_script_allocates_without_end():
    """In a fresh process (so the peak is this script's): 64 MB budget, generous time; the memory check
    stops the script, long before the time limit, with the process's peak near the budget."""
    code = """
HOG = SCRIPT
import json, resource, time
from engine.scripting import RestrictedEnvironment
from engine.scripting.budget import BudgetExceeded
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
try:
    RestrictedEnvironment().execute(HOG, {})
    message = None
except BudgetExceeded as exc:
    message = exc.message
print(json.dumps({"message": message, "seconds": time.monotonic() - started,
                  "grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024}))
""".replace("SCRIPT", repr(HOG))
    env = {"LIYUAN_SCRIPT_TIME_LIMIT": "60", "LIYUAN_SCRIPT_MEMORY_LIMIT_MB": "64", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    result = json.loads(out.stdout)
    assert result["message"] == "脚本占用内存超出限制（64 MB），已中止"
    assert result["seconds"] < 30
    assert result["grew_mb"] < 64 + 48, result


def test_a_change_that_loses_the_race_meanwhile_is_computed_again_under_the_lock(db_url, monkeypatch):
    """Running scripts outside the lock opens a window: another change of the instance may commit while
    this one is computed. The completion is then recomputed under the lock, not refused."""
    from engine.runtime import steps

    _deploy("harmless", "y = n + 1")
    iid = _start("harmless")
    task_id = _review_task(iid)
    original, meddled = steps.complete, []

    def complete_while_someone_else_commits(wf, task, data):
        if not meddled:  # a concurrent change of the same instance commits first
            meddled.append(True)
            with db.transaction() as other:
                runtime.run_steps(other, iid, "colleague", "data_edited", {})
        original(wf, task, data)

    monkeypatch.setattr(steps, "complete", complete_while_someone_else_commits)
    with db.transaction() as session:
        instance = runtime.complete_task(session, iid, task_id, {}, "assistant")
    assert meddled and instance.status == "completed" and _revision(iid) == 3


def test_a_stale_expected_revision_is_still_a_conflict(db_url):
    _deploy("harmless", "y = n + 1")
    iid = _start("harmless")
    with pytest.raises(errors.Conflict), db.transaction() as session:
        runtime.complete_task(session, iid, _review_task(iid), {}, "assistant", expected_revision=7)
