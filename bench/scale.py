"""The staff pages at 1,000 / 10,000 / 100,000 requests: do they cost their own rows, or the history's?

Builds (once per size and code version; cached under ``bench/.cache/``) a database of N realistic requests:

1. the completed ones (90 %) exactly as :mod:`bench.audit_scale` builds its histories — real walks of the
   real procedure ``help_request`` through the engine, cloned with fresh ids by :mod:`bench.audit_clone`
   (chains, Merkle leaves and signed checkpoints recomputed), then checked with ``liyuan audit verify``;
2. the open ones (10 %) started through the engine (``help_requests.start``, as the hotline page does), so
   each sits in a real inbox with its real SLA clocks and timers;
3. for PostgreSQL, the same rows copied table by table into a fresh migrated database (same ids, same
   audit chains; the row counts are compared after the copy).

Then it signs in as the staff who use each page and times every page ``--repeat`` times in-process (the
Flask test client: the server's own work, without a socket), printing the p95 of each beside its goal,
the median CPU time the page took in this process (SQLite runs in it; PostgreSQL's own work does not
count here) — on a machine shared with other work the wall time grows with the load, the CPU time much
less —, and the disk per request. Planner statistics are refreshed before timing (``db.refresh_statistics``).

Run ``python bench/scale.py`` (1k and 10k on SQLite and PostgreSQL), ``-n 1000`` for one size,
``--db sqlite`` for one database, ``--with-100k`` to add 100,000 (building it takes an hour or more).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import audit_scale  # noqa: E402

PASSWORD = "bench-" + secrets.token_urlsafe(9)
GOALS = {"page": 50.0, "report": 1000.0, "disk_kb": 10.0}
OPEN_SHARE = 10  # one request in ten still open
ROUNDS = 3  # rounds of real walks before cloning (audit_scale's --rounds)
GENERATOR = "1"  # bump when build() or _open_requests() change what they write


def _folder(n: int) -> Path:
    return ROOT / "bench" / ".cache" / f"scale-{GENERATOR}-{n}-{audit_scale.code_version(n, ROUNDS)}"


def build(n: int, *, reuse: bool = False) -> Path:
    """The SQLite database of ``n`` requests (see the module's docstring); returns its folder. ``reuse``:
    the newest finished build of ``n`` even if the engine changed since (for timing page changes that do
    not change what the engine writes)."""
    folder = _folder(n)
    if (folder / "ready").exists():
        return folder
    if reuse:
        built = sorted((p.parent for p in (ROOT / "bench" / ".cache").glob(f"scale-{GENERATOR}-{n}-*/ready")),
                       key=lambda p: p.stat().st_mtime)
        if built:
            print(f"  reusing {built[-1].relative_to(ROOT)} (built by an earlier engine)", file=sys.stderr)
            return built[-1]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    audit_scale.build(folder, n - n // OPEN_SHARE, ROUNDS)  # completed histories, cloned and verified
    _open_requests(n // OPEN_SHARE)
    (folder / "ready").write_text(f"built in {time.perf_counter() - t0:.0f} s\n")
    return folder


def _open_requests(count: int) -> None:
    """``count`` hotline calls recorded through the engine, left open in the inboxes."""
    from engine import identity
    from engine.core import db
    from engine.helpdesk import help_requests

    t0 = time.perf_counter()
    for i in range(count):
        with db.transaction() as session:
            actor = identity.get_user(session, "assistant")
            help_requests.start(session, "help_request", "hotline", {
                "caller_name": f"住户{i}", "phone": f"139{i:08d}", "address": f"{i % 30 + 1}栋{i % 6 + 1}单元{i % 900 + 101}",
                "description": f"第{i}号来电：{('厨房水管漏水', '楼道灯不亮', '电梯异响', '门禁卡失灵')[i % 4]}",
                "category": "b" if i % 3 else None}, actor)
    print(f"  {count} open requests through the engine in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def copy_to_postgres(folder: Path, n: int) -> str:
    """A fresh PostgreSQL database holding the SQLite build's rows; returns its URL."""
    import json

    import psycopg
    from sqlalchemy import JSON as sa_json
    from sqlalchemy import MetaData, create_engine, func, insert, select, text

    from engine.core import db, migrate
    from tests import postgres_status

    name = _copy_name(n)
    with psycopg.connect(postgres_status.URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _copy_url(n)
    migrate.upgrade(url)
    source = create_engine(f"sqlite:///{folder / 'audit.db'}")
    meta = MetaData()
    meta.reflect(db.get_engine(url))
    t0 = time.perf_counter()
    with db.get_engine(url).begin() as dst:
        dst.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in meta.sorted_tables
                                                 if t.name != "alembic_version") + " RESTART IDENTITY CASCADE"))
        with source.connect() as src:
            for table in meta.sorted_tables:
                if table.name == "alembic_version":
                    continue
                order = list(table.primary_key.columns) or list(table.c)
                result = src.execute(select(*(text(f'"{c.name}"') for c in table.c)).select_from(text(f'"{table.name}"'))
                                     .order_by(*(text(f'"{c.name}"') for c in order)))
                # SQLite hands JSON columns back as their text: decode it, or PostgreSQL would store each value
                # as one JSON string (a process version's file list read back as a str, not a dict)
                decode = [isinstance(c.type, sa_json) for c in table.c]
                while batch := result.fetchmany(2000):
                    dst.execute(insert(table), [
                        {k: (json.loads(v) if d and isinstance(v, str) else v)
                         for k, v, d in zip(table.c.keys(), row, decode, strict=True)} for row in batch])
                if src.execute(text(f'SELECT count(*) FROM "{table.name}"')).scalar() != \
                        dst.execute(select(func.count()).select_from(table)).scalar():
                    raise SystemExit(f"copy of {table.name} lost rows")
        for table in meta.sorted_tables:  # identities continue after the copied ids
            for column in table.c:
                if column.autoincrement is True or (column.primary_key and column.type.python_type is int
                                                    and len(table.primary_key.columns) == 1):
                    seq = dst.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                      {"t": table.name, "c": column.name}).scalar()
                    if seq:
                        dst.execute(text(f"SELECT setval('{seq}', coalesce((SELECT max(\"{column.name}\") "
                                         f"FROM \"{table.name}\"), 0) + 1, false)"))
        dst.execute(text("ANALYZE"))
    print(f"  copied to PostgreSQL {name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return url


def _copy_name(n: int) -> str:
    return f"liyuan_scale_{n}"


def _copy_url(n: int) -> str:
    """The SQLAlchemy URL of the PostgreSQL copy of the ``n`` build (beside the test server's database)."""
    from tests import postgres_status

    base = postgres_status.URL.rsplit("/", 1)[0]
    return f"postgresql+psycopg://{base.split('://', 1)[1]}/{_copy_name(n)}"


def _postgres_copy(n: int) -> str | None:
    """The URL of the copy an earlier run made of the ``n`` build, if it is there whole; else None."""
    import psycopg


    url = _copy_url(n)
    try:
        with psycopg.connect(url.replace("+psycopg", "", 1)) as conn:
            held = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    except psycopg.Error:
        return None
    if held != n:
        return None
    print(f"  reusing the PostgreSQL copy {_copy_name(n)}", file=sys.stderr)
    return url


def _disk_kb(url: str, folder: Path, n: int) -> float:
    from sqlalchemy import text

    from engine.core import db

    if url.startswith("sqlite"):
        size = sum(p.stat().st_size for p in folder.glob("audit.db*"))
    else:
        with db.get_engine(url).connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
    return size / 1024 / n


def breakdown(url: str, n: int, top: int = 12) -> list[tuple[str, float, float, float]]:
    """Where the disk goes: (table, KB per request of its rows, of its indexes, its share of the whole),
    largest first. SQLite: the ``dbstat`` pages of each table and of the indexes on it; PostgreSQL:
    ``pg_table_size`` (with TOAST) and ``pg_indexes_size``."""
    from sqlalchemy import text

    from engine.core import db

    with db.get_engine(url).connect() as conn:
        if conn.dialect.name == "sqlite":
            owner = dict(conn.execute(text("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")).all())
            sizes: dict[str, list[int]] = {}
            for name, size in conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).all():
                table = owner.get(name, name)
                sizes.setdefault(table, [0, 0])[0 if name == table else 1] += size
            rows = [(t, rows_, idx) for t, (rows_, idx) in sizes.items()]
            free = conn.execute(text("PRAGMA freelist_count")).scalar() * conn.execute(text("PRAGMA page_size")).scalar()
            if free:  # pages freed and not yet reused (VACUUM returns them): on disk, in no table
                rows.append(("(free pages)", free, 0))
        else:
            rows = [tuple(r) for r in conn.execute(text(
                "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE c.relkind = 'r' AND s.nspname = current_schema()")).all()]
    total = sum(r + i for _t, r, i in rows) or 1
    rows.sort(key=lambda row: -(row[1] + row[2]))
    out = [(t, r / 1024 / n, i / 1024 / n, (r + i) / total) for t, r, i in rows[:top]]
    rest = rows[top:]
    out.append((f"({len(rest)} other tables)", sum(r for _t, r, _i in rest) / 1024 / n,
                sum(i for _t, _r, i in rest) / 1024 / n, sum(r + i for _t, r, i in rest) / total))
    out.append(("total", sum(r for _t, r, _i in rows) / 1024 / n, sum(i for _t, _r, i in rows) / 1024 / n, 1.0))
    return out


