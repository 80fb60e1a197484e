"""CPU per API call kind, in-process (Flask's test client, no sockets): what one call of each kind costs the
server, measured with ``time.process_time`` over many calls, so a busy machine disturbs it less than
wall-clock rates. Used to prove each cheaper step of issue 16 item 3 before and after (run it on both trees).

Same fixture as ``bench/http_lifecycle.py`` (the bench process in the 物业助理 lane, a fresh home).
Run: ``python bench/api_calls_cpu.py -n 20 --db sqlite postgresql``.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _http_bench():
    spec = importlib.util.spec_from_file_location("http_lifecycle", HERE / "http_lifecycle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(url: str, n: int, hl, statements: dict | None = None) -> dict[str, float]:
    """CPU ms per call kind; with ``statements`` (a dict), also fill it with kind -> {statement kind: count
    per call} (counted in a separate pass after the timed one, so counting costs the figures nothing)."""
    tmp = Path(tempfile.mkdtemp())
    os.environ.update(hl.make_home(tmp, url, 1))
    from engine.core import db
    from webapp.app import create_app

    client = create_app().test_client()
    token = client.post("/api/v1/auth/token", json={"username": "bench0", "password": hl.PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    cpu: dict[str, float] = {}
    count: dict[str, int] = {}

    def call(kind, method, path, body=None):
        c0 = time.process_time()
        response = client.open(path, method=method, json=body, headers=headers)
        cpu[kind] = cpu.get(kind, 0.0) + time.process_time() - c0
        count[kind] = count.get(kind, 0) + 1
        assert response.status_code in (200, 201), response.data[:300]
        return response.get_json()

    def lifecycle():
        iid = call("start", "POST", f"/api/v1/processes/{hl.PROCESS}/instances", hl.START)["instance_id"]
        for step in range(hl.TASKS_PER_LIFECYCLE):
            task = [t for t in call("list", "GET", "/api/v1/tasks")["tasks"] if t["instance_id"] == iid][0]
            call("get", "GET", f"/api/v1/tasks/{task['id']}")
            value = 151 if step == hl.TASKS_PER_LIFECYCLE - 1 else 42
            call("complete", "POST", f"/api/v1/tasks/{task['id']}/complete", {"data": {"value": value}})
        call("instance", "GET", f"/api/v1/instances/{iid}")

    for i in range(n + 2):
        if i == 2:  # two warm-up lifecycles
            cpu.clear()
            count.clear()
        lifecycle()
    out = {kind: cpu[kind] * 1000 / count[kind] for kind in cpu}
    if statements is not None:
        from bench.phases import Phases

        phases = Phases()
        phases.sql(db.get_engine(url))
        timed, calls = dict(count), {}
        count.clear()
        plain = call

        def call(kind, *args, **kwargs):  # noqa: F811 - the counting pass
            before = collections.Counter(phases.statements)
            try:
                return plain(kind, *args, **kwargs)
            finally:
                statements.setdefault(kind, collections.Counter()).update(
                    collections.Counter(phases.statements) - before)
                calls[kind] = calls.get(kind, 0) + 1

        try:
            lifecycle()
        finally:
            phases.restore()
        for kind, counted in statements.items():
            statements[kind] = {k: v / calls[kind] for k, v in counted.most_common()}
        count.update(timed)
    db.dispose_all()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20, help="lifecycles (26 calls each) per database")
    ap.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    ap.add_argument("--statements", action="store_true",
                    help="then count the SQL statements of each call kind over one more lifecycle")
    args = ap.parse_args()
    hl = _http_bench()
    kinds = ["start", "list", "get", "complete", "instance"]
    print(f"{'database':<12}" + "".join(f"{k + ' ms':>13}" for k in kinds))
    for name in args.db:
        pg_name = f"liyuan_api_cpu_{os.getpid()}"
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db" if name == "sqlite" else hl._postgres_url(pg_name)
        if url is None:
            print("PostgreSQL not reachable: skipped")
            continue
        counted: dict | None = {} if args.statements else None
        try:
            ms = measure(url, args.n, hl, counted)
        finally:
            if name == "postgresql":
                from engine.core import db

                db.dispose_all()
                hl._drop_postgres(pg_name)
        print(f"{name:<12}" + "".join(f"{ms[k]:>13.2f}" for k in kinds), flush=True)
        for kind in kinds if counted else ():
            per = counted.get(kind, {})
            print(f"  {kind}: {sum(per.values()):.2f} statements per call — "
                  + ", ".join(f"{k} {v:.2f}" for k, v in per.items()))
    print("CPU of this process per call (Flask test client, no HTTP server), after 2 warm-up lifecycles")


if __name__ == "__main__":
    main()
