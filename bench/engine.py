"""Lifecycle benchmark: what our durable engine costs over SpiffWorkflow itself.

One run measures, on the same process (9 user tasks, two exclusive gateways, a parallel split/join, a call
activity with a script), N complete lifecycles three ways:

  memory   SpiffWorkflow in memory: the library's own speed, no persistence;
  floor    SpiffWorkflow with a serialize/deserialize round trip per step through the engine's own
           serializer (``engine.runtime.serialization``: spec-less state, specs from the pinned version):
           the same workflow work the engine does per step, minus the database. Ratios are against it;
  floor/stock  the same round trip with SpiffWorkflow's stock serializer, which embeds the specs in every
           blob (what a durable deployment of the library pays out of the box): a second row, for scale;
  engine   our engine: one transaction per step (load, check revision, validate the form, run,
           serialize, projections, hash-chained audit events, commit) on SQLite, and on PostgreSQL
           when reachable.

It prints lifecycles/s, per-step p50/p95 and each variant's throughput against both floors. Figures are only
comparable within one run on one machine; run `make bench` (or `python bench/engine.py -n 200`).

``--breakdown`` then runs more engine lifecycles per database with every phase of the commit path timed
(:mod:`bench.phases`: self times, so the parts add up to the whole) and prints where one step's time goes —
SpiffWorkflow's own work, validation, the projections, the audit chain and Merkle seal, the SQL statements
(count per step by kind, time in execute), the COMMIT and what is left to SQLAlchemy and glue — beside the
floor's step measured in the same run, and the plain (uninstrumented) engine step for the wrappers' cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import engine.helpdesk  # noqa: E402
from bench.phases import Phases  # noqa: E402
from engine import repository, runtime, scripting  # noqa: E402
from engine.audit import history, tree  # noqa: E402
from engine.core import db, migrate  # noqa: E402
from engine.core.tables import TaskRow  # noqa: E402
from engine.repository import bundle  # noqa: E402
from engine.runtime import instances, listeners, serialization, store, task_rows, timer_rows  # noqa: E402
from engine.runtime import steps as runtime_steps  # noqa: E402

engine.helpdesk.install()  # an entry point: the help desk plugs into the runtime

HERE = Path(__file__).resolve().parent
PROCESS = "bench_lifecycle"
START = {"channel": "hotline", "caller_name": "基准", "phone": "13800000000", "address": "1栋101", "description": "x"}


def _value(step: int, lifecycle: int) -> dict:
    return {"value": 150 if (lifecycle + step) % 2 else 42, "note": f"step {step}"}


def _parse():
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(HERE / "bpmn" / f"{PROCESS}.bpmn"))
    return parser.get_spec(PROCESS), parser.get_subprocess_specs(PROCESS)


def _ready(wf):
    return [t for t in wf.get_tasks(state=TaskState.READY, manual=True)]


def run_memory(n: int) -> tuple[float, list[float]]:
    spec, subs = _parse()
    steps: list[float] = []
    t0 = time.perf_counter()
    for i in range(n):
        wf = BpmnWorkflow(spec, subs, script_engine=scripting.script_engine())
        wf.task_tree.data.update(START)
        wf.do_engine_steps()
        k = 0
        while (ready := _ready(wf)):
            s = time.perf_counter()
            task = ready[0]
            task.data.update(_value(k, i))
            task.run()
            wf.do_engine_steps()
            steps.append(time.perf_counter() - s)
            k += 1
        assert wf.is_completed()
    return time.perf_counter() - t0, steps


def run_floor(n: int) -> tuple[float, list[float]]:
    """The like-for-like floor: the engine's spec-less dumps/loads, the specs handed in as the engine does."""
    spec, subs = _parse()
    return _round_trips(n, spec, subs, serialization.dumps, lambda state: serialization.loads(state, spec, subs))


def run_floor_stock(n: int) -> tuple[float, list[float]]:
    """The stock floor: SpiffWorkflow's own serializer, specs embedded in every blob."""
    spec, subs = _parse()
    ser = serialization.full_serializer()
    return _round_trips(n, spec, subs, ser.serialize_json, ser.deserialize_json)


def _round_trips(n: int, spec, subs, dump, load) -> tuple[float, list[float]]:
    steps: list[float] = []
    t0 = time.perf_counter()
    for i in range(n):
        wf = BpmnWorkflow(spec, subs, script_engine=scripting.script_engine())
        wf.task_tree.data.update(START)
        wf.do_engine_steps()
        state = dump(wf)
        k = 0
        while True:
            s = time.perf_counter()
            wf = load(state)
            wf.script_engine = scripting.script_engine()
            ready = _ready(wf)
            if not ready:
                break
            task = ready[0]
            task.data.update(_value(k, i))
            task.run()
            wf.do_engine_steps()
            state = dump(wf)
            steps.append(time.perf_counter() - s)
            k += 1
        assert wf.is_completed()
    return time.perf_counter() - t0, steps


