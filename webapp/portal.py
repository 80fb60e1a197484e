"""业主/住户's own corner: submit a request online, follow it, confirm and rate the result, urge (催单).

A resident sees only requests whose ``customer_username`` is theirs (online requests, and hotline calls
from the phone number they have proven, :mod:`webapp.phone_views`). Urging is an audit event ``urged`` on the instance — the
history is where "the resident chased us at 14:05" belongs — and the help desk's notices write the in-app
message for the handling roles as it is appended; at most one per five minutes per resident and request.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine import identity, runtime
from engine.audit import history
from engine.core import clock, db
from engine.core.errors import EngineError
from engine.helpdesk import deadlines, hotline, queries, resident

from . import sla_view
from .intake_views import ONLINE_SCHEMA, ONLINE_UI, parse, start_request
from .policy import can_view_request, current_user, requires
from .web import duration_text, local_time, read_db

bp = Blueprint("portal", __name__)

URGE_INTERVAL = dt.timedelta(minutes=5)


@bp.get("/portal")
@requires("portal")
def index():
    user = current_user()
    session = read_db()
    rows = queries.list_requests(session, customer=user.username)
    todo = {t.instance_id: t for t in queries.tasks_assigned_to(session, user.username)}
    plain = {r.instance_id: _status(session, r) for r in rows}
    return render_template("portal/index.html", rows=rows, todo=todo, plain=plain)


def _status(session, req) -> str:
    return resident.resident_status(req, (t.element_id for t in queries.open_tasks(session, req.instance_id)))


@bp.route("/portal/new", methods=["GET", "POST"])
@requires("portal")
def new():
    user = current_user()
    values, errors = {"caller_name": user.display_name, "phone": user.phone}, {}
    if request.method == "POST":
        values, errors = parse(ONLINE_SCHEMA)
        if not errors:
            values.setdefault("caller_name", user.display_name)
            values.setdefault("phone", user.phone)
            try:
                started = start_request("online", values, user)
            except EngineError as exc:
                flash(exc.message, "error")
            else:
                if values.get("category") in hotline.EMERGENCY_CATEGORIES:
                    flash("您的紧急求助已提交，护管部值班人员已接报；情况紧急请立即拨打24小时服务热线", "warning")
                else:
                    flash("您的求助已提交，我们会尽快处理", "success")
                return redirect(url_for("portal.show", instance_id=started.instance_id))
    return render_template("portal/new.html", schema=ONLINE_SCHEMA, ui_schema=ONLINE_UI, values=values,
                           errors=errors, hotline=hotline.number(read_db())), (422 if errors else 200)


def _own(instance_id: str):
    session = read_db()
    req = queries.requests_by_instance(session, [instance_id]).get(instance_id)
    if req is None or not can_view_request(current_user(), req):
        abort(404)
    return req


@bp.get("/portal/requests/<instance_id>")
@requires("portal")
def show(instance_id):
    req = _own(instance_id)
    user = current_user()
    session = read_db()
    found = queries.instance_version(session, instance_id)
    loaded = runtime.load(session, instance_id) if found else None
    taken = _taken(runtime.current_data(loaded.workflow)) if loaded else None
    clocks = queries.clocks_for_instance(session, instance_id)
    my_tasks = [t for t in queries.open_tasks(session, instance_id) if t.assignee == user.username]
    last = queries.last_event(session, instance_id, "urged", user.username)
    wait = _urge_wait(last)
    seen = resident.view(session, req, (t.element_id for t in queries.open_tasks(session, instance_id)))
    # An emergency is promised the hotline, not a time to acknowledge a form (预计15分钟内受理).
    # The figures of the version this request runs on: a timer changed since then does not change its promise.
    registry = deadlines.of_version(session, found[0].version_id) if found else None
    promises = (sla_view.customer_promises(clocks, registry) if req.status != "closed" and not seen.hotline
                else [])
    return render_template("portal/request.html", req=req, plain=seen.status, answers=seen.answers,
                           coming=seen.coming, promises=promises, can_urge=seen.can_urge, my_tasks=my_tasks,
                           hotline=seen.hotline, urge_wait=duration_text(wait) if wait else None, taken=taken)


def _taken(data: dict) -> tuple[str, str] | None:
    """(department, its expected time) once the department the request was handed to has taken it: what the
    resident is told (4.1 告知预计解决时间)."""
    when = data.get("expected_done_at")
    dept = identity.DEPARTMENT_BY_CODE.get(str(data.get("department") or ""))
    if not when or dept is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dept.name, local_time(clock.as_utc(moment))


def _urge_wait(last) -> dt.timedelta | None:
    if last is None:
        return None
    left = clock.as_utc(last.at) + URGE_INTERVAL - clock.now()
    return left if left.total_seconds() > 0 else None


@bp.post("/portal/requests/<instance_id>/urge")
@requires("portal")
def urge(instance_id):
    req = _own(instance_id)
    user = current_user()
    read_db_session = read_db()
    if not resident.can_urge(req, _status(read_db_session, req)):
        flash("该求助已办结或正等待您确认，无需催单", "info")
        return redirect(url_for("portal.show", instance_id=instance_id))
    read_db().close()
    with db.transaction() as session:
        wait = _urge_wait(queries.last_event(session, instance_id, "urged", user.username))
        if wait is None:
            lanes = sorted({t.lane for t in queries.open_tasks(session, instance_id) if t.lane})
            history.append_once(session, instance_id, user.username, "urged", payload={"lanes": lanes})
    if wait is not None:
        flash(f"您刚催过单，请{duration_text(wait + dt.timedelta(seconds=59))}后再试", "warning")
    else:
        flash("已催单，我们会尽快处理", "success")
    return redirect(url_for("portal.show", instance_id=instance_id))
