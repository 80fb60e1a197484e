"""HTTP lifecycle benchmark: a real ``liyuan serve`` (waitress), API clients, server CPU from ``/proc``.

What one run does, per database (SQLite, and PostgreSQL when reachable):

1. a fresh ``LIYUAN_HOME`` holding the bench process (``bench/bpmn/bench_lifecycle.bpmn`` with its user tasks
   put in the 物业助理 lane, so an API user may list and complete them) and its form; ``liyuan init`` migrates
   and deploys it, ``liyuan users add`` creates one 物业助理 per client;
2. the server as production runs it, on a free port: ``liyuan serve`` (waitress, 8 threads), or with
   ``--workers N`` several gunicorn worker processes (PostgreSQL only; see README "多核部署"). Timers are
   off in the server (``LIYUAN_SCHEDULER=external``): the figures are the API's own work;
3. each client signs in once (``POST /api/v1/auth/token``) and then runs lifecycles of one 8-user-task path
   (t1, t2, t3a|t3b, t4 ∥ t5, the call activity's s1, s2, t6; t6 submits an odd value so t7 is skipped)
   over one keep-alive connection. The client shapes:

   18 calls  ``POST /processes/bench_lifecycle/instances`` (start), then per task ``GET /tasks`` (find my
             instance's task) and ``POST /tasks/<id>/complete`` (8 × 2), then ``GET /instances/<id>`` (the
             finished request): 1 + 16 + 1;
   26 calls  the same with ``GET /tasks/<id>`` (the form and data) between list and complete: 1 + 24 + 1;

4. it prints lifecycles/s, p50/p95 per call kind, and the server's CPU (user + system, from
   ``/proc/<pid>/stat`` of the server process and its children) per lifecycle and per task completion (the
   lifecycle's CPU ÷ 8, every call of it included). With one client it also sums the server CPU spent
   inside the complete calls alone (``complete ms``): the completion's own cost.

The floor is measured in the same run (``bench/engine.py``'s like-for-like floor: the engine's own spec-less
serialize/deserialize round trip per step, CPU time). ``vs floor`` = floor CPU per step ÷ server CPU per task
completion: 1.0 would be an HTTP server whose whole lifecycle costs no more than the serializer's round trips.

Goals (issue 16): server CPU ≤ 1.5 ms per task completion on SQLite, ≤ 2.5 ms on PostgreSQL.
Run: ``python bench/http_lifecycle.py -n 30`` (``make bench`` runs a small N).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HERE = Path(__file__).resolve().parent
LIYUAN = str(Path(sys.executable).with_name("liyuan"))
PROCESS = "bench_lifecycle"
LANE = "物业助理"
PASSWORD = "bench-password-1"
START = {"channel": "hotline", "caller_name": "基准", "phone": "13800000000", "address": "1栋101",
         "description": "HTTP 基准"}
TASKS_PER_LIFECYCLE = 8
TICK = os.sysconf("SC_CLK_TCK")
engine_bench = None  # bench/engine.py, loaded by main() for the floor


# --- the fixture: a home with the bench process in a lane ---------------------------------------------------

def laned_bpmn() -> str:
    """The bench diagram with each process's user tasks in the 物业助理 lane (a task in no lane is offered
    to nobody through the API)."""
    text = (HERE / "bpmn" / f"{PROCESS}.bpmn").read_text(encoding="utf-8")

    def add_lane(match: re.Match) -> str:
        head, body = match.group(1), match.group(2)
        pid = re.search(r'id="([^"]+)"', head).group(1)
        refs = "".join(f"<bpmn:flowNodeRef>{t}</bpmn:flowNodeRef>"
                       for t in re.findall(r'<bpmn:(?:userTask|startEvent|endEvent|scriptTask|exclusiveGateway|'
                                           r'parallelGateway|callActivity) id="([^"]+)"', body))
        lane = (f'<bpmn:laneSet id="ls_{pid}"><bpmn:lane id="lane_{pid}" name="{LANE}">{refs}</bpmn:lane>'
                f"</bpmn:laneSet>")
        return head + lane + body + "</bpmn:process>"

    return re.sub(r'(<bpmn:process [^>]*>)(.*?)</bpmn:process>', add_lane, text, flags=re.S)


def make_home(tmp: Path, url: str, clients: int) -> dict:
    home = tmp / "home"
    (home / "bpmn").mkdir(parents=True)
    (home / "bpmn" / f"{PROCESS}.bpmn").write_text(laned_bpmn(), encoding="utf-8")
    shutil.copytree(HERE / "forms", home / "forms")
    env = dict(os.environ, LIYUAN_HOME=str(home), LIYUAN_DATABASE_URL=url, LIYUAN_SCHEDULER="external",
               LIYUAN_RATELIMIT_TOKEN="10000 per minute", LIYUAN_SECRET_KEY="bench-secret-key-" + "x" * 32)
    subprocess.run([LIYUAN, "init"], env=env, check=True, capture_output=True)
    for c in range(clients):
        subprocess.run([LIYUAN, "users", "add", f"bench{c}", "--password", PASSWORD, "--role", "assistant"],
                       env=env, check=True, capture_output=True)
    return env


# --- the server ----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if workers <= 1:
        cmd = [LIYUAN, "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        cmd = [LIYUAN, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/openapi.json")
            conn.getresponse().read()
            conn.close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not answer in 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _children(pid: int) -> list[int]:
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found


def server_cpu(pid: int) -> float:
    """Seconds of user + system CPU of the server process and its live children (gunicorn's workers)."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15 of stat)
    return total


# --- the client ----------------------------------------------------------------------------------------------

class Client:
    def __init__(self, port: int, username: str, pid: int, measure_completes: bool):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.pid, self.measure = pid, measure_completes
        self.times: dict[str, list[float]] = {}
        self.complete_cpu = 0.0
        body = self.call("POST", "/api/v1/auth/token", {"username": username, "password": PASSWORD}, kind=None)
        self.auth = {"Authorization": f"Bearer {body['token']}"}

    def call(self, method: str, path: str, body: dict | None = None, *, kind: str | None, expect=(200, 201)):
        headers = dict(getattr(self, "auth", {}))
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        cpu0 = server_cpu(self.pid) if self.measure and kind == "complete" else None
        t0 = time.perf_counter()
        self.conn.request(method, path, body=payload, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - t0
        if cpu0 is not None:
            self.complete_cpu += server_cpu(self.pid) - cpu0
        if resp.status not in expect:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {data[:500]!r}")
        if kind:
            self.times.setdefault(kind, []).append(elapsed)
        return json.loads(data) if data else None

    def lifecycle(self, shape: int) -> None:
        iid = self.call("POST", f"/api/v1/processes/{PROCESS}/instances", START, kind="start")["instance_id"]
        for step in range(TASKS_PER_LIFECYCLE):
            listed = self.call("GET", "/api/v1/tasks", kind="list")["tasks"]
            mine = [t for t in listed if t["instance_id"] == iid]
            if not mine:
                raise RuntimeError(f"step {step}: no task of {iid} in the list")
            task_id = mine[0]["id"]
            if shape == 26:
                self.call("GET", f"/api/v1/tasks/{task_id}", kind="get")
            value = 151 if step == TASKS_PER_LIFECYCLE - 1 else (150 if step % 2 else 42)  # odd at t6: no t7
            self.call("POST", f"/api/v1/tasks/{task_id}/complete", {"data": {"value": value, "note": f"第{step}步"}},
                      kind="complete")
        done = self.call("GET", f"/api/v1/instances/{iid}", kind="instance")
        if done["status"] != "completed" or done["tasks"]:
            raise RuntimeError(f"lifecycle of {iid} did not complete: {done['status']}")


def run_config(port: int, pid: int, clients: int, shape: int, n: int) -> dict:
    """``n`` lifecycles in all, split over ``clients`` threads; server CPU over the whole run."""
    made = [Client(port, f"bench{c}", pid, measure_completes=clients == 1) for c in range(clients)]
    for c in made:  # warm-up: one lifecycle each, not counted
        c.lifecycle(shape)
        c.times.clear()
        c.complete_cpu = 0.0
    per = max(1, n // clients)
    errors: list[BaseException] = []

    def work(c: Client) -> None:
        try:
            for _ in range(per):
                c.lifecycle(shape)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in made]
    cpu0, t0 = server_cpu(pid), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, server_cpu(pid) - cpu0
    if errors:
        raise errors[0]
    done = per * clients
    times: dict[str, list[float]] = {}
    for c in made:
        for kind, values in c.times.items():
            times.setdefault(kind, []).extend(values)
        c.conn.close()
    return {"lifecycles": done, "rate": done / elapsed, "cpu_ms": cpu * 1000 / done, "times": times,
            "complete_ms": (made[0].complete_cpu * 1000 / (done * TASKS_PER_LIFECYCLE)) if clients == 1 else None}


# --- the floor -----------------------------------------------------------------------------------------------

def _load_engine_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_engine", HERE / "engine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def _postgres_url(name: str) -> str | None:
    from tests import postgres_status

    if postgres_status.reachable() is not None:
        return None
    import psycopg

    with psycopg.connect(postgres_status.URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop_postgres(name: str) -> None:
    import psycopg

    from tests import postgres_status

    with psycopg.connect(postgres_status.URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=30, help="lifecycles per row (default 30)")
    ap.add_argument("--shapes", type=int, nargs="+", default=[18, 26], choices=[18, 26])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    ap.add_argument("--workers", type=int, nargs="+", default=[1],
                    help="server worker processes to try (>1: gunicorn, PostgreSQL only)")
    args = ap.parse_args()

    global engine_bench
    engine_bench = _load_engine_bench()
    floor = _floor(max(20, args.n))
    rows = []
    for dbname in args.db:
        with tempfile.TemporaryDirectory() as tmp:
            pg_name = f"liyuan_http_bench_{os.getpid()}"
            if dbname == "sqlite":
                url = f"sqlite:///{tmp}/bench.db"
            else:
                url = _postgres_url(pg_name)
                if url is None:
                    print("PostgreSQL not reachable: skipped")
                    continue
            try:
                env = make_home(Path(tmp), url, max(args.clients))
                for workers in args.workers:
                    if workers > 1 and dbname == "sqlite":
                        continue  # SQLite has one writer: one process (README)
                    proc, port = start_server(env, workers)
                    try:
                        for shape in args.shapes:
                            for clients in args.clients:
                                r = run_config(port, proc.pid, clients, shape, args.n)
                                rows.append((dbname, workers, shape, clients, r))
                                _print_row(rows[-1], floor, header=len(rows) == 1)
                    finally:
                        stop_server(proc)
            finally:
                if dbname == "postgresql":
                    _drop_postgres(pg_name)
    _print_calls(rows)



def _floor(n: int) -> float:
    engine_bench.run_floor(3)
    c0 = time.process_time()
    _elapsed, steps = engine_bench.run_floor(n)
    ms = (time.process_time() - c0) * 1000 / len(steps)
    print(f"floor (engine's own serializer, round trip per step, CPU): {ms:.2f} ms per step")
    return ms


def _print_row(row, floor: float, *, header: bool) -> None:
    dbname, workers, shape, clients, r = row
    if header:
        print(f"{'database':<11}{'workers':>8}{'calls':>6}{'clients':>8}{'lifecycles/s':>13}"
              f"{'CPU ms/lifecycle':>17}{'CPU ms/task':>12}{'complete ms':>12}{'vs floor':>9}")
    per_task = r["cpu_ms"] / TASKS_PER_LIFECYCLE
    complete = f"{r['complete_ms']:.2f}" if r["complete_ms"] is not None else "-"
    print(f"{dbname:<11}{workers:>8}{shape:>6}{clients:>8}{r['rate']:>13.1f}{r['cpu_ms']:>17.1f}"
          f"{per_task:>12.2f}{complete:>12}{floor / per_task:>9.2f}", flush=True)


def _print_calls(rows) -> None:
    print("\nper call kind, p50 / p95 ms")
    kinds = ["start", "list", "get", "complete", "instance"]
    print(f"{'database':<11}{'workers':>8}{'calls':>6}{'clients':>8}" + "".join(f"{k:>16}" for k in kinds))
    for dbname, workers, shape, clients, r in rows:
        cells = "".join(f"{_pct(r['times'][k], 50):>7.1f} / {_pct(r['times'][k], 95):>6.1f}" if k in r["times"]
                        else f"{'-':>16}" for k in kinds)
        print(f"{dbname:<11}{workers:>8}{shape:>6}{clients:>8}{cells}")
    print("goals: server CPU <= 1.5 ms per task completion on SQLite, <= 2.5 ms on PostgreSQL")


if __name__ == "__main__":
    main()
