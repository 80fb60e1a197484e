"""Applying one step to a workflow: start it, complete a user task with form data, fire its due timers.

The commit path (:mod:`engine.runtime.instances`) and replay (:mod:`engine.runtime.replay`) both apply
steps through these functions, so what an auditor replays is exactly what the runtime ran: a change to
how a step is applied is made once and holds for both.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from engine import scripting
from engine.runtime import engine_loop


def new_workflow(version, data: dict) -> BpmnWorkflow:
    """A fresh workflow of ``version`` holding the start data, not yet run."""
    wf = BpmnWorkflow(version.spec, version.subprocess_specs, script_engine=scripting.script_engine())
    wf.task_tree.data.update(data)
    return wf


def run(wf: BpmnWorkflow) -> None:
    """Run the engine until every path waits for a person, a timer or the end: the library's
    ``do_engine_steps`` with its tree searches done in one plain pass (:mod:`engine.runtime.engine_loop`)."""
    engine_loop.do_engine_steps(wf)


def complete(wf: BpmnWorkflow, task, data: dict) -> None:
    """Complete a READY user task with (already validated) form data, then run on."""
    add = getattr(task.task_spec, "add_data_from_form", None)
    if add is not None:
        add(task, data)
    else:
        task.data.update(data)
    engine_loop.install(wf)
    task.run()
    run(wf)


def fire_due_timers(wf: BpmnWorkflow) -> None:
    """Let every timer whose due time has passed (by the pinned clock) fire, then run on."""
    wf.refresh_timers()
    run(wf)
