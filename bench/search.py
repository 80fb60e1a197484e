"""Request search at 100,000 requests: the four ``LIKE '%…%'`` it used to be against the trigram indexes.

Building 100,000 real histories takes hours on this machine, and a search reads only the ``requests`` row, so
this grows a copy of :mod:`bench.scale`'s 1,000-request build (built if missing) to ``-n`` requests with
synthetic rows — random surnames, phones, 30 buildings, eight kinds of problem, a number in every
description — keeping its real procedure versions. Each query runs as ``/requests`` runs it — a page of 51
newest first plus the count capped at 1,000 — median of ``--repeat``, in one process:

- before: SQLite, the four LIKEs as they were written (no index serves them); PostgreSQL, today's search with
  the ``pg_trgm`` indexes dropped in a transaction that is then rolled back (the database before migration
  0063); the copy gets ``VACUUM ANALYZE`` first, as autovacuum would give it soon after a bulk load;
- after: ``request_filter`` as the page calls it.

Both must list the same requests and count the same: a difference stops the run.

    .venv/bin/python bench/search.py -n 100000 --db both
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scale  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
PROBLEMS = ["水管漏水", "电梯故障", "门禁卡丢失", "空调噪音", "楼道灯不亮", "下水道堵塞", "外墙渗水", "车位被占"]


def grow(url: str, n: int) -> None:
    """Add synthetic requests (with their instances) until ``url`` holds ``n``."""
    from sqlalchemy import func, insert, select

    from engine.core import clock, db, migrate
    from engine.core.tables import Instance, ProcessVersion
    from engine.helpdesk.tables import HelpRequest

    migrate.upgrade(url)
    with db.get_engine(url).connect() as conn:
        have = conn.scalar(select(func.count()).select_from(HelpRequest))
        version = conn.execute(select(ProcessVersion.id, ProcessVersion.process_id)
                               .where(ProcessVersion.process_id == "help_request").limit(1)).one()
    rnd = random.Random(16)
    base = clock.now() - dt.timedelta(days=700)
    for start in range(have, n, 5000):
        instances, requests = [], []
        for i in range(start, min(n, start + 5000)):
            iid, at = str(uuid.uuid4()), base + dt.timedelta(minutes=6 * i)
            instances.append({"id": iid, "process_id": version.process_id, "version_id": version.id,
                              "status": "completed", "revision": 1, "state": "{}", "state_fingerprint": "-",
                              "started_by": "bench", "started_at": at, "updated_at": at, "completed_at": at})
            requests.append({"instance_id": iid, "channel": "hotline",
                             "caller_name": rnd.choice(SURNAMES) + rnd.choice(("先生", "女士")),
                             "phone": f"13{rnd.randrange(10**9):09d}",
                             "address": f"{i % 30 + 1}栋{i % 7 + 1}单元{i % 900 + 101}", "building": f"{i % 30 + 1}栋",
                             "description": f"{rnd.choice(PROBLEMS)}，{rnd.choice(PROBLEMS)}，编号{i}",
                             "category": "b", "priority": "P3", "status": "closed", "created_at": at,
                             "updated_at": at, "closed_at": at, "confidential": False})
        with db.get_engine(url).begin() as conn:
            conn.execute(insert(Instance.__table__), instances)
            conn.execute(insert(HelpRequest.__table__), requests)
    db.refresh_statistics(url)


def _before_sqlite(session, q: str):
    """The search as it was written before issue 16."""
    from sqlalchemy import or_, select

    from engine.core import keyset
    from engine.helpdesk.tables import HelpRequest

    like = f"%{q}%"
    query = select(HelpRequest).where(or_(HelpRequest.caller_name.like(like), HelpRequest.phone.like(like),
                                          HelpRequest.address.like(like), HelpRequest.description.like(like)))
    order = (HelpRequest.created_at.desc(), HelpRequest.instance_id.desc())
    rows = [r.instance_id for r in session.scalars(query.order_by(*order).limit(51))]
    return rows, keyset.capped_total(session, query.with_only_columns(HelpRequest.instance_id).order_by(*order), 1000)


def _after(session, q: str):
    from engine.helpdesk import request_filter

    f = request_filter.RequestFilter(q=q)
    return ([r.instance_id for r in request_filter.list_requests(session, f, limit=51)],
            request_filter.count_requests(session, f))


def _timed(session, fn, q: str, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(session, q)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def measure(url: str, repeat: int) -> list[tuple[str, int, bool, float, float]]:
    from sqlalchemy import select, text
    from sqlalchemy.orm import Session

    from engine.core import db
    from engine.helpdesk import text_search
    from engine.helpdesk.tables import HelpRequest

    engine = db.get_engine(url)
    if url.startswith("postgresql"):  # what autovacuum does soon after a bulk load: statistics, GIN pending lists
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    with Session(engine) as session:
        phone = session.scalar(select(HelpRequest.phone).where(HelpRequest.caller_name.like("%先生"))
                               .order_by(HelpRequest.created_at).limit(1))
    queries = [phone, phone[-6:], "12栋3单元", "编号4242", "王先生", "不存在的话", "门禁卡丢失", "漏水", "王"]
    before: dict[str, tuple] = {}
    with engine.connect() as conn:
        trans = conn.begin()
        if url.startswith("postgresql"):
            for name in text_search.TRGM_INDEXES:
                conn.execute(text(f"DROP INDEX {name}"))
        session = Session(bind=conn)
        for q in queries:
            before[q] = _timed(session, _after if url.startswith("postgresql") else _before_sqlite, q, repeat)
        trans.rollback()
    out = []
    with Session(engine) as session:
        for q in queries:
            ms, result = _timed(session, _after, q, repeat)
            if result != before[q][1]:
                raise SystemExit(f"{q!r}: the indexed search found other requests than before")
            count, more = result[1]
            out.append((q, count, more, before[q][0], ms))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100_000, help="requests (default 100,000)")
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    os.environ.setdefault("LIYUAN_SCHEDULER", "external")
    folder = ROOT / "bench" / ".cache" / f"search-{args.n}"
    if not (folder / "ready").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copy(scale.build(1000, reuse=True) / "audit.db", folder / "audit.db")
        grow(f"sqlite:///{folder / 'audit.db'}", args.n)
        (folder / "ready").write_text("grown\n")
    results = {}
    if args.db in ("sqlite", "both"):
        results["SQLite"] = measure(f"sqlite:///{folder / 'audit.db'}", args.repeat)
    if args.db in ("postgresql", "both"):
        results["PostgreSQL"] = measure(scale.copy_to_postgres(folder, args.n), args.repeat)
    print(f"\n{args.n:,} requests: page (51) + capped count, median ms of {args.repeat}; same results before and after")
    print(f"{'query':<16}{'finds':>8}" + "".join(f"{d + ' before':>20}{d + ' after':>18}" for d in results))
    for i, (q, count, more, _b, _a) in enumerate(next(iter(results.values()))):
        cells = "".join(f"{rows[i][3]:>20.1f}{rows[i][4]:>18.1f}" for rows in results.values())
        print(f"{q:<16}{str(count) + ('+' if more else ''):>8}" + cells)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
