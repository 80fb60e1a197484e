"""Timer benchmark: punctuality, backlog drain and exactly-once firing under load.

Two backlogs are fired. The real one: hotline calls of the real procedure ``help_request`` (bpmn/), each
started through the engine as the hotline page does (``help_requests.start``), left alone during a simulated
3-hour outage so that each one's 30-minute response SLA timer (``b_resp``, the escalation to the supervisor)
is past due when the scheduler starts; its 24-hour clock stays armed. The toy: the one-timer fixture process
``mini_tick`` (start -> timer catch event on ``wake_at`` -> end) from tests/fixtures/bpmn, kept as a second
row. Each instance is started through the engine (runtime.start, batches of 500 per
transaction); every firing goes through the full commit path (one instance transaction: load, refresh
timers, run, serialize, projections, hash-chained audit event). Real wall-clock time throughout; the
scheduler is the real APScheduler tick.

  punctual  N timers due spread over one minute, fired by the in-process scheduler while idle:
            lateness p50 / p99 / max (from the audit payloads), and every one fired exactly once.
  backlog   N timers that came due during a simulated 10-minute outage (all due in the past when the
            scheduler starts): time to drain, timers/s.
  two-procs (PostgreSQL) N past-due timers drained by two ``liyuan scheduler`` processes at once:
            timers/s and double firings (must be 0).
  sla       the real backlog (``--sla-n`` calls) drained by one scheduler; on PostgreSQL also by two
            ``liyuan scheduler`` processes: firings/s, exactly once, oldest first.
  floor     the same firing in SpiffWorkflow alone, with the stock serialize/deserialize round trip and no
            database (deserialize, refresh timers, run, serialize): what any durable SpiffWorkflow
            deployment pays per firing. Measured just before and just after each drain and averaged, so
            the drain rates are also printed as a ratio to it ("vs floor"), comparable across runs on a
            busier or quieter machine.

    python bench/timers.py                      # SQLite, and PostgreSQL when LIYUAN_BENCH_PG is reachable
    python bench/timers.py -n 2000 --only sqlite
    python bench/timers.py --only sqlite --skip punctual --skip backlog --profile   # where a real firing's time goes

Every row is printed with the load average at its start (``os.getloadavg()``): the machine is shared.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

import engine.helpdesk  # noqa: E402
from engine import identity, repository, runtime, timers  # noqa: E402
from engine.core import clock, config, db, migrate  # noqa: E402
from engine.core.tables import AuditEvent, Timer  # noqa: E402
from engine.helpdesk import help_requests  # noqa: E402
from engine.repository import bundle  # noqa: E402
from engine.timers import firing, scheduler  # noqa: E402

engine.helpdesk.install()  # an entry point: the help desk plugs into the runtime

PG_ADMIN = os.environ.get("LIYUAN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def fresh_database(kind: str, *, procedure: bool = False) -> str:
    """A migrated database with the fixture processes deployed, or (``procedure``) the real procedure and
    its staff."""
    if kind == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='liyuan-bench-')}/bench.db"
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS liyuan_bench_timers WITH (FORCE)")
            conn.execute("CREATE DATABASE liyuan_bench_timers")
        url = "postgresql+psycopg://" + PG_ADMIN.split("://", 1)[1].rsplit("/", 1)[0] + "/liyuan_bench_timers"
    migrate.upgrade(url)
    os.environ["LIYUAN_DATABASE_URL"] = url
    fixtures = ROOT / "tests" / "fixtures"
    with db.transaction(url) as session:
        if procedure:
            repository.deploy(session, bundle.read_paths([config.bpmn_dir()]), actor="bench")
            identity.ensure_demo_users(session, None)
        else:
            repository.deploy(session, bundle.read_paths([fixtures / "bpmn", fixtures / "forms"],
                                                         default_forms=False), actor="bench")
    return url


PROBLEMS = ("厨房水管漏水", "楼道灯不亮", "电梯异响", "门禁卡失灵")
ROWS: list[tuple] = []  # the summary table: (database, backlog, pollers, n, firings/s, floor, load)


def calls_before_outage(url: str, n: int, outage: dt.timedelta = dt.timedelta(hours=3)) -> None:
    """``n`` hotline calls recorded ``outage`` ago (clock frozen there), nobody acting on them since: each
    one's response timer (30 minutes) is past due, its resolution clock (24 hours) is not."""
    clock.freeze(clock.now() - outage)
    try:
        for first in range(0, n, 200):
            with db.transaction(url) as session:
                actor = identity.get_user(session, "assistant")
                for i in range(first, min(n, first + 200)):
                    help_requests.start(session, "help_request", "hotline", {
                        "caller_name": f"住户{i}", "phone": f"139{i:08d}", "address": f"{i % 30 + 1}栋{i % 6 + 1}单元101",
                        "description": f"第{i}号来电：{PROBLEMS[i % 4]}", "category": "b" if i % 3 else None}, actor)
    finally:
        clock.reset()


