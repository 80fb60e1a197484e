"""The supervisor's month (issue 15), on a month with known answers (``month_seed``): every figure below is
worked out by hand from the seeded rows, and the page, the workbook (read back with openpyxl) and the CLI
must all say the same.

The month, Asia/Shanghai: R1 07:30 on 1 Nov (23:30 UTC on 31 Oct: November's), R2–R5 in November, R0 at
23:30 on 31 Oct (October's), R6 at 00:10 on 1 Dec (December's), S in September.
- total 5 (R1–R5); types g 1, b 3 (R2, R3, R5), c 1 (R4); channels online 2 (R1, R4), hotline 3
- complaint rate 1/5 = 20.0 %
- ratings 5 (R1, resident), 2 (R2, 回访), 4 (R4, resident): average 11/3 = 3.67, satisfied 2 of 3 = 66.7 %
- 有偿服务: R4, ¥80.00
- 响应 clocks: met after 10 min (R2), breached at 30 min (R3), met after 20 min (R4), still armed (R5):
  compliance 2/3 = 66.7 %; settled times 10, 20, 30 min → p50 (2nd of 3) 20 min, p90 (3rd) 30 min
- 办结用时 of the closed requests of the month: 2 h, 10 h, 30 h → p50 10 h, p90 30 h
- backlog at the month's end (1 Dec 00:00): R5 (10 minutes old) and R3 (20 days old): [1, 0, 0, 1]
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import io
import re

import pytest
from openpyxl import load_workbook

from engine.core import clock, db
from engine.helpdesk import intake
from tests.web import month_seed


@pytest.fixture
def month(seeded):
    with db.transaction() as session:
        ids = month_seed.seed_month(session)
    clock.freeze(month_seed.NOW)
    return ids


_charts, _series, _listed = month_seed.charts, month_seed.series, month_seed.listed


def test_the_month_page_shows_the_hand_computed_figures(client_for, month):
    page = client_for("cs_supervisor").get("/reports?month=2026-11").get_data(as_text=True)
    for testid, value in {"fig-total": "5", "fig-complaints": "1", "fig-complaint-rate": "20.0%",
                          "fig-satisfaction-rate": "66.7%", "fig-satisfaction": "3.67", "fig-paid": "1",
                          "fig-revenue": "¥80.00", "timing-response-p50": "20.0分钟",
                          "timing-response-p90": "30.0分钟", "timing-closed-p50": "10.0小时",
                          "timing-closed-p90": "30.0小时"}.items():
        assert f'data-testid="{testid}">{value}<' in page, testid
    assert re.search(r'data-testid="source-callback"><td>电话回访</td>\s*<td class="num"><a [^>]*>1</a>', page)
    charts = _charts(page)
    per_day = charts["per-day-category"]
    assert len(per_day["categories"]) == 30 and per_day["categories"][0] == "11-01"
    assert _series(per_day, "g. 其他生活求助")["values"][0] == 1  # the boundary request counts on 1 November
    assert _series(per_day, "b. 报修求助")["values"][9] == 2 and _series(per_day, "b. 报修求助")["values"][29] == 1
    assert sum(sum(s["values"]) for s in per_day["series"]) == 5
    assert sum(_series(charts["per-day-channel"], "线上平台")["values"]) == 2
    assert _series(charts["backlog"], "件数")["values"] == [1, 0, 0, 1]
    sla = charts["sla-trend"]
    assert sla["categories"][-1] == "2026-11" and sla["categories"][0] == "2025-12"
    assert _series(sla, "响应（30分钟）")["values"][-1] == 66.7  # the label's 30 minutes come from the diagram
    trend = charts["satisfaction-trend"]
    assert _series(trend, "求助总数（件）")["values"][-3:] == [1, 1, 5]  # September (S), October (R0), November
    # each chart has its figures as a table, and the chart script is a file (no inline script)
    assert page.count("<summary>数据表</summary>") == len(charts)
    assert '<script src="/static/vendor/echarts/echarts.common.min.js"></script>' in page
    assert '<script src="/static/js/month_report.js"></script>' in page


def test_every_bar_and_number_opens_the_requests_behind_it(client_for, month):
    supervisor = client_for("cs_supervisor")
    page = supervisor.get("/reports?month=2026-11").get_data(as_text=True)
    charts = _charts(page)
    repairs = _series(charts["per-day-category"], "b. 报修求助")
    assert _listed(supervisor, repairs["links"][9]) == {month["R2"], month["R3"]}
    assert repairs["links"][0] is None  # no bar, no link
    assert _listed(supervisor, _series(charts["per-day-category"], "g. 其他生活求助")["links"][0]) == {month["R1"]}
    backlog = _series(charts["backlog"], "件数")["links"]
    assert _listed(supervisor, backlog[3]) == {month["R3"]} and _listed(supervisor, backlog[0]) == {month["R5"]}
    response = _series(charts["sla-trend"], "响应（30分钟）")["links"][-1]
    assert _listed(supervisor, response) == {month["R2"], month["R3"], month["R4"], month["R5"]}
    numbers = dict(re.findall(r'<a class="stat" href="([^"]+)"><span class="n" data-testid="([^"]+)"', page))
    by_id = {v: k for k, v in numbers.items()}
    assert _listed(supervisor, by_id["fig-total"]) == {month[k] for k in ("R1", "R2", "R3", "R4", "R5")}
    assert _listed(supervisor, by_id["fig-satisfaction-rate"]) == {month["R1"], month["R4"]}
    assert _listed(supervisor, by_id["fig-paid"]) == {month["R4"]}
    assert _listed(supervisor, by_id["fig-complaints"]) == {month["R4"]}
    breached = re.search(r'data-testid="timing-response">.*?<a href="([^"]+)">1</a>', page, re.S).group(1)
    assert _listed(supervisor, breached) == {month["R3"]}
    listing = supervisor.get(htmllib.unescape(by_id["fig-paid"])).get_data(as_text=True)
    assert "来自报表的筛选：2026年11月受理，有偿服务" in listing


def test_a_hand_edited_filter_narrows_less_and_never_fails(client_for, month):
    supervisor = client_for("cs_supervisor")
    res = supervisor.get("/requests?day=2026-02-31&month=2026-13&sla=DROP%20TABLE&age=9&rating=x")
    assert res.status_code == 200
    assert len(_listed(supervisor, "/requests?day=2026-02-31&month=2026-13")) == 8  # every seeded request
    assert len(_listed(supervisor, "/requests?step=x%27%3B--&month=2026-13")) == 8  # a malformed step is dropped
    assert client_for("engineer").get("/reports/export.xlsx").status_code == 403


def _sheet(book, name):
    ws = book[name]
    return ws, [list(r) for r in ws.iter_rows(values_only=True)]


def _check_workbook(book):
    ws, rows = _sheet(book, "概览")
    assert ws.freeze_panes == "A2" and rows[0] == ["指标", "数值"]
    figures = dict(rows[1:])
    assert figures["求助总数"] == 5 and figures["投诉率（%）"] == 20.0 and figures["满意率（%）"] == 66.7
    assert figures["平均满意度（5分制）"] == 3.67 and figures["有偿服务收入（元）"] == 80.0
    assert figures["评价来源：电话回访"] == 1 and figures["评价来源：住户评价"] == 2
    _ws, rows = _sheet(book, "每日按类型")
    assert rows[0][0] == "日期" and rows[1][0] == dt.datetime(2026, 11, 1)  # a date cell, not text
    header = rows[0]
    assert rows[10][header.index("b. 报修求助")] == 2 and rows[10][header.index("合计")] == 2
    _ws, rows = _sheet(book, "用时")
    timing = {r[0]: r[1:] for r in rows[1:]}
    assert timing["响应"] == [3, 20.0, 30.0, 30.0, 1]
    assert timing["办结用时（受理至办结）"][:3] == [3, 600.0, 1800.0]
    _ws, rows = _sheet(book, "满意度趋势")
    assert rows[-1] == ["2026-11", 5, 1, 20.0, 3, 2, 66.7, 3.67]
    _ws, rows = _sheet(book, "月末未办结")
    assert [r[1] for r in rows[1:]] == [1, 0, 0, 1]
    _ws, rows = _sheet(book, "超时清单")
    assert len(rows) == 2 and rows[1][-1]  # R3's breach, with its request id


def test_the_workbook_holds_the_same_figures_one_sheet_per_table(client_for, month):
    res = client_for("manager").get("/reports/export.xlsx?month=2026-11")
    assert res.status_code == 200 and "liyuan-report-2026-11.xlsx" in res.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(res.data))
    assert book.sheetnames[:3] == ["概览", "每日按类型", "每日按渠道"]
    _check_workbook(book)


def test_the_cli_prints_the_figures_and_writes_the_same_workbook(month, tmp_path, capsys):
    from webapp.cli import main

    target = tmp_path / "nov.xlsx"
    assert main(["report", "--month", "2026-11", "--xlsx", str(target)]) == 0
    out = capsys.readouterr().out
    assert "2026-11 求助总数 5，投诉 1（投诉率 20.0%），满意率 66.7%（3 条评价），有偿服务 1 件 ¥80.00" in out
    assert "响应（30分钟）：按时 2，超时 1，进行中 1，达成率 66.7%" in out
    _check_workbook(load_workbook(target))
    assert main(["report", "--month", "2026-13"]) == 2
    assert "月份格式不对" in capsys.readouterr().err
    assert main(["report", "--month", "2026-11", "--xlsx", str(tmp_path / "nope" / "x.xlsx")]) == 2


def test_the_printable_summary_is_an_a4_page_with_the_figures(client_for, month):
    page = client_for("leader").get("/reports/print?month=2026-11").get_data(as_text=True)
    assert 'data-testid="print-total">5<' in page and 'data-testid="print-satisfaction-rate">66.7%<' in page
    assert "print_report.css" in page and "公司经理签字" in page and "<script" not in page


def test_common_problems_are_found_on_a_seeded_pattern(client_for, month):
    supervisor = client_for("cs_supervisor")
    page = supervisor.get("/reports/problems?month=2026-11").get_data(as_text=True)

    def rows(testid):
        return re.findall(rf'data-testid="{testid}-row"><td><a href="([^"]+)">([^<]+)</a></td><td class="num">(\d+)',
                          page)

    units = rows("problem-units")
    assert [(label, n) for _h, label, n in units] == [(month_seed.UNIT, "3")]  # R2, R3, R5 within 30 days
    assert _listed(supervisor, units[0][0]) == {month["R2"], month["R3"], month["R5"]}
    rising = rows("problem-rising")  # repairs: 3 in November against (1 + 0 + 0) / 3 before
    assert [(label, n) for _h, label, n in rising] == [("b. 报修求助", "3")]
    callers = rows("problem-callers")
    assert [n for _h, _label, n in callers] == ["2"] and _listed(supervisor, callers[0][0]) == {month["R2"], month["R3"]}
    words = {label: (href, n) for href, label, n in rows("problem-words")}
    assert words["漏水"][1] == "3" and words["水管"][1] == "3"
    assert _listed(supervisor, words["漏水"][0]) == {month["R2"], month["R3"], month["R5"]}
    breaches = rows("problem-breaches")
    assert [(label, n) for _h, label, n in breaches] == [("响应（30分钟）", "1")]
    october = supervisor.get("/reports/problems?month=2026-10").get_data(as_text=True)
    assert "没有单元在30天内求助3次及以上" in october


def test_the_projection_keeps_the_ratings_source_and_the_paid_charge():
    resident = intake.projection("help_request", {"channel": "online", "satisfaction": 4})
    callback = intake.projection("help_request", {"channel": "hotline", "satisfaction": 2, "callback_note": "已回访"})
    assert resident["rating_source"] == "resident" and callback["rating_source"] == "callback"
    assert intake.projection("help_request", {"channel": "online", "amount_charged": 80.5})["paid_cents"] == 8050
    for bad in (-1, True, "80", None):
        assert "paid_cents" not in intake.projection("help_request", {"channel": "online", "amount_charged": bad})
