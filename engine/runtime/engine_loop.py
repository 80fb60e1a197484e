"""SpiffWorkflow's engine loop, with the task-tree searches done in one plain pass.

``BpmnWorkflow.do_engine_steps`` finds the READY tasks to run, and every task completion finds the WAITING
tasks to update, with SpiffWorkflow's general ``TaskIterator``: a filter object, a list popped from the
front, a depth counter kept up on every task, a property call per child list. In replay that bookkeeping is
most of the time spent (about two thirds of a replayed history's CPU, measured with cProfile): it walks the
whole tree on every engine step and every completion.

The functions here give the SAME tasks in the SAME order — depth first, a subprocess's tree before the
children of its calling task, no descent below predicted tasks, none into a finished subprocess when
looking for unfinished work — and run them exactly as the library does (:func:`do_engine_steps` is its
``do_engine_steps``/``_do_engine_steps`` with no callbacks). The library's iterators stop at depth 1,000;
ours never reach it on a tree of fewer tasks than that, and larger trees use the library's own iterators.
``tests/engine/test_engine_loop.py`` checks the lists equal the library's at every step of real walks, and
every recorded fingerprint (computed by the runtime) must still be reproduced by replay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.workflow import Workflow

from engine.runtime import join_checks  # noqa: F401  (installs the library's join checks without its iterator)
from engine.runtime.workflow import subprocess_owners

# The library's iterators stop descending at this depth; under it (fewer tasks than this) ours match.
_MAX_TASKS = 900

_READY, _WAITING = TaskState.READY, TaskState.WAITING


def _min_state(wanted: int) -> int:
    """The state below which the library's iterator does not descend for a search for ``wanted``."""
    if wanted & TaskState.PREDICTED_MASK:
        return TaskState.MAYBE
    if wanted & TaskState.DEFINITE_MASK:
        return TaskState.FUTURE
    return TaskState.COMPLETED


def _task_count(workflow) -> int:
    top = workflow.top_workflow
    return len(top.tasks) + sum(len(sub.tasks) for sub in top.subprocesses.values())


def tasks_in_state(workflow, wanted: int) -> list:
    """``workflow.get_tasks(state=wanted)`` (a BPMN workflow or subprocess, subprocesses searched too)."""
    if _task_count(workflow) >= _MAX_TASKS:
        return workflow.get_tasks(state=wanted)
    subprocesses = workflow.top_workflow.subprocesses
    # The search only reaches tasks of this workflow and its subprocesses: with none in the state, it
    # finds nothing (the usual last pass of every engine step) — say so without walking the tree.
    if not any(t._state & wanted for t in workflow.tasks.values()) and not any(
            t._state & wanted for sub in subprocesses.values() for t in sub.tasks.values()):
        return []
    min_state = _min_state(wanted)
    skip_finished_subprocesses = wanted <= TaskState.FINISHED_MASK
    finished = TaskState.FINISHED_MASK
    out = []
    owners = subprocess_owners(workflow)
    stack = [workflow.task_tree]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        task = pop()
        state = task._state
        sub = owners.get(id(task))
        children = task._children
        if (children or sub is not None) and (state >= min_state or sub is not None):
            extend(map(task.workflow.tasks.get, reversed(children)))
            if sub is not None and not (state >= finished and skip_finished_subprocesses):
                push(sub.task_tree)
        if state & wanted and task.last_state_change >= 0:
            out.append(task)
    return out


def _waiting(workflow) -> Iterator:
    """``TaskIterator(workflow.task_tree, state=WAITING)``: lazy like it, each task's children read when it
    is reached (an update may grow the tree behind it), subprocesses not entered."""
    min_state = _min_state(_WAITING)
    stack = [workflow.task_tree]
    while stack:
        task = stack.pop()
        children = task._children
        if children and task._state >= min_state:
            stack.extend(map(task.workflow.tasks.get, reversed(children)))
        if task._state & _WAITING and task.last_state_change >= 0:
            yield task


def _update_waiting_tasks(workflow) -> None:
    """``Workflow.update_waiting_tasks``, which every task completion calls. The walk yields only tasks of
    this workflow's own dictionary: with none WAITING there, it would update nothing."""
    if _task_count(workflow) >= _MAX_TASKS:
        type(workflow).update_waiting_tasks(workflow)
        return
    if not any(t._state & _WAITING for t in workflow.tasks.values()):
        return
    for task in _waiting(workflow):
        task.task_spec._update(task)


