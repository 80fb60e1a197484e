"""Issue 11 item 5 in the browser's HTML: a resident who reports an emergency (a, e, f) online is shown the
24 h hotline number at once as a tap-to-call link — on the page the submission lands on, and on the
request's page afterwards — instead of a promised time to acknowledge the form; the number is the one the
admin set under 管理 → 服务热线 (a wrong one is refused in Chinese and not saved)."""

from __future__ import annotations

import pytest

from engine.core import db
from engine.helpdesk import hotline
from tests.scenarios.conftest import (
    PASSWORD,
    procedure,  # noqa: F401 - the real procedure, deployed once per backend
)
from tests.web.conftest import make_app


@pytest.fixture
def login(procedure):  # noqa: F811
    app = make_app(HELP_REQUEST_PROCESS="help_request")

    def make(username: str):
        client = app.test_client()
        res = client.post("/login", data={"username": username, "password": PASSWORD})
        assert res.status_code == 302, res.get_data(as_text=True)
        return client

    return make


REPORT = {"caller_name": "林业主", "phone": "13800000000", "address": "5栋12楼", "description": "楼道冒烟，有焦味"}


def test_the_admin_sets_the_hotline_and_an_online_fire_report_shows_it_as_a_call_link(login):
    admin = login("admin")
    page = admin.get("/admin/hotline").get_data(as_text=True)
    assert hotline.DEFAULT_NUMBER in page and "默认号码" in page
    res = admin.post("/admin/hotline", data={"number": "0755-2688 9999"}, follow_redirects=True)
    assert "已保存24小时服务热线：0755-2688 9999" in res.get_data(as_text=True)
    assert login("customer").get("/admin/hotline").status_code == 403

    resident = login("customer")
    form = resident.get("/portal/new").get_data(as_text=True)
    assert 'href="tel:075526889999"' in form  # the form itself names the number for emergencies
    res = resident.post("/portal/new", data={**REPORT, "category": "f"})
    assert res.status_code == 302
    landed = resident.get(res.headers["Location"]).get_data(as_text=True)  # the submission's confirmation
    assert "紧急求助已提交" in landed
    assert 'data-testid="hotline-call"' in landed and 'href="tel:075526889999"' in landed
    assert "拨打 0755-2688 9999" in landed
    assert "内受理" not in landed  # no "预计15分钟内受理" for an emergency
    again = resident.get(res.headers["Location"]).get_data(as_text=True)  # the request's page, later
    assert 'href="tel:075526889999"' in again


def test_an_ordinary_online_request_shows_no_hotline_card(login):
    resident = login("customer")
    res = resident.post("/portal/new", data={**REPORT, "category": "g", "description": "想借用梯子"})
    assert res.status_code == 302
    page = resident.get(res.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="hotline"' not in page and "您的求助已提交" in page


@pytest.mark.parametrize("typed", ["", "请拨打物业", "12"])
def test_a_wrong_hotline_number_is_refused_in_chinese_and_not_saved(login, typed):
    res = login("admin").post("/admin/hotline", data={"number": typed})
    assert res.status_code == 422 and ("热线号码格式不正确" in res.get_data(as_text=True)
                                       or "请填写24小时服务热线号码" in res.get_data(as_text=True))
    with db.read_session() as session:
        assert hotline.number(session) == hotline.DEFAULT_NUMBER
