"""The resident's own requests over JSON: what the portal's pages show, for an app or a test.

``GET /my/requests`` lists them, newest first, each with its plain status; ``GET /my/requests/<id>`` is one
request as the page 求助进度 shows it (:func:`engine.helpdesk.resident.view`): the plain status (never a task
name), who is coming and by when, every answer once, the hotline for an emergency. Another resident's
request is 404, as on the page.
"""

from __future__ import annotations

from engine.core import db, errors
from engine.helpdesk import queries, resident
from webapp import policy

from . import bp
from .shapes import iso, resident_view_json


def _summary(row, view: resident.View) -> dict:
    return {"instance_id": row.instance_id, "created_at": iso(row.created_at), "channel": row.channel,
            "category": row.category, "address": row.address, "description": row.description,
            "satisfaction": row.satisfaction, **resident_view_json(view, row)}


def _open_elements(session, instance_id: str) -> list[str]:
    return [t.element_id for t in queries.open_tasks(session, instance_id)]


@bp.get("/my/requests")
@policy.requires("portal")
def my_requests():
    user = policy.current_user()
    with db.read_session() as session:
        rows = queries.list_requests(session, customer=user.username)
        out = [_summary(r, resident.view(session, r, _open_elements(session, r.instance_id))) for r in rows]
    return {"requests": out}


@bp.get("/my/requests/<instance_id>")
@policy.requires("portal")
def my_request(instance_id: str):
    user = policy.current_user()
    with db.read_session() as session:
        row = queries.requests_by_instance(session, [instance_id]).get(instance_id)
        if row is None or not policy.can_view_request(user, row):
            raise errors.NotFound("找不到该求助记录", instance_id=instance_id)
        out = _summary(row, resident.view(session, row, _open_elements(session, instance_id)))
    return out