def past_due(url: str) -> int:
    with db.read_session(url) as session:
        return session.scalar(select(func.count()).select_from(Timer).where(Timer.due_at <= clock.now()))


def wait_past_due_fired(url: str, timeout: float) -> float:
    started = time.perf_counter()
    while past_due(url) and time.perf_counter() - started < timeout:
        time.sleep(0.1)
    return time.perf_counter() - started


def sla(kind: str, n: int) -> None:
    """The real backlog, one scheduler (in this process)."""
    url = fresh_database(kind, procedure=True)
    calls_before_outage(url, n)
    due = past_due(url)
    elapsed, floor, load = measured(url, one_scheduler, wait_past_due_fired)
    _report_sla(kind, url, n, due, elapsed, floor, load, "one scheduler")


def sla_two_processes(n: int) -> None:
    url = fresh_database("postgresql", procedure=True)
    calls_before_outage(url, n)
    due = past_due(url)
    elapsed, floor, load = measured(url, two_schedulers, wait_past_due_fired)
    _report_sla("postgresql", url, n, due, elapsed, floor, load, "two liyuan scheduler processes (incl. start-up)")


def measured(url: str, schedulers, wait) -> tuple[float, float, float]:
    """The drain's seconds, the floor measured just before and just after it, and the load average at its
    start."""
    load = os.getloadavg()[0]
    before = floor_rate()
    elapsed = schedulers(url, wait)
    return elapsed, (before + floor_rate()) / 2, load


def one_scheduler(url: str, wait) -> float:
    """Run the scheduler in this process until ``wait(url, timeout=…)`` returns; its seconds."""
    service = scheduler.TimerScheduler(url).start()
    try:
        return wait(url, timeout=3600)
    finally:
        service.stop()


