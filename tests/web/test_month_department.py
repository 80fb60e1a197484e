"""A 部门主管's month (issue 15, item 1: "部门主管 for their department"): the month page and its workbook cut
to the department's requests, every figure opening only them, and nothing of another department's month or
the company's.

The month is ``month_seed``'s (November 2026, Asia/Shanghai) plus R7, handed to 护管部. By hand:
- 工程部 (R2, R3): 2 requests, 1 closed (R2, after 10 h), no complaint (0.0 %), one rating 2 (回访) → 0 of 1
  satisfied, 0.0 %, average 2.00; no 有偿服务; 响应 clocks met after 10 min (R2) and breached at 30 min
  (R3) → compliance 1/2 = 50.0 %, p50 (1st of 2) 10 min, p90 (2nd) 30 min; 办结用时 10 h (p50 = p90);
  both on 10 November, both by hotline; at the month's end R3 is open, 20 days old → backlog [0, 0, 0, 1];
  nothing in September or October.
- 护管部 (R7): 1 request, closed after 3 h, rating 3 (resident) → 100.0 %, 有偿服务 1 (¥50.00), its 响应
  clock breached.
- the company: 6 requests (R1–R5, R7).
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from openpyxl import load_workbook

from engine.core import clock, db
from engine.helpdesk import deadlines, month_seal
from tests.web import month_seed


@pytest.fixture
def month(seeded):
    with db.transaction() as session:
        ids = month_seed.seed_month(session)
        armed = dt.datetime(2026, 11, 12, 8, tzinfo=clock.SHANGHAI).astimezone(dt.UTC)
        ids["R7"] = month_seed.add_request(session, armed, "a", "hotline", closed_after=dt.timedelta(hours=3),
                                           satisfaction=3, source="resident", paid_cents=5000,
                                           department="security")
        month_seed.add_clock(session, ids["R7"], "response", armed, 30, "breached")
    clock.freeze(month_seed.NOW)
    return ids


_charts, _series, _listed = month_seed.charts, month_seed.series, month_seed.listed


def _text(page: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}">([^<]*)<', page).group(1)


def test_a_department_head_sees_exactly_their_departments_month(client_for, month):
    company = client_for("cs_supervisor").get("/reports?month=2026-11").get_data(as_text=True)
    assert _text(company, "fig-total") == "6"  # computed (and cached) first: the key keeps the department
    head = client_for("eng_head")
    res = head.get("/reports?month=2026-11&department=engineering")
    assert res.status_code == 200
    page = res.get_data(as_text=True)
    assert _text(page, "department") == "工程部"
    want = {"fig-total": "2", "fig-complaints": "0", "fig-complaint-rate": "0.0%", "fig-satisfaction-rate": "0.0%",
            "fig-satisfaction": "2.00", "fig-paid": "0", "fig-revenue": "¥0.00", "timing-response-p50": "10.0分钟",
            "timing-response-p90": "30.0分钟", "timing-closed-p50": "10.0小时", "timing-closed-p90": "10.0小时",
            "total": "2", "closed": "1", "breached-count": "1", "dept-engineering-total": "2",
            "dept-engineering-breached": "1"}
    assert {k: _text(page, k) for k in want} == want
    assert 'data-testid="dept-customer_service"' not in page and 'data-testid="dept-security"' not in page
    assert page.count('data-testid="breached"') == 1 and page.count('data-testid="backlog-row"') == 1
    charts = _charts(page)
    repairs = _series(charts["per-day-category"], "b. 报修求助")
    assert repairs["values"][9] == 2 and sum(sum(s["values"]) for s in charts["per-day-category"]["series"]) == 2
    assert _series(charts["backlog"], "件数")["values"] == [0, 0, 0, 1]
    assert _series(charts["sla-trend"], "响应（30分钟）")["values"][-1] == 50.0
    assert _series(charts["satisfaction-trend"], "求助总数（件）")["values"][-3:] == [0, 0, 2]
    # the company's parts are not on a department's month: no signing, no month-end actions, no CSV
    for absent in ('data-testid="report-checkpoint"', 'data-testid="improvements"', "/reports/export.csv",
                   "/reports/problems", 'data-testid="statistics-run"'):
        assert absent not in page, absent
    assert "/reports/export.xlsx?month=2026-11&amp;department=engineering" in page


def test_every_figure_of_a_department_month_opens_only_its_requests(client_for, month):
    head = client_for("eng_head")
    page = head.get("/reports?month=2026-11&department=engineering").get_data(as_text=True)
    numbers = dict(re.findall(r'<a class="stat" href="([^"]+)"><span class="n" data-testid="([^"]+)"', page))
    by_id = {v: k for k, v in numbers.items()}
    assert _listed(head, by_id["fig-total"]) == {month["R2"], month["R3"]}
    assert _listed(head, by_id["fig-satisfaction"]) == {month["R2"]}
    charts = _charts(page)
    links = [link for c in charts.values() for s in c["series"] for link in s["links"] if link]
    assert links and all("department=engineering" in link for link in links)
    assert _listed(head, _series(charts["per-day-category"], "b. 报修求助")["links"][9]) == {month["R2"], month["R3"]}
    assert _listed(head, _series(charts["backlog"], "件数")["links"][3]) == {month["R3"]}
    assert _listed(head, _series(charts["sla-trend"], "响应（30分钟）")["links"][-1]) == {month["R2"], month["R3"]}
    # the supervisor's same link (the company's reader) lists the same requests: the filter, not the reader
    assert _listed(client_for("cs_supervisor"), by_id["fig-total"]) == {month["R2"], month["R3"]}


def test_the_department_workbook_holds_the_same_figures(client_for, month):
    res = client_for("eng_head").get("/reports/export.xlsx?month=2026-11&department=engineering")
    assert res.status_code == 200 and "liyuan-report-2026-11-engineering.xlsx" in res.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(res.data))
    figures = dict(list(book["概览"].iter_rows(min_row=2, values_only=True)))
    assert figures["部门"] == "工程部" and figures["求助总数"] == 2 and figures["投诉数"] == 0
    assert figures["满意率（%）"] == 0.0 and figures["平均满意度（5分制）"] == 2.0
    assert figures["有偿服务（件）"] == 0 and figures["有偿服务收入（元）"] == 0.0
    assert book["概览"]["B12"].number_format == '"¥"#,##0.00'  # 有偿服务收入, one row down for 部门
    timing = {r[0]: r[1:] for r in book["用时"].iter_rows(min_row=2, values_only=True)}
    assert timing["响应"] == (2, 10.0, 30.0, 30.0, 1)
    assert timing["办结用时（受理至办结）"][:3] == (1, 600.0, 600.0)
    assert list(book["满意度趋势"].iter_rows(values_only=True))[-1] == ("2026-11", 2, 0, 0.0, 1, 0, 0.0, 2.0)
    assert [r[1] for r in book["月末未办结"].iter_rows(min_row=2, values_only=True)] == [0, 0, 0, 1]
    assert list(book["按部门"].iter_rows(min_row=2, values_only=True)) == [
        ("工程部", 2, 1, 0, 1, 0.0, 2.0, 0, 0.0, 1)]
    assert len(list(book["超时清单"].iter_rows(min_row=2, values_only=True))) == 1
    assert list(book["改进措施"].iter_rows(min_row=2, values_only=True)) == []
    assert "部门月报不签发" in book["签发"]["B2"].value

    security = load_workbook(io.BytesIO(client_for("security_head")
                                        .get("/reports/export.xlsx?month=2026-11&department=security").data))
    figures = dict(list(security["概览"].iter_rows(min_row=2, values_only=True)))
    assert (figures["求助总数"], figures["满意率（%）"], figures["有偿服务收入（元）"]) == (1, 100.0, 50.0)


@pytest.mark.parametrize("path", ["/reports?month=2026-11", "/reports/export.xlsx?month=2026-11"])
def test_a_department_head_is_refused_the_company_and_other_departments(client_for, month, path):
    head = client_for("eng_head")
    company = head.get(path)
    assert company.status_code == 403
    assert "全公司的月度报表仅限客服部主管、公司经理和公司领导查看；您可以查看本部门（工程部）的月度报表。" in \
        company.get_data(as_text=True)
    other = head.get(path + "&department=security")
    assert other.status_code == 403
    assert "部门主管只能查看本部门（工程部）的月度报表，无权查看护管部的报表。" in other.get_data(as_text=True)
    assert head.get(path + "&department=nonsense").status_code == 403  # an unknown code is the company's
    assert client_for("engineer").get(path + "&department=engineering").status_code == 403  # not a head


def test_the_companys_own_report_pages_stay_closed_to_a_department_head(client_for, month):
    head = client_for("eng_head")
    for path in ("/reports/export.csv?month=2026-11", "/reports/problems?month=2026-11",
                 "/reports/print?month=2026-11"):
        assert head.get(path).status_code == 403, path
    home = head.get("/inbox").get_data(as_text=True)
    assert 'href="/reports?department=engineering"' in home and "部门报表" in home
    supervisor = client_for("cs_supervisor")
    assert 'href="/reports?department' not in supervisor.get("/inbox").get_data(as_text=True)
    assert _text(supervisor.get("/reports?month=2026-11&department=engineering").get_data(as_text=True),
                 "fig-total") == "2"  # the company's readers may open any department's month


def test_a_signed_month_stays_the_companys_a_department_month_is_computed_and_unsigned(client_for, month):
    with db.transaction() as session:
        month_seal.seal(session, "2026-11", instance_id=month["R1"], actor="manager", seq=1)
    company = client_for("manager").get("/reports?month=2026-11").get_data(as_text=True)
    assert 'data-testid="signed"' in company and _text(company, "fig-total") == "6"
    page = client_for("eng_head").get("/reports?month=2026-11&department=engineering").get_data(as_text=True)
    assert 'data-testid="signed"' not in page and _text(page, "fig-total") == "2"
    assert "部门月报不签发" in page
    with db.read_session() as session:
        fig, signed = month_seal.shown(session, "2026-11", deadlines.current(session), "engineering")
    assert signed is None and fig.department == "engineering" and fig.total == 2
