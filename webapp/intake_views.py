"""Recording a help request: the 物业助理's hotline page, and the form residents use in the portal.

Both start the ``help_request`` process (``HELP_REQUEST_PROCESS`` in the app config, so tests can run a
fixture process) with the start data the procedure expects. The fields are a JSON Schema drawn by the same
macros and validated by the same ``engine.forms`` as every task form, so messages look alike everywhere.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import forms
from engine.core import db
from engine.core.errors import EngineError
from engine.helpdesk import help_requests, queries

from .policy import can_work_on, current_user, requires

bp = Blueprint("intake", __name__)

# One schema, one set of limits (engine.helpdesk.help_requests.START_SCHEMA, which the API checks too); each
# page only words it its own way and says which fields the person must fill in.
HOTLINE_SCHEMA = help_requests.start_schema(titles={"caller_name": "来电人"})
HOTLINE_UI = {"description": {"ui:widget": "textarea", "ui:options": {"rows": 5}},
              "address": {"ui:placeholder": "例如：3栋2单元1201"},
              "category": {"ui:help": "不确定可以不选，由后续环节判定。选急救病人、治安事件或灾害事故时，"
                                      "登记后即派护管部值班负责人出动（P1），其余记录随后补全。"},
              "help_mode": {"ui:widget": "radio", "ui:help": "急救病人必选：按来电人的意见"},
              "is_major": {"ui:widget": "checkbox", "ui:help": "重大紧急事件登记后立即报公司经理"}}

# A resident's own name and phone are filled in from their account when left empty.
ONLINE_SCHEMA = help_requests.start_schema(
    titles={"caller_name": "联系人", "description": "需要什么帮助", "category": "求助类型（可不选）"},
    required=("address", "description"))
ONLINE_UI = {"description": {"ui:widget": "textarea", "ui:options": {"rows": 5}},
             "help_mode": {"ui:widget": "radio", "ui:help": "急救病人必选"},
             "is_major": {"ui:widget": "checkbox"},
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
            except EngineError as exc:
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
