"""The administrator's view of what residents are told: SMS that failed or still wait (with every attempt
and a 重发 button), the Chinese message templates, one per event, with their variables, and the 24 h
hotline number the portal shows at once for an emergency (服务热线).

A template is checked before it is stored (:func:`engine.notify.templates.check`): a bad one is shown again
with the Chinese reason beside it and what was typed kept; nothing is saved.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine import notify
from engine.core import db, errors
from engine.helpdesk import hotline
from engine.helpdesk.tables import DeskSetting

from .policy import current_user, requires
from .web import read_db

bp = Blueprint("admin_messages", __name__, url_prefix="/admin")

STATUS_NAMES = {"pending": "等待发送", "sent": "已发送", "failed": "发送失败", "skipped": "已跳过"}


@bp.get("/messages")
@requires("admin")
def messages():
    session = read_db()
    rows = notify.delivery.troubled(session)
    return render_template("admin/messages.html", tab="messages", rows=rows, status_names=STATUS_NAMES,
                           counts=notify.delivery.counts(session), events=notify.templates.EVENTS,
                           attempts=notify.delivery.attempts_of(session, [m.id for m in rows]))


@bp.post("/messages/<message_id>/retry")
@requires("admin")
def retry(message_id):
    if not message_id.isdecimal() or len(message_id) > 15:
        abort(404)
    try:
        with db.transaction() as session:
            notify.delivery.retry(session, int(message_id))
    except errors.NotFound:
        abort(404)
    except errors.Conflict as exc:
        flash(exc.message, "warning")
    else:
        flash(f"消息 #{message_id} 将在下一轮重新发送", "success")
    return redirect(url_for("admin_messages.messages"))


def _templates_page(typed=None, errs=None, status=200):
    return render_template("admin/templates.html", tab="templates", rows=notify.templates.all_current(read_db()),
                           typed=typed or {}, errors=errs or {}), status


@bp.get("/templates")
@requires("admin")
def templates():
    return _templates_page()


@bp.post("/templates/<event>")
@requires("admin")
def save_template(event):
    if event not in notify.templates.EVENTS:
        abort(404)
    body = request.form.get("body", "")
    try:
        with db.transaction() as session:
            if request.form.get("action") == "reset":
                notify.templates.reset(session, event)
            else:
                notify.templates.save(session, event, body, current_user().username)
    except notify.templates.TemplateError as exc:
        return _templates_page({event: body}, {event: str(exc)}, 422)
    flash(f"已保存「{notify.templates.EVENTS[event].name}」通知模板，之后的消息按新模板发送", "success")
    return redirect(url_for("admin_messages.templates"))


def _hotline_page(typed=None, error=None, status=200):
    session = read_db()
    return render_template("admin/hotline.html", tab="hotline", number=hotline.number(session),
                           row=session.get(DeskSetting, hotline.KEY), default=hotline.DEFAULT_NUMBER, typed=typed,
                           error=error), status


@bp.get("/hotline")
@requires("admin")
def hotline_page():
    return _hotline_page()


@bp.post("/hotline")
@requires("admin")
def save_hotline():
    typed = request.form.get("number", "")
    try:
        with db.transaction() as session:
            saved = hotline.save(session, typed, current_user().username)
    except hotline.SettingError as exc:
        return _hotline_page(typed, str(exc), 422)
    flash(f"已保存24小时服务热线：{saved}", "success")
    return redirect(url_for("admin_messages.hotline_page"))