def two_schedulers(url: str, wait) -> float:
    """Run two ``liyuan scheduler`` processes until ``wait(url, timeout=…)`` returns; its seconds (start-up
    included)."""
    env = {**os.environ, "LIYUAN_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "webapp.cli", "scheduler"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        return wait(url, timeout=3600)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)


def _report_sla(kind, url, n, due, elapsed, floor, load, who) -> None:
    fired = firings(url)
    once, doubles = exactly_once(url, n)
    by_element = Counter(f["element_id"] for f in fired)
    in_order = _oldest_first(fired)
    rate = len(fired) / elapsed
    print(f"[{kind}] real SLA backlog: {n} hotline calls, {due} timers past due after a 3-hour outage, fired "
          f"{len(fired)} ({dict(by_element)}) in {elapsed:.1f}s = {rate:.0f} firings/s ({who}); exactly once {once}, "
          f"double firings {doubles}, oldest first: {in_order}; load {load:.1f}")
    print(f"[{kind}]   floor {floor:.0f} firings/s; drain vs floor {rate / floor:.2f}")
    ROWS.append((kind, "help_request SLA", who.split(" (")[0], len(fired), rate, floor, load))


def _oldest_first(fired: list[dict]) -> bool:
    fired = sorted(fired, key=lambda f: f["fired_at"])
    return all(a["due_at"] <= b["due_at"] for a, b in zip(fired, fired[1:], strict=False))


def profile_sla(kind: str, n: int = 300, top: int = 30) -> None:
    """cProfile over ``n`` real SLA firings (one poller, no scheduler thread), per firing."""
    url = fresh_database(kind, procedure=True)
    calls_before_outage(url, n + 20)
    poller = firing.Poller(url, batch=n)
    assert poller.is_active()
    for claimed in poller.claim(limit=20):  # warm caches: the version's specs, compiled statements
        poller.fire(claimed)
    profiler = cProfile.Profile()
    profiler.enable()
    stats = poller.run_due()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(f"[{kind}] cProfile of {stats.fired} real SLA firings (b_resp escalations), cumulative seconds "
          f"(divide by {stats.fired} for one firing):")
    print(out.getvalue())


def create(url: str, dues: list[dt.datetime]) -> float:
    """Start one instance per due time; returns instances/s."""
    started = time.perf_counter()
    for i in range(0, len(dues), 500):
        with db.transaction(url) as session:
            for due in dues[i:i + 500]:
                runtime.start(session, "mini_tick", {"wake_at": due.isoformat()}, "bench")
    return len(dues) / (time.perf_counter() - started)


def create_before_outage(url: str, n: int) -> None:
    """Instances started 11 minutes ago (clock frozen there), their timers due 10 to 9 minutes ago:
    the system was down since."""
    real = clock.now()
    clock.freeze(real - dt.timedelta(minutes=11))
    try:
        create(url, [real - dt.timedelta(minutes=10) + dt.timedelta(seconds=60 * i / n) for i in range(n)])
    finally:
        clock.reset()


def firings(url: str) -> list[dict]:
    with db.read_session(url) as session:
        rows = session.execute(select(AuditEvent.chain, AuditEvent.payload).where(AuditEvent.kind == "timer_fired"))
        return [{**json.loads(p), "chain": c} for c, p in rows]


def pending(url: str) -> int:
    with db.read_session(url) as session:
        return session.scalar(select(func.count()).select_from(Timer).where(Timer.instance_id.is_not(None)))


def wait_drained(url: str, timeout: float) -> float:
    started = time.perf_counter()
    while pending(url) and time.perf_counter() - started < timeout:
        time.sleep(0.2)
    return time.perf_counter() - started


def exactly_once(url: str, n: int) -> tuple[int, int]:
    counts = Counter(f["chain"] for f in firings(url))
    return sum(1 for c in counts.values() if c == 1), sum(c - 1 for c in counts.values() if c > 1)


def punctual(kind: str, n: int, window: float) -> None:
    url = fresh_database(kind)
    probe = [clock.now() + dt.timedelta(days=1)] * min(200, n)
    rate = create(url, probe)  # calibrates the creation rate; these wait a day, outside the window
    first = clock.now() + dt.timedelta(seconds=n / rate * 1.4 + 5)
    dues = [first + dt.timedelta(seconds=window * i / n) for i in range(n)]
    create(url, dues)
    lead = (first - clock.now()).total_seconds()
    service = scheduler.TimerScheduler(url).start()
    try:
        time.sleep(max(0.0, lead))
        wait_drained_window(url, len(probe), timeout=window + 600)
    finally:
        service.stop()
    fired = firings(url)
    late = timers.summarize([f["lateness_ms"] for f in fired])
    once, doubles = exactly_once(url, n)
    print(f"[{kind}] punctual: {n} timers due over {window:.0f}s (created at {rate:.0f}/s, scheduler idle until the first)")
    print(f"[{kind}]   fired {len(fired)}, exactly once {once}, double firings {doubles}")
    print(f"[{kind}]   lateness p50 {late.p50_ms / 1000:.3f}s  p99 {late.p99_ms / 1000:.3f}s  max {late.max_ms / 1000:.3f}s")


def wait_drained_window(url: str, remaining: int, timeout: float) -> None:
    started = time.perf_counter()
    while pending(url) > remaining and time.perf_counter() - started < timeout:
        time.sleep(0.2)


def floor_rate(n: int = 2000) -> float:
    """Firings/s of SpiffWorkflow alone: mini_tick instances whose timer is past due, each taken through
    deserialize → refresh_timers → do_engine_steps → serialize with the stock serializer, no database."""
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

    from engine import scripting
    from engine.runtime import serialization

    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(ROOT / "tests" / "fixtures" / "bpmn" / "mini_tick.bpmn"))
    spec, subs = parser.get_spec("mini_tick"), parser.get_subprocess_specs("mini_tick")
    ser = serialization.full_serializer()
    due = (clock.now() - dt.timedelta(minutes=10)).isoformat()
    states = []
    for _ in range(n):
        wf = BpmnWorkflow(spec, subs, script_engine=scripting.script_engine())
        wf.task_tree.data["wake_at"] = due
        wf.do_engine_steps()  # arms the timer (already past due) and waits
        states.append(ser.serialize_json(wf))
    started = time.perf_counter()
    for state in states:
        wf = ser.deserialize_json(state)
        wf.script_engine = scripting.script_engine()
        wf.refresh_timers()
        wf.do_engine_steps()
        assert wf.is_completed()
        ser.serialize_json(wf)
    return n / (time.perf_counter() - started)


