"""Reports for the 客服部主管, 公司经理 and 公司领导: a month's requests, satisfaction and deadlines, and the
monthly statistics (4.10) the team compiled. Figures come from ``engine.reports`` (read-only queries)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from engine import reports

from .policy import requires
from .sla_view import SLA_NAMES
from .web import read_db

bp = Blueprint("reports", __name__, url_prefix="/reports")

# The fields of the monthly statistics forms (forms/monthly_*.schema.json) in the order a reader wants them.
STAT_LABELS = {"total_requests": "求助总数", "closed_requests": "办结数", "ack_online_rate": "线上15分钟确认率(%)",
               "response_rate": "30分钟响应率(%)", "resolve_24h_rate": "24小时解决率(%)",
               "satisfaction_rate": "满意率(%)", "common_issues": "常见问题", "analysis": "分析与总结",
               "improvements": "改进措施", "performance_notes": "绩效考核意见", "manager_comment": "经理审阅意见"}


@bp.get("")
@requires("reports")
def index():
    month = reports.parse_month(request.args.get("month"))
    session = read_db()
    report = reports.month_report(session, month)
    return render_template("reports/index.html", r=report, month=month, sla_names=SLA_NAMES,
                           prev_month=reports.shift_month(month, -1), next_month=reports.shift_month(month, 1),
                           runs=reports.statistics_runs(session), stat_labels=STAT_LABELS,
                           backlog=reports.open_backlog(session), staff=reports.staff_performance(session, month))
