"""Reports for the 客服部主管, 公司经理 and 公司领导: a month's requests, satisfaction and deadlines, and the
monthly statistics (4.10) the team compiled. Figures come from ``engine.helpdesk.reports`` (read-only queries).

A 部门主管 reads the month page and its workbook for their own department only (``?department=…``,
decided by :func:`webapp.policy.report_scope`); the rest (CSV, common problems, the printable summary, the
month-end analysis and its signing) is the company's and stays with the company's readers."""

from __future__ import annotations

import csv
import dataclasses
import io

from flask import Blueprint, Response, render_template, request

from engine import identity
from engine.helpdesk import appraisal, common_problems, deadlines, improvements, intake, month_seal, reports

from . import month_charts, reports_xlsx, sla_view
from .policy import (
    current_user,
    note_restricted_reads,
    readable_instances,
    report_scope,
    requires,
    visible_requests,
)
from .web import category_name, friendly_error, local_time, read_db

bp = Blueprint("reports", __name__, url_prefix="/reports")

# The fields of the monthly statistics forms (forms/monthly_*.schema.json) in the order a reader wants them;
# a rate's label names its deadline's duration ({}), read from the diagrams (see stat_labels).
STAT_LABELS = {"total_requests": "求助总数", "closed_requests": "办结数", "ack_online_rate": "线上{}确认率(%)",
               "response_rate": "{}响应率(%)", "resolve_24h_rate": "{}解决率(%)",
               "satisfaction_rate": "满意率(%)", "common_issues": "常见问题", "analysis": "分析与总结",
               "improvements": "改进措施", "performance_notes": "绩效考核意见", "manager_comment": "经理审阅意见",
               "audit_tree_size": "审计检查点树大小", "audit_root": "审计检查点根", "audit_key_id": "签名密钥"}


def stat_labels(registry: deadlines.Registry) -> dict[str, str]:
    """"线上15分钟确认率(%)" …: each rate field named with the duration of the deadline it measures
    (:data:`engine.helpdesk.reports.RATE_FIELDS`); "线上确认率(%)" while no deployed diagram states it."""
    return {field: label.format(registry.text(reports.RATE_FIELDS[field]) if field in reports.RATE_FIELDS else "")
            for field, label in STAT_LABELS.items()}


BREACHES_SHOWN = 50  # on the page; the CSV export has them all


@bp.get("")
@requires("reports", "department_reports")
def index():
    month = reports.parse_month(request.args.get("month"))
    department, refusal = report_scope(current_user(), request.args.get("department"))
    if refusal:
        return friendly_error(refusal, 403)
    session = read_db()
    report = _readable(session, reports.month_report(session, month, breached_limit=BREACHES_SHOWN,
                                                     department=department), "reports.index")
    fig, signed = month_seal.shown(session, month, sla_view.page_deadlines(), department)
    charts = month_charts.charts(fig)
    # the month-end analysis, its actions and its signing are the company's: not on a department's month
    actions = [] if department else improvements.actions(session, [reports.shift_month(month, -1), month])
    staff = appraisal.appraisals(session, month)
    return render_template("reports/index.html", r=report, month=month, sla_label=sla_view.label,
                           fig=fig, signed=signed, actions=actions, charts=charts, department=department,
                           department_name=_department_name(department),
                           chart_data=month_charts.chart_data(charts),
                           link=month_charts.requests_url,
                           prev_month=reports.shift_month(month, -1), next_month=reports.shift_month(month, 1),
                           runs=[] if department else reports.statistics_runs(session),
                           stat_labels=stat_labels(sla_view.page_deadlines()),
                           backlog=_backlog(session, department), staff=_members(session, staff, department),
                           appraisal_rule=appraisal.rule_text(), rating_sources=intake.RATING_SOURCES)


def _department_name(department: str | None) -> str | None:
    return identity.departments.DEPARTMENT_BY_CODE[department].name if department else None


def _members(session, rows, department: str | None):
    """Per-staff rows (``.staff.username`` or ``.username``) cut to the department's members on its month."""
    if not department:
        return rows
    members = {u.username for u in identity.departments.members(session, department)}
    return [row for row in rows if getattr(row, "staff", row).username in members]


@bp.app_template_filter("minutes_text")
def minutes_text(seconds: float | None) -> str:
    """Seconds as the report shows a duration: "12.5分钟", "3.2小时"; "—" for none."""
    if seconds is None:
        return "—"
    return f"{seconds / 60:.1f}分钟" if seconds < 3 * 3600 else f"{seconds / 3600:.1f}小时"


@bp.get("/problems")
@requires("reports")
def problems():
    """常见问题分析: what recurred in the month, each finding opening its requests."""
    month = reports.parse_month(request.args.get("month"))
    found = common_problems.find(read_db(), month, sla_view.page_deadlines())
    return render_template("reports/problems.html", p=found, month=month, link=month_charts.requests_url,
                           prev_month=reports.shift_month(month, -1), next_month=reports.shift_month(month, 1))


