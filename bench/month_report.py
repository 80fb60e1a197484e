"""The month page at scale: ``GET /reports?month=…`` over N requests spread across twelve months, on SQLite
and PostgreSQL (issue 15: under 1 s at 100,000 requests).

The requests are not run through the engine (100,000 lifecycles would take hours here): their projection
rows — ``instances`` (an empty state), ``requests`` and ``sla_clocks``, the only tables the month page
reads — are bulk-inserted with SQL, shaped like the real ones: types a–g, both channels, 70 % closed
within 1–72 hours, a third rated (resident or 回访), 5 % paid services, a 响应 clock on every request
(15 % breached), a 线上受理 clock on online ones and a 一般问题解决 clock on repairs; two thirds handed to
a department; four 物业助理 steps per request (ready → completed) in ``step_timings``, for the slowest steps.
The real diagrams are deployed, so the deadlines are the registry's. On PostgreSQL the load is followed by
``VACUUM ANALYZE`` (what autovacuum does soon after); SQLite gets no ANALYZE.

It prints the rows seeded, then the page's time — the first request (the month's figures computed) and
the best and median of ``--runs`` requests after it (the figures then come from the cache keyed by month,
department and data watermark; the rest of the page is computed each time) — the workbook export's and a
工程部主管's month (``department=engineering``), per database: wall time and this process's CPU time (on
PostgreSQL the server's time is outside the process) and the slowest steps' aggregate alone, with the load
average before and after, since the
machine it runs on is shared. ``python bench/month_report.py -n 100000``; add
``--skip-postgres`` when no PostgreSQL listens on 127.0.0.1:5432 (user postgres, trust auth).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from engine import helpdesk, identity, repository  # noqa: E402
from engine.core import clock, config, db, migrate  # noqa: E402
from engine.core.tables import Instance, ProcessVersion, SlaClock, StepTiming  # noqa: E402
from engine.helpdesk import intake, slow_steps  # noqa: E402
from engine.helpdesk.tables import HelpRequest  # noqa: E402
from engine.repository import bundle  # noqa: E402

MONTH = "2026-11"
WARM_UP = "2026-10"  # requested once before the timed month: templates, registry, query plans
FIRST = dt.datetime(2025, 12, 1, tzinfo=clock.SHANGHAI).astimezone(dt.UTC)
LAST = dt.datetime(2026, 12, 1, tzinfo=clock.SHANGHAI).astimezone(dt.UTC)
PASSWORD = "bench-password-1"
WORDS = ["厨房水管漏水", "楼道灯不亮", "电梯故障困人", "邻居噪音投诉", "停车位咨询", "门禁卡失灵", "下水道堵塞",
         "物业费怎么交", "窗户玻璃破裂", "老人需要送医"]
BATCH = 5000
# the 物业助理's steps every request goes through, with how long each waits (minutes, uniform): step_timings
STEPS = (("record_hotline", "热线求助记录", 1, 20), ("assess", "初步评估与定级", 2, 90), ("handover", "转交", 1, 30),
         ("take_job", "接单", 5, 240))
# where requests are handed (None: the 客服部 keeps it), for the per-department figures
DEPARTMENTS = (None, None, "engineering", "engineering", "security", "cleaning")


def _rows(n: int, version_id: int, rng: random.Random):
    span = (LAST - FIRST).total_seconds()
    cats = list(intake.CATEGORIES)
    for _ in range(n):
        iid = str(uuid.uuid4())
        created = FIRST + dt.timedelta(seconds=rng.random() * span)
        closed = created + dt.timedelta(hours=rng.uniform(1, 72)) if rng.random() < 0.7 else None
        channel = "online" if rng.random() < 0.4 else "hotline"
        category = rng.choices(cats, weights=[1, 40, 8, 25, 3, 1, 22])[0]
        rated = closed is not None and rng.random() < 0.45
        instance = dict(id=iid, process_id="help_request", version_id=version_id,
                        status="completed" if closed else "running", revision=1, state="{}", state_fingerprint="-",
                        started_by="bench", started_at=created, updated_at=closed or created, completed_at=closed)
        unit = rng.randrange(2000)
        request = dict(instance_id=iid, channel=channel, caller_name="住户", phone=f"139{rng.randrange(20000):08d}",
                       address=f"{unit // 100 + 1}栋{unit % 100}室", building=f"{unit // 100 + 1}栋",
                       description=rng.choice(WORDS), category=category, priority="P3",
                       status="closed" if closed else "open", created_at=created, updated_at=closed or created,
                       closed_at=closed, satisfaction=rng.randint(1, 5) if rated else None,
                       rating_source=rng.choice(("resident", "callback")) if rated else None,
                       paid_cents=rng.choice((5000, 8000, 2000)) if rng.random() < 0.05 else None,
                       department=rng.choice(DEPARTMENTS))
        clocks = [("response", 30)] + ([("ack_online", 15)] if channel == "online" else []) \
            + ([("resolve_ordinary", 24 * 60)] if category == "b" else [])
        clock_rows = []
        for key, minutes in clocks:
            due = created + dt.timedelta(minutes=minutes)
            late = rng.random() < 0.15
            settled = due if late else created + dt.timedelta(minutes=rng.uniform(1, minutes))
            status = "armed" if closed is None and settled > LAST else "breached" if late else "met"
            clock_rows.append(dict(instance_id=iid, timer_task_id=str(uuid.uuid4()), sla_key=key,
                                   element_id=f"timer_{key}", guarded_task_id=None, guarded_element_id="work",
                                   status=status, armed_at=created, due_at=due,
                                   met_at=settled if status == "met" else None,
                                   breached_at=due if status == "breached" else None))
        steps, at = [], created
        for element_id, name, low, high in STEPS:
            done = at + dt.timedelta(minutes=rng.uniform(low, high))
            if done >= LAST:
                break
            steps.append(dict(id=str(uuid.uuid4()), instance_id=iid, process_id="help_request", element_id=element_id,
                              name=name, lane="物业助理", ready_at=at, completed_at=done,
                              seconds=(done - at).total_seconds(), completed_by="bench"))
            at = done
        yield instance, request, clock_rows, steps


def seed(url: str, n: int) -> dict[str, int]:
    helpdesk.install()  # as every entry point does: the dry run at deploy starts the help desk's sample requests
    migrate.upgrade(url)
    with db.transaction(url) as session:
        repository.deploy(session, bundle.read_paths([config.bpmn_dir()]), actor="bench")
        identity.ensure_demo_users(session, PASSWORD)
        version_id = session.scalar(select(ProcessVersion.id).limit(1))
    rng = random.Random(15)
    counts = {"requests": 0, "sla_clocks": 0, "step_timings": 0}
    batch: tuple[list, list, list, list] = ([], [], [], [])
    engine = create_engine(url)

    def flush():
        with engine.begin() as conn:
            conn.execute(insert(Instance.__table__), batch[0])
            conn.execute(insert(HelpRequest.__table__), batch[1])
            if batch[2]:
                conn.execute(insert(SlaClock.__table__), batch[2])
            if batch[3]:
                conn.execute(insert(StepTiming.__table__), batch[3])
        counts["requests"] += len(batch[1])
        counts["sla_clocks"] += len(batch[2])
        counts["step_timings"] += len(batch[3])
        for part in batch:
            part.clear()

    for instance, request, clocks, steps in _rows(n, version_id, rng):
        batch[0].append(instance)
        batch[1].append(request)
        batch[2].extend(clocks)
        batch[3].extend(steps)
        if len(batch[0]) >= BATCH:
            flush()
    if batch[0]:
        flush()
    if url.startswith("postgresql"):  # what autovacuum does soon after a bulk load: statistics, visibility map
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return counts


PAGES = (  # (name, label, who, path)
    ("page", f"month page /reports?month={MONTH}", "cs_supervisor", f"/reports?month={MONTH}"),
    ("xlsx", "workbook export", "cs_supervisor", f"/reports/export.xlsx?month={MONTH}"),
    ("dept", f"工程部主管's month /reports?month={MONTH}&department=engineering", "eng_head",
     f"/reports?month={MONTH}&department=engineering"),
)


def _timed(client, path: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one request; the CPU is this process's (on PostgreSQL the server's work is
    outside it, so wall − CPU there is mostly the server plus waiting for a core)."""
    t0, c0 = time.perf_counter(), time.process_time()
    res = client.get(path)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert res.status_code == 200, (path, res.status_code)
    return wall, cpu


