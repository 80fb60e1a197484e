"""``POST /api/v1/requests``: a hotline call recorded by the intake desk, or a resident's online request."""

from __future__ import annotations

from flask import current_app, request

from engine import forms
from engine.core import db
from engine.helpdesk import help_requests, intake
from webapp import policy

from . import bp
from .errors import ApiError

DEFAULT_PROCESS = "help_request"

REQUEST_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "title": "求助",
    "required": ["channel", "caller_name", "phone", "address", "description"],
    "additionalProperties": False,
    "properties": {
        "channel": {"type": "string", "title": "渠道", "enum": list(intake.CHANNELS),
                    "x-enumNames": list(intake.CHANNELS.values())},
        # Strings are trimmed before they are checked: "pattern": "\\S" tells clients a blank one is no value.
        "caller_name": {"type": "string", "title": "求助人", "minLength": 1, "maxLength": 100, "pattern": r"\S"},
        "phone": {"type": "string", "title": "联系电话", "format": "phone", "maxLength": 32},
        "address": {"type": "string", "title": "楼栋/单元/房号", "minLength": 2, "maxLength": 255, "pattern": r"\S"},
        "description": {"type": "string", "title": "求助内容", "minLength": 2, "maxLength": 2000,
                        "pattern": r"\S"},
        "category": {"type": "string", "title": "求助类型（初判）", "enum": list(intake.CATEGORIES),
                     "x-enumNames": list(intake.CATEGORIES.values())},
    },
}


def process_id() -> str:
    return current_app.config.get("HELP_REQUEST_PROCESS", DEFAULT_PROCESS)


@bp.post("/requests")
@policy.requires("intake", "portal")
def create_request():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(422, "请以 JSON 对象提交求助内容", fields={"": "提交的数据格式不正确"})
    body = {k: v.strip() if isinstance(v, str) else v for k, v in body.items()}
    body = forms.normalise(REQUEST_SCHEMA, body)  # full-width digits in the phone, as a form post gets
    errors = forms.validate(REQUEST_SCHEMA, body)
    if errors.pop("", None):  # additionalProperties: name the offending keys, an API client can fix those
        errors.update({k: "不支持此字段" for k in body if k not in REQUEST_SCHEMA["properties"]})
    if errors:
        raise ApiError(422, "提交的内容有误，请按提示修改", fields=errors)
    user = policy.current_user()
    if body["channel"] == "hotline" and not policy.allowed(user, "intake"):
        raise ApiError(403, "热线求助只能由物业助理或客服部主管登记", fields={"channel": "您只能提交线上求助"})
    if body["channel"] == "online" and not policy.allowed(user, "portal"):
        raise ApiError(403, "线上求助只能由业主/住户本人提交", fields={"channel": "请选择热线渠道"})
    with db.transaction() as session:
        started = help_requests.start(session, process_id(), body["channel"], body, user)
    return {"instance_id": started.instance_id}, 201
