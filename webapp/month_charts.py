"""The month report's charts as data: each chart is a list of categories (days, months, deadlines …) and
series of values, every value with the link to the requests behind it.

The same :class:`Chart` is drawn twice: by ECharts in the browser (``static/js/month_report.js`` reads it
from a JSON data block, no inline script under the CSP) and as an HTML table with the same links, which is
what screen readers, phones without JavaScript and the printed page get. A figure cannot differ between the
two because there is only one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from flask import url_for

from engine.helpdesk import intake
from engine.helpdesk.month_figures import MonthFigures
from engine.helpdesk.request_filter import RequestFilter


@dataclass
class Series:
    name: str
    values: list[float | int | None]
    links: list[str | None]
    stack: str | None = None
    kind: str | None = None  # "line" or "bar"; the chart's kind when None


@dataclass
class Chart:
    id: str
    title: str
    kind: str  # bar | line
    x_name: str
    categories: list[str]
    series: list[Series]
    unit: str = ""
    note: str = ""
    horizontal: bool = False
    extra: dict = field(default_factory=dict)

    def rows(self):
        """The table: one row per category, a (value, link) cell per series."""
        for i, category in enumerate(self.categories):
            yield category, [(s.values[i], s.links[i]) for s in self.series]


def requests_url(f: RequestFilter) -> str:
    return url_for("requests.index", **f.args())


def minutes(seconds: float | None) -> float | None:
    return round(seconds / 60, 1) if seconds is not None else None


def charts(fig: MonthFigures) -> list[Chart]:
    month = fig.month
    out = []
    day_labels = [d[5:] for d in fig.days]
    series = []
    for code, counts in fig.per_day_category.items():
        if not any(counts) and code not in intake.CATEGORIES:
            continue
        name = f"{code}. {intake.CATEGORIES[code]}" if code in intake.CATEGORIES else "未分类"
        series.append(Series(name, counts, [requests_url(fig.filter(day=d, category=code)) if n else None
                                            for d, n in zip(fig.days, counts, strict=True)], stack="category"))
    out.append(Chart("per-day-category", "每日求助量（按求助类型）", "bar", "日期", day_labels, series, "件"))
    series = []
    for code, counts in fig.per_day_channel.items():
        series.append(Series(intake.CHANNELS.get(code, code if code != "none" else "未知"), counts,
                             [requests_url(fig.filter(day=d, channel=code)) if n and code != "none" else None
                              for d, n in zip(fig.days, counts, strict=True)], stack="channel"))
    out.append(Chart("per-day-channel", "每日求助量（按来源渠道）", "bar", "日期", day_labels, series, "件"))
    # the deadlines' steps (minutes); 办结用时 runs to hours and days, so it is in the table above, not here
    timings = [t for t in fig.timings if t.key != "closed" and (t.count or t.deadline is not None)]
    # a deadline whose duration a deployment changed during the month: its figures mix two rules
    changes = "".join(f"⚠ {c.text}。" for c in fig.changes)
    links = [requests_url(t.filter) for t in timings]
    out.append(Chart(
        "timings", "用时分布（中位数 p50 / 90% 分位 p90，对照时限）", "bar", "环节",
        [t.name for t in timings],
        [Series("p50", [minutes(t.p50) for t in timings], links),
         Series("p90", [minutes(t.p90) for t in timings], links),
         Series("时限", [minutes(t.deadline.total_seconds()) if t.deadline else None for t in timings],
                [None] * len(timings))],
        "分钟", note="时限取自已部署流程图（截止期限登记表）；超时者按时限计，是实际用时的下限。" + changes,
        horizontal=True))
    months = [line.month for line in fig.trend]
    keys = list(fig.this.compliance)
    out.append(Chart(
        "sla-trend", "时限达成率（近12个月）", "line", "月份", months,
        [Series(fig.deadline_names.get(k, k), [line.compliance[k].rate for line in fig.trend],
                [requests_url(fig.filter(month=line.month, sla=k)) if line.compliance[k].rate is not None
                 else None for line in fig.trend]) for k in keys], "%", note=changes))
    out.append(Chart(
        "satisfaction-trend", "满意度与投诉（近12个月）", "line", "月份", months,
        [Series("满意率（%）", [line.satisfaction_rate for line in fig.trend],
                [requests_url(fig.filter(month=line.month, rating="rated")) if line.rated else None
                 for line in fig.trend]),
         Series("投诉率（%）", [line.complaint_rate for line in fig.trend],
                [requests_url(fig.filter(month=line.month, category="c")) if line.complaints else None
                 for line in fig.trend]),
         Series("求助总数（件）", [line.total for line in fig.trend],
                [requests_url(fig.filter(month=line.month)) if line.total else None for line in fig.trend],
                kind="bar")], "%", note="满意率：3分及以上的评价占全部评价的比例；投诉率：投诉求助（c类）占求助总数的比例。"))
    out.append(Chart(
        "backlog", "月末未办结（按已过时长）", "bar", "已过时长", [label for label, _n in fig.backlog],
        [Series("件数", [n for _label, n in fig.backlog],
                [requests_url(fig.filter(backlog=month, age=str(i))) if n else None
                 for i, (_label, n) in enumerate(fig.backlog)])], "件"))
    return out


def chart_data(all_charts: list[Chart]) -> list[dict]:
    """What the browser script draws (the JSON data block)."""
    return [asdict(c) for c in all_charts]
