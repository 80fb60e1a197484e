"""Hostile input on the JSON API (issue #12), each case performed on SQLite and PostgreSQL: always a 4xx
with a Chinese message in the API's error shape, never a 500, and nothing stored."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from engine.core import db
from engine.helpdesk.tables import HelpRequest
from tests.api.conftest import HOTLINE, ready_task


def _count() -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(HelpRequest))


def _raw(client, path: str, body: str | bytes, as_: str = "assistant"):
    res = client.client.post("/api/v1" + path, data=body, content_type="application/json",
                             headers={"Authorization": f"Bearer {client.token(as_)}"})
    return res.status_code, res.get_json()


@pytest.mark.parametrize("body, reason", [
    ("[" * 100_000 + "]" * 100_000, "嵌套"),                                  # RecursionError was a 500
    (json.dumps({**HOTLINE, "extra": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}),
     "嵌套"),
    (json.dumps(HOTLINE)[:-1] + ', "caller_name": "\\ud800"}', "代理字符"),    # lone surrogate
    (json.dumps({**HOTLINE, "description": "漏水\u0000"}), "控制字符"),          # NUL: a 500 on PostgreSQL
    (json.dumps(HOTLINE)[:-1] + ', "priority": NaN}', "NaN"),                  # "合计 nan 元"
    (json.dumps(HOTLINE)[:-1] + ', "priority": -Infinity}', "NaN"),
    (json.dumps({**HOTLINE, "category": 10**30}), "范围"),                       # very large integer
])
def test_hostile_json_is_a_400_with_the_reason_and_nothing_is_stored(client, body, reason):
    status, answer = _raw(client, "/requests", body)
    assert status == 400, answer
    assert answer["error"] == "bad_request" and reason in answer["message"]
    assert _count() == 0


def test_a_body_that_is_not_json_is_a_400_in_chinese(client):
    status, answer = _raw(client, "/requests", "{not json")
    assert status == 400 and answer["message"] == "请求内容不是有效的 JSON"


def test_a_request_larger_than_the_limit_is_a_413_in_the_api_error_shape(client):
    client.app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    status, answer = _raw(client, "/requests", json.dumps({**HOTLINE, "description": "漏" * 100_000}))
    assert status == 413 and answer["error"] == "too_large" and "过大" in answer["message"]
    assert _count() == 0


def test_a_200_digit_phone_is_a_422_beside_the_field(client):
    status, answer = client.post("/requests", "assistant", {**HOTLINE, "phone": "1" * 200})
    assert status == 422 and answer["fields"]["phone"]
    assert _count() == 0


def test_full_width_digits_in_a_phone_are_normalised(client):
    status, answer = client.post("/requests", "assistant", {**HOTLINE, "phone": "１３８００１３８０００"})
    assert status == 201, answer
    status, instance = client.get(f"/instances/{answer['instance_id']}", "assistant")
    assert instance["request"]["phone"] == "13800138000"


def test_a_landline_is_accepted(client):
    status, answer = client.post("/requests", "assistant", {**HOTLINE, "phone": "0755-8888 6666"})
    assert status == 201, answer


def test_a_task_form_refuses_nan_and_control_characters_and_huge_numbers_in_its_data(client, hotline):
    task = ready_task(client, hotline)
    for data, reason in (('{"data": {"note": "a\\u0001b"}}', "控制字符"), ('{"data": {"n": NaN}}', "NaN"),
                         ('{"data": {}, "revision": 100000000000000000000000}', "范围")):
        status, answer = _raw(client, f"/tasks/{task['id']}/complete", data)
        assert status == 400 and reason in answer["message"], answer
    status, _ = client.get(f"/tasks/{task['id']}", "assistant")
    assert status == 200  # still waiting: nothing was completed


def test_the_engine_refuses_unstorable_values_whoever_calls_it():
    from engine import forms

    schema = {"type": "object", "properties": {"total": {"type": "number"}, "note": {"type": "string",
                                                                                   "maxLength": 50}}}
    assert forms.validate(schema, {"total": float("nan")}) == {"total": "数值无效（不接受 NaN 或无穷大）"}
    assert forms.validate(schema, {"total": float("inf")})["total"].startswith("数值无效")
    assert forms.validate(schema, {"total": 2**60}) == {"total": "数值超出允许范围"}
    assert "控制字符" in forms.validate(schema, {"note": "a\x00b"})["note"]
    assert "代理字符" in forms.validate(schema, {"note": "a\ud800b"})["note"]
    assert forms.validate(schema, {"total": 12.5, "note": "第一行\n第二行\t"}) == {}