def setup_engine(url: str) -> str:
    migrate.upgrade(url)
    src = bundle.read_paths([HERE / "bpmn", HERE / "forms"], default_forms=False)
    with db.transaction(url) as session:
        repository.deploy(session, src, actor="bench")
    return url


def run_engine(n: int, url: str, phases: Phases | None = None) -> tuple[float, list[float]]:
    os.environ["LIYUAN_DATABASE_URL"] = url
    step_times: list[float] = []
    t0 = time.perf_counter()
    for i in range(n):
        if phases is None:
            _lifecycle(url, i, step_times, None)
        else:
            phases.timed(_lifecycle, OTHER)(url, i, step_times, phases)
    return time.perf_counter() - t0, step_times


def _next_task(url: str, iid: str):
    with db.read_session(url) as session:  # what the inbox shows
        return session.scalar(select(TaskRow.id).where(TaskRow.instance_id == iid)
                              .order_by(TaskRow.ready_at, TaskRow.id).limit(1))


def _lifecycle(url: str, i: int, step_times: list[float], phases: Phases | None) -> None:
    with db.transaction(url) as session:
        iid = runtime.start(session, PROCESS, START, "bench").id
    k = 0
    while True:
        task_id = _next_task(url, iid) if phases is None else phases.timed(_next_task, INBOX)(url, iid)
        if task_id is None:
            break
        s = time.perf_counter()
        if phases is not None:
            phases.counting = True  # the statements of the complete transactions alone
        with db.transaction(url) as session:
            runtime.complete_task(session, iid, task_id, _value(k, i), "bench")
        if phases is not None:
            phases.counting = False
        step_times.append(time.perf_counter() - s)
        k += 1


# --- --breakdown: where one step's time goes ---------------------------------------------------------------

SPIFF = ("SpiffWorkflow deserialize", "SpiffWorkflow run", "SpiffWorkflow serialize")
OTHER = "SQLAlchemy sessions/connections, bench loop, other glue"
INBOX = "bench loop: next task (inbox SELECT), Python"
SQL = "SQL statements: execute (driver + database)"
# (owner, attribute, label): the commit path's phases. Self times: a phase's SQL is counted under SQL.
BREAKDOWN = [
    (serialization, "loads", SPIFF[0]), (runtime_steps, "new_workflow", SPIFF[1]),
    (runtime_steps, "run", SPIFF[1]), (runtime_steps, "complete", SPIFF[1]), (serialization, "dumps", SPIFF[2]),
    (instances, "validate_task_data", "form validation"),
    (instances, "_snapshot", "step bookkeeping (snapshot, effects, fingerprint)"),
    (instances, "_effects", "step bookkeeping (snapshot, effects, fingerprint)"),
    (instances, "state_fingerprint", "step bookkeeping (snapshot, effects, fingerprint)"),
    (repository, "load", "pinned version (cached), Python"),
    (store, "load", "instance row: load + revision-checked write, Python"),
    (store, "write", "instance row: load + revision-checked write, Python"),
    (task_rows, "sync", "projections (tasks, timers, request row), Python"),
    (timer_rows, "sync", "projections (tasks, timers, request row), Python"),
    (listeners, "write_projections", "projections (tasks, timers, request row), Python"),
    (history, "append_all", "audit chain: hashes, event rows, listeners, Python"),
    (Session, "flush", "SQLAlchemy ORM flush"),
]
SEAL = "Merkle leaves + tree head (tree.seal), Python"


def breakdown(n: int, url: str) -> tuple[Phases, int, float]:
    """``n`` instrumented lifecycles on ``url``: (phases, steps, seconds)."""
    phases = Phases()
    phases.counting = False  # run_engine counts the complete transactions' statements
    for owner, name, label in BREAKDOWN:
        phases.wrap(owner, name, label)
    phases.wrap_in_list(db._before_commit, tree.seal, SEAL)
    phases.sql(db.get_engine(url), SQL)
    try:
        elapsed, step_times = run_engine(n, url, phases)
    finally:
        phases.restore()
    return phases, len(step_times), elapsed


