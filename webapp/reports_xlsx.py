"""The month report as an Excel workbook a manager can open, filter and chart: one sheet per table,
Chinese headers, frozen header rows, typed cells (numbers as numbers, percentages and money formatted,
days as dates), built with openpyxl. Served by ``/reports/export.xlsx`` and written by
``liyuan report --month YYYY-MM --xlsx FILE``; both call :func:`workbook`, so they cannot differ.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from engine import identity
from engine.core import clock
from engine.helpdesk import deadlines, improvements, intake, month_seal, reports, slow_steps

PERCENT = "0.0"  # figures are already percentages (66.7 means 66.7 %), as on the page
MONEY = '"¥"#,##0.00'
STEPS = ("概览", "每日按类型", "每日按渠道", "用时", "最慢环节", "时限达成趋势", "满意度趋势", "月末未办结", "按部门", "员工绩效", "超时清单",
         "改进措施", "签发")


def _text(value: str | None) -> str:
    """Typed text made inert: a leading = + - @ would start a formula."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _sheet(book: Workbook, title: str, headers: list[str], rows, formats: dict[int, str] | None = None):
    ws = book.create_sheet(title)
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
    for index, fmt in (formats or {}).items():
        for (cell,) in ws.iter_rows(min_row=2, min_col=index + 1, max_col=index + 1):
            cell.number_format = fmt
    ws.freeze_panes = "A2"
    for i, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(10, 2 * len(header) + 2)
    return ws


def _minutes(seconds: float | None) -> float | None:
    return round(seconds / 60, 1) if seconds is not None else None


