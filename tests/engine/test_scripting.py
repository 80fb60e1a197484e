"""Scripts are untrusted input: RestrictedPython at deploy time and at run time (issue 2, item 4)."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import scripting
from engine.repository import bundle, validation

ESCAPE = "().__class__.__mro__[1].__subclasses__()"

TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="script"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>SCRIPT</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="script"/>
    <bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def _xml(script: str) -> bytes:
    return TEMPLATE.replace("SCRIPT", escape(script)).encode()


def _run(script: str, data: dict | None = None) -> dict:
    """Run the script the way the runtime does, *bypassing* deploy-time validation."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(_xml(script), filename="p.bpmn")
    wf = BpmnWorkflow(parser.get_spec("p"), script_engine=scripting.script_engine())
    wf.task_tree.data.update(data or {})
    wf.do_engine_steps()
    return wf.data


def _validate(script: str, *, run: bool = True) -> list[str]:
    src = bundle.Bundle(bpmn={"p.bpmn": bundle.SourceFile("p.bpmn", "p.bpmn", _xml(script))})
    return [str(p) for p in validation.validate(src, run=run)]


@pytest.mark.parametrize("script", [
    f"x = {ESCAPE}",
    "import os\nx = os.getcwd()",
    "x = __import__('os').getcwd()",
    "x = open('/etc/hostname').read()",
    "x = getattr((), '__class__')",
])
def test_escapes_are_refused_at_run_time_even_if_validation_was_bypassed(script):
    with pytest.raises(SpiffWorkflowException):
        _run(script)


@pytest.mark.parametrize("script", [f"x = {ESCAPE}", "import os", "x = __import__('os')"])
def test_escapes_are_refused_at_validation(script):
    problems = _validate(script)
    assert problems and all(p.startswith("p.bpmn:") and ": script: script 脚本不被允许" in p for p in problems), problems


def test_the_subclasses_escape_is_named_in_the_message():
    assert any("__subclasses__" in p for p in _validate(f"x = {ESCAPE}"))
    assert scripting.check(ESCAPE, "eval")


def test_ordinary_scripts_and_helpers_still_work():
    data = _run("due = add_duration('2026-11-27T08:00:00+08:00', 'PT30M')\n"
                "total = sum([p * 2 for p in prices])\nlabel = 'P' + str(max(prices))\nnote = ''\nnote += 'ok'",
                {"prices": [10, 20]})
    assert data["due"] == "2026-11-27T08:30:00+08:00"
    assert (data["total"], data["label"], data["note"]) == (60, "P20", "ok")


def test_helpers_cannot_be_shadowed_by_task_data():
    with pytest.raises(SpiffWorkflowException, match="重名"):
        _run("x = 1", {"now": "not a function"})


# --- deterministic scripts (issue 13, item 4) ------------------------------------------------------------

def test_scripts_read_the_time_from_the_engine_clock_never_the_wall_clock():
    import datetime as dt

    from engine.core import clock

    clock.freeze(dt.datetime(2021, 3, 4, 1, 2, 3, tzinfo=dt.UTC))
    try:
        data = _run("local = datetime.now().isoformat()\nutc = datetime.now(timezone_utc).isoformat()\n"
                    "later = (datetime.today() + timedelta(days=1)).isoformat()\nflat = datetime.utcnow().isoformat()",
                    {"timezone_utc": dt.UTC})
    finally:
        clock.reset()
    assert data["local"] == "2021-03-04T09:02:03"  # Shanghai local time, as on the company's servers
    assert data["utc"] == "2021-03-04T01:02:03+00:00" and data["flat"] == "2021-03-04T01:02:03"
    assert data["later"] == "2021-03-05T09:02:03"


@pytest.mark.parametrize("script", ["x = hash('a')", "x = id(items)", "x = str(hash(name))"])
def test_sources_of_nondeterminism_are_refused_at_validation_and_at_run_time(script):
    problems = _validate(script)
    assert problems and "每次运行结果不同" in problems[0], problems
    with pytest.raises(SpiffWorkflowException):
        _run(script, {"items": [1], "name": "x"})


def test_a_data_field_called_id_is_still_data():
    assert _validate("label = 'No.' + str(id)", run=False) == []  # the sandbox allows the name
    # ...and the deploy-time dry run, whose start data has no `id`, says the first step would fail
    assert any("试运行" in p and "'id'" in p for p in _validate("label = 'No.' + str(id)"))
    assert _run("label = 'No.' + str(id)", {"id": 7})["label"] == "No.7"


DATED = TEMPLATE.replace('id="p"', 'id="dated"').replace("SCRIPT", escape(
    "received = datetime.now().isoformat()\n"
    "due = (datetime.now() + timedelta(hours=24)).isoformat()\n"
    "weekend = datetime.now().weekday() >= 5"))


def test_a_history_whose_scripts_use_dates_replays_clean(db_url):
    import datetime as dt

    from engine import repository, runtime
    from engine.core import clock, db
    from engine.runtime import replay

    with db.transaction() as session:
        repository.deploy(session, bundle.Bundle(bpmn={"dated.bpmn": bundle.SourceFile("dated.bpmn", "dated.bpmn",
                                                                                      DATED.encode())}), actor="t")
    clock.freeze(dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC))  # a Saturday, years before the wall clock
    with db.transaction() as session:
        iid = runtime.start(session, "dated", {}, "tester").id
    clock.advance(days=3)  # the replay runs later; the scripts must still see the recorded instant
    with db.read_session() as session:
        result = replay.replay(session, iid)
        data = runtime.load(session, iid).workflow.data
    assert (data["received"], data["due"], data["weekend"]) == ("2026-11-28T10:00:00", "2026-11-29T10:00:00", True)
    assert result.ok, (result.error, result.first_mismatch)
