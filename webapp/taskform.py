"""A user task's page: instructions, the form drawn from its JSON Schema, drafts, and submitting it.

Submitting goes through ``engine.tasks.complete`` only: the engine re-checks who may do the task and
validates the data, so this module's job is translation — an HTML post into typed data
(``forms.coerce``), ``InvalidData`` into messages beside the fields with the input kept, and
``Conflict`` (a colleague was faster) into an explanation rather than an error page.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import delete

from engine import forms, runtime, tasks
from engine.core import clock, db, errors
from engine.core.tables import TaskRow
from engine.helpdesk import queries
from webapp.tables import Draft

from . import instructions
from .policy import allowed, can_work_on, current_user, note_restricted_reads, requires, work_refusal
from .web import friendly_error, local_time, read_db

bp = Blueprint("tasks", __name__)


def render_instructions(text: str | None, data: dict) -> Markup | None:
    """The task's instructions as safe HTML (Markdown, values filled in): see ``webapp.instructions``."""
    return instructions.render(text, data)


def context(session, task_id: str):
    """(row, task, schema with options resolved, ui schema) or None when the task is no longer waiting."""
    row = session.get(TaskRow, task_id)
    if row is None:
        return None
    loaded = runtime.load(session, row.instance_id)
    task = runtime.find_task(loaded.workflow, task_id)
    if task is None:
        return None
    schema, ui = runtime.task_form(loaded.version, task)
    resolved = forms.resolve_options(schema, ui, task.data) if schema else {"type": "object", "properties": {}}
    return row, task, resolved, ui or {}


def _done_by(session, instance_id: str | None, task_id: str) -> str:
    """"已由 郑工程师 于 11-27 14:32 完成。" for the conflict page, when the log says who it was."""
    event = queries.completion_of(session, task_id, instance_id) if instance_id else None
    if event is None:
        return ""
    name = queries.display_names(session, [event.actor]).get(event.actor, event.actor)
    return f"已由 {name} 于 {local_time(event.at, '%m-%d %H:%M')} 完成。"


def conflict_page(message: str, instance_id: str | None = None, task_id: str | None = None):
    user = current_user()
    detail = _done_by(read_db(), instance_id, task_id) if task_id else ""
    back = url_for("inbox.index") if allowed(user, "inbox") else url_for("portal.index")
    return render_template("tasks/conflict.html", message=message, detail=detail, back=back,
                           instance_id=instance_id), 409


def _render(row, task, schema, ui, values, errors=None, status=200):
    user = current_user()
    req = queries.requests_by_instance(read_db(), [row.instance_id]).get(row.instance_id)
    return render_template(
        "tasks/form.html", row=row, schema=schema, ui_schema=ui, values=values, errors=errors or {},
        instructions=render_instructions(row.instructions, dict(task.data)), req=req,
        back=url_for("inbox.index") if allowed(user, "inbox") else url_for("portal.index"),
    ), status


@bp.get("/tasks/<task_id>")
@requires("inbox", "portal")
def show(task_id):
    session = read_db()
    ctx = context(session, task_id)
    if ctx is None:
        return conflict_page("该任务已完成或已取消，无需再处理。", _instance_of_gone(task_id), task_id)
    row, task, schema, ui = ctx
    user = current_user()
    if not can_work_on(user, row):
        return friendly_error(work_refusal(user, row), 403)
    draft = session.get(Draft, (user.username, task_id))
    values = draft.data if draft else dict(task.data)
    if draft:
        flash(f"已恢复您于 {local_time(draft.updated_at)} 保存的草稿", "info")
    # the page shows the request's caller and data: a complaint's or a confidential consultation's, on record
    note_restricted_reads(user, queries.requests_by_instance(session, [row.instance_id]).values(), "tasks.show")
    return _render(row, task, schema, ui, values)


def _instance_of_gone(task_id: str) -> str | None:
    """A finished task's instance, from the log (its row is gone from the inbox projection)."""
    event = queries.completion_of(read_db(), task_id)
    return event.chain if event else None


@bp.post("/tasks/<task_id>")
@requires("inbox", "portal")
def submit(task_id):
    session = read_db()
    ctx = context(session, task_id)
    if ctx is None:
        return conflict_page("您提交时，该任务已由同事完成或已被取消，您的内容没有保存。",
                             _instance_of_gone(task_id), task_id)
    row, task, schema, ui = ctx
    user = current_user()
    if not can_work_on(user, row):
        if row.claimed_by and row.claimed_by != user.username and not tasks.refusal(session, user, row):
            return conflict_page(f"该任务已由 {row.claimed_by} 领取，您的内容没有保存。", row.instance_id)
        return friendly_error(work_refusal(user, row), 403)
    if request.form.get("action") == "draft":
        _save_draft(user.username, task_id, posted_data(schema, task))
        flash("草稿已保存，可稍后继续填写", "success")
        return redirect(url_for("tasks.show", task_id=task_id))
    instance_id = row.instance_id
    try:
        data, invalid = complete_posted(row, task, schema, user)
        if invalid:
            return _render(row, task, schema, ui, data, invalid, 422)
    except errors.Conflict as exc:
        return conflict_page(exc.message, instance_id, task_id)
    except errors.EngineError as exc:
        return friendly_error(exc.message, exc.status if exc.status in (403, 404) else 400)
    flash(f"已提交「{row.name}」", "success")
    if allowed(user, "inbox"):
        return redirect(url_for("inbox.index"))
    return redirect(url_for("portal.show", instance_id=instance_id))


def posted_data(schema: dict, task) -> dict:
    """The posted form as typed data (checkbox off, numbers, dates), over the task's current values."""
    return forms.coerce(schema, request.form.to_dict(flat=False), current=task.data)


def complete_posted(row, task, schema: dict, user) -> tuple[dict, dict | None]:
    """Complete the task from the posted form as ``user`` through ``engine.tasks.complete`` (which checks
    the right to do it and validates): (typed data, None) when done, (typed data, field errors) when the
    form is refused. A conflict or another engine refusal is raised for the caller to word. Used by the task
    page and by the resident's SMS confirmation link (``webapp.confirm_link``): one way to complete a task."""
    data = posted_data(schema, task)
    read_db().close()  # release the read snapshot before writing (SQLite WAL)
    try:
        with db.transaction() as write:
            tasks.complete(write, row.id, user, data)
            write.execute(delete(Draft).where(Draft.task_id == row.id))
    except errors.InvalidData as exc:
        return data, exc.errors
    return data, None


def _save_draft(username: str, task_id: str, data: dict) -> None:
    with db.transaction() as session:
        draft = session.get(Draft, (username, task_id))
        if draft is None:
            session.add(Draft(username=username, task_id=task_id, data=data, updated_at=clock.now()))
        else:
            draft.data, draft.updated_at = data, clock.now()
