"""The supervisor's month, continued (issue 15): figures per department, a deadline redefined during the
month, improvement actions followed to their end, and the month frozen once the 公司经理 signs it.

The month is ``month_seed``'s (November 2026, Asia/Shanghai); R2 and R3 were handed to 工程部, the others
stayed with the 客服部 (never handed over: the 客服部's own). By hand:
- 客服部: R1, R4, R5 → 3 requests, 2 closed (R1, R4), 1 complaint (R4), ratings 5 and 4 → 2 of 2 satisfied,
  100.0 %, average 4.50, 有偿服务 1 (¥80.00), no breached clock
- 工程部: R2, R3 → 2 requests, 1 closed (R2), rating 2 → 0 of 1 satisfied, 0.0 %, average 2.00, 1 breached
  clock (R3's 响应)
- 护管部, 保洁部, 公司管理层: nothing
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import io
import re
import shutil

import pytest
from openpyxl import load_workbook

from engine import repository
from engine.core import clock, config, db
from engine.repository import bundle
from tests.scenarios import driver as d
from tests.web import month_seed
from tests.web.conftest import WEB_FIXTURES


@pytest.fixture
def month(seeded):
    with db.transaction() as session:
        ids = month_seed.seed_month(session)
    clock.freeze(month_seed.NOW)
    return ids


_listed = month_seed.listed


def _cell(page: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}">([^<]*)<', page).group(1)


def _at(month: int, day: int, hour: int, minute: int = 0):
    return clock.freeze(dt.datetime(2026, month, day, hour, minute, tzinfo=clock.SHANGHAI))


# --- per department ---------------------------------------------------------------------------------------------

def test_figures_per_department_on_the_page_the_workbook_and_the_cli(client_for, month, tmp_path, capsys):
    supervisor = client_for("cs_supervisor")
    page = supervisor.get("/reports?month=2026-11").get_data(as_text=True)
    want = {"customer_service": ("3", "2", "100.0%", "0"), "engineering": ("2", "1", "0.0%", "1"),
            "security": ("0", "0", "—", "0"), "cleaning": ("0", "0", "—", "0")}
    for code, (total, closed, rate, breached) in want.items():
        got = tuple(_cell(page, f"dept-{code}-{f}") for f in ("total", "closed", "satisfaction-rate", "breached"))
        assert got == (total, closed, rate, breached), code
    href = re.search(r'data-testid="dept-engineering"><td><a href="([^"]+)"', page).group(1)
    assert _listed(supervisor, href) == {month["R2"], month["R3"]}
    href = re.search(r'data-testid="dept-customer_service"><td><a href="([^"]+)"', page).group(1)
    assert _listed(supervisor, href) == {month["R1"], month["R4"], month["R5"]}  # kept by the 客服部
    assert "工程部" in supervisor.get(htmllib.unescape(href).replace("customer_service", "engineering")) \
        .get_data(as_text=True)

    book = load_workbook(io.BytesIO(client_for("manager").get("/reports/export.xlsx?month=2026-11").data))
    rows = {r[0]: r[1:] for r in book["按部门"].iter_rows(min_row=2, values_only=True)}
    assert rows["客服部"] == (3, 2, 1, 2, 100.0, 4.5, 1, 80.0, 0)
    assert rows["工程部"] == (2, 1, 0, 1, 0.0, 2.0, 0, 0.0, 1)
    assert book["按部门"].freeze_panes == "A2"

    from webapp.cli import main

    assert main(["report", "--month", "2026-11"]) == 0
    out = capsys.readouterr().out
    assert "按部门：客服部 3 件（办结 2，超时 0）；工程部 2 件（办结 1，超时 1）；护管部 0 件（办结 0，超时 0）" in out


# --- a deadline redefined during the month ------------------------------------------------------------------

def test_a_deadline_changed_during_the_month_is_marked_where_its_figures_are(client_for, month, tmp_path, capsys):
    copy = tmp_path / "fixtures"
    shutil.copytree(WEB_FIXTURES, copy)
    diagram = copy / "bpmn" / "web_help_request.bpmn"
    diagram.write_text(diagram.read_text(encoding="utf-8").replace('"PT30M"', '"PT45M"'), encoding="utf-8")
    _at(11, 12, 10)
    with db.transaction() as session:
        repository.deploy(session, bundle.read_paths([copy / "bpmn", copy / "forms"], default_forms=False),
                          actor="process_owner", note="响应时限改为45分钟")
    clock.freeze(month_seed.NOW)
    mark = "本月 11月12日 10:00 起 响应时限 由30分钟改为45分钟（web_help_request 第2版）"
    page = client_for("cs_supervisor").get("/reports?month=2026-11").get_data(as_text=True)
    assert mark in page and "（本月有变更）" in page
    assert 'data-testid="definition-change"' in page
    october = client_for("cs_supervisor").get("/reports?month=2026-10").get_data(as_text=True)
    assert "本月有变更" not in october and 'data-testid="definition-change"' not in october
    book = load_workbook(io.BytesIO(client_for("manager").get("/reports/export.xlsx?month=2026-11").data))
    assert [f"注：{mark}"] in [list(r)[:1] for r in book["用时"].iter_rows(values_only=True)]
    from webapp.cli import main

    assert main(["report", "--month", "2026-11"]) == 0
    assert f"注：{mark}" in capsys.readouterr().out


# --- improvement actions and the signed month -------------------------------------------------------------

def _month_end_with_two_actions() -> str:
    """The month-end process for November: compiled, analysed with two actions, signed by the 公司经理."""
    with db.transaction() as session:
        repository.deploy(session, bundle.read_paths([config.PROJECT_ROOT / "bpmn" / "monthly_statistics.bpmn"]),
                          actor="tester")
    _at(11, 30, 23, 59)
    assert d.fire_due() == 0
    assert d.advance(minutes=1, seconds=1) == 1
    [run] = d.instances_of("monthly_statistics")
    _at(12, 1, 9)
    d.do(run.id, "compile", "assistant", total_requests=5, closed_requests=3, satisfaction_rate=66.7,
         common_issues="3栋2单元1201 厨房水管反复漏水")
    d.do(run.id, "review", "cs_supervisor", analysis="报修集中在3栋", performance_notes="按规则计分",
         report_to_manager=True,
         action_1={"what": "3栋水管全面检修", "owner": "eng_head", "due": "2026-12-05"},
         action_2={"what": "夜间热线增加一名接听人员", "owner": "cs_supervisor", "due": "2026-12-10"})
    assert d.inbox_elements("eng_head", run.id) == ["act"]  # the action is its owner's task …
    assert d.task_row(run.id, "manager_review").lane == "公司经理"
    _at(12, 1, 10)
    d.do(run.id, "manager_review", "manager", manager_comment="同意，按期落实")
    return run.id


def test_improvement_actions_are_followed_and_next_month_shows_their_state(client_for, month):
    run = _month_end_with_two_actions()
    supervisor = client_for("cs_supervisor")
    _at(12, 3, 9)
    page = supervisor.get("/reports?month=2026-12").get_data(as_text=True)
    states = re.findall(r'data-testid="action-2026-11-(\d)">.*?data-testid="action-state">([^<]+)<', page, re.S)
    assert states == [("1", "进行中"), ("2", "进行中")]
    _at(12, 4, 16)
    d.do(run, "act", "eng_head", result="已检修3栋全部立管", effect="3栋报修减少")
    _at(12, 11, 9)
    assert d.fire_due() == 1  # the second action's deadline: the end of 10 December (the first was done)
    page = supervisor.get("/reports?month=2026-12").get_data(as_text=True)
    states = dict(re.findall(r'data-testid="action-2026-11-(\d)">.*?data-testid="action-state">([^<]+)<', page, re.S))
    assert states == {"1": "已完成", "2": "已逾期"}
    assert "已检修3栋全部立管" in page and "效果：3栋报修减少" in page
    # the overdue action's deadline is breached (its clock), and the owner still has the task
    assert d.clocks(run)["improvement_due"] in ("met,breached", "breached,met")
    assert d.inbox_elements("cs_supervisor", run) == ["act"]
    _at(12, 12, 9)
    d.do(run, "act", "cs_supervisor", result="已增加夜班接听")
    page = supervisor.get("/reports?month=2026-12").get_data(as_text=True)
    states = dict(re.findall(r'data-testid="action-2026-11-(\d)">.*?data-testid="action-state">([^<]+)<', page, re.S))
    assert states == {"1": "已完成", "2": "逾期完成"}
    book = load_workbook(io.BytesIO(client_for("manager").get("/reports/export.xlsx?month=2026-12").data))
    rows = [r for r in book["改进措施"].iter_rows(min_row=2, values_only=True)]
    assert [(r[1], r[2], r[5]) for r in rows] == [(1, "3栋水管全面检修", "已完成"), (2, "夜间热线增加一名接听人员", "逾期完成")]
    assert rows[0][4] == dt.datetime(2026, 12, 5)  # a date cell


def test_the_signed_month_keeps_its_figures_and_shows_a_later_difference(client_for, month, tmp_path, capsys):
    _month_end_with_two_actions()
    manager = client_for("manager")
    page = manager.get("/reports?month=2026-11").get_data(as_text=True)
    assert 'data-testid="signed-by">manager<' in page and 'data-testid="signed-same"' in page
    assert 'data-testid="fig-total">5<' in page
    # a November request recorded after the signing (e.g. a late paper record) …
    _at(12, 2, 9)
    with db.transaction() as session:
        month_seed.add_request(session, month_seed._sh(11, 15, 9), "d", "online")
    page = manager.get("/reports?month=2026-11").get_data(as_text=True)
    assert 'data-testid="fig-total">5<' in page  # … does not rewrite what was signed
    assert 'data-testid="signed-changed"' in page
    diffs = re.findall(r'data-testid="signed-diff"><td>([^<]+)</td><td class="num">([^<]+)</td><td class="num">([^<]+)<',
                       page)
    assert ("求助总数", "5", "6") in diffs and ("客服部 求助数", "3", "4") in diffs
    assert 'data-testid="print-total">5<' in manager.get("/reports/print?month=2026-11").get_data(as_text=True)
    book = load_workbook(io.BytesIO(manager.get("/reports/export.xlsx?month=2026-11").data))
    assert dict(book["概览"].iter_rows(min_row=2, values_only=True))["求助总数"] == 5
    signing = [list(r) for r in book["签发"].iter_rows(min_row=2, values_only=True)]
    assert signing[0] == ["签发人", "manager", None] and ["求助总数", 5, 6] in signing
    from webapp.cli import main

    assert main(["report", "--month", "2026-11"]) == 0
    out = capsys.readouterr().out
    assert "2026-11 已由公司经理 manager 签发" in out and "求助总数 签发时 5，现在 6" in out
    assert "2026-11 求助总数 5，" in out
    # an unsigned month is computed afresh
    october = manager.get("/reports?month=2026-10").get_data(as_text=True)
    assert 'data-testid="signed"' not in october


def test_the_month_is_computed_once_per_data_watermark(month):
    from engine.helpdesk import deadlines, month_figures

    with db.read_session() as session:
        registry = deadlines.current(session)
        first = month_figures.cached(session, "2026-11", registry)
        assert month_figures.cached(session, "2026-11", registry) is first  # nothing changed: not recomputed
    with db.transaction() as session:  # a clock settled for R5 (no request row changes)
        month_seed.add_clock(session, month["R5"], "response", month_seed._sh(11, 30, 23, 50), 30, "met",
                             after=dt.timedelta(minutes=5))
    with db.read_session() as session:
        again = month_figures.cached(session, "2026-11", registry)
    assert again is not first
    assert first.this.compliance["response"].met == 2 and again.this.compliance["response"].met == 3
