"""The ``liyuan`` command: the one entry point that may import both engine and webapp.

Sub-commands that only touch the engine (validate, deploy, audit, users …) never import Flask, so the
scheduler process and scripts stay light.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

import engine.helpdesk
from engine import identity, notify, repository
from engine.core import config as engine_config
from engine.core import db
from engine.core.errors import EngineError
from engine.helpdesk import intake, phone_links
from engine.repository import bundle
from engine.repository.validation import InvalidBundle


def _paths_or_default(paths: list[str]) -> list[str]:
    from engine.core import config

    return paths or [str(config.bpmn_dir())]


def cmd_validate(args) -> int:
    from engine.repository.validation import validate

    try:
        src = bundle.read_paths(args.paths)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not src.bpmn:
        print("no .bpmn files found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    problems = validate(src, _deployed_ids())
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in {len(src.bpmn)} file(s)", file=sys.stderr)
        return 1
    print(f"ok: {len(src.bpmn)} BPMN file(s), {len(src.forms)} form file(s)")
    return 0


def _deployed_ids() -> set[str]:
    """Processes already deployed may be called; an unmigrated or unreachable database means none."""
    if not engine_config.database_configured():
        return set()
    try:
        with db.read_session() as session:
            return repository.deployed_process_ids(session)
    except Exception:
        return set()


def cmd_deploy(args) -> int:
    src = bundle.read_paths(_paths_or_default(args.paths))
    try:
        with db.transaction() as session:
            results = repository.deploy(session, src, actor=args.actor, note=args.note or "", require_note=True)
    except InvalidBundle as exc:
        for p in exc.problems:
            print(p)
        print("nothing deployed", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.process_id}\tversion {r.version}\t{'deployed' if r.created else 'unchanged'}")
    return 0


def cmd_db_upgrade(_args) -> int:
    from engine.core import migrate  # Alembic is slow to import; only these two commands need it

    migrate.upgrade()
    print(f"database at revision {migrate.current()}")
    return 0


def cmd_db_backup(args) -> int:
    from engine.audit import backup

    try:
        result = backup.backup_sqlite(Path(args.target), overwrite=args.force)
    except backup.BackupError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"backup written: {result.path} ({result.size} bytes, schema revision {result.revision}, "
          f"{result.instances} instance(s), {result.audit_rows} audit row(s))")
    for brk in result.breaks:
        print(f"BROKEN {brk}")
    if result.breaks:
        print("the copy is kept as evidence, but the audit log was altered: run `liyuan audit verify`",
              file=sys.stderr)
        return 1
    print("ok: integrity check passed, every audit chain verified")
    return 0


def cmd_init(args) -> int:
    from engine.core import migrate

    migrate.upgrade()
    from engine.core import config

    bpmn_files = list(config.bpmn_dir().glob("*.bpmn"))
    with db.transaction() as session:
        intake.ensure_default_fees(session)
        notify.templates.ensure_defaults(session)  # the admin edits rows, seeded with the default wording
        if bpmn_files:
            try:
                for r in repository.deploy(session, bundle.read_paths([config.bpmn_dir()]), actor="init"):
                    print(f"{r.process_id}\tversion {r.version}\t{'deployed' if r.created else 'unchanged'}")
            except InvalidBundle as exc:
                for p in exc.problems:
                    print(p, file=sys.stderr)
                raise SystemExit("bpmn/ is invalid; nothing deployed") from None
        else:  # LIYUAN_HOME / LIYUAN_BPMN_DIR pointing elsewhere: say so rather than serve no procedure
            print(f"{config.bpmn_dir()} 下没有流程图（*.bpmn）：未发布任何流程。请检查 LIYUAN_HOME 或 LIYUAN_BPMN_DIR，"
                  "或之后用 liyuan deploy 发布。", file=sys.stderr)
        if args.demo:
            try:
                password, created = identity.ensure_demo_users(session, os.environ.get("LIYUAN_DEMO_PASSWORD"))
            except identity.IdentityError as exc:  # LIYUAN_DEMO_PASSWORD too short or too common
                raise SystemExit(f"LIYUAN_DEMO_PASSWORD：{exc}") from None
            if created:
                print("演示账号 (demo users) — password for all: " + password)
                for username, display, role in identity.DEMO_USERS:
                    if username in created:
                        print(f"  {username:<14} {display:<6} {identity.ROLE_BY_CODE[role].name}")
            else:
                print("demo users already exist (their passwords are unchanged)")
    return 0


def cmd_users_add(args) -> int:
    try:
        with db.transaction() as session:
            user = identity.add_user(session, args.username, args.password, args.role, display_name=args.name,
                                     phone=args.phone)
            if user.phone:  # an administrator vouching for the number (engine.helpdesk.phone_links)
                phone_links.set_by_admin(session, os.environ.get("USER", "cli"), user)
    except identity.IdentityError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"user {args.username} created")
    return 0


def cmd_users_list(_args) -> int:
    with db.read_session() as session:
        for user in identity.list_users(session):
            roles = ",".join(identity.ROLE_BY_CODE[r].name for r in sorted(user.role_codes))
            print(f"{user.username:<16} {user.display_name:<10} {roles}{'' if user.is_active else ' (停用)'}")
    return 0


def cmd_serve(args) -> int:
    from webapp.server import serve, serve_workers

    if args.workers > 1:
        return serve_workers(args.host, args.port, args.workers)
    return serve(args.host, args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liyuan", description="荔园物业客户求助服务")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check BPMN files and their forms")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("deploy", help="deploy BPMN files + forms as new versions")
    p.add_argument("paths", nargs="*")
    p.add_argument("--actor", default=os.environ.get("USER", "cli"))
    p.add_argument("--note")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("init", help="migrate, deploy bpmn/, seed fees (and demo users)")
    p.add_argument("--demo", action="store_true")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("db", help="database schema")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade").set_defaults(func=cmd_db_upgrade)
    bk = dbsub.add_parser("backup", help="consistent copy of the SQLite database while it runs, then verified")
    bk.add_argument("target", help="file to write, e.g. backups/liyuan-2026-11-27.db")
    bk.add_argument("--force", action="store_true", help="overwrite an existing file")
    bk.set_defaults(func=cmd_db_backup)

    p = sub.add_parser("users", help="manage users")
    usub = p.add_subparsers(dest="users_command", required=True)
    add = usub.add_parser("add")
    add.add_argument("username")
    add.add_argument("--password", required=True)
    add.add_argument("--role", action="append", required=True, choices=sorted(identity.ROLE_BY_CODE))
    add.add_argument("--name")
    add.add_argument("--phone")
    add.set_defaults(func=cmd_users_add)
    usub.add_parser("list").set_defaults(func=cmd_users_list)

    p = sub.add_parser("serve", help="serve the web app (and the in-process scheduler)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (PostgreSQL only; timers then run in `liyuan scheduler`)")
    p.set_defaults(func=cmd_serve)

    for register in _extensions():
        register(sub)
    return parser


def _extensions():
    """Sub-commands that live in their own modules (audit, timers and SLA, clause matrix, scenario runs, API
    tokens, versions, the month report)."""
    from webapp.cli import audit, clauses, report, simulate, timers, tokens, versions

    return (audit.register, timers.register, clauses.register, simulate.register, tokens.register, versions.register,
            report.register)


def main(argv: list[str] | None = None) -> int:
    """Run one command. Expected failures (no such instance, a missing file, the database not reachable or
    not set up) end with one line on stderr and exit status 1, never a traceback."""
    args = build_parser().parse_args(argv)
    engine.helpdesk.install()
    try:
        return args.func(args) or 0
    except EngineError as exc:
        print(exc.message, file=sys.stderr)
    except FileNotFoundError as exc:
        print(exc.args[0] if len(exc.args) == 1 else f"{exc.filename}：找不到该文件或目录", file=sys.stderr)
    except (OperationalError, ProgrammingError) as exc:
        shown = make_url(engine_config.database_url()).render_as_string(hide_password=True)
        if _no_such_table(exc.orig):
            print(f"数据库（{shown}）尚未初始化：请先运行 liyuan init（或 liyuan db upgrade）", file=sys.stderr)
        else:
            print(f"无法连接或读写数据库（{shown}）：{exc.orig}", file=sys.stderr)
    return 1


def _no_such_table(error) -> bool:
    """SQLite's "no such table", or PostgreSQL's undefined_table (SQLSTATE 42P01); not a missing database."""
    return "no such table" in str(error) or getattr(error, "sqlstate", None) == "42P01"