def _install(wf: BpmnWorkflow) -> None:
    """Route this workflow's (and its current subprocesses') completion hook through the plain pass; a
    subprocess created later uses the library's own until the next engine pass installs it."""
    for workflow in (wf, *wf.subprocesses.values()):
        if "update_waiting_tasks" not in workflow.__dict__:
            workflow.update_waiting_tasks = _update_waiting_tasks.__get__(workflow)


def _runnable_somewhere(workflow) -> bool:
    """Whether any READY engine (non-manual) task exists in this workflow or any subprocess: a superset of
    what the tree search can reach, read without walking the tree. Most engine passes end with only user
    tasks READY (waiting for a person): this says so without the search."""
    for tasks in (workflow.tasks, *(sub.tasks for sub in workflow.top_workflow.subprocesses.values())):
        for t in tasks.values():
            if t._state & _READY and not t.task_spec.manual:
                return True
    return False


def _run_ready(workflow) -> int:
    if not _runnable_somewhere(workflow):
        return 0
    count = 0
    for task in tasks_in_state(workflow, _READY):
        if not task.task_spec.manual:
            task.run()
            count += 1
    return count


def _engine_pass(wf: BpmnWorkflow) -> bool:
    """``BpmnWorkflow._do_engine_steps`` without callbacks."""
    _install(wf)
    active = wf.get_active_subprocesses()
    for subprocess in sorted(active, key=lambda v: v.depth, reverse=True):
        count = None
        while count is None or count > 0:
            count = _run_ready(subprocess)
        if subprocess.parent_task_id is not None:
            task = wf.get_task_from_id(subprocess.parent_task_id)
            task.task_spec._update(task)
    count = _run_ready(wf)
    return count > 0 or len(wf.get_active_subprocesses()) > len(active)


def do_engine_steps(wf: BpmnWorkflow) -> None:
    """``BpmnWorkflow.do_engine_steps()``: run every READY engine task until none is left, then timers."""
    while _engine_pass(wf):
        pass
    wf.refresh_timers()


def _set_state(self, value: int) -> None:
    """``Task._set_state`` without building the library's log record when nobody reads it.

    The library builds a dictionary of eleven fields (``collect_log_extras``: names, parent lookup, state
    names) for a ``logger.info`` on every state change, before the logger decides to drop it; replaying a
    history changes a task's state hundreds of times. With the ``spiff.task`` logger enabled for INFO the
    library's own method runs, so its log is unchanged; otherwise the same state change, no record."""
    if _TASK_LOG.isEnabledFor(logging.INFO):
        _library_set_state(self, value)
    elif value != self._state:
        self.last_state_change = time.time()
        self._state = value


_TASK_LOG = logging.getLogger("spiff.task")  # SpiffWorkflow.task's module logger
_library_set_state = Task._set_state
Task._set_state = _set_state


def _collect_log_extras(self, dct: dict | None = None) -> dict:
    """``Workflow.collect_log_extras`` without the list of every task id when nobody reads the record.

    The library adds that list when ``logger.level < 20`` — the logger's own level, which is 0 (unset) unless
    configured, so always — and it is built by a full tree walk (``get_tasks``) for every workflow and
    subprocess created, for an INFO record the logger then drops. With ``spiff.workflow`` enabled for INFO the
    library's own method runs; otherwise the same fields, less the list."""
    if _WORKFLOW_LOG.isEnabledFor(logging.INFO):
        return _library_log_extras(self, dct)
    extra = dct or {}
    extra.update({"workflow_spec": self.spec.name, "success": self.success, "completed": self.completed,
                  "root": self.task_tree.id})
    return extra


_WORKFLOW_LOG = logging.getLogger("spiff.workflow")  # SpiffWorkflow.workflow's module logger
_library_log_extras = Workflow.collect_log_extras
Workflow.collect_log_extras = _collect_log_extras


def install(wf: BpmnWorkflow) -> None:
    """Use the plain pass for task completions on ``wf`` (before completing a user task)."""
    _install(wf)