def workbook(session: Session, month: str, registry: deadlines.Registry,
             progress: Callable[[str], None] | None = None,
             readable: Callable[[reports.MonthReport], reports.MonthReport] | None = None,
             department: str | None = None, members: Callable[[list], list] | None = None) -> Workbook:
    """The month's workbook; ``progress(step)`` is called as each sheet is written (the CLI's bar);
    ``readable`` cuts the report's rows to what the reader may read (the web page's need-to-know; the CLI,
    run by the operator on the server, has everything). ``department``: that department's month (a 部门主管's),
    ``members`` cutting the staff rows to its people; it has no month-end actions and is never signed."""
    step = progress or (lambda _name: None)
    members = members or (lambda rows: rows)
    fig, signed = month_seal.shown(session, month, registry, department)  # a signed month: its figures as signed
    this = fig.this
    book = Workbook()
    book.remove(book.active)
    scope = [["部门", identity.departments.DEPARTMENT_BY_CODE[department].name]] if department else []
    _sheet(book, "概览", ["指标", "数值"], [
        ["月份", month], *scope, ["求助总数", this.total], ["投诉数", this.complaints], ["投诉率（%）", this.complaint_rate],
        ["评价数", this.rated], ["满意数（3分及以上）", this.satisfied], ["满意率（%）", this.satisfaction_rate],
        ["平均满意度（5分制）", this.average], ["有偿服务（件）", fig.paid_count],
        ["有偿服务收入（元）", fig.paid_cents / 100],
        *[[f"评价来源：{name}", n] for _src, name, n, _avg in fig.sources]])
    ws = book["概览"]
    shift = len(scope)  # the 部门 row moves the figures below it down
    ws[f"B{5 + shift}"].number_format = ws[f"B{8 + shift}"].number_format = PERCENT
    ws[f"B{11 + shift}"].number_format = MONEY
    step("概览")
    days = [dt.date.fromisoformat(d) for d in fig.days]
    codes = list(fig.per_day_category)
    names = [f"{c}. {intake.CATEGORIES[c]}" if c in intake.CATEGORIES else "未分类" for c in codes]
    _sheet(book, "每日按类型", ["日期", *names, "合计"],
           ([day, *(fig.per_day_category[c][i] for c in codes), sum(fig.per_day_category[c][i] for c in codes)]
            for i, day in enumerate(days)), {0: "yyyy-mm-dd"})
    step("每日按类型")
    channels = list(fig.per_day_channel)
    _sheet(book, "每日按渠道", ["日期", *(intake.CHANNELS.get(c, "未知") for c in channels)],
           ([day, *(fig.per_day_channel[c][i] for c in channels)] for i, day in enumerate(days)), {0: "yyyy-mm-dd"})
    step("每日按渠道")
    _sheet(book, "用时", ["环节", "已结束（件）", "p50（分钟）", "p90（分钟）", "时限（分钟）", "超时（件）"],
           ([t.name, t.count, _minutes(t.p50), _minutes(t.p90),
             _minutes(t.deadline.total_seconds()) if t.deadline else None, t.breached] for t in fig.timings))
    step("用时")
    _sheet(book, "最慢环节", ["环节", "流程", "环节标识", "流程规定", "完成次数", "中位用时（分钟）", "90%用时（分钟）",
                          "最长（分钟）"],
           ([s.name, s.process_id, s.element_id, s.clause, s.count, _minutes(s.p50), _minutes(s.p90),
             _minutes(s.longest)] for s in slow_steps.slowest(session, month, department=department)))
    step("最慢环节")
    keys = list(this.compliance)
    headers = ["月份"]
    for k in keys:
        label = fig.deadline_names.get(k, k)
        headers += [f"{label} 按时", f"{label} 超时", f"{label} 进行中", f"{label} 达成率（%）"]
    _sheet(book, "时限达成趋势", headers,
           ([line.month, *(v for k in keys for v in (line.compliance[k].met, line.compliance[k].breached,
                                                       line.compliance[k].armed, line.compliance[k].rate))]
            for line in fig.trend), {4 * i + 4: PERCENT for i in range(len(keys))})
    step("时限达成趋势")
    _sheet(book, "满意度趋势", ["月份", "求助总数", "投诉数", "投诉率（%）", "评价数", "满意数", "满意率（%）", "平均满意度"],
           ([line.month, line.total, line.complaints, line.complaint_rate, line.rated, line.satisfied,
             line.satisfaction_rate, line.average] for line in fig.trend), {3: PERCENT, 6: PERCENT})
    step("满意度趋势")
    _sheet(book, "月末未办结", ["已过时长", "件数"], fig.backlog)
    step("月末未办结")
    _sheet(book, "按部门", ["部门", "求助数", "已办结", "投诉数", "评价数", "满意率（%）", "平均满意度", "有偿服务（件）",
                          "有偿服务收入（元）", "超时（次）"],
           ([d.name, d.total, d.closed, d.complaints, d.rated, d.satisfaction_rate, d.average, d.paid_count,
             d.paid_cents / 100, d.breached] for d in fig.departments), {5: PERCENT, 8: MONEY})
    step("按部门")
    _sheet(book, "员工绩效", ["员工", "账号", "完成任务", "经手求助", "超时完成", "评价数", "平均满意度"],
           ([_text(s.name), _text(s.username), s.completed, s.requests, s.late, s.rated, s.satisfaction]
            for s in members(reports.staff_performance(session, month))))
    step("员工绩效")
    report = reports.month_report(session, month, breached_limit=None, department=department)
    if readable is not None:
        report = readable(report)
    _sheet(book, "超时清单", ["时限", "期限", "超时于", "求助类型", "求助人", "地址", "编号"],
           ([registry.label(c.sla_key), _local(c.due_at), _local(c.breached_at),
             intake.CATEGORIES.get(req.category, "") if req else "", _text(req.caller_name if req else ""),
             _text(req.address if req else ""), c.instance_id] for c, req in report.breached),
           {1: "yyyy-mm-dd hh:mm", 2: "yyyy-mm-dd hh:mm"})
    step("超时清单")
    actions = [] if department else improvements.actions(session, [reports.shift_month(month, -1), month])
    _sheet(book, "改进措施", ["提出于", "编号", "措施", "负责人", "完成期限", "状态", "完成时间", "落实情况", "效果"],
           ([a.period, a.no, _text(a.what), _text(a.owner_name), a.due, a.state_name, _local(a.done_at),
             _text(a.result), _text(a.effect)] for a in actions), {4: "yyyy-mm-dd", 6: "yyyy-mm-dd hh:mm"})
    step("改进措施")
    if department:
        _sheet(book, "签发", ["项目", "内容"], [["状态", "部门月报不签发（公司经理签发全公司月报）：以上为导出时计算的数字"]])
    elif signed is None:
        _sheet(book, "签发", ["项目", "内容"], [["状态", "未签发：以上为导出时计算的数字"]])
    else:
        seal = signed.seal
        _sheet(book, "签发", ["项目", "签发时", "现在"], [
            ["签发人", _text(seal.signed_by), None], ["签发时间", _local(seal.signed_at), None],
            ["数字指纹（SHA-256）", seal.fingerprint, None],
            ["签发后数据", "有变动" if signed.differences or signed.other_changes else "无变动", None],
            *([_text(d.label), d.signed, d.now] for d in signed.differences)])
        book["签发"]["B3"].number_format = "yyyy-mm-dd hh:mm"
    step("签发")
    for change in fig.changes:  # a deadline redefined during the month: said where its figures are
        book["用时"].append([f"注：{change.text}"])
    return book


def _local(value: dt.datetime | None) -> dt.datetime | None:
    """A stored UTC time as the Shanghai wall-clock time Excel shows (Excel has no time zones)."""
    if value is None:
        return None
    return clock.to_local(value).replace(tzinfo=None)
