"""待办: the tasks a person may do now, nearest deadline first, with claim / release / 派单.

The list is also served as an HTML fragment (``/inbox/list``) that the page re-fetches every ten seconds,
so new tasks and changing countdowns appear without a reload and without a second rendering path.
Supervisors (the ``dispatch`` area) get a second scope, 全部待办, to watch every open task and hand one to a
named colleague.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from jinja2.filters import do_truncate
from markupsafe import Markup
from sqlalchemy import select

from engine import identity, tasks
from engine.core import clock, db, errors, keyset
from engine.core.tables import TaskRow
from engine.helpdesk import deadlines, intake, queries
from engine.helpdesk.tables import HelpRequest

from . import links, sla_view
from .paging import Pager
from .policy import (
    allowed,
    can_work_on,
    current_user,
    listable_tasks,
    note_restricted_reads,
    requires,
    seen_tasks,
)
from .web import category_name, read_db

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


PAGE_SIZE = 50
BATCH = PAGE_SIZE + 1  # rows read per query while filling a page (need-to-know and the filters drop some)
MAX_BATCHES = 10  # a page that finds fewer matches in this many rows shows them, with 下一页 for the rest


@dataclass
class Page:
    items: list[Item]
    pager: Pager
    following: str | None  # the cursor of the next page, if there is one
    total: int | None = None  # the queue's length up to TOTAL_CAP, when the page is not the whole of it
    more: bool = False  # longer than TOTAL_CAP


TOTAL_CAP = 1000


def _page(session, user, args, pager: Pager) -> Page:
    """One page of the queue: up to PAGE_SIZE tasks this user may see and that match the filters, read
    in queue order from the cursor on (keyset, engine.core.keyset), so a page costs its own rows however
    long the queue and the history are."""
    scope_all = args.get("scope") == "all" and allowed(user, "dispatch")
    items: list[Item] = []
    cursor, following = pager.after, None
    can_dispatch = allowed(user, "dispatch")
    candidates: dict[str, list] = {}
    now = clock.now()
    visible = listable_tasks(session, user, offered=not scope_all)  # need-to-know in the query itself
    for _ in range(MAX_BATCHES):
        rows = (queries.all_open_tasks(session, after=cursor, limit=BATCH, visible=visible) if scope_all
                else tasks.inbox(session, user, after=cursor, limit=BATCH, visible=visible))
        reqs = queries.requests_by_instance(session, (r.instance_id for r in rows))
        clocks = queries.clocks_for_tasks(session, rows)
        # each request's labels from its own version: a running request keeps its figures after a redeploy
        # (one narrow query for the whole batch: fifty rows share a handful of versions)
        version_of = queries.version_ids_of(session, (r.instance_id for r in rows))
        by_version = deadlines.of_versions(session, version_of.values())
        registries = {iid: by_version.get(vid) for iid, vid in version_of.items()}
        seen = seen_tasks(session, user, rows, reqs)  # need-to-know, the last word on each row, in one query
        for i, row in enumerate(rows):
            item = _item(session, user, row, reqs, clocks, registries, now, can_dispatch, candidates, seen)
            if item is not None and _matches(item, args):
                items.append(item)
            if len(items) == PAGE_SIZE:
                if i < len(rows) - 1 or len(rows) == BATCH:
                    following = tasks.cursor_of(row)
                break
        if len(items) == PAGE_SIZE or len(rows) < BATCH:
            break
        cursor = tasks.cursor_of(rows[-1])
    else:
        following = cursor  # a sparse page: the rest is behind 下一页
    # Deadline first, as the query ordered them; among tasks with the same deadline (most often none) the
    # more urgent request comes first, so a P1 without a deadline does not wait behind routine work.
    items.sort(key=lambda i: (i.task.due_at is None, clock.as_utc(i.task.due_at) if i.task.due_at else 0,
                              _urgency(i.request)))
    page = Page(items, pager, following)
    if following or pager.number > 1:
        page.total, page.more = _total(session, user, scope_all, visible)
    return page


def _total(session, user, scope_all: bool, visible=None) -> tuple[int, bool]:
    """The queue's length for the heading, counted up to TOTAL_CAP ("1000+"): the tasks need-to-know lets
    this reader see (counted in the query, like the page reads them), before the page's filters.
    ``visible``: that condition when the page has already built it."""
    visible = listable_tasks(session, user, offered=not scope_all) if visible is None else visible
    if scope_all:
        return keyset.capped_total(session, tasks.queue_page(select(TaskRow.id).where(visible), None, None),
                                   TOTAL_CAP)
    return tasks.inbox_total(session, user, TOTAL_CAP, visible=visible)


def _item(session, user, row, reqs, clocks, registries, now, can_dispatch, candidates, seen) -> Item | None:
    if row.id not in seen:
        return None  # need-to-know: e.g. the complaint about this very person
    registry = registries.get(row.instance_id)
    badges = [sla_view.badge(c, now, registry) for c in clocks.get(row.id, [])]
    item = Item(row, reqs.get(row.instance_id), badges, sla_view.worst(badges),
                mine=row.claimed_by == user.username, workable=can_work_on(user, row))
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
    return item


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


def _render(template: str, **extra):
    user = current_user()
    session = read_db()
    args = _filter_args()
    page = _page(session, user, args, Pager.from_args(request.args))
    # restricted requests listed (caller, address) are read: on the record at each page load and each 10-s
    # refresh, a refresh not again within policy.REREAD_AFTER of the same person's last read of the request
    refresh = template != "inbox/index.html"
    note_restricted_reads(user, [i.request for i in page.items], "inbox.fragment" if refresh else "inbox.index",
                          refresh=refresh)
    can_dispatch = allowed(user, "dispatch")
    return render_template(template, cards=_cards(page.items, can_dispatch), page=page, args=args,
                           link_args=args | page.pager.args(), prev_href=_href(args, page.pager.prev_args()),
                           next_href=_href(args, page.pager.next_args(page.following) if page.following else None),
                           can_dispatch=can_dispatch, **extra)


class Card:
    """What one card of ``inbox/_list.html`` prints, worked out once in Python (issue 16): each value the
    template printed through an attribute of a database row, a filter or a link builder is here a plain
    string (escaped by the template as before), so the template's work per card is a few lookups. The
    HTML is the same as when the template worked them out itself."""

    __slots__ = ("id", "level", "href", "name", "who", "request", "tag", "priority_key", "priority", "place",
                 "request_href", "desc", "badges", "arrived", "claimed_by", "mine", "workable", "claim",
                 "release", "assign", "options")


def _cards(items: list[Item], can_dispatch: bool) -> list[Card]:
    """The page's cards, in the items' order."""
    link = _links()
    truncate, priorities = _truncate(), intake.PRIORITIES
    options: dict[tuple[int, str | None], Markup] = {}  # 派单 choices, per list of people and preselection
    cards = []
    for item in items:
        t, r, c = item.task, item.request, Card()
        c.id, c.level, c.href, c.name, c.who = t.id, item.level or "none", link["task"](t.id), t.name, tasks.offered_to(t)
        c.request = r is not None
        if r is not None:
            c.tag, c.priority_key = category_name(r.category), (r.priority or "").lower()
            c.priority = f"{r.priority} {priorities.get(r.priority, '')}" if r.priority else None
            c.place = f"{r.address or ''} · {r.caller_name or ''}"
            c.request_href = link["request"](t.instance_id)
            c.desc = truncate(r.description) if r.description else None
        c.badges = [(b.level, f"{b.name}，期限 {_minute(b.due_at)}", f"{b.name} · {b.text}") for b in item.badges]
        c.arrived = _minute(t.ready_at, year=False)
        c.claimed_by, c.mine, c.workable = t.claimed_by, item.mine, item.workable
        c.claim = link["claim"](t.id) if item.workable and not t.claimed_by and not t.assignee else None
        c.release = link["release"](t.id) if t.claimed_by and (item.mine or can_dispatch) else None
        c.assign = c.options = None
        if can_dispatch and item.candidates:
            c.assign = link["assign"](t.id)
            key = (id(item.candidates), t.claimed_by)
            if key not in options:
                options[key] = Markup("").join(
                    _OPTION.format(username, _SELECTED if t.claimed_by == username else "", name)
                    for username, name in item.candidates)
            c.options = options[key]
        cards.append(c)
    return cards


_OPTION = Markup('<option value="{}"{}>{}</option>')  # one person to 派单 to (the arguments are escaped)
_SELECTED = Markup(" selected")


def _minute(value, *, year: bool = True) -> str:
    """``web.local_time(value)`` (or with ``"%m-%d %H:%M"``, ``year=False``) without ``strftime``, which
    cost more than the rest of a card's times: a page prints two or three per card."""
    local = clock.to_local(value)
    if local is None:
        return ""
    shown = f"{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"
    return f"{local.year:04d}-{shown}" if year else shown


