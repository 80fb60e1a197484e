"""The auditor's desk: find histories by who, where, what, who acted, when and whether a deadline was missed,
then read one of them step by step — the diagram as it stood and the data that changed at each step, with
the administrators' interventions marked.

Searching reads the projection rows (``requests``, ``sla_clocks``) and the audit log's ``actor`` column,
never event payloads: personal data in payloads may be erased (PIPL), the request row is what names the
customer. Reading one instance replays it from its log (:mod:`engine.runtime.replay`) — the diagram and
data an auditor sees at a step are recomputed from the recorded inputs, not taken from the stored state.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine import repository
from engine.audit import history, personal
from engine.core import clock
from engine.core.tables import AuditEvent, Instance, ProcessVersion, SlaClock, User, UserRole
from engine.helpdesk.tables import HelpRequest
from engine.runtime import current_data, replay

# Chains that are not one instance's: deployments (diagram edits are published as deployments), key
# rotations and restores, user and fee changes. Everything on them is an administrator's act.
GLOBAL_CHAINS = ("repository", "audit", "management")
# Kinds on an instance's own chain that an administrator (not the procedure) caused. Erasure and instance
# migration kinds are listed by name so they are marked as soon as those features write them.
ADMIN_KINDS = frozenset({"incident_retried", "data_edited", "erased", "personal_data_erased", "pii_erased",
                         "migrated", "instance_migrated", "deployed", "key_rotated", "restored"})


def local_day_start(day: dt.date) -> dt.datetime:
    """Midnight of ``day`` in Shanghai, in UTC: a date the auditor types means the Shanghai day."""
    return dt.datetime.combine(day, dt.time(), tzinfo=clock.SHANGHAI).astimezone(dt.UTC)


@dataclass(frozen=True)
class Filters:
    customer: str | None = None  # caller's name, phone or resident account (part of it)
    building: str | None = None  # building (exact) or any part of the address, e.g. "3栋2单元"
    category: str | None = None  # a–g
    staff: str | None = None  # username of anyone who acted on the instance
    date_from: dt.date | None = None  # started on or after this Shanghai day
    date_to: dt.date | None = None  # started on or before this Shanghai day
    breached: bool = False  # some SLA clock breached
    q: str | None = None  # free text: id prefix, process, name, phone, address, description


def _filtered(query, f: Filters):
    if f.customer:
        like = f"%{f.customer}%"
        query = query.where(or_(HelpRequest.caller_name.like(like), HelpRequest.phone.like(like),
                                HelpRequest.customer_username.like(like)))
    if f.building:
        query = query.where(or_(HelpRequest.building == f.building, HelpRequest.address.like(f"%{f.building}%")))
    if f.category:
        query = query.where(HelpRequest.category == f.category)
    if f.staff:
        query = query.where(Instance.id.in_(select(AuditEvent.chain).where(AuditEvent.actor == f.staff)))
    if f.date_from:
        query = query.where(Instance.started_at >= local_day_start(f.date_from))
    if f.date_to:
        query = query.where(Instance.started_at < local_day_start(f.date_to + dt.timedelta(days=1)))
    if f.breached:
        query = query.where(Instance.id.in_(select(SlaClock.instance_id).where(SlaClock.breached_at.is_not(None))))
    if f.q:
        like = f"%{f.q}%"
        query = query.where(or_(Instance.id.like(f"{f.q}%"), Instance.process_id.like(like),
                                HelpRequest.caller_name.like(like), HelpRequest.phone.like(like),
                                HelpRequest.address.like(like), HelpRequest.description.like(like)))
    return query


def _joined(columns):
    return (select(*columns).select_from(Instance).join(ProcessVersion, ProcessVersion.id == Instance.version_id)
            .outerjoin(HelpRequest, HelpRequest.instance_id == Instance.id))


def search(session: Session, f: Filters, *, limit: int = 50, offset: int = 0
           ) -> tuple[list[tuple[Instance, ProcessVersion, HelpRequest | None]], int]:
    """One page of matching instances, newest first (ties by id, so no row shows on two pages), and the total."""
    total = session.scalar(_filtered(_joined([func.count()]), f)) or 0
    query = _filtered(_joined([Instance, ProcessVersion, HelpRequest]), f)
    rows = session.execute(query.order_by(Instance.started_at.desc(), Instance.id).limit(limit).offset(offset))
    return [(i, v, r) for i, v, r in rows], total


def staff_members(session: Session) -> list[User]:
    """Everyone who may act on a request other than residents: the desk's "who acted" choices."""
    staff = select(UserRole.user_id).where(UserRole.role != "customer")
    return list(session.scalars(select(User).where(User.id.in_(staff)).order_by(User.username)))


# --- one instance, step by step -----------------------------------------------------------------------------

@dataclass
class StepState:
    """The instance as replayed right after one recorded input: diagram marks and the workflow data."""

    seq: int
    marks: dict[str, list[str]]
    data: dict


