"""Reading a live SpiffWorkflow workflow: its tasks, its ready user tasks, its data and its fingerprint.

Shared by the commit path, the projections and replay, so each question about a workflow is answered by
one function.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.audit import history


def all_tasks(wf: BpmnWorkflow) -> Iterator:
    """Every task instance, subprocesses included, without SpiffWorkflow's depth-limited iterator."""
    yield from wf.tasks.values()
    for sub in wf.subprocesses.values():
        yield from sub.tasks.values()


def subprocess_owners(wf: BpmnWorkflow) -> dict[int, BpmnWorkflow]:
    """The running subprocesses keyed by ``id()`` of the task that calls each one.

    The tree walks (engine loop, fingerprint) ask every task whether it calls a subprocess; asking the
    workflow's ``subprocesses`` dictionary hashes the task's ``uuid.UUID`` id in pure Python each time, a
    tenth of a replay's CPU. Found once per walk here (a handful of subprocesses), each task is then asked by
    the C-level ``id()``."""
    top = wf.top_workflow
    subprocesses = top.subprocesses
    if not subprocesses:
        return {}
    workflows = (top, *subprocesses.values())
    owners = {}
    for sid, sub in subprocesses.items():
        for workflow in workflows:
            task = workflow.tasks.get(sid)
            if task is not None:
                owners[id(task)] = sub
                break
    return owners


def ready_user_tasks(wf: BpmnWorkflow) -> list:
    return [t for t in all_tasks(wf) if t.state == TaskState.READY and t.task_spec.manual]


MASK = "*"


def _masked(data: dict, personal: frozenset[str]) -> dict:
    if not personal or personal.isdisjoint(data):
        return data
    return {k: (MASK if k in personal and v is not None and v != "" else v) for k, v in data.items()}


def state_fingerprint(wf: BpmnWorkflow, personal: frozenset[str] = frozenset()) -> str:
    """A digest of what the instance *is*: task states in tree order, waiting due times and current data.

    Task ids are random, so they are left out; replaying the recorded inputs against the pinned version
    must reproduce this digest exactly. ``personal``: the data keys the version marks personal
    (:attr:`engine.repository.LoadedVersion.personal_fields`); their non-empty values count as one mask, so
    the digest — recorded in the log — never depends on a value that may lawfully be erased, and a replay
    with erased values in their place still reproduces it. (Replay compares those values apart.)
    """
    parts: list[str] = []  # hashed once at the end: the digest of the concatenation, as update() per part
    add, dumps = parts.append, history.canonical_json
    owners = subprocess_owners(wf)
    live = (TaskState.READY, TaskState.WAITING, TaskState.STARTED)
    predicted, waiting = TaskState.PREDICTED_MASK, TaskState.WAITING

    # Hot in replay (after every step): one explicit stack rather than a recursive call per task, children
    # read from the workflow's own task dict rather than through ``Task.children`` (which builds the same list
    # one property call at a time). Popped in the recursive order: a task, its children's subtrees in order,
    # then the subprocess it calls.
    stack = [(wf.task_tree, 0, wf, wf.spec.name)]
    pop, push = stack.pop, stack.append
    while stack:
        task, depth, workflow, name = pop()
        state = task._state
        if state & predicted:
            continue
        children = task._children
        add(f"{depth}|{name}|{task.task_spec.name}|{state}|")
        if state == waiting:
            value = task.internal_data.get("event_value")
            if value is not None:
                add(dumps(value))
        if state in live or not children:
            add(dumps(_masked(task.data, personal)))
        sub = owners.get(id(task))
        if sub is not None:
            push((sub.task_tree, depth + 1, sub, sub.spec.name))
        if children:
            get = workflow.tasks.get
            for child in reversed(children):
                push((get(child), depth + 1, workflow, name))

    add(dumps(_masked(wf.data, personal)))
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def current_data(wf: BpmnWorkflow) -> dict:
    """The instance's latest data: the most recently changed live task's, or the final data when ended.

    Live tasks of running subprocesses (call activities) count too: what a called process's form recorded
    (a complaint's 被投诉人, a consultation marked confidential) is the request's data as soon as it is
    recorded, not only once the called process ends and hands its data back."""
    if wf.is_completed():
        return dict(wf.data) or dict(wf.last_task.data if wf.last_task else {})
    live = [t for t in all_tasks(wf) if t.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED)]
    live = live or [t for t in wf.tasks.values() if t.state == TaskState.COMPLETED]
    merged: dict = {}
    for t in sorted(live, key=lambda t: t.last_state_change):
        merged.update(t.data)
    return merged


def find_task(wf: BpmnWorkflow, task_id: str):
    try:
        wanted = uuid.UUID(str(task_id))
    except ValueError:
        return None
    for task in all_tasks(wf):
        if task.id == wanted:
            return task
    return None
