"""The request page (``/requests/<id>``): status, version, the diagram with progress marked, the timeline,
SLA clocks, and the data its reader may see — plus the staff list of requests.

The diagram is the instance's *pinned* BPMN (served from the version's stored bytes), so a request
started on version 3 is drawn as version 3 even after version 4 is deployed.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from engine import repository, runtime
from engine.audit import history
from engine.core import clock, db, errors
from engine.helpdesk import (
    audit_desk,
    deadlines,
    help_requests,
    intake,
    queries,
    request_filter,
    slow_steps,
    text_search,
)

from . import sla_view, timeline
from .paging import Pager
from .policy import (
    allowed,
    can_view_request,
    current_user,
    note_restricted_reads,
    requires,
    visible_data,
    visible_requests,
)
from .web import read_db

bp = Blueprint("requests", __name__)

DATA_LABELS = {"channel": "来源", "caller_name": "来电人/联系人", "phone": "联系电话", "address": "楼栋/单元",
               "description": "求助内容", "category": "求助类型", "customer_username": "住户账号",
               "priority": "优先级", "satisfaction": "满意度", "comment": "意见", **intake.RATINGS,
               "audit_tree_size": "审计检查点树大小", "audit_root": "审计检查点根", "audit_key_id": "签名密钥",
               "audit_checkpoint_at": "审计检查点时间（UTC）"}


def _guard(instance_id: str):
    """The request row (may be None for non-request processes) if the user may see it; aborts otherwise."""
    session = read_db()
    found = queries.instance_version(session, instance_id)
    if found is None:
        abort(404)
    req = queries.requests_by_instance(session, [instance_id]).get(instance_id)
    user = current_user()
    if req is not None and not can_view_request(user, req):
        abort(404)  # not 403: a resident must not learn that somebody else's request exists
    if req is None and not allowed(user, "requests"):
        abort(404)
    if req is not None:
        note_restricted_reads(user, [req], request.endpoint or "requests")
    return found, req


PAGE_SIZE = 50


@bp.get("/requests")
@requires("requests")
def index():
    # The month report links here with its figure's filter (month, day, deadline, rating, backlog …); the
    # reader sees only what need-to-know lets them (webapp.policy.visible_requests).
    found = request_filter.RequestFilter.from_args(request.args)
    args = {k: "" for k in ("q", "status", "category", "building")} | found.args()
    session = read_db()
    user = current_user()
    visible = visible_requests(session, user)
    total, more = request_filter.count_requests(session, found, visible=visible)
    pager = Pager.from_args(request.args)
    rows = request_filter.list_requests(session, found, limit=PAGE_SIZE + 1, after=pager.after, visible=visible)
    following = rows[PAGE_SIZE - 1] if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    note_restricted_reads(user, rows, "requests.index")
    first = (pager.number - 1) * PAGE_SIZE + 1
    return render_template("requests/list.html", rows=rows, args=args, categories=intake.CATEGORIES,
                           narrowed=found.but(q=None, status=None, category=None, building=None).describe(
                               slow_steps.step_name(session, found.step) if found.step else None),
                           buildings=queries.buildings(session), page=pager.number, total=total, more=more,
                           prev_href=_href(args, pager.prev_args()),
                           next_href=_href(args, pager.next_args(request_filter.cursor_of(following)) if following else None),
                           first=first if rows else 0, last=first + len(rows) - 1,
                           search_hint=text_search.SHORT_HINT if found.q and len(found.q) < text_search.TRIGRAM
                           else None)


def _href(args: dict, paging: dict | None) -> str | None:
    """The list's link with the same filters on another page (none when there is no such page)."""
    return None if paging is None else url_for("requests.index", **{k: v for k, v in args.items() if v}, **paging)


def markers(workflow, events, version=None) -> dict[str, list[str]]:
    """Element ids of the top-level process: finished and active (as the auditor's desk marks a step),
    escalated (timer fired / reached late), and placeholders: call activities whose diagram stands in for a
    规程 the company has not given us (property ``placeholder``), drawn with a 待补充 badge."""
    escalated = {e.element_id for e in events if e.kind in ("timer_fired", "escalated") and e.element_id}
    return audit_desk.marks(workflow) | {"escalated": sorted(escalated),
                                         "placeholder": sorted(placeholders(workflow, version))}


def placeholders(workflow, version) -> dict[str, str]:
    """Element id -> the 规程 it stands in for, in the top-level process of the instance's version."""
    props = (version.properties if version is not None else {}).get(workflow.spec.name, {})
    return {el: p["placeholder"] for el, p in props.items() if p.get("placeholder")}


@bp.get("/requests/<instance_id>")
@requires("requests", "portal")
def show(instance_id):
    (instance, version_row), req = _guard(instance_id)
    user = current_user()
    if not allowed(user, "requests"):
        return redirect(url_for("portal.show", instance_id=instance_id))
    session = read_db()
    loaded = runtime.load(session, instance_id)
    raw_events = history.events(session, instance_id)
    events = timeline.lines(session, instance_id, loaded.version, events=raw_events)  # the log read once
    clocks = queries.clocks_for_instance(session, instance_id)
    registry = deadlines.of_version(session, instance.version_id)  # its own version's figures, not the latest
    now = clock.now()
    data = visible_data(user, runtime.current_data(loaded.workflow))
    return render_template(
        "requests/show.html", instance=instance, version=version_row, req=req, lines=events,
        clocks=[(c, sla_view.badge(c, now, registry)) for c in clocks], tasks=queries.open_tasks(session, instance_id),
        data=data, labels=DATA_LABELS, marks=markers(loaded.workflow, raw_events, loaded.version),
        placeholders=placeholders(loaded.workflow, loaded.version), linked=_linked(session, user, instance_id),
        may_follow_up=req is not None and allowed(user, "follow_up"),
        show_data=allowed(user, "request_data"),
    )


def _linked(session, user, instance_id: str) -> dict:
    """The linked requests (6 反馈与跟踪) this reader may see: the one followed up, and the follow-ups."""
    earlier, later = queries.linked_requests(session, instance_id)
    return {"earlier": earlier if earlier is not None and can_view_request(user, earlier) else None,
            "later": [r for r in later if can_view_request(user, r)]}


@bp.post("/requests/<instance_id>/follow-up")
@requires("follow_up")
def follow_up(instance_id):
    """A new problem found while handling this request: open a follow-up request linked to it."""
    (_instance, _version), req = _guard(instance_id)
    user = current_user()
    if req is None:
        abort(404)  # an instance that is no help request has nothing to follow up
    description = (request.form.get("description") or "").strip()
    if len(description) < 2 or len(description) > 2000:
        flash("请填写新问题的内容（2～2000字）", "error")
        return redirect(url_for("requests.show", instance_id=instance_id))
    try:
        with db.transaction() as session:
            started = help_requests.follow_up(session, instance_id, description, user)
    except errors.EngineError as exc:
        flash(str(exc), "error")
        return redirect(url_for("requests.show", instance_id=instance_id))
    flash("已登记关联的跟进求助", "success")
    return redirect(url_for("requests.show", instance_id=started.instance_id))


@bp.get("/requests/<instance_id>/diagram.bpmn")
@requires("requests")
def diagram(instance_id):
    (_instance, version_row), _req = _guard(instance_id)
    content = repository.file_content(read_db(), version_row.bpmn_sha256)
    if content is None:
        abort(404)
    return Response(content, mimetype="application/xml",
                    headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})
