"""Re-running an instance from its audit log, to prove the log is complete and the state untampered.

The log holds every input that changed an instance (start data, each submitted form, each timer firing,
the fee schedule a quote used) with the instant it happened, and the fingerprint of the state that
resulted. Replaying those inputs against the instance's pinned version, with the clock pinned to each
event's time, must reproduce every fingerprint; the first mismatch names the event where the recorded
history and the engine part ways.

Personal values (names, phones, addresses, medical details) are not in the log but beside it
(:mod:`engine.audit.personal`): the replay feeds each step the stored value, or the placeholder
"已删除（依法删除个人信息）" once it was lawfully erased — the erasure wrote the same placeholder into the stored
state. Fingerprints count a personal value as a mask, so an erased history still reproduces every recorded
fingerprint; the stored state's personal values are then compared apart, with the log's values or
placeholders (``Replay.erased`` says how many were replaced, so the auditor is told the replay ran on them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine import repository, scripting
from engine.audit import history, personal
from engine.core import clock
from engine.core.errors import NotFound
from engine.core.tables import Instance, ProcessVersion
from engine.runtime import serialization, steps, store
from engine.runtime.workflow import all_tasks, state_fingerprint

# Kinds whose input changed the workflow; the rest (task_reached, escalated, claims, incidents, urges …)
# record consequences or bookkeeping and carry the fingerprint of the state they left unchanged.
STATE_CHANGING = {"started", "task_completed", "timer_fired", "migrated"}


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
    erased: int = 0  # personal values lawfully erased, replayed as the placeholder

    @property
    def ok(self) -> bool:
        return self.chain_ok and self.error is None and all(s.matches for s in self.steps)

    @property
    def first_mismatch(self) -> Step | None:
        return next((s for s in self.steps if not s.matches), None)


def replay(session: Session, instance_id: str, observe: Callable | None = None) -> Replay:
    """Re-run ``instance_id`` from its log. ``observe(version, event, wf)`` is called after each step that
    changed the workflow, so a caller can recompute what the runtime projected at that point."""
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound("找不到该求助记录", instance_id=instance_id)
    return replay_loaded(session, instance, history.events(session, instance_id), observe)


def replay_loaded(session: Session, instance: Instance, events: list, observe: Callable | None = None, *,
                  known: dict | None = None) -> Replay:
    """:func:`replay` with the instance's events already read (all of its chain, in order): the chain is
    checked on these rows, so a caller checking many instances reads their events in one query (and
    ``known``, its personal values, :func:`personal.values_by_chain`)."""
    breaks = list(history.check_chain(events))
    current = repository.load(session, session.get(ProcessVersion, instance.version_id))
    # A migrated instance started on another version: replay from that one, switching at each "migrated".
    version = _version_started(session, instance, events) or current
    result = Replay(instance.id, [], chain_ok=not breaks)
    personal_fields = version.personal_fields | current.personal_fields
    if known is None:
        known = personal.chain_values(session, instance.id) if personal_fields else {}
    wf = None
    try:
        for event in events:
            if event.kind not in STATE_CHANGING:
                continue
            payload = history.payload_of(event)
            if personal_fields:
                found = list(personal.markers(payload))
                if found:
                    result.erased += sum(1 for m in found if m[personal.MARK] not in known)
                    payload = personal.reveal(payload, known)
            at = clock.as_utc(event.at)
            recorded = {name: (lambda n=name, p=payload: p[n]) for name in scripting.recorded_helper_names()
                        if name in payload}
            with clock.pinned(at), scripting.recorded_helpers(recorded):
                if event.kind == "migrated":
                    version = _migrate(session, wf, instance.process_id, payload)
                else:
                    wf = _apply(wf, version, event.kind, payload)
            result.steps.append(Step(event.seq, event.kind, event.element_id, at.isoformat(), event.actor,
                                     event.state_fingerprint, state_fingerprint(wf, version.personal_fields),
                                     payload.get("data", {}),
                                     [t.task_spec.bpmn_id for t in all_tasks(wf)
                                      if t._state == TaskState.READY and t.task_spec.manual]))
            if observe is not None:
                with clock.pinned(at):
                    observe(version, event, wf)
    except Exception as exc:  # the recorded input does not fit the model: report, don't crash the audit
        result.error = f"{type(exc).__name__}: {exc}"
    if wf is not None and not result.error:
        try:  # a finished instance's state is stored packed (engine.runtime.store); garbage there is tampering
            stored = serialization.loads(store.state_of(instance), current.spec, current.subprocess_specs)
        except Exception as exc:
            result.error = f"the instance's stored state cannot be read ({type(exc).__name__}: {exc})"
            return result
        # The unmasked digests cover everything the masked ones do and the personal values besides: equal,
        # the stored state is the replayed one. Only when they differ are the masked ones needed, to say
        # whether the difference is in the personal data alone.
        if state_fingerprint(wf) != state_fingerprint(stored):
            if not current.personal_fields or (state_fingerprint(wf, current.personal_fields)
                                       != state_fingerprint(stored, current.personal_fields)):
                result.error = ("replayed state differs from the instance's stored state "
                                "(the stored state was altered)")
            else:
                result.error = ("replayed state differs from the instance's stored state in its personal data "
                                "(the stored state was altered)")
    return result


def _version_started(session: Session, instance, events):
    """The version named by the instance's "started" event, when it differs from the one it is on now."""
    started = next((e for e in events if e.kind == "started"), None)
    if started is None or not any(e.kind == "migrated" for e in events):
        return None
    number = history.payload_of(started).get("version")
    row = repository.get_version(session, instance.process_id, number) if number else None
    return repository.load(session, row) if row is not None else None


def _migrate(session: Session, wf, process_id: str, payload: dict):
    """Re-apply a recorded migration (the same re-binding the runtime ran); returns the version moved to."""
    from engine.runtime import migration

    row = repository.get_version(session, process_id, payload["to_version"])
    if row is None:
        raise LookupError(f"version {payload['to_version']} of {process_id} is not deployed")
    version = repository.load(session, row)
    migration.rebind(wf, version, recompute=bool(payload.get("recompute_deadlines")))
    return version


def _apply(wf, version, kind: str, payload: dict):
    """One recorded input, applied the way the runtime applied it (:mod:`engine.runtime.steps`)."""
    if kind == "started":
        wf = steps.new_workflow(version, payload.get("data", {}))
        steps.run(wf)
    elif kind == "task_completed":
        task = _ready_task(wf, payload.get("process_id"), payload.get("element_id"))
        steps.complete(wf, task, payload.get("data", {}))
    elif kind == "migrated":  # needs the version moved to: only :func:`replay` (with the database) has it
        raise LookupError("the instance was migrated to another version; replay it from the database")
    else:  # a timer fired (or a failed firing was retried)
        steps.fire_due_timers(wf)
    return wf


def _ready_task(wf, process_id: str | None, element_id: str | None):
    for task in all_tasks(wf):
        if (task.state == TaskState.READY and task.task_spec.manual and task.task_spec.bpmn_id == element_id
                and (process_id is None or task.workflow.spec.name == process_id)):
            return task
    raise LookupError(f"no ready task {process_id}:{element_id} at this point of the replay")
