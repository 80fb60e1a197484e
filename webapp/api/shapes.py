"""How engine rows look as JSON: one place, so the list, the detail and the OpenAPI schemas agree."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy.orm import Session

from engine import tasks
from engine.audit import personal
from engine.core import clock
from engine.core.tables import AuditEvent, SlaClock, TaskRow, User
from engine.helpdesk import hotline, resident, sla
from engine.helpdesk.tables import HelpRequest
from webapp import policy


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``; the client shows it in its own zone (Asia/Shanghai on our pages)."""
    if value is None:
        return None
    return clock.as_utc(value).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """Task data may hold dates (Spiff's serializer restores them); JSON gets their ISO form."""
    return json.loads(json.dumps(value, default=lambda v: iso(v) if isinstance(v, dt.datetime) else str(v)))


def task_summary(row: TaskRow, *, internal: bool = True) -> dict:
    out = {"id": row.id, "instance_id": row.instance_id, "process_id": row.process_id, "element_id": row.element_id,
           "name": row.name,
           "lane": row.lane, "due_at": iso(row.due_at) if internal else None, "form": row.form}
    if internal:
        out.update(claimed_by=row.claimed_by, assignee=row.assignee, department=row.department,
                   offered_to=tasks.offered_to(row))
    return out


def sla_clocks(session: Session, instance_id: str) -> list[dict]:
    """The instance's SLA clocks, in the order they were armed."""
    return [_clock_json(c) for c in sla.for_instance(session, instance_id)]


def _clock_json(c: SlaClock) -> dict:
    return {"sla_key": c.sla_key, "element_id": c.element_id, "guarded_element_id": c.guarded_element_id,
            "status": c.status, "armed_at": iso(c.armed_at), "due_at": iso(c.due_at), "met_at": iso(c.met_at),
            "breached_at": iso(c.breached_at)}


def request_json(user: User, row: HelpRequest | None) -> dict | None:
    if row is None:
        return None
    data = {"channel": row.channel, "caller_name": row.caller_name, "phone": row.phone, "address": row.address,
            "building": row.building, "description": row.description, "category": row.category,
            "priority": row.priority, "status": row.status, "customer_username": row.customer_username,
            "satisfaction": row.satisfaction}
    shown = policy.visible_data(user, data)
    shown.update(created_at=iso(row.created_at), closed_at=iso(row.closed_at))
    return shown


def event_json(row: AuditEvent, personal_values: dict | None = None) -> dict:
    """One event; with ``personal_values`` (ref -> value) its personal-data commitments shown as values."""
    payload = json.loads(row.payload)
    if personal_values is not None:
        payload = personal.reveal(payload, personal_values)
    return {"seq": row.seq, "at": iso(row.at), "actor": row.actor, "kind": row.kind,
            "element_id": row.element_id, "payload": payload,
            "state_fingerprint": row.state_fingerprint, "prev_hash": row.prev_hash, "hash": row.hash}


def resident_view_json(view: resident.View, row: HelpRequest) -> dict:
    """What the resident's page shows (:func:`engine.helpdesk.resident.view`): the plain status, who is coming
    and by when, every answer once, the hotline for an emergency, where the rating came from."""
    return {"status": view.status, "can_urge": view.can_urge,
            "coming": {"at": iso(view.coming.at), "text": view.coming.text} if view.coming else None,
            "answers": [{"at": iso(a.at), "text": a.text} for a in view.answers],
            "hotline": {"number": view.hotline, "tel": hotline.tel_uri(view.hotline)} if view.hotline else None,
            "rating_source": row.rating_source}