@bp.get("/print")
@requires("reports")
def printable():
    """The month on one or two A4 pages (print CSS): the figures, the deadlines, the trend and a signature
    line for the 公司经理, without charts or navigation."""
    month = reports.parse_month(request.args.get("month"))
    session = read_db()
    fig, signed = month_seal.shown(session, month, sla_view.page_deadlines())
    return render_template("reports/print.html", fig=fig, month=month, signed=signed,
                           checkpoint=reports.attested_checkpoint(session, reports.month_bounds(month)[1]))


@bp.get("/export.xlsx")
@requires("reports", "department_reports")
def export_xlsx():
    """The month as an Excel workbook: one sheet per table (see :mod:`webapp.reports_xlsx`); a department's
    month for a 部门主管, as on the page."""
    month = reports.parse_month(request.args.get("month"))
    department, refusal = report_scope(current_user(), request.args.get("department"))
    if refusal:
        return friendly_error(refusal, 403)
    session = read_db()
    book = reports_xlsx.workbook(session, month, sla_view.page_deadlines(), department=department,
                                 readable=lambda report: _readable(session, report, "reports.export_xlsx"),
                                 members=lambda rows: _members(session, rows, department))
    out = io.BytesIO()
    book.save(out)
    name = f"liyuan-report-{month}" + (f"-{department}" if department else "")
    return Response(out.getvalue(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={name}.xlsx"})


@bp.get("/export.csv")
@requires("reports")
def export_csv():
    """The month's report as one CSV (UTF-8 with a BOM, so Excel shows the Chinese), section by section."""
    month = reports.parse_month(request.args.get("month"))
    session = read_db()
    r = _readable(session, reports.month_report(session, month, breached_limit=None), "reports.export_csv")
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([f"荔园物业 月度报表 {month}"])
    w.writerow([])
    w.writerow(["指标", "数值"])
    w.writerows([["求助总数", r.total], ["已办结", r.closed], ["评价数", r.rated],
                 ["平均满意度（5分制）", _num(r.satisfaction)], ["满意率（%）", _num(r.satisfaction_rate)],
                 *[[f"{name}（5分制）", _num(average)] for _key, name, average, _n in r.ratings],
                 ["超时次数", r.breached_count]])
    w.writerow([])
    w.writerow(["求助类型", "数量"])
    w.writerows([[f"{code}. {name}" if code else name, n] for code, name, n in r.by_category])
    w.writerow([])
    w.writerow(["来源渠道", "数量"])
    w.writerows([[name, n] for _code, name, n in r.by_channel])
    w.writerow([])
    w.writerow(["时限", "计时", "按时", "超时", "进行中", "达成率（%）"])
    w.writerows([[sla_view.label(key), s.total, s.met, s.breached, s.open, _num(s.compliance)]
                 for key, s in r.sla.items()])
    w.writerow([])
    w.writerow(["员工", "账号", "完成任务", "经手求助", "超时完成", "评价数", "住户评价", "电话回访", "平均满意度"])
    w.writerows([[_text(s.name), _text(s.username), s.completed, s.requests, s.late, s.rated,
                  s.by_source.get("resident", 0), s.by_source.get("callback", 0), _num(s.satisfaction)]
                 for s in reports.staff_performance(session, month)])
    w.writerow([])
    w.writerow(["超时时限", "期限", "超时于", "求助类型", "求助人", "地址", "编号"])
    w.writerows([[sla_view.label(c.sla_key), local_time(c.due_at), local_time(c.breached_at),
                  category_name(req.category) if req else "", _text(req.caller_name if req else ""),
                  _text(req.address if req else ""), c.instance_id] for c, req in r.breached])
    w.writerow([])
    cp = r.checkpoint
    w.writerow(["审计日志签名检查点（公司经理签字确认）"])
    if cp is None:
        w.writerow(["检查点", "无（未配置签名密钥）"])
    else:
        w.writerows([["树大小", cp.tree_size], ["根（SHA-256）", cp.root], ["签名密钥 key id", cp.key_id],
                     ["检查点时间（UTC）", cp.at]])
    w.writerow(["公司经理签字", ""])
    w.writerow(["日期", ""])
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=liyuan-report-{month}.csv"})


def _readable(session, report, where: str):
    """The drill-down (breached deadlines, each linking its request) cut to what the reader may read; the
    restricted requests left in it (complaints, confidential consultations) are read on the record."""
    user = current_user()
    readable = readable_instances(session, user, {c.instance_id for c, _req in report.breached})
    breached = [(c, req) for c, req in report.breached if c.instance_id in readable]
    note_restricted_reads(user, [req for _c, req in breached], where)
    return dataclasses.replace(report, breached=breached)


def _backlog(session, department: str | None = None):
    """The still-open requests (of the department, on its month), the oldest listed only where the reader
    may read them."""
    user = current_user()
    backlog = reports.open_backlog(session, visible=visible_requests(session, user), department=department)
    note_restricted_reads(user, backlog.oldest, "reports.index")
    return backlog


def _num(value) -> str:
    return "" if value is None else str(value)


def _text(value: str | None) -> str:
    """Text people typed, made inert for spreadsheets: a leading = + - @ would start a formula in Excel."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
