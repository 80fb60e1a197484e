"""Recording a help request: the 物业助理's hotline page, and the form residents use in the portal.

Both start the ``help_request`` process (``HELP_REQUEST_PROCESS`` in the app config, so tests can run a
fixture process) with the start data the procedure expects. The fields are a JSON Schema drawn by the same
macros and validated by the same ``engine.forms`` as every task form, so messages look alike everywhere.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import forms
from engine.core import db
from engine.helpdesk import help_requests, intake, queries

from .policy import can_work_on, current_user, requires

bp = Blueprint("intake", __name__)

_CATEGORY = {"type": "string", "title": "求助类型（初步判断）", "enum": list(intake.CATEGORIES),
             "x-enumNames": list(intake.CATEGORIES.values())}
HOTLINE_SCHEMA = {
    "type": "object", "required": ["caller_name", "phone", "address", "description"],
    "properties": {
        "caller_name": {"type": "string", "title": "来电人", "minLength": 1, "maxLength": 50},
        "phone": {"type": "string", "title": "联系电话", "format": "phone", "maxLength": 20},
        "address": {"type": "string", "title": "楼栋/单元/房号", "minLength": 2, "maxLength": 100},
        "description": {"type": "string", "title": "求助内容", "minLength": 2, "maxLength": 2000},
        "category": _CATEGORY,
    },
}
HOTLINE_UI = {"description": {"ui:widget": "textarea", "ui:options": {"rows": 5}},
              "address": {"ui:placeholder": "例如：3栋2单元1201"},
              "category": {"ui:help": "不确定可以不选，由后续环节判定"}}

ONLINE_SCHEMA = {
    "type": "object", "required": ["address", "description"],
    "properties": {
        "caller_name": {"type": "string", "title": "联系人", "maxLength": 50},
        "phone": {"type": "string", "title": "联系电话", "format": "phone", "maxLength": 20},
        "address": HOTLINE_SCHEMA["properties"]["address"],
        "description": {"type": "string", "title": "需要什么帮助", "minLength": 2, "maxLength": 2000},
        "category": {**_CATEGORY, "title": "求助类型（可不选）"},
    },
}
ONLINE_UI = {"description": {"ui:widget": "textarea", "ui:options": {"rows": 5}},
             "address": {"ui:placeholder": "例如：3栋2单元1201"}}


def process_id() -> str:
    return current_app.config.get("HELP_REQUEST_PROCESS", "help_request")


def start_request(channel: str, data: dict, actor) -> help_requests.Started:
    with db.transaction() as session:
        return help_requests.start(session, process_id(), channel, data, actor)


def parse(schema: dict) -> tuple[dict, dict]:
    """(typed data, errors) from the posted form."""
    data = forms.coerce(schema, request.form.to_dict(flat=False))
    return data, forms.validate(schema, data)


@bp.route("/intake/hotline", methods=["GET", "POST"])
@requires("intake")
def hotline():
    values, errors = {}, {}
    if request.method == "POST":
        values, errors = parse(HOTLINE_SCHEMA)
        if not errors:
            try:
                started = start_request("hotline", values, current_user())
            except errors.EngineError as exc:
                flash(exc.message, "error")
            else:
                linked = f"，已关联住户账号 {started.resident.display_name}" if started.resident else ""
                flash(f"已登记 {values['caller_name']} 的来电{linked}", "success")
                return redirect(_next_page(started.instance_id))
    return render_template("intake/hotline.html", schema=HOTLINE_SCHEMA, ui_schema=HOTLINE_UI, values=values,
                           errors=errors), (422 if errors else 200)


def _next_page(instance_id: str) -> str:
    """Straight on to the call's first task when it is the recorder's own (e.g. 热线求助记录), else its page."""
    user = current_user()
    with db.read_session() as session:
        mine = [t for t in queries.open_tasks(session, instance_id) if can_work_on(user, t)]
    if mine:
        return url_for("tasks.show", task_id=mine[0].id)
    return url_for("requests.show", instance_id=instance_id)
