"""The fields that start a help request are checked with one set of limits: on the hotline page, in the
residents' portal, by the JSON API and as its OpenAPI document says."""

from __future__ import annotations

from engine import forms
from engine.helpdesk import help_requests
from engine.helpdesk.tables import HelpRequest

LIMITS = ("minLength", "maxLength", "pattern", "format", "enum")


def _limits(schema: dict) -> dict:
    return {name: {k: v for k, v in field.items() if k in LIMITS}
            for name, field in schema["properties"].items() if name in help_requests.START_FIELDS}


def test_every_entry_point_checks_the_same_limits():
    from webapp.api.routes_requests import REQUEST_SCHEMA
    from webapp.intake_views import HOTLINE_SCHEMA, ONLINE_SCHEMA

    shared = _limits(help_requests.START_SCHEMA)
    assert _limits(HOTLINE_SCHEMA) == _limits(ONLINE_SCHEMA) == _limits(REQUEST_SCHEMA) == shared
    assert ONLINE_SCHEMA["required"] == ["address", "description"]  # the portal fills in name and phone
    assert REQUEST_SCHEMA["required"][0] == "channel" and REQUEST_SCHEMA["additionalProperties"] is False


def test_the_limits_fit_the_request_row():
    columns = HelpRequest.__table__.c
    for name, field in help_requests.START_SCHEMA["properties"].items():
        if "maxLength" not in field:  # a choice (category, help_mode) or a tick (is_major): nothing to cut
            continue
        length = getattr(columns[name].type, "length", None)
        if length is not None and "maxLength" in field:
            assert field["maxLength"] <= length, name


def test_a_long_name_is_accepted_by_the_page_and_the_api_alike():
    from webapp.api.routes_requests import REQUEST_SCHEMA
    from webapp.intake_views import HOTLINE_SCHEMA

    call = {"channel": "hotline", "caller_name": "深圳市某某物业顾问有限公司驻荔园项目联络人王先生" * 3,
            "phone": "13800000001", "address": "3栋2单元1201", "description": "厨房水管漏水"}
    assert 50 < len(call["caller_name"]) <= 100
    assert forms.validate(REQUEST_SCHEMA, call) == {}
    assert forms.validate(HOTLINE_SCHEMA, {k: v for k, v in call.items() if k != "channel"}) == {}
    too_long = {**call, "caller_name": "王" * 101}
    assert forms.validate(REQUEST_SCHEMA, too_long) == {"caller_name": "最多填写100个字"}
