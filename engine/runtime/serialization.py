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