def _truncate():
    """Jinja's ``truncate(80)`` filter, as the template applied it to a request's description."""
    env = current_app.jinja_env
    return lambda text: do_truncate(env, text, 80)


def _links() -> dict:
    """Each card's links, built once per page (webapp.links)."""
    return {"task": links.per_row("tasks.show", "task_id"), "request": links.per_row("requests.show", "instance_id"),
            "claim": links.per_row("inbox.claim", "task_id"), "release": links.per_row("inbox.release", "task_id"),
            "assign": links.per_row("inbox.assign", "task_id")}


def _href(args: dict, paging: dict | None) -> str | None:
    return None if paging is None else url_for("inbox.index", **args, **paging)


@bp.get("/inbox")
@requires("inbox")
def index():
    return _render("inbox/index.html", filters=FILTERS, categories=intake.CATEGORIES,
                   buildings=queries.buildings(read_db()))


@bp.get("/inbox/list")
@requires("inbox")
def fragment():
    """The list alone, for the ten-second refresh (of the same page)."""
    return _render("inbox/_list.html")


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
    """Tiny JSON for anything that wants a badge without the list (e.g. a home-screen icon): the queue's
    length up to 1000 (``more``: longer than that). It counts only what need-to-know lets the reader see, so
    the badge of someone named in a complaint (被投诉人) does not tell them a complaint about them exists."""
    session, user = read_db(), current_user()
    total, more = _total(session, user, False)
    return {"count": total, "more": more}
