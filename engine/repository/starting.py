"""How a deployed process may be started: its start events, the lane (role) each sits in, the form it asks.

A new 规程 published by the process owner is started by the roles its start lane names (a start event in
the 物业助理 lane: the assistants start it), with the data of the start event's form when it names one.
A timer start event starts the process by itself; such a process cannot be started by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition


@dataclass(frozen=True)
class StartEvent:
    element_id: str
    lane: str | None  # the lane's name (a role's Chinese name), None when the process has no lanes
    form: str | None  # formJsonSchemaFilename on the start event
    timer: bool


def start_events(version) -> list[StartEvent]:
    """The start events of a loaded version's top process (a :class:`~engine.repository.LoadedVersion`)."""
    spec = version.spec
    props = version.properties.get(spec.name, {})
    out = []
    for ts in spec.start.outputs:
        element_id = getattr(ts, "bpmn_id", None)
        if not element_id:
            continue
        definition = getattr(ts, "event_definition", None)
        out.append(StartEvent(element_id, ts.lane, props.get(element_id, {}).get("formJsonSchemaFilename") or None,
                              isinstance(definition, TimerEventDefinition)))
    return out
