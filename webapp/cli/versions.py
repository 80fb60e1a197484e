"""``liyuan versions | diff | revert | migrate``: a process's history, what changed, going back, moving
running instances to another version.

Registered by :mod:`webapp.cli.main`. Engine-only: nothing here imports Flask. Output is for the 流程负责人,
in Chinese; times in Asia/Shanghai.
"""

from __future__ import annotations

import os
import sys

from tqdm import tqdm

from engine.core import clock, db
from engine.core.errors import EngineError
from engine.repository import diff as version_diff
from engine.repository import editing
from engine.repository.validation import InvalidBundle
from engine.runtime import migration


def _t(value) -> str:
    local = clock.to_local(value)
    return local.strftime("%Y-%m-%d %H:%M") if local else "-"


def _number(text: str) -> int:
    """``3`` or ``v3`` (as the version list shows it)."""
    raw = text[1:] if text[:1] in ("v", "V") else text
    if not raw.isdecimal() or len(raw) > 9:
        raise SystemExit(f"版本号应为数字，如 2 或 v2（收到：{text}）")
    return int(raw)


def cmd_versions(args) -> int:
    with db.read_session() as session:
        processes = editing.versions(session)
    if args.process:
        if args.process not in processes:
            print(f"流程 {args.process} 尚未发布", file=sys.stderr)
            return 1
        processes = {args.process: processes[args.process]}
    for pid, rows in processes.items():
        print(f"{pid}（{rows[0].version.name}）")
        for r in rows:
            note = r.deployment.note or "（无说明）"
            print(f"  v{r.version.version}\t{_t(r.deployment.created_at)}\t{r.deployment.actor}\t"
                  f"在办 {r.running}\t{note}")
    return 0


def cmd_diff(args) -> int:
    with db.read_session() as session:
        found = version_diff.diff_versions(session, args.process, _number(args.v1), _number(args.v2))
    for line in version_diff.describe(found):
        print(line)
    return 0


def cmd_revert(args) -> int:
    number = _number(args.version)
    try:
        with db.transaction() as session:
            result = editing.revert(session, args.process, number, args.actor, args.note or "")
    except editing.EditError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except InvalidBundle as exc:  # the old content no longer passes today's checks
        for p in exc.problems:
            print(p)
        print(f"第{number}版的内容未通过校验，未发布", file=sys.stderr)
        return 1
    if not result.created:
        print(f"第{number}版的内容与最新版相同，未产生新版本（仍为第{result.version}版）")
    else:
        print(f"已将 {args.process} 第{number}版的内容发布为第{result.version}版")
    return 0


def _describe(plan: migration.Plan) -> list[str]:
    if not plan.movable:
        return [f"  不能迁移：{reason}" for reason in plan.reasons]
    lines = []
    for element, old, new in plan.moves:
        label = old if old == new else f"{old} → {new}（名称改变）"
        lines.append(f"  迁移 {element}「{label}」")
    for t in plan.timers:
        sla = f"，SLA {t.sla_key}" if t.sla_key else ""
        if t.moved:
            lines.append(f"  定时器 {t.element_id}「{t.name}」{sla}：到期 {_t(t.old_due)} → {_t(t.new_due)}")
        elif t.expression_old != t.expression_new:
            lines.append(f"  定时器 {t.element_id}「{t.name}」{sla}：表达式 {t.expression_old} → {t.expression_new}，"
                         f"保持已承诺的到期时间 {_t(t.old_due)}（--recompute-deadlines 可按新时长重算）")
        else:
            lines.append(f"  定时器 {t.element_id}「{t.name}」{sla}：到期 {_t(t.old_due)}（不变）")
    return lines


