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


def _validate(script: str) -> list[str]:
    src = bundle.Bundle(bpmn={"p.bpmn": bundle.SourceFile("p.bpmn", "p.bpmn", _xml(script))})
    return [str(p) for p in validation.validate(src)]


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
