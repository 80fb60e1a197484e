"""``liyuan report --month 2026-11 [--department CODE] [--xlsx FILE]``: the month report from a shell, for the
客服部 who mail the workbook or a cron job that files it. Prints the month's headline figures and its slowest
steps; with ``--xlsx`` writes the same workbook as the web page's 导出 Excel (:mod:`webapp.reports_xlsx`), with a
progress bar on a terminal. ``--department``: that department's month, scoped as its 部门主管's page scopes it
(its requests and their deadlines, its members' rows, no month-end actions, never signed).

Registered by :mod:`webapp.cli.main`. Engine-only: nothing here imports Flask.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tqdm import tqdm

from engine import identity
from engine.core import db
from engine.helpdesk import deadlines, month_seal, slow_steps

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def cmd_report(args) -> int:
    if not _MONTH.match(args.month or ""):
        print(f"月份格式不对：{args.month}（应为 YYYY-MM，例如 2026-11）", file=sys.stderr)
        return 2
    target = Path(args.xlsx) if args.xlsx else None
    if target is not None and not target.parent.is_dir():
        print(f"无法写入 {target}：目录 {target.parent} 不存在", file=sys.stderr)
        return 2
    department = args.department
    if department is not None and department not in identity.departments.DEPARTMENT_BY_CODE:
        known = "、".join(f"{d.code}（{d.name}）" for d in identity.departments.DEPARTMENTS)
        print(f"没有部门代码 {department}；可用的部门代码：{known}", file=sys.stderr)
        return 2
    with db.read_session() as session:
        registry = deadlines.current(session)
        fig, signed = month_seal.shown(session, args.month, registry, department)
        this = fig.this
        if department is not None:
            print(f"{args.month} {identity.departments.DEPARTMENT_BY_CODE[department].name}的月度报表"
                  "（部门主管所见范围：转交本部门的求助及其时限）")
        if signed is not None:
            seal = signed.seal
            print(f"{args.month} 已由公司经理 {seal.signed_by} 签发（以下为签发时的数字）"
                  + (f"；签发后数据有变动 {len(signed.differences)} 项：" + "；".join(
                      f"{d.label} 签发时 {d.signed}，现在 {d.now}" for d in signed.differences)
                     if signed.differences else "；签发后明细有变动" if signed.other_changes else "；现在重算结果一致"))
        print(f"{args.month} 求助总数 {this.total}，投诉 {this.complaints}（投诉率 {_pct(this.complaint_rate)}），"
              f"满意率 {_pct(this.satisfaction_rate)}（{this.rated} 条评价），"
              f"有偿服务 {fig.paid_count} 件 ¥{fig.paid_cents / 100:.2f}")
        for key, c in this.compliance.items():
            print(f"  {fig.deadline_names.get(key, key)}：按时 {c.met}，超时 {c.breached}，进行中 {c.armed}，"
                  f"达成率 {_pct(c.rate)}")
        for change in fig.changes:
            print(f"  注：{change.text}")
        print("  按部门：" + "；".join(f"{d.name} {d.total} 件（办结 {d.closed}，超时 {d.breached}）"
                                    for d in fig.departments))
        for step in slow_steps.slowest(session, args.month, department=department, top=SLOWEST_SHOWN):
            print(f"  用时最长的环节：{step.name}（{step.step}）完成 {step.count} 次，中位 {_minutes(step.p50)}，"
                  f"90% {_minutes(step.p90)}，最长 {_minutes(step.longest)}")
        if target is None:
            return 0
        from webapp import reports_xlsx  # openpyxl only when a workbook is asked for

        people = {u.username for u in identity.departments.members(session, department)} if department else None

        def members(rows):  # the staff rows cut to the department's people, as on its page
            return rows if people is None else [r for r in rows if getattr(r, "staff", r).username in people]

        with tqdm(total=len(reports_xlsx.STEPS), desc="生成工作簿", unit="表", file=sys.stderr,
                  disable=not sys.stderr.isatty()) as bar:
            book = reports_xlsx.workbook(session, args.month, registry, progress=lambda _step: bar.update(1),
                                         department=department, members=members)
    tmp = target.with_name(target.name + ".part")
    try:
        book.save(tmp)  # written whole, then renamed: never a half-written workbook under the asked name
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        print(f"无法写入 {target}：{exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"已写入 {target}")
    return 0


SLOWEST_SHOWN = 3  # on the terminal; the workbook has ten


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f}分钟"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def register(sub) -> None:
    p = sub.add_parser("report", help="the month report: headline figures, and an Excel workbook (--xlsx)")
    p.add_argument("--month", required=True, help="YYYY-MM (Asia/Shanghai)")
    p.add_argument("--department", help="only this department's month (its code, e.g. engineering), as its "
                   "部门主管 reads it")
    p.add_argument("--xlsx", help="write the month's workbook to this file")
    p.set_defaults(func=cmd_report)
