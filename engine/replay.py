"""Re-running an instance from its audit log, to prove the log is complete and the state untampered.

The log holds every input that changed an instance (start data, each submitted form, each timer firing,
the fee schedule a quote used) with the instant it happened, and the fingerprint of the state that
resulted. Replaying those inputs against the instance's pinned version, with the clock pinned to each
event's time, must reproduce every fingerprint; the first mismatch names the event where the recorded
history and the engine part ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from . import clock, history, repository, scripting, serialization
from .models import Instance, ProcessVersion
from .runtime import NotFound, all_tasks, state_fingerprint

# Kinds whose input changed the workflow; the rest (task_reached, escalated, claims, incidents, urges …)
# record consequences or bookkeeping and carry the fingerprint of the state they left unchanged.
STATE_CHANGING = {"started", "task_completed", "timer_fired"}


@dataclass
class Step:
    seq: int
    kind: str
    element_id: str | None
    at: str
    actor: str
    recorded: str | None
    replayed: str | None
    data: dict = field(default_factory=dict)  # the input of this step (form data, start data)
    ready: list[str] = field(default_factory=list)  # element ids of user tasks ready after it

    @property
    def matches(self) -> bool:
        return self.recorded == self.replayed


@dataclass
class Replay:
    instance_id: str
    steps: list[Step]
    chain_ok: bool
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.chain_ok and self.error is None and all(s.matches for s in self.steps)

    @property
    def first_mismatch(self) -> Step | None:
        return next((s for s in self.steps if not s.matches), None)


def replay(session: Session, instance_id: str) -> Replay:
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound("找不到该求助记录", instance_id=instance_id)
    _, breaks = history.verify(session, instance_id)
    events = history.events(session, instance_id)
    version = repository.load(session, session.get(ProcessVersion, instance.version_id))
    result = Replay(instance_id, [], chain_ok=not breaks)
    wf = None
    try:
        for event in events:
            payload = history.payload_of(event)
            if event.kind not in STATE_CHANGING:
                continue
            at = clock.as_utc(event.at)
            fees = payload.get("fee_schedule")
            token = scripting.fee_schedule_provider.set(lambda f=fees: f or [])
            try:
                with clock.pinned(at):
                    if event.kind == "started":
                        wf = BpmnWorkflow(version.spec, version.subprocess_specs,
                                          script_engine=scripting.script_engine())
                        wf.task_tree.data.update(payload.get("data", {}))
                        wf.do_engine_steps()
                    elif event.kind == "task_completed":
                        task = _ready_task(wf, payload.get("process_id"), payload.get("element_id"))
                        add = getattr(task.task_spec, "add_data_from_form", None)
                        (add(task, payload.get("data", {})) if add else task.data.update(payload.get("data", {})))
                        task.run()
                        wf.do_engine_steps()
                    else:  # a timer fired (or a failed firing was retried)
                        wf.refresh_timers()
                        wf.do_engine_steps()
            finally:
                scripting.fee_schedule_provider.reset(token)
            result.steps.append(Step(event.seq, event.kind, event.element_id, at.isoformat(), event.actor,
                                     event.state_fingerprint, state_fingerprint(wf),
                                     payload.get("data", {}),
                                     [t.task_spec.bpmn_id for t in all_tasks(wf)
                                      if t.state == TaskState.READY and t.task_spec.manual]))
    except Exception as exc:  # the recorded input does not fit the model: report, don't crash the audit
        result.error = f"{type(exc).__name__}: {exc}"
    if wf is not None and not result.error:
        stored = serialization.loads(instance.state, version.spec, version.subprocess_specs)
        if state_fingerprint(wf) != state_fingerprint(stored):
            result.error = "replayed state differs from the instance's stored state (the stored state was altered)"
    return result


def _ready_task(wf, process_id: str | None, element_id: str | None):
    for task in all_tasks(wf):
        if (task.state == TaskState.READY and task.task_spec.manual and task.task_spec.bpmn_id == element_id
                and (process_id is None or task.workflow.spec.name == process_id)):
            return task
    raise LookupError(f"no ready task {process_id}:{element_id} at this point of the replay")
