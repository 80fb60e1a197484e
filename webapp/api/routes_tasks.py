"""The inbox over JSON: my ready tasks, one task with its form, claim, release and complete.

A task that is gone from the projection was completed or cancelled by somebody else (or never existed):
reading it is 404, acting on it is 409, like the page's "a colleague finished first".
"""

from __future__ import annotations

from flask import request
from sqlalchemy import select

from engine import forms, repository, runtime, tasks
from engine.core import db, errors
from engine.core.tables import TaskRow
from engine.helpdesk.tables import HelpRequest
from webapp import policy

from . import bp
from .errors import ApiError
from .shapes import jsonable, task_summary

GONE = "该任务已完成或已取消，请刷新待办列表"


def _row(session, task_id: str, *, for_change: bool) -> TaskRow:
    row = session.get(TaskRow, task_id)
    if row is None:
        if for_change:
            raise errors.Conflict(GONE, task_id=task_id)
        raise errors.NotFound("找不到该任务（可能已完成或已取消）", task_id=task_id)
    return row


PAGE_SIZE, MAX_PAGE = 50, 200


@bp.get("/tasks")
@policy.requires("inbox", "portal")
def list_tasks():
    """A page of my tasks in queue order; ``next`` continues after its last row (keyset, so every page
    costs its own rows). Need-to-know is filtered in the query (policy.listable_tasks), and checked again row by
    row; a page is never cut short by hidden tasks, never skips one."""
    user = policy.current_user()
    raw = request.args.get("limit", "")
    limit = min(int(raw), MAX_PAGE) if raw.isdigit() and int(raw) > 0 else PAGE_SIZE
    with db.read_session() as session:
        rows = tasks.inbox(session, user, after=request.args.get("after"), limit=limit + 1,
                           visible=policy.listable_tasks(session, user, offered=True))
        following = tasks.cursor_of(rows[limit - 1]) if len(rows) > limit else None
        rows = rows[:limit]
        reqs = {r.instance_id: r for r in session.scalars(
            select(HelpRequest).where(HelpRequest.instance_id.in_({r.instance_id for r in rows})))}
        seen = policy.seen_tasks(session, user, rows, reqs)
        rows = [r for r in rows if r.id in seen]
    internal = policy.allowed(user, "inbox")
    return {"tasks": [task_summary(r, internal=internal) for r in rows], "next": following}


@bp.get("/tasks/<task_id>")
@policy.requires("inbox", "portal")
def get_task(task_id: str):
    user = policy.current_user()
    with db.read_session() as session:
        row = _row(session, task_id, for_change=False)
        req = session.get(HelpRequest, row.instance_id)
        if not policy.can_view_task(user, row, req):
            refused = tasks.refusal(session, user, row)
            raise ApiError(403, tasks.refused_message(refused) if refused else "您没有查看此任务的权限")
        policy.note_restricted_reads(user, [req], "api.task")
        schema, ui_schema, data, revision = _form_and_data(session, row)
        resolved = forms.resolve_options(schema, ui_schema, data) if schema else None
        out = task_summary(row, internal=policy.allowed(user, "inbox"))
        out.update(instructions=row.instructions, clause=row.clause, schema=resolved, ui_schema=ui_schema,
                   data=jsonable(policy.visible_data(user, dict(data))),
                   revision=revision, may_complete=policy.can_work_on(user, row))
    return out


def _form_and_data(session, row: TaskRow) -> tuple[dict | None, dict | None, dict, int]:
    """The task's form (named by its ``tasks`` row), its current data and the instance's revision.

    The projection names the form but does not hold the task's data, so the data is read from the stored
    state's JSON (:func:`engine.runtime.serialization.task_data`) without rebuilding the workflow; only a
    state that reader cannot tell (another serializer version) is deserialized in full."""
    found = runtime.store.load(session, row.instance_id)
    if found is None:
        raise errors.NotFound("找不到该任务", task_id=row.id)
    instance, version_row = found
    data = runtime.serialization.task_data(instance.state, row.id)
    if data is None:
        loaded = runtime.load(session, row.instance_id)
        task = runtime.find_task(loaded.workflow, row.id)
        if task is None:
            raise errors.NotFound("找不到该任务", task_id=row.id)
        schema, ui_schema = runtime.task_form(loaded.version, task)
        return schema, ui_schema, task.data, loaded.instance.revision
    version = repository.load(session, version_row)
    return version.forms.get(row.form or ""), version.forms.get(row.ui_form or ""), data, instance.revision


@bp.post("/tasks/<task_id>/claim")
@policy.requires("inbox", "portal")
def claim_task(task_id: str):
    user = policy.current_user()
    with db.transaction() as session:
        _row(session, task_id, for_change=True)  # 404 / per-record visibility; the rules are tasks.claim's
        out = task_summary(tasks.claim(session, task_id, user))
    return out


@bp.post("/tasks/<task_id>/release")
@policy.requires("inbox", "portal")
def release_task(task_id: str):
    user = policy.current_user()
    with db.transaction() as session:
        _row(session, task_id, for_change=True)
        out = task_summary(tasks.release(session, task_id, user))
    return out


@bp.post("/tasks/<task_id>/complete")
@policy.requires("inbox", "portal")
def complete_task(task_id: str):
    user = policy.current_user()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data", {}), dict):
        raise ApiError(422, "请以 {\"data\": {...}} 提交表单内容", fields={"data": "提交的数据格式不正确"})
    revision = body.get("revision")
    if revision is not None and (not isinstance(revision, int) or isinstance(revision, bool)):
        raise ApiError(422, "revision 必须是整数", fields={"revision": "格式不正确，应为整数"})
    with db.transaction() as session:
        with db.reading(session) as read:  # the write lock waits for the write, not for the scripts
            row = _row(read, task_id, for_change=True)
            if not policy.can_work_on(user, row):
                raise ApiError(403, policy.work_refusal(user, row))
            # the same snapshot: the engine's checks and the runtime read there, not in snapshots of their own
            instance = tasks.complete(session, task_id, user, body.get("data", {}), expected_revision=revision,
                                      read=read)
        out = {"instance_id": instance.id, "status": instance.status, "revision": instance.revision}
    return out