def time_page(url: str, runs: int) -> dict[str, list[tuple[float, float]]]:
    os.environ["LIYUAN_DATABASE_URL"] = url
    from webapp.app import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    clients = {}
    for who in {who for _n, _l, who, _p in PAGES}:
        clients[who] = app.test_client()
        assert clients[who].post("/login", data={"username": who, "password": PASSWORD}).status_code == 302
    out: dict[str, list[tuple[float, float]]] = {}
    for name, _label, who, path in PAGES:
        # a fresh process's first request also compiles the templates and reads the deadline registry
        # (~0.3 s): done on another month first, so "first" is this month's figures computed, not cached
        _timed(clients[who], path.replace(MONTH, WARM_UP))
        out[name + "_first"] = [_timed(clients[who], path)]  # the figures computed, not yet cached
        out[name] = [_timed(clients[who], path) for _ in range(runs)]
    return out


def time_steps(url: str, runs: int) -> list[tuple[float, float]]:
    """The month's slowest steps (the 常见问题 page's and the workbook's), the SQL aggregate alone: the rest
    of the 常见问题 page is jieba's segmentation of the month's descriptions."""
    out = []
    with db.read_session(url) as session:
        for _ in range(runs + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            assert slow_steps.slowest(session, MONTH)
            out.append((time.perf_counter() - t0, time.process_time() - c0))
    return out


def _ms(pairs: list[tuple[float, float]]) -> str:
    """best / median wall time, and the median CPU time, in ms."""
    walls, cpus = [w for w, _c in pairs], [c for _w, c in pairs]
    return f"{min(walls) * 1000:.0f} / {statistics.median(walls) * 1000:.0f} ms (CPU {statistics.median(cpus) * 1000:.0f} ms)"


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100_000, help="requests over twelve months (default 100000)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite:///{tmp}/bench.db")]
        if not args.skip_postgres:
            admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS liyuan_bench_month"))
                conn.execute(text("CREATE DATABASE liyuan_bench_month"))
            targets.append(("PostgreSQL", "postgresql+psycopg://postgres@127.0.0.1:5432/liyuan_bench_month"))
        for name, url in targets:
            t0 = time.perf_counter()
            counts = seed(url, args.n)
            print(f"{name}: seeded {counts['requests']} requests, {counts['sla_clocks']} SLA clocks, "
                  f"{counts['step_timings']} step timings over 12 months "
                  f"in {time.perf_counter() - t0:.0f} s")
            print(f"  load average (1/5/15 min) before: {_load()}")
            times = time_page(url, args.runs)
            for what, label, _who, _path in PAGES:
                (wall, cpu), = times[what + "_first"]
                print(f"  {label}: first (figures computed) {wall * 1000:.0f} ms (CPU {cpu * 1000:.0f} ms); "
                      f"then best / median {_ms(times[what])} ({args.runs} runs)")
            steps = time_steps(url, args.runs)
            print(f"  slowest steps of the month (SQL): first {steps[0][0] * 1000:.0f} ms; "
                  f"then best / median {_ms(steps[1:])} ({args.runs} runs)")
            print(f"  load average after: {_load()}")
            engine = db._engines.pop(url, None)
            if engine is not None:
                engine.dispose()
        if not args.skip_postgres:
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS liyuan_bench_month"))


if __name__ == "__main__":
    main()