def cmd_migrate(args) -> int:
    source, target = _number(args.source), _number(args.target)
    with db.read_session() as session:
        ids = migration.instances_on(session, args.process, source, args.instance)
    if not ids:
        print(f"流程 {args.process} 第{source}版上没有在办的实例")
        return 0
    moved = refused = 0
    # The bar on stderr (updated per instance; hidden when stderr is not a terminal unless asked), the
    # per-instance report on stdout through the bar so neither garbles the other.
    bar = tqdm(ids, desc="试迁移" if args.dry_run else "迁移", unit="个", file=sys.stderr, ascii=True,
               disable=False if args.progress else None, dynamic_ncols=True)
    for n, instance_id in enumerate(bar, 1):
        head = f"[{n}/{len(ids)}] {instance_id}"
        try:
            if args.dry_run:
                with db.read_session() as session:
                    plan = migration.plan(session, instance_id, target, recompute=args.recompute_deadlines)
            else:
                with db.transaction() as session:
                    plan = migration.migrate(session, instance_id, target, args.actor,
                                             recompute=args.recompute_deadlines)
        except migration.CannotMigrate as exc:
            tqdm.write(f"{head}：未迁移")
            tqdm.write(f"  不能迁移：{exc.message}")
            refused += 1
            continue
        except EngineError as exc:
            tqdm.write(f"{head}：未迁移：{exc.message}")
            refused += 1
            continue
        verb = "可以迁移（试运行，未修改）" if args.dry_run and plan.movable else "已迁移" if plan.movable else "不能迁移"
        tqdm.write(f"{head}：第{plan.from_version}版 → 第{plan.to_version}版：{verb}")
        for line in _describe(plan):
            tqdm.write(line)
        if plan.movable:
            moved += 1
        else:
            refused += 1
    bar.close()
    what = "可迁移" if args.dry_run else "已迁移"
    print(f"共 {len(ids)} 个实例：{what} {moved} 个，不能迁移 {refused} 个" + ("（试运行，未作任何修改）" if args.dry_run else ""))
    return 0 if refused == 0 else 1


def cmd_resume_migration(args) -> int:
    """Finish a studio batch migration that stopped half-way (the server restarted while its worker thread
    ran): the instances still waiting are migrated, each with its audit event, as the batch would have."""
    from engine.core.tables import MigrationJob
    from engine.runtime import migration_batch

    with db.read_session() as session:
        job = session.get(MigrationJob, args.job)
        if job is None:
            print(f"没有编号为 {args.job} 的迁移任务", file=sys.stderr)
            return 1
        if job.status != "running":
            print(f"迁移任务 {args.job} 已结束：迁移 {job.done - job.failed} 个，失败 {job.failed} 个")
            return 0
        waiting = sum(1 for r in migration_batch.results(job) if r["ok"] is None)
    bar = tqdm(total=waiting, desc="继续迁移", unit="个", file=sys.stderr, ascii=True,
               disable=False if args.progress else None, dynamic_ncols=True)

    def each(outcome: dict) -> None:
        bar.update(1)
        if not outcome["ok"]:
            tqdm.write(f"{outcome['instance_id']}：{outcome['message']}")

    job = migration_batch.run(args.job, on_each=each)
    bar.close()
    print(f"迁移任务 {job.id}：共 {job.total} 个，已迁移 {job.done - job.failed} 个，失败 {job.failed} 个")
    return 0 if job.failed == 0 else 1


def register(sub) -> None:
    p = sub.add_parser("versions", help="a process's versions: who published them, when, and why")
    p.add_argument("process", nargs="?")
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("diff", help="what changed between two versions of a process (elements, properties, form fields)")
    p.add_argument("process")
    p.add_argument("v1")
    p.add_argument("v2")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("revert", help="publish an earlier version's content as a new version")
    p.add_argument("process")
    p.add_argument("version", help="e.g. v1")
    p.add_argument("--note", help="why (required)")
    p.add_argument("--actor", default=os.environ.get("USER", "cli"))
    p.set_defaults(func=cmd_revert)

    p = sub.add_parser("migrate", help="move running instances of a process from one version to another")
    p.add_argument("process")
    p.add_argument("--from", dest="source", required=True)
    p.add_argument("--to", dest="target", required=True)
    p.add_argument("--instance", help="only this instance")
    p.add_argument("--dry-run", action="store_true", help="show the preview, change nothing")
    p.add_argument("--recompute-deadlines", action="store_true",
                   help="recount running timers with the new durations from when they were armed")
    p.add_argument("--actor", default=os.environ.get("USER", "cli"))
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("resume-migration", help="finish a studio batch migration a server restart interrupted")
    p.add_argument("job", type=int, help="the job's number (on its progress page)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    p.set_defaults(func=cmd_resume_migration)

