"""Workflow state <-> JSON, without the specs.

SpiffWorkflow embeds the whole spec in every serialized workflow (half of the blob). Our specs come from
the pinned, immutable process version instead, so the stored state holds only tasks and data: the blob
is smaller, and an instance can never drift onto a spec other than the one its version pins.

``BpmnWorkflowSerializer`` is not thread-safe (it flips a mode flag on its shared registry), so each
thread gets its own.
"""

from __future__ import annotations

import contextvars
import json
import threading
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.deep_merge import DeepMerge

_specs_for_load: contextvars.ContextVar[tuple] = contextvars.ContextVar("specs_for_load")


class _SpecRefConverter(BpmnWorkflowConverter):
    """Stores ``spec_ref`` (the process name) instead of the spec; restores the spec handed to ``loads``."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["spec_ref"] = workflow.spec.name
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct):
        spec, subprocess_specs = _specs_for_load.get()
        if dct.pop("spec_ref") != spec.name:
            raise ValueError("stored workflow does not belong to this process version")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_local = threading.local()


def _serializer() -> BpmnWorkflowSerializer:
    ser = getattr(_local, "ser", None)
    if ser is None:
        config = dict(SPIFF_CONFIG)
        config[BpmnWorkflow] = _SpecRefConverter
        ser = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
        _local.ser = ser
    return ser


def dumps(workflow: BpmnWorkflow) -> str:
    """The stored state: strict JSON (no ``NaN``/``Infinity``, which no other JSON reader accepts).

    Raises ``TypeError``/``ValueError`` when the workflow's data holds a value JSON cannot (a script
    stored ``complex(1, 2)``, ``float('nan')``, a tuple-keyed dict …): the runtime refuses the change.
    """
    ser = _serializer()
    ser.registry._encoder_mode = True  # what serialize_json does, with allow_nan=False added
    try:
        dct = ser.to_dict(workflow)
        dct[ser.VERSION_KEY] = ser.VERSION
        return json.dumps(dct, cls=ser._encoder_cls, allow_nan=False)
    finally:
        ser.registry._encoder_mode = False


def loads(state: str, spec, subprocess_specs: dict) -> BpmnWorkflow:
    token = _specs_for_load.set((spec, subprocess_specs))
    try:
        return _serializer().deserialize_json(state)
    finally:
        _specs_for_load.reset(token)


def full_serializer() -> BpmnWorkflowSerializer:
    """The library's stock serializer (specs embedded): the benchmark's floor uses it."""
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


def task_data(state: str, task_id: str) -> dict | None:
    """One task's data read from the stored state without rebuilding the workflow; None when this reader
    cannot tell (a state written by another serializer version, or no such task): the caller loads it.

    A task view (the API's ``GET /tasks/<id>``) needs the form's current values and nothing else of the
    workflow, but deserializing builds every task and spec (≈1.5 ms for the bench process) where parsing the
    JSON takes ≈0.1 ms. Spiff stores a task's data as the root's data plus each descendant's delta (updates,
    deletions) down to the task; applying them in that order is what its ``TaskConverter.from_dict`` does
    (tests compare the two on the real procedure).
    """
    dct = json.loads(state)
    ser = _serializer()
    if dct.get(ser.VERSION_KEY) != ser.VERSION:
        return None
    for workflow in (dct, *dct.get("subprocesses", {}).values()):
        tasks = workflow.get("tasks", {})
        if task_id in tasks:
            return _data_of(tasks, task_id, ser.registry)
    return None


def _data_of(tasks: dict, task_id: str, registry) -> dict:
    chain = []
    current = task_id
    while current is not None and current in tasks:
        chain.append(tasks[current])
        current = tasks[current]["parent"]
    data: dict = {}
    for task in reversed(chain):
        delta = task.get("delta")
        if delta and task["parent"] in tasks:
            data = DeepMerge.merge({}, data)
            data.update(registry.restore(delta.get("updates", {})))
            for key in delta.get("deletions", {}):
                data.pop(key, None)
        else:
            data = registry.restore(task["data"])
    return data
