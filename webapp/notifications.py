"""站内通知: tasks handed to me, escalations and breaches for my roles, residents' urges, and (for
residents) "please confirm and rate".

Nothing is written to produce a notification: each is *derived* from the audit log (``task_assigned``,
``escalated``, ``urged``, ``task_reached``) and the SLA clocks, so whichever process caused it — a
supervisor in the browser, the scheduler firing a timer — needs no extra hook. Only a per-user "read up
to" time is stored (``web_read_markers``). The window is the last 30 days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, redirect, render_template, url_for

from engine import identity, repository
from engine import tasks as engine_tasks
from engine.core import clock, db
from engine.core.tables import TaskRow
from engine.helpdesk import queries
from webapp.tables import ReadMarker

from . import sla_view, timeline
from .policy import SUPERVISORS, current_user, requires
from .web import read_db

bp = Blueprint("notifications", __name__)

WINDOW = dt.timedelta(days=30)
CUSTOMER_LANE = identity.ROLE_BY_CODE["customer"].name
HEAD_LANE = identity.departments.HEAD_LANE


@dataclass(frozen=True)
class Note:
    at: dt.datetime
    kind: str  # assigned | escalated | breached | urged | confirm
    text: str
    instance_id: str


def collect(session, user, limit: int = 100) -> list[Note]:
    since = clock.now() - WINDOW
    codes = set(user.role_codes)
    lanes = identity.roles_for_lanes(codes - {"customer"})
    headed = identity.departments.headed_by(user)
    found: list[tuple] = []  # (at, kind, instance, element id, extra text)
    for event, payload in queries.recent_events(session, ["task_assigned", "escalated", "urged"], since):
        if event.kind == "task_assigned" and payload.get("to") == user.username:
            found.append((event.at, "assigned", event.chain, event.element_id, event.actor))
        elif event.kind == "escalated" and payload.get("lane") in lanes:
            found.append((event.at, "escalated", event.chain, event.element_id, payload.get("lane")))
        elif event.kind == "escalated" and payload.get("lane") == HEAD_LANE and headed:
            # a department head's escalation: theirs when the (still open) task names their department
            row = session.get(TaskRow, str(payload.get("task_id")))
            if row is not None and row.department in headed:
                found.append((event.at, "escalated", event.chain, event.element_id, engine_tasks.offered_to(row)))
        elif event.kind == "urged" and lanes & set(payload.get("lanes") or ()):
            found.append((event.at, "urged", event.chain, None, None))
    if "customer" in codes:
        mine = [r.instance_id for r in queries.list_requests(session, customer=user.username, limit=200)]
        for event, payload in queries.recent_events(session, ["task_reached", "escalated"], since, chains=mine):
            if payload.get("lane") == CUSTOMER_LANE:
                found.append((event.at, "confirm", event.chain, event.element_id, None))
    if codes & SUPERVISORS:
        for clk in queries.breached_clocks(session, since):
            found.append((clk.breached_at, "breached", clk.instance_id, clk.guarded_element_id, clk.sla_key))
    found.sort(key=lambda f: clock.as_utc(f[0]), reverse=True)
    found = found[:limit]
    names = _names(session, {f[2] for f in found if f[3]})
    people = queries.display_names(session, {f[4] for f in found if f[1] == "assigned"})
    notes = []
    for at, kind, instance_id, element, extra in found:
        label = names.get(instance_id, {}).get(element or "", element or "")
        text = {
            "assigned": f"{people.get(extra, extra)} 把「{label}」派给了您",
            "escalated": f"超时升级：「{label}」待{extra}处理",
            "urged": "住户催单，请尽快处理",
            "confirm": f"请确认处理结果并评价（「{label}」）",
            "breached": f"已超时：「{label}」{sla_view.label(extra)}",
        }[kind]
        notes.append(Note(clock.as_utc(at), kind, text, instance_id))
    return notes


def _names(session, instance_ids) -> dict[str, dict[str, str]]:
    out = {}
    for iid, version in queries.versions_of(session, instance_ids).items():
        out[iid] = timeline.element_names(repository.load(session, version))
    return out


def read_at(session, username: str) -> dt.datetime:
    marker = session.get(ReadMarker, username)
    return clock.as_utc(marker.read_at) if marker else dt.datetime.min.replace(tzinfo=dt.UTC)


def unread_count(session, user) -> int:
    since = read_at(session, user.username)
    return sum(1 for n in collect(session, user) if n.at > since)


@bp.get("/notifications")
@requires("notifications")
def index():
    user = current_user()
    session = read_db()
    return render_template("notifications/index.html", notes=collect(session, user),
                           since=read_at(session, user.username))


@bp.post("/notifications/read")
@requires("notifications")
def mark_read():
    user = current_user()
    with db.transaction() as session:
        marker = session.get(ReadMarker, user.username)
        if marker is None:
            session.add(ReadMarker(username=user.username, read_at=clock.now()))
        else:
            marker.read_at = clock.now()
    return redirect(url_for("notifications.index"))


@bp.get("/notifications/count.json")
@requires("notifications")
def count():
    return {"unread": unread_count(read_db(), current_user())}
