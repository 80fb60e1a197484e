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

import engine.helpdesk  # noqa: E402
from engine import repository, runtime, scripting  # noqa: E402
from engine.core import db, migrate  # noqa: E402
from engine.core.tables import TaskRow  # noqa: E402
from engine.repository import bundle  # noqa: E402
from engine.runtime import serialization  # noqa: E402

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


def run_engine(n: int, url: str) -> tuple[float, list[float]]:
    os.environ["LIYUAN_DATABASE_URL"] = url
    steps: list[float] = []
    t0 = time.perf_counter()
    for i in range(n):
        with db.transaction(url) as session:
            iid = runtime.start(session, PROCESS, START, "bench").id
        k = 0
        while True:
            with db.read_session(url) as session:  # what the inbox shows
                task_id = session.scalar(select(TaskRow.id).where(TaskRow.instance_id == iid)
                                         .order_by(TaskRow.ready_at, TaskRow.id).limit(1))
            if task_id is None:
                break
            s = time.perf_counter()
            with db.transaction(url) as session:
                runtime.complete_task(session, iid, task_id, _value(k, i), "bench")
            steps.append(time.perf_counter() - s)
            k += 1
    return time.perf_counter() - t0, steps


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
        totals: dict[str, list] = {name: [0.0, []] for name in variants}
        per_round = max(1, args.n // args.rounds)
        for _ in range(args.rounds):
            for name, run in variants.items():
                elapsed, steps = run(per_round)
                totals[name][0] += elapsed
                totals[name][1] += steps
        db.dispose_all()
    done = per_round * args.rounds
    floor_rate = done / totals["floor"][0]
    stock_rate = done / totals["floor/stock"][0]
    print(f"{done} lifecycles per variant of {PROCESS} (9 user tasks, 2 XOR gateways, AND split/join, "
          f"call activity), {args.rounds} interleaved rounds")
    print(f"{'variant':<20}{'lifecycles/s':>14}{'step p50 ms':>13}{'step p95 ms':>13}{'vs floor':>10}"
          f"{'vs stock':>10}")
    for name, (elapsed, steps) in totals.items():
        rate = done / elapsed
        print(f"{name:<20}{rate:>14.1f}{_pct(steps, 50):>13.2f}{_pct(steps, 95):>13.2f}{rate / floor_rate:>10.2f}"
              f"{rate / stock_rate:>10.2f}")
    print("floor: the engine's own spec-less serialize/deserialize per step (like for like); goals: "
          "engine/sqlite >= 0.8x, engine/postgresql >= 0.5x of it")
    if pg:
        import psycopg

        from tests import postgres_status

        with psycopg.connect(postgres_status.URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "liyuan_bench_{os.getpid()}" WITH (FORCE)')


def _bound(fn, url):
    return lambda n: fn(n, url)


if __name__ == "__main__":
    main()