@dataclass
class Change:
    key: str
    how: str  # added | changed | removed
    old: object = None
    new: object = None


@dataclass
class Entry:
    """One line of the desk's timeline: an event of the instance, or an administrator's act elsewhere in
    the same period (a deployment of its process, a key rotation, a restore, a fee change)."""

    event: AuditEvent
    payload: dict | str
    admin: bool
    own: bool  # on the instance's own chain (selectable as a step)
    state: StepState | None = None  # the replayed state as of this event (own events only)
    escalated: list[str] = field(default_factory=list)  # elements whose timer fired up to this event

    @property
    def diagram_marks(self) -> dict[str, list[str]]:
        """What the diagram shows as of this event, the event's own element as ``current``."""
        out = dict(self.state.marks) if self.state else {"finished": [], "active": []}
        out["escalated"] = self.escalated
        whole = self.event.kind in ("started", "instance_completed")  # their element id is the process's
        out["current"] = [self.event.element_id] if self.event.element_id and not whole else []
        return out


@dataclass
class Desk:
    entries: list[Entry]
    result: replay.Replay
    selected: Entry | None = None
    changes: list[Change] = field(default_factory=list)


def marks(wf) -> dict[str, list[str]]:
    """Element ids of the top-level process finished and active in ``wf`` (as the request page marks them)."""
    finished, active = set(), set()
    for task in wf.tasks.values():
        if task.state & TaskState.PREDICTED_MASK:
            continue
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id:
            continue
        if task.state == TaskState.COMPLETED:
            finished.add(bpmn_id)
        elif task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED):
            active.add(bpmn_id)
    return {"finished": sorted(finished - active), "active": sorted(active)}


def diff(before: dict, after: dict) -> list[Change]:
    """Keys added, changed (old → new) and removed between two data snapshots, sorted by key."""
    out = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            out.append(Change(key, "added", None, after[key]))
        elif key not in after:
            out.append(Change(key, "removed", before[key], None))
        elif before[key] != after[key]:
            out.append(Change(key, "changed", before[key], after[key]))
    return out


def _snapshot(data: dict) -> dict:
    return json.loads(json.dumps(data, default=str))


def _payload(event: AuditEvent, known: dict | None = None) -> dict | str:
    """The payload as the auditor reads it: personal values revealed (``known``: ref -> value of the chain),
    "已删除（依法删除个人信息）" where they were erased."""
    try:
        payload = history.payload_of(event)
        return personal.reveal(payload, known) if known is not None else payload
    except ValueError:
        return event.payload  # an edited row need not be JSON any more: show what is there


def _process_ids(session: Session, instance: Instance) -> set[str]:
    version = repository.load(session, session.get(ProcessVersion, instance.version_id))
    return {instance.process_id, *version.subprocess_specs}


def read(session: Session, instance: Instance, selected_seq: int | None = None) -> Desk:
    """The instance's timeline with every own event's replayed state, admin acts marked and interleaved,
    and for the selected event (default: the last) the data changes since the state before it."""
    states: dict[int, StepState] = {}

    def observe(_version, event, wf):
        states[event.seq] = StepState(event.seq, marks(wf), _snapshot(current_data(wf)))

    result = replay.replay(session, instance.id, observe=observe)
    own = history.events(session, instance.id)
    known = personal.chain_values(session, instance.id)
    entries, last, previous_of, escalated = [], None, {}, []
    for event in own:
        previous_of[event.seq] = last
        if event.seq in states:
            last = states[event.seq]
        if event.kind in ("timer_fired", "escalated") and event.element_id and event.element_id not in escalated:
            escalated = [*escalated, event.element_id]
        entries.append(Entry(event, _payload(event, known), event.kind in ADMIN_KINDS, True, last, escalated))
    entries += _admin_elsewhere(session, instance)
    entries.sort(key=lambda e: (clock.as_utc(e.event.at), not e.own, e.event.id))
    desk = Desk(entries, result)
    mine = [e for e in entries if e.own]
    if mine:
        desk.selected = next((e for e in mine if e.event.seq == selected_seq), mine[-1])
        seq = desk.selected.event.seq
        after = states.get(seq)
        if after is not None:
            before = previous_of.get(seq)
            desk.changes = diff(before.data if before else {}, after.data)
    return desk


def _admin_elsewhere(session: Session, instance: Instance, limit: int = 200) -> list[Entry]:
    """Administrators' acts on the global chains while the instance ran; deployments only of its processes."""
    end = instance.completed_at or clock.now()
    rows = session.scalars(select(AuditEvent).where(AuditEvent.chain.in_(GLOBAL_CHAINS),
                                                    AuditEvent.at >= instance.started_at, AuditEvent.at <= end)
                           .order_by(AuditEvent.at, AuditEvent.id).limit(limit))
    processes = None
    out = []
    for event in rows:
        if event.kind == "deployed":
            processes = processes if processes is not None else _process_ids(session, instance)
            if event.element_id not in processes:
                continue
        out.append(Entry(event, _payload(event), True, False))
    return out