def print_breakdown(name: str, phases: Phases, steps_done: int, lifecycles: int, plain_step: float,
                    floor_step: float) -> None:
    per = 1000 / steps_done
    total = sum(phases.self_wall.values()) * per
    print(f"\n{name}: where one step's time goes ({lifecycles} instrumented lifecycles, {steps_done} steps; "
          f"each lifecycle's start and inbox reads spread over its steps, as lifecycles/s counts them)")
    print(f"  instrumented {total:.2f} ms per step; plain (same run) {plain_step * 1000:.2f} ms; "
          f"floor {floor_step * 1000:.2f} ms -> ratio {floor_step * 1000 / total:.2f} instrumented, "
          f"{floor_step / plain_step:.2f} plain")
    print(f"  {'part':<58}{'ms/step':>9}{'cpu ms':>9}{'share':>7}")
    labels = [*SPIFF, *(lbl for lbl in phases.self_wall if lbl not in SPIFF)]
    spiff = 0.0
    for label in labels:
        wall, cpu = phases.self_wall[label] * per, phases.self_cpu[label] * per
        print(f"  {label:<58}{wall:>9.3f}{cpu:>9.3f}{wall / total:>7.0%}")
        if label in SPIFF:
            spiff += wall
            if label == SPIFF[-1]:
                print(f"  {'= SpiffWorkflow work in the engine (floor: ' + f'{floor_step * 1000:.3f} ms)':<58}"
                      f"{spiff:>9.3f}{'':>9}{spiff / total:>7.0%}")
    print(f"  {'total':<58}{total:>9.3f}{sum(phases.self_cpu.values()) * per:>9.3f}")
    counted = sum(phases.statements.values())
    print(f"  statements per complete step: {counted / steps_done:.1f} — "
          + ", ".join(f"{kind} {count / steps_done:.2f}" + (" (executemany)" if phases.executemany[kind] else "")
                      for kind, count in phases.statements.most_common()))


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000 if len(values) > 1 else 0.0


def _postgres_url() -> str | None:
    from tests import postgres_status

    if postgres_status.reachable() is not None:
        return None
    import psycopg

    name = f"liyuan_bench_{os.getpid()}"
    with psycopg.connect(postgres_status.URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="lifecycles per variant (default 200)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="variants take turns in this many rounds, so a busy machine slows them alike")
    ap.add_argument("--breakdown", action="store_true",
                    help="then time every phase of the engine's step on each database (n/2 lifecycles more)")
    args = ap.parse_args()
    run_memory(5)  # warm caches (imports, compiled scripts)
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"memory": run_memory, "floor": run_floor, "floor/stock": run_floor_stock,
                    "engine/sqlite": _bound(run_engine, setup_engine(f"sqlite:///{tmp}/bench.db"))}
        pg = _postgres_url()
        if pg:
            variants["engine/postgresql"] = _bound(run_engine, setup_engine(pg))
        else:
            print("PostgreSQL not reachable: engine/postgresql skipped")
        totals: dict[str, list] = {name: [0.0, [], 0.0] for name in variants}  # wall s, step times, CPU s
        per_round = max(1, args.n // args.rounds)
        for _ in range(args.rounds):
            for name, run in variants.items():
                cpu = time.process_time()
                elapsed, steps = run(per_round)
                totals[name][2] += time.process_time() - cpu
                totals[name][0] += elapsed
                totals[name][1] += steps
        broken_down = {}
        if args.breakdown:
            for name, run in variants.items():
                if name.startswith("engine/"):
                    url = run.url
                    broken_down[name] = (*breakdown(max(1, args.n // 2), url), max(1, args.n // 2))
        db.dispose_all()
    done = per_round * args.rounds
    floor_rate = done / totals["floor"][0]
    stock_rate = done / totals["floor/stock"][0]
    print(f"{done} lifecycles per variant of {PROCESS} (9 user tasks, 2 XOR gateways, AND split/join, "
          f"call activity), {args.rounds} interleaved rounds")
    print(f"{'variant':<20}{'lifecycles/s':>14}{'step p50 ms':>13}{'step p95 ms':>13}{'vs floor':>10}"
          f"{'vs stock':>10}{'cpu ms/step':>13}")
    for name, (elapsed, steps, cpu) in totals.items():
        rate = done / elapsed
        print(f"{name:<20}{rate:>14.1f}{_pct(steps, 50):>13.2f}{_pct(steps, 95):>13.2f}{rate / floor_rate:>10.2f}"
              f"{rate / stock_rate:>10.2f}{cpu / len(steps) * 1000:>13.3f}")
    print("floor: the engine's own spec-less serialize/deserialize per step (like for like); goals: "
          "engine/sqlite >= 0.8x, engine/postgresql >= 0.5x of it; cpu ms/step: this process's CPU (not "
          "PostgreSQL's) per step, the lifecycle's start and inbox reads included")
    floor_step = totals["floor"][0] / len(totals["floor"][1])
    for name, (phases, steps_done, _elapsed, lifecycles) in broken_down.items():
        plain_step = totals[name][0] / len(totals[name][1])
        print_breakdown(name, phases, steps_done, lifecycles, plain_step, floor_step)
    if pg:
        import psycopg

        from tests import postgres_status

        with psycopg.connect(postgres_status.URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "liyuan_bench_{os.getpid()}" WITH (FORCE)')


def _bound(fn, url):
    def run(n):
        return fn(n, url)
    run.url = url
    return run


if __name__ == "__main__":
    main()
