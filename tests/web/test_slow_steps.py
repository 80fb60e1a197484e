"""The slowest steps of the month (issue 15, item 2), on requests carried through the real procedure's task
forms at a frozen clock, so each step's time is known: three hotline calls whose 初步评估与定级 (``assess``)
waited 10, 20 and 60 minutes after 热线求助记录, every other step done at once.

By hand: ``assess`` completed 3 times in November 2026; nearest-rank p50 is the 2nd of (10, 20, 60) = 20 min,
p90 the ⌈0.9·3⌉ = 3rd = 60 min, the longest 60 min; every other step took 0 min, so ``assess`` is the
slowest. The 60-minute one is a complaint about the 客服部主管: the step's requests list it for the 公司经理,
not for the supervisor it names.
"""

from __future__ import annotations

import html as htmllib
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from engine.core import db
from engine.core.tables import StepTiming
from tests.conftest import deploy_procedure
from tests.web.month_seed import listed
from tests.web.test_need_to_know_forms import MORNING, _call, _client, _do
from webapp.cli import main

from .conftest import make_app

MONTH = "2026-11"


@pytest.fixture
def desk(seeded):
    """The real procedure deployed on the Friday morning of 27 November, the clock frozen there."""
    deploy_procedure(at=MORNING)
    return make_app(HELP_REQUEST_PROCESS="help_request")


def _month(app) -> dict[str, str]:
    ids = {"A": _call(app, "d", "咨询物业费缴纳方式", 10), "B": _call(app, "d", "咨询停车位租用", 20),
           "C": _call(app, "c", "投诉客服主管态度恶劣", 60)}
    _do(_client(app, "assistant"), ids["C"], "register", complaint_type="attitude",
        complaint_content="接电话时态度恶劣", complained_party="客服部", complained_staff="cs_supervisor")
    return ids


def _steps(page: str) -> list[tuple[str, str, str, str, str, str]]:
    """(step, href, name, count, p50, p90) of each row of the slowest steps, in order."""
    return re.findall(r'data-testid="problem-steps-row" data-step="([^"]+)"><td><a href="([^"]+)">([^<]+)</a></td>'
                      r'<td>[^<]*</td><td class="num">(\d+)</td><td class="num" data-testid="step-p50">([^<]+)</td>'
                      r'<td class="num" data-testid="step-p90">([^<]+)</td>', page)


def test_the_slowest_step_of_the_month_with_its_times_and_its_requests(desk):
    ids = _month(desk)
    manager, supervisor = _client(desk, "manager"), _client(desk, "cs_supervisor")
    rows = _steps(manager.get(f"/reports/problems?month={MONTH}").get_data(as_text=True))
    step, href, name, count, p50, p90 = rows[0]
    assert (step, name, count, p50, p90) == ("help_request:assess", "初步评估与定级", "3", "20.0分钟", "60.0分钟")
    assert all(r[4] == "0.0分钟" for r in rows[1:])  # every other step was done at once
    assert listed(manager, href) == {ids["A"], ids["B"], ids["C"]}
    listing = manager.get(htmllib.unescape(href)).get_data(as_text=True)
    assert "2026年11月（环节完成）" in listing and "环节：初步评估与定级" in listing
    # the complaint names the supervisor: the same link lists it for the manager only
    assert listed(supervisor, href) == {ids["A"], ids["B"]}
    assert _steps(manager.get("/reports/problems?month=2026-10").get_data(as_text=True)) == []

    book = load_workbook(io.BytesIO(manager.get(f"/reports/export.xlsx?month={MONTH}").data))
    sheet = [list(r) for r in book["最慢环节"].iter_rows(values_only=True)]
    assert sheet[0][:5] == ["环节", "流程", "环节标识", "流程规定", "完成次数"]
    assert sheet[1][1:4] == ["help_request", "assess", "O2,O2.1,O2.2,4.1,4.1.1"]  # the clause the step carries
    assert sheet[1][4:] == [3, 20.0, 60.0, 60.0]
    assert book["最慢环节"].freeze_panes == "A2"


def test_the_step_timings_verify_clean_against_the_log_and_a_changed_one_is_named(desk, capsys):
    ids = _month(desk)
    with db.read_session() as session:
        rows = session.scalars(select(StepTiming).where(StepTiming.element_id == "assess")).all()
    assert sorted(r.seconds for r in rows) == [600.0, 1200.0, 3600.0]
    assert main(["audit", "verify", "--projections"]) == 0, capsys.readouterr()
    capsys.readouterr()
    with db.transaction() as session:  # someone makes the 60-minute assessment look like a 1-minute one
        row = session.scalar(select(StepTiming).where(StepTiming.instance_id == ids["C"],
                                                      StepTiming.element_id == "assess"))
        row.seconds, row.ready_at = 60.0, row.completed_at - (row.completed_at - row.ready_at) / 60
    assert main(["audit", "verify", "--projections"]) == 1
    out = capsys.readouterr().out
    assert f"step_timings（实例 {ids['C']}）字段 help_request:assess seconds：表中为 60.0，按审计日志应为 3600.0" in out
    assert f"step_timings（实例 {ids['C']}）字段 help_request:assess ready_at" in out


def test_the_cli_prints_a_departments_month_as_its_head_reads_it(desk, capsys, tmp_path):
    _month(desk)
    page = _client(desk, "cs_supervisor").get(f"/reports?month={MONTH}&department=customer_service")
    total = re.search(r'data-testid="fig-total">(\d+)<', page.get_data(as_text=True)).group(1)
    target = tmp_path / "cs.xlsx"
    assert main(["report", "--month", MONTH, "--department", "customer_service", "--xlsx", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"{MONTH} 客服部的月度报表" in out and f"{MONTH} 求助总数 {total}，" in out and total == "3"
    assert "用时最长的环节：" in out and "（help_request:assess）完成 3 次，中位 20.0分钟，90% 60.0分钟，最长 60.0分钟" in out
    book = load_workbook(target)
    assert dict(list(book["概览"].iter_rows(values_only=True))[1:3]) == {"月份": MONTH, "部门": "客服部"}
    assert [r[2] for r in book["最慢环节"].iter_rows(min_row=2, max_row=2, values_only=True)] == ["assess"]

    assert main(["report", "--month", MONTH, "--department", "engineering"]) == 0
    out = capsys.readouterr().out
    assert f"{MONTH} 工程部的月度报表" in out and f"{MONTH} 求助总数 0，" in out and "用时最长的环节" not in out
    assert main(["report", "--month", MONTH, "--department", "nope"]) == 2
    assert "没有部门代码 nope" in capsys.readouterr().err
