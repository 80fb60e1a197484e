"""Two of SpiffWorkflow's join checks, answered without its general tree iterator.

Every task completion updates the workflow's WAITING tasks, and the tasks that wait longest are joins: each
process's end join (``_EndJoin``, which waits until nothing else in its workflow is unfinished) and a parallel
gateway waiting for its other branches. The library answers both by walking the task tree with
``TaskIterator`` (a filter object, a list popped from the front, a depth counter), once per waiting join per
completion: about a fifth of a replayed history's CPU, measured with cProfile over real walks.

Both answers are yes/no questions about a *set* of tasks, so the order of the walk does not matter: the
functions here read the workflow's own task dictionary (which holds exactly the tasks of its tree) and give
the same answer. Trees of more tasks than the library's iterators would descend (depth 1,000) use the
library's own methods, as :mod:`engine.runtime.engine_loop` does. ``tests/scenarios/test_engine_loop.py``
compares both answers with the library's at every check of real walks; replay reproducing every recorded
fingerprint (histories recorded before this module) is the second check.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.util.task import TaskState

_MAX_TASKS = 900  # as engine_loop: under it the library's depth limit is never reached
_NOT_FINISHED = TaskState.NOT_FINISHED_MASK


def end_join_may_fire(spec, my_task) -> bool:
    """``_EndJoin._check_threshold_unstructured``: True when no task of the workflow other than ``my_task``
    is unfinished, not counting the tasks below an end join (where the library's walk stops, ``end_at_spec``)."""
    tasks = my_task.workflow.tasks
    if len(tasks) >= _MAX_TASKS:
        return _library_end_join(spec, my_task)
    name = spec.name
    unfinished, ends = [], []
    for task in tasks.values():
        if task._state & _NOT_FINISHED and task is not my_task and task.last_state_change >= 0:
            unfinished.append(task)
        if task.task_spec.name == name:
            ends.append(task)
    if not unfinished:
        return True
    below_ends: set = set()  # the ids under any end join: usually its End task and nothing more
    stack = [child for end in ends for child in end._children]
    while stack:
        child = stack.pop()
        if child not in below_ends:
            below_ends.add(child)
            task = tasks.get(child)
            if task is not None:
                stack.extend(task._children)
    return all(task.id in below_ends for task in unfinished)


def parallel_gateway_may_fire(spec, my_task) -> bool:
    """``ParallelGateway._check_threshold_unstructured``: whether every incoming flow has delivered its token.
    The library loops over ``get_tasks(spec_name=…)``; each turn only removes inputs from a set, so reading
    the same tasks from the dictionary gives the same set."""
    workflow = my_task.workflow
    if len(workflow.tasks) >= _MAX_TASKS:
        return _library_parallel(spec, my_task)
    waiting_inputs = set(spec.inputs)
    for task in [t for t in workflow.tasks.values() if t.task_spec.name == spec.name]:
        if task.is_descendant_of(my_task):  # first iteration of a loop: trace back to the input it came by
            ancestor = task
            while ancestor is not None:
                if ancestor.task_spec in waiting_inputs:
                    waiting_inputs.remove(ancestor.task_spec)
                    break
                ancestor = ancestor.parent
        elif my_task.is_descendant_of(task):  # a previous iteration's
            continue
        elif task.parent.state == TaskState.COMPLETED and task.parent.task_spec in waiting_inputs:
            waiting_inputs.remove(task.parent.task_spec)
    return not waiting_inputs


_library_end_join = _EndJoin._check_threshold_unstructured
_library_parallel = ParallelGateway._check_threshold_unstructured
_EndJoin._check_threshold_unstructured = end_join_may_fire
ParallelGateway._check_threshold_unstructured = parallel_gateway_may_fire
