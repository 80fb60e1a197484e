"""The runtime's engine loop (:mod:`engine.runtime.engine_loop`) finds exactly the tasks SpiffWorkflow's own
iterators find, in the same order, at every search of real walks through the procedure — the READY tasks
each engine pass runs and the WAITING tasks each completion updates —, and that the join checks of
:mod:`engine.runtime.join_checks` answer as the library's do at every check, so histories recorded before it (by
the library's ``do_engine_steps``) and after it replay alike."""

from __future__ import annotations

import pytest
from SpiffWorkflow.util.task import TaskIterator, TaskState

from engine.core import config, db
from engine.helpdesk import scenarios
from engine.runtime import engine_loop, join_checks, replay

# Subprocesses of every department, QC rework, quotes, timers firing, escalations, reclassification.
WALKS = ["b_repair_hotline_rework.yaml", "g_help_supervisor_paid.yaml", "a_untouched_24h_escalated.yaml",
         "t2_3_reclassified_complex.yaml", "c_complaint_escalated.yaml"]


@pytest.mark.parametrize("name", WALKS)
def test_engine_loop_finds_what_the_library_finds(procedure, monkeypatch, name):
    compared = {"ready": 0, "waiting": 0, "found": 0}
    fast_ready, fast_waiting = engine_loop.tasks_in_state, engine_loop._waiting

    def ready(workflow, wanted):
        ours = fast_ready(workflow, wanted)
        assert [t.id for t in ours] == [t.id for t in workflow.get_tasks(state=wanted)]
        compared["ready"] += 1
        compared["found"] += len(ours)
        return ours

    def waiting(workflow):
        ours = [t.id for t in fast_waiting(workflow)]
        assert ours == [t.id for t in TaskIterator(workflow.task_tree, state=TaskState.WAITING)]
        compared["waiting"] += 1
        return fast_waiting(workflow)

    def end_join(spec, my_task):
        ours = join_checks.end_join_may_fire(spec, my_task)
        assert ours == join_checks._library_end_join(spec, my_task)
        compared["end joins"] = compared.get("end joins", 0) + 1
        compared["end joins fired"] = compared.get("end joins fired", 0) + ours
        return ours

    def parallel(spec, my_task):
        ours = join_checks.parallel_gateway_may_fire(spec, my_task)
        assert ours == join_checks._library_parallel(spec, my_task)
        compared["parallel"] = compared.get("parallel", 0) + 1
        return ours

    monkeypatch.setattr(engine_loop, "tasks_in_state", ready)
    monkeypatch.setattr(engine_loop, "_waiting", waiting)
    monkeypatch.setattr(join_checks._EndJoin, "_check_threshold_unstructured", end_join)
    monkeypatch.setattr(join_checks.ParallelGateway, "_check_threshold_unstructured", parallel)
    outcome = scenarios.run(scenarios.load(config.bpmn_dir() / "scenarios" / name), procedure)
    assert outcome.ok, outcome.describe()
    with db.read_session(procedure) as session:
        result = replay.replay(session, outcome.instance_id)
    assert result.ok, (result.error, result.first_mismatch)
    assert compared["ready"] > 10 and compared["waiting"] > 10 and compared["found"] > 10, compared
    # the end joins were asked both ways, and fired as often as the walk's workflows ended
    assert compared["end joins"] > 10 and compared["end joins fired"] >= 1 and compared["parallel"] >= 4, compared
