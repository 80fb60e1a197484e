"""Issue 11 item 4: the resident confirms by following the link in the 待确认 SMS, without signing in.

On the real procedure, with the SMS going through the http adapter to a fake provider on 127.0.0.1: the
test reads the link out of the SMS the provider received, opens it anonymously, and answers the form. "Not
solved" reopens the work exactly as the portal's form does (the same ``taskform.complete_posted``); the
rating is the resident's. A link used once, altered or expired is refused with a Chinese message.
"""

from __future__ import annotations

import re

import pytest

from engine import notify
from engine.core import clock
from tests.fake_sms import FakeProvider
from tests.scenarios import driver as d
from tests.scenarios.conftest import procedure  # noqa: F401 - the real procedure, deployed once per backend
from tests.web.conftest import make_app

BASE = "https://wy.example.cn"
LINK = re.compile(re.escape(BASE) + r"(/confirm/[A-Za-z0-9_\-.]+)")
ANSWER = {"problem_solved": "true", "satisfaction": "5", "speed": "5", "quality": "4", "attitude": "5"}


@pytest.fixture
def provider(monkeypatch):
    monkeypatch.setenv("LIYUAN_PUBLIC_URL", BASE)
    with FakeProvider() as fake:
        yield fake.configure(monkeypatch)


def _to_confirmation() -> str:
    iid = d.start_request("online", description="想借用梯子")
    d.intake(iid, "g", channel="online", priority="P4", department="customer_service")
    d.do(iid, "evaluate", "assistant", capability="direct", chargeable=False)
    d.do(iid, "do_help", "assistant", help_given="已借出梯子")
    d.do(iid, "qc", "assistant", process="help_request", resolved=True)
    assert "confirm_customer" in d.ready(iid)
    return iid


def _sms_link(provider) -> str:
    notify.delivery.send_due(owner="test")
    [text] = [t for t in provider.texts(d.HOTLINE_CALLER["phone"]) if "请确认" in t]
    match = LINK.search(text)
    assert match, text
    return match.group(1)


def test_the_resident_confirms_solved_from_the_sms_link_and_the_link_then_is_used_up(procedure, provider):  # noqa: F811
    iid = _to_confirmation()
    path = _sms_link(provider)
    anonymous = make_app(HELP_REQUEST_PROCESS="help_request").test_client()
    page = anonymous.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "确认处理结果" in html and "想借用梯子" in html and "满意度" in html
    done = anonymous.post(path, data=ANSWER)
    assert done.status_code == 200 and "已确认" in done.get_data(as_text=True)
    req = d.request_row(iid)
    assert (req.satisfaction, req.rating_source) == (5, "resident")
    assert "confirm_customer" not in d.ready(iid) and "archive" in d.ready(iid)
    for again in (anonymous.get(path), anonymous.post(path, data=ANSWER)):  # single use
        assert again.status_code == 410 and "此链接已失效" in again.get_data(as_text=True)


def test_not_solved_from_the_link_reopens_the_work_like_the_portal(procedure, provider):  # noqa: F811
    iid = _to_confirmation()
    path = _sms_link(provider)
    anonymous = make_app(HELP_REQUEST_PROCESS="help_request").test_client()
    done = anonymous.post(path, data={**ANSWER, "problem_solved": "false", "satisfaction": "2"})
    assert done.status_code == 200 and "尚未解决" in done.get_data(as_text=True)
    assert "track" in d.ready(iid)  # 未解决问题跟踪, as after the portal's form
    assert d.request_row(iid).rating_source == "resident"


def test_an_incomplete_answer_keeps_the_form_with_chinese_messages(procedure, provider):  # noqa: F811
    _to_confirmation()
    path = _sms_link(provider)
    anonymous = make_app(HELP_REQUEST_PROCESS="help_request").test_client()
    res = anonymous.post(path, data={"problem_solved": "true"})
    assert res.status_code == 422 and "提交的内容有误" in res.get_data(as_text=True)
    assert anonymous.get(path).status_code == 200  # nothing was used up


def test_an_altered_or_expired_link_is_refused_in_chinese(procedure, provider):  # noqa: F811
    iid = _to_confirmation()
    path = _sms_link(provider)
    anonymous = make_app(HELP_REQUEST_PROCESS="help_request").test_client()
    payload, signature = path.removeprefix("/confirm/").split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    for bad in (f"/confirm/{payload}.{flipped}", f"/confirm/{payload[:-2]}xx.{signature}", "/confirm/nonsense"):
        for res in (anonymous.get(bad), anonymous.post(bad, data=ANSWER)):
            assert res.status_code == 404 and "链接无效" in res.get_data(as_text=True)
    assert "confirm_customer" in d.ready(iid)  # nothing was confirmed
    clock.advance(days=8)
    res = anonymous.get(path)
    assert res.status_code == 410 and "链接已过期" in res.get_data(as_text=True)