def backlog(kind: str, n: int) -> float:
    url = fresh_database(kind)
    create_before_outage(url, n)
    elapsed, floor, load = measured(url, one_scheduler, wait_drained)
    once, doubles = exactly_once(url, n)
    in_order = _oldest_first(firings(url))
    ROWS.append((kind, "mini_tick toy", "one scheduler", n, n / elapsed, floor, load))
    print(f"[{kind}] backlog after a 10-minute outage: {n} timers drained in {elapsed:.1f}s = {n / elapsed:.0f} timers/s "
          f"(one scheduler); exactly once {once}, double firings {doubles}, oldest first: {in_order}")
    print(f"[{kind}]   floor (SpiffWorkflow + serializer round trip, no database) {floor:.0f} firings/s; "
          f"drain vs floor {n / elapsed / floor:.2f}")
    return floor


def two_processes(n: int) -> None:
    url = fresh_database("postgresql")
    create_before_outage(url, n)
    elapsed, floor, load = measured(url, two_schedulers, wait_drained)
    once, doubles = exactly_once(url, n)
    print(f"[postgresql] two scheduler processes: {n} past-due timers drained in {elapsed:.1f}s "
          f"(including start-up) = {n / elapsed:.0f} timers/s; exactly once {once}, double firings {doubles}")
    print(f"[postgresql]   floor {floor:.0f} firings/s (one core); drain vs floor {n / elapsed / floor:.2f}")
    ROWS.append(("postgresql", "mini_tick toy", "two liyuan scheduler processes", n, n / elapsed, floor, load))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--sla-n", type=int, default=3000, help="hotline calls in the real SLA backlog")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["punctual", "backlog", "two-procs", "sla", "sla-two-procs"])
    parser.add_argument("--profile", action="store_true", help="cProfile real SLA firings (SQLite) and print")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    print(f"bench/timers.py -n {args.n} --sla-n {args.sla_n} on {os.cpu_count()} CPUs, {dt.date.today()}, "
          f"load average {os.getloadavg()}")
    for kind in kinds:
        if kind == "postgresql" and not _pg_reachable():
            print("[postgresql] unreachable, skipped")
            continue
        if "sla" not in args.skip:
            sla(kind, args.sla_n)
        if kind == "postgresql" and "sla-two-procs" not in args.skip:
            sla_two_processes(args.sla_n)
        if "punctual" not in args.skip:
            punctual(kind, args.n, args.window)
        if "backlog" not in args.skip:
            backlog(kind, args.n)
        if kind == "postgresql" and "two-procs" not in args.skip:
            two_processes(args.n)
        db.dispose_all()
    if args.profile:
        profile_sla(kinds[0])
    if ROWS:
        print(f"\n| database | backlog | pollers | firings | firings/s | floor/s | vs floor | load |\n|{'---|' * 8}")
        for kind, what, who, fired, rate, floor, load in ROWS:
            print(f"| {kind} | {what} | {who} | {fired} | {rate:.0f} | {floor:.0f} | {rate / floor:.2f} | {load:.1f} |")
        print(f"goal: real SLA backlog >= 1,000 firings/s on SQLite; load average now {os.getloadavg()}")
    return 0


def _pg_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
