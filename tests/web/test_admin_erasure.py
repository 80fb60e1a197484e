"""The 管理员's page for erasing a person's personal data (issue 13, item 5). The full erasure — values gone
from every table, verify and replay still clean — is proven on the real procedure in
``tests/scenarios/test_audit_erasure.py``; here: the page asks for what the law needs, refuses what it must,
and tells the truth about requests it cannot erase. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from engine.audit import personal
from engine.core import db
from engine.core.tables import User
from tests.web.conftest import RESIDENT_PHONE, record_call


def test_admin_erases_a_resident_from_the_erasure_page(client_for):
    iid = record_call(client_for("assistant"))  # the web fixture's version marks no field personal
    admin = client_for("admin")
    html = admin.get("/admin/erasure").get_data(as_text=True)
    assert "个人信息删除" in html and "删除后无法恢复" in html

    res = admin.post("/admin/erasure", data={"person": RESIDENT_PHONE, "reason": ""})
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and "请填写删除依据" in html and "请勾选确认" in html
    with db.read_session() as session:
        assert session.scalar(select(User).where(User.phone == RESIDENT_PHONE)) is not None  # nothing done

    res = admin.post("/admin/erasure", data={"person": "assistant", "reason": "申请 1", "confirm": "1"})
    assert res.status_code == 422 and "是工作人员账号" in res.get_data(as_text=True)

    res = admin.post("/admin/erasure", data={"person": RESIDENT_PHONE, "reason": "申请 2026-001", "confirm": "1"})
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "已依法删除个人信息" in html and "账号已停用" in html
    assert "未能删除" in html and iid[:8] in html  # its values are in the log itself: said, not hidden
    with db.read_session() as session:
        user = session.scalar(select(User).where(User.username == RESIDENT_PHONE))
        assert (user.display_name, user.phone, user.is_active) == (personal.ERASED, None, False)


def test_the_erasure_page_is_for_the_admin_only(client_for):
    assert client_for("auditor").get("/admin/erasure").status_code == 403
    assert client_for("auditor").post("/admin/erasure", data={"person": RESIDENT_PHONE}).status_code == 403
