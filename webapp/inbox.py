"""待办: the tasks a person may do now, nearest deadline first, with claim / release / 派单.

The list is also served as an HTML fragment (``/inbox/list``) that the page re-fetches every ten seconds,
so new tasks and changing countdowns appear without a reload and without a second rendering path.
Supervisors (the ``dispatch`` area) get a second scope, 全部待办, to watch every open task and hand one to a
named colleague.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine import identity, tasks
from engine.core import clock, db, errors
from engine.core.tables import TaskRow
from engine.helpdesk import deadlines, intake, queries
from engine.helpdesk.tables import HelpRequest

from . import sla_view
from .policy import allowed, can_work_on, current_user, may_see_task, note_restricted_reads, requires
from .web import read_db

bp = Blueprint("inbox", __name__)

FILTERS = {"soon": "即将超时", "late": "已超时"}


@dataclass
class Item:
    task: TaskRow
    request: HelpRequest | None
    badges: list = field(default_factory=list)
    level: str | None = None
    mine: bool = False
    workable: bool = True  # may this user open and complete it (not just watch it)
    candidates: list = field(default_factory=list)  # (username, display name) for 派单


def _items(session, user, args) -> list[Item]:
    scope_all = args.get("scope") == "all" and allowed(user, "dispatch")
    rows = queries.all_open_tasks(session) if scope_all else tasks.inbox(session, user)
    reqs = queries.requests_by_instance(session, (r.instance_id for r in rows))
    clocks = queries.clocks_for_tasks(session, (r.id for r in rows))
    # each request's labels from its own version: a running request keeps its figures after a redeploy
    versions = {iid: v.id for iid, v in queries.versions_of(session, (r.instance_id for r in rows)).items()}
    now = clock.now()
    can_dispatch = allowed(user, "dispatch")
    candidates: dict[str, list] = {}
    items = []
    for row in rows:
        if not may_see_task(user, row, reqs.get(row.instance_id)):
            continue  # need-to-know: e.g. the complaint about this very person
        registry = deadlines.of_version(session, versions[row.instance_id]) if row.instance_id in versions else None
        badges = [sla_view.badge(c, now, registry) for c in clocks.get(row.id, [])]
        item = Item(row, reqs.get(row.instance_id), badges, sla_view.worst(badges),
                    mine=row.claimed_by == user.username, workable=can_work_on(user, row))
        if not _matches(item, args):
            continue
        if can_dispatch and row.lane == identity.departments.DEPARTMENT_LANE and row.department:
            key = f"dept:{row.department}"  # a department's job: 派单 to one of its members
            if key not in candidates:
                candidates[key] = [(u.username, u.display_name)
                                   for u in identity.departments.members(session, row.department)]
            item.candidates = candidates[key]
        elif can_dispatch and row.lane:
            role = identity.ROLE_BY_NAME.get(row.lane)
            if role and role.staff:
                if row.lane not in candidates:
                    candidates[row.lane] = [(u.username, u.display_name)
                                            for u in queries.users_with_role(session, role.code)]
                item.candidates = candidates[row.lane]
        items.append(item)
    # Deadline first, as the query ordered them; among tasks with the same deadline (most often none) the
    # more urgent request comes first, so a P1 without a deadline does not wait behind routine work.
    items.sort(key=lambda i: (i.task.due_at is None, clock.as_utc(i.task.due_at) if i.task.due_at else 0,
                              _urgency(i.request)))
    return items


def _urgency(req: HelpRequest | None) -> int:
    """P1 → 0 … P4 → 3; unknown priority after all of them."""
    order = list(intake.PRIORITIES)
    return order.index(req.priority) if req is not None and req.priority in order else len(order)


def _matches(item: Item, args) -> bool:
    due = args.get("due")
    if due == "soon" and item.level not in ("yellow", "orange"):
        return False
    if due == "late" and item.level != "red":
        return False
    req = item.request
    if args.get("category") and (req is None or req.category != args["category"]):
        return False
    if args.get("building") and (req is None or req.building != args["building"]):
        return False
    return True


def _filter_args() -> dict:
    keys = ("scope", "due", "category", "building")
    return {k: request.args.get(k, "") for k in keys if request.args.get(k)}


@bp.get("/inbox")
@requires("inbox")
def index():
    user = current_user()
    session = read_db()
    args = _filter_args()
    items = _items(session, user, args)
    # restricted requests listed (caller, address): on the record once per page load, not per 10-s refresh
    note_restricted_reads(user, [i.request for i in items], "inbox.index")
    return render_template("inbox/index.html", items=items, args=args,
                           filters=FILTERS, categories=intake.CATEGORIES, buildings=queries.buildings(session),
                           can_dispatch=allowed(user, "dispatch"))


@bp.get("/inbox/list")
@requires("inbox")
def fragment():
    """The list alone, for the ten-second refresh."""
    user = current_user()
    args = _filter_args()
    return render_template("inbox/_list.html", items=_items(read_db(), user, args), args=args,
                           can_dispatch=allowed(user, "dispatch"))


def _back():
    target = request.form.get("back") or ""
    return redirect(target if target.startswith("/inbox") else url_for("inbox.index"))


def _change(action, task_id: str, *args, done: str):
    user = current_user()
    try:
        with db.transaction() as session:
            action(session, task_id, user, *args)
    except errors.Conflict as exc:
        flash(exc.message, "warning")
    except errors.EngineError as exc:
        flash(exc.message, "error")
    else:
        flash(done, "success")
    return _back()


@bp.post("/tasks/<task_id>/claim")
@requires("inbox")
def claim(task_id):
    return _change(tasks.claim, task_id, done="已领取，该任务现在只在您的待办中")


@bp.post("/tasks/<task_id>/release")
@requires("inbox")
def release(task_id):
    return _change(tasks.release, task_id, done="已退回，同组同事可以领取")


@bp.post("/tasks/<task_id>/assign")
@requires("dispatch")
def assign(task_id):
    username = (request.form.get("username") or "").strip()
    if not username:
        flash("请选择要派给的同事", "warning")
        return _back()

    def do(session, tid, user, target):
        tasks.assign(session, tid, user, target)

    return _change(do, task_id, username, done=f"已派单给 {username}")


@bp.get("/inbox/count.json")
@requires("inbox")
def count():
    """Tiny JSON for anything that wants a badge without the list (e.g. a home-screen icon)."""
    session, user = read_db(), current_user()
    rows = tasks.inbox(session, user)
    reqs = queries.requests_by_instance(session, (r.instance_id for r in rows))
    return {"count": sum(1 for r in rows if may_see_task(user, r, reqs.get(r.instance_id)))}