def print_breakdown(label: str, rows: list[tuple[str, float, float, float]]) -> None:
    print(f"\ndisk per request by table, {label} (KB per request: rows, indexes; share of the database)")
    print(f"{'table':<28}{'rows':>9}{'indexes':>9}{'share':>8}")
    for table, rows_kb, index_kb, share in rows:
        print(f"{table:<28}{rows_kb:>9.2f}{index_kb:>9.2f}{share:>7.0%}")


def measure(url: str, folder: Path, n: int, repeat: int) -> list[tuple[str, float, float, str]]:
    """(measure, p95 ms, goal, note) for every page and the disk, then the disk's :func:`breakdown`."""
    os.environ["LIYUAN_DATABASE_URL"] = url
    os.environ["LIYUAN_SCHEDULER"] = "external"
    # The sign-ins below append audit events and publish checkpoints: those of the PostgreSQL copy go to a file
    # of their own, so the build's checkpoints.jsonl keeps matching the SQLite database (`audit verify`).
    os.environ["LIYUAN_AUDIT_CHECKPOINT_FILE"] = str(
        folder / ("checkpoints.jsonl" if url.startswith("sqlite") else "checkpoints-postgresql.jsonl"))
    from sqlalchemy import func, select

    from engine import identity
    from engine.core import clock, db, migrate
    from engine.helpdesk.tables import HelpRequest
    from webapp.app import create_app

    migrate.upgrade(url)  # a build reused from an earlier schema (--reuse-build) gets what `liyuan db upgrade` adds
    db.refresh_statistics(url)
    with db.transaction(url) as session:
        for username in ("assistant", "cs_supervisor", "manager"):
            identity.set_password(session, identity.get_user(session, username), PASSWORD)
        newest = session.scalar(select(HelpRequest.instance_id).order_by(HelpRequest.created_at.desc()).limit(1))
        closed = session.scalar(select(HelpRequest.instance_id).where(HelpRequest.status == "closed")
                                .order_by(HelpRequest.created_at.desc()).limit(1))  # its state is stored packed
        # A caller's number as staff type it: an open call's (the cloned histories repeat their templates' numbers,
        # and some templates hold a placeholder text there, which would time a search for a common word instead)
        phone = session.scalar(select(HelpRequest.phone).where(HelpRequest.status != "closed",
                                                               HelpRequest.phone.like("1%"))
                               .order_by(HelpRequest.created_at.desc()).limit(1)) or "139"
        opened = session.scalar(select(func.count()).select_from(HelpRequest).where(HelpRequest.status != "closed"))
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    clients = {}
    for username in ("assistant", "cs_supervisor", "manager"):
        clients[username] = app.test_client()
        res = clients[username].post("/login", data={"username": username, "password": PASSWORD})
        assert res.status_code == 302, (username, res.status_code)
    token = app.test_client().post("/api/v1/auth/token", json={"username": "assistant", "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {token.get_json()['token']}"}
    month = clock.now().astimezone(clock.SHANGHAI).strftime("%Y-%m")
    pages = [
        ("GET /inbox (物业助理)", "assistant", "/inbox", {}, GOALS["page"]),
        ("GET /inbox?scope=all (客服部主管)", "cs_supervisor", "/inbox?scope=all", {}, GOALS["page"]),
        ("GET /requests (客服部主管)", "cs_supervisor", "/requests", {}, GOALS["page"]),
        ("GET /requests (物业助理)", "assistant", "/requests", {}, GOALS["page"]),
        ("GET /requests?q=<phone> search", "cs_supervisor", f"/requests?q={phone[-6:]}", {}, GOALS["page"]),
        ("GET /requests?q=漏水 (a common word)", "cs_supervisor", "/requests?q=漏水", {}, GOALS["page"]),
        ("GET /requests/<id> detail", "cs_supervisor", f"/requests/{newest}", {}, GOALS["page"]),
        ("GET /requests/<id> detail (closed)", "cs_supervisor", f"/requests/{closed}", {}, GOALS["page"]),
        ("GET /api/v1/tasks (物业助理)", None, "/api/v1/tasks", bearer, GOALS["page"]),
        ("GET /notifications/count.json", "cs_supervisor", "/notifications/count.json", {}, GOALS["page"]),
        (f"GET /reports?month={month} (month report)", "manager", f"/reports?month={month}", {}, GOALS["report"]),
    ]
    out = []
    for name, who, path, headers, goal in pages:
        client = clients[who] if who else app.test_client()
        times, cpu, size = [], [], 0
        for i in range(repeat + 2):
            t0, c0 = time.perf_counter(), time.thread_time()
            res = client.get(path, headers=headers)
            elapsed = (time.perf_counter() - t0) * 1000
            used = (time.thread_time() - c0) * 1000
            if res.status_code != 200:
                raise SystemExit(f"{path} as {who}: {res.status_code}")
            size = len(res.get_data())
            if i >= 2:  # two warm-up requests (templates compiled, caches filled)
                times.append(elapsed)
                cpu.append(used)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]
        out.append((name, p95, goal, f"{statistics.median(cpu):.0f} CPU, {size / 1024:.0f} KB"))
    out.append(("disk per request (KB)", _disk_kb(url, folder, n), GOALS["disk_kb"], f"{opened} open"))
    out.append(breakdown(url, n))
    db.dispose_all()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, action="append", help="request count (repeatable; default 1,000 and 10,000)")
    ap.add_argument("--with-100k", action="store_true", help="add 100,000 (slow to build)")
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=20, help="timed requests per page (default 20)")
    ap.add_argument("--build-only", action="store_true", help="build (or find) the databases, time nothing")
    ap.add_argument("--reuse-build", action="store_true",
                    help="time the newest build of each size even if the engine changed since")
    ap.add_argument("--reuse-postgres", action="store_true",
                    help="time the PostgreSQL copy an earlier run left (liyuan_scale_N) when it holds N requests, "
                         "instead of copying again (the copy of 100,000 takes about a quarter of an hour)")
    args = ap.parse_args()
    sizes = args.n or [1_000, 10_000]
    if args.with_100k:
        sizes.append(100_000)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    results = {}
    for n in sizes:
        print(f"building {n} requests …", file=sys.stderr)
        folder = build(n, reuse=args.reuse_build)
        if args.build_only:
            continue
        if args.db in ("sqlite", "both"):
            results[(n, "SQLite")] = measure(f"sqlite:///{folder / 'audit.db'}", folder, n, args.repeat)
        if args.db in ("postgresql", "both"):
            url = _postgres_copy(n) if args.reuse_postgres else None
            results[(n, "PostgreSQL")] = measure(url or copy_to_postgres(folder, n), folder, n, args.repeat)
    if not results:
        return
    tables = {key: rows.pop() for key, rows in results.items()}
    names = [row[0] for row in next(iter(results.values()))]
    columns = list(results)
    print("\np95 wall ms per page (median CPU ms of this process per page, page size); disk KB per request")
    print(f"{'measure':<44}" + "".join(f"{f'{n:,} {d}':>28}" for n, d in columns) + f"{'goal':>9}")
    for i, name in enumerate(names):
        goal = results[columns[0]][i][2]
        cells = []
        for col in columns:
            _name, value, goal, note = results[col][i]
            mark = "" if value <= goal else " ✗"
            cells.append(f"{value:>9.1f}{mark:<2} ({note})".rjust(28))
        print(f"{name:<44}" + "".join(cells) + f"{'< ' + format(goal, 'g'):>9}")
    for (n, database), rows in tables.items():
        print_breakdown(f"{n:,} {database}", rows)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
