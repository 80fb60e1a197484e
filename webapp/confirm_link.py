"""The page the 待确认 SMS links to: the resident confirms solved / not solved without signing in.

The token in the address (:mod:`engine.helpdesk.confirm_links`) names one waiting confirmation task
(确认解决情况并评价); the page shows that task's own form and completes it exactly as the portal's task page
does (``taskform.complete_posted``: ``engine.tasks.complete`` as the resident the task is assigned to, the
same validation, the same rating source ``resident``). "Not solved" therefore reopens the work just as
it does from the portal. A link that was altered, has expired or was already used is refused in Chinese.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from engine import identity
from engine.core import errors
from engine.core.tables import TaskRow
from engine.helpdesk import confirm_links, notices, queries, touchpoints

from . import taskform
from .policy import public
from .web import friendly_error, read_db

bp = Blueprint("confirm_link", __name__)

USED = "此链接已失效：处理结果已经确认过，或已转为电话回访。如有问题请登录“我的求助”或拨打服务热线。"


def _waiting(token: str):
    """(task row, task, schema, ui, resident) for a valid token, or an error page to return instead."""
    try:
        link = confirm_links.read(token)
    except confirm_links.LinkError as exc:
        return None, friendly_error(str(exc), 410 if exc.expired else 404, title="链接无法使用")
    session = read_db()
    row = session.get(TaskRow, link.task_id)
    if row is None or row.instance_id != link.instance_id:
        return None, friendly_error(USED, 410, title="链接已失效")
    if (row.process_id, row.element_id) not in touchpoints.CONFIRM or not row.assignee:
        return None, friendly_error(confirm_links.INVALID, 404, title="链接无法使用")
    ctx = taskform.context(session, row.id)
    who = identity.get_user(session, row.assignee)
    if ctx is None or who is None or not who.is_active:
        return None, friendly_error(USED, 410, title="链接已失效")
    return (*ctx, who), None


def _page(token, row, schema, ui, values, errs=None, status=200):
    req = queries.requests_by_instance(read_db(), [row.instance_id]).get(row.instance_id)
    return render_template("portal/confirm_link.html", token=token, row=row, req=req, schema=schema, ui_schema=ui,
                           values=values, errors=errs or {}, number=notices.number(row.instance_id)), status


@bp.get("/confirm/<token>")
@public
def show(token):
    found, refused = _waiting(token)
    if refused is not None:
        return refused
    row, task, schema, ui, _who = found
    return _page(token, row, schema, ui, dict(task.data))


@bp.post("/confirm/<token>")
@public
def submit(token):
    found, refused = _waiting(token)
    if refused is not None:
        return refused
    row, task, schema, ui, who = found
    try:
        data, invalid = taskform.complete_posted(row, task, schema, who)
    except errors.Conflict:
        return friendly_error(USED, 410, title="链接已失效")
    except errors.EngineError as exc:
        return friendly_error(exc.message, exc.status if exc.status in (403, 404) else 400)
    if invalid:
        return _page(token, row, schema, ui, data, invalid, 422)
    solved = data.get("problem_solved") is True
    return render_template("portal/confirm_done.html", solved=solved, number=notices.number(row.instance_id))
