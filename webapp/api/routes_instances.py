"""One help request's instance: its state, open tasks and SLA clocks, and its audit trail."""

from __future__ import annotations

from sqlalchemy import select

from engine import runtime
from engine.audit import history, personal
from engine.core import db, errors
from engine.core.tables import ProcessVersion, TaskRow
from engine.helpdesk import queries, resident
from engine.helpdesk.tables import HelpRequest
from webapp import policy

from . import bp
from .errors import ApiError
from .shapes import event_json, iso, request_json, resident_view_json, sla_clocks, task_summary


def _visible_instance(session, instance_id: str):
    """The instance if this user may see it; residents may see only their own requests."""
    user = policy.current_user()
    instance = runtime.get_instance(session, instance_id)
    req = session.get(HelpRequest, instance_id)
    if req is None and policy.allowed(user, "requests"):
        return user, instance, req  # an instance that is no help request (e.g. the monthly statistics)
    if req is None or not policy.may_read_request(user, req, session):
        # Not 403: nobody learns that a request they may not read exists.
        raise errors.NotFound("找不到该求助记录", instance_id=instance_id)
    policy.note_restricted_reads(user, [req], "api.instance")
    return user, instance, req


@bp.get("/instances/<instance_id>")
@policy.requires("requests", "portal")
def get_instance(instance_id: str):
    with db.read_session() as session:
        user, instance, req = _visible_instance(session, instance_id)
        staff_view = policy.allowed(user, "requests")
        version = session.get(ProcessVersion, instance.version_id)
        rows = list(session.scalars(select(TaskRow).where(TaskRow.instance_id == instance.id)
                                    .order_by(TaskRow.ready_at, TaskRow.id)))
        out = {"id": instance.id, "process_id": instance.process_id,
               "version": version.version if version else None, "status": instance.status,
               "revision": instance.revision, "started_at": iso(instance.started_at),
               "updated_at": iso(instance.updated_at), "completed_at": iso(instance.completed_at),
               "request": request_json(user, req),
               "tasks": [task_summary(r, internal=staff_view) for r in rows],
               # Internal deadlines are for staff; residents see the expected time on their page instead.
               "sla": sla_clocks(session, instance.id) if staff_view else []}
        out["resident_view"] = (resident_view_json(resident.view(session, req, [r.element_id for r in rows]), req)
                                if req else None)
        out["linked"] = _linked(session, user, req) if req else None
    return out


def _linked(session, user, req: HelpRequest) -> dict:
    """6 反馈与跟踪: the request this one follows up and its follow-ups, those this reader may read."""
    earlier, later = queries.linked_requests(session, req.instance_id)
    return {"follows_up": earlier.instance_id if earlier is not None and policy.may_read_request(user, earlier, session)
            else None,
            "follow_ups": [r.instance_id for r in later if policy.may_read_request(user, r, session)]}


@bp.get("/instances/<instance_id>/events")
@policy.requires("request_data")
def get_events(instance_id: str):
    with db.read_session() as session:
        user, instance, _req = _visible_instance(session, instance_id)
        if not policy.allowed(user, "request_data"):
            raise ApiError(403, "您没有查看审计记录的权限")
        known = personal.chain_values(session, instance.id)  # values beside the log ("已删除…" once erased)
        events = [event_json(e, known) for e in history.events(session, instance.id)]
    return {"instance_id": instance.id, "events": events}
