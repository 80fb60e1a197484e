"""``POST /api/v1/requests``: a hotline call recorded by the intake desk, or a resident's online request."""

from __future__ import annotations

from flask import current_app, request

from engine import forms
from engine.core import db, errors
from engine.helpdesk import help_requests
from engine.helpdesk.tables import HelpRequest
from webapp import policy

from . import bp
from .errors import ApiError

DEFAULT_PROCESS = "help_request"

# The start fields and their limits are the hotline page's and the portal's (help_requests.START_SCHEMA); a
# JSON body names its channel and may carry nothing else. The OpenAPI document is drawn from this schema.
REQUEST_SCHEMA: dict = help_requests.start_schema(with_channel=True)


def process_id() -> str:
    return current_app.config.get("HELP_REQUEST_PROCESS", DEFAULT_PROCESS)


@bp.post("/requests")
@policy.requires("intake", "portal")
def create_request():
    body = validated(REQUEST_SCHEMA, request.get_json(silent=True))
    user = policy.current_user()
    if body["channel"] == "hotline" and not policy.allowed(user, "intake"):
        raise ApiError(403, "热线求助只能由物业助理或客服部主管登记", fields={"channel": "您只能提交线上求助"})
    if body["channel"] == "online" and not policy.allowed(user, "portal"):
        raise ApiError(403, "线上求助只能由业主/住户本人提交", fields={"channel": "请选择热线渠道"})
    with db.transaction() as session:
        started = help_requests.start(session, process_id(), body["channel"], body, user)
    return {"instance_id": started.instance_id}, 201


# 6 反馈与跟踪: a new problem found while handling a request opens a follow-up request linked to it.
FOLLOW_UP_SCHEMA: dict = {
    "type": "object", "title": "跟进求助", "required": ["description"], "additionalProperties": False,
    "properties": {"description": help_requests.START_SCHEMA["properties"]["description"] | {"title": "新问题"}},
}


@bp.post("/requests/<instance_id>/follow-ups")
@policy.requires("follow_up")
def create_follow_up(instance_id: str):
    """Staff open a request linked to ``instance_id`` for the same caller and address. Who may and whether
    the request exists for them are answered before the body is read: a reader outside its need-to-know
    learns nothing from a validation message."""
    user = policy.current_user()
    with db.transaction() as session:
        with db.reading(session) as read:
            earlier = read.get(HelpRequest, instance_id)
            if earlier is None or not policy.may_read_request(user, earlier, read):
                raise errors.NotFound("找不到该求助记录", instance_id=instance_id)
        body = validated(FOLLOW_UP_SCHEMA, request.get_json(silent=True))
        started = help_requests.follow_up(session, instance_id, body["description"], user)
    return {"instance_id": started.instance_id}, 201


def validated(schema: dict, body) -> dict:
    """A JSON body checked against a start form (strings trimmed, full-width digits normalised); a refusal
    names each offending field, keys the form does not have included."""
    if not isinstance(body, dict):
        raise ApiError(422, "请以 JSON 对象提交求助内容", fields={"": "提交的数据格式不正确"})
    body = {k: v.strip() if isinstance(v, str) else v for k, v in body.items()}
    body = forms.normalise(schema, body)  # full-width digits in the phone, as a form post gets
    errors = forms.validate(schema, body)
    extra = {k: "不支持此字段" for k in body if k not in schema.get("properties", {})}
    if errors.pop("", None) or extra:  # additionalProperties: name the keys, an API client can fix those
        errors.update(extra)
    if errors:
        raise ApiError(422, "提交的内容有误，请按提示修改", fields=errors)
    return body
