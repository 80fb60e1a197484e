"""Verification and replay of 10,000 complete help_request histories: what an auditor's full check costs.

Builds (once; cached under ``bench/.cache/`` by a hash of the code, the procedure and N) an embedded SQLite
database of N complete histories of the real procedure ``help_request`` in ``bpmn/``:

1. a few hundred real walks through the engine: every scenario in ``bpmn/scenarios/`` that ends the
   request (hotline and online requests, classification, hand-over, handling in the departments' own
   subprocesses — repairs with QC rework, paid services with quotes, complaints, consultations, 120 calls,
   escorts, nursing —, QC, call-back with ratings, archive; overdue clocks and escalations included), run
   round after round on one database with checkpoint signing on, each outcome checked;
2. cloned with fresh ids to N (:mod:`bench.audit_clone`: chains, Merkle leaves and signed checkpoints
   recomputed, so the clones verify exactly like real data);
3. checked before any timing: ``liyuan audit verify`` (chains, tree, every signature) must pass.

Then it times the commands an auditor runs, each as its own process with a cold cache, and fails if any
finds a problem (so every timed run is also a full verification of the clone):

  verify                  chains + Merkle tree against every signed checkpoint;
  verify --projections    the same plus every instance replayed and every report row recomputed;
  replay --all            every instance replayed, every recorded state fingerprint compared;

with ``--jobs 1`` and ``--jobs 2``, printing seconds, histories/s and the ratio to the 60 s target.
Run ``python bench/audit_scale.py`` (10,000; building it the first time takes several minutes) or
``-n 1000`` for a quick look.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 60.0
GENERATOR = "2"  # bump when build() changes what it writes (the cache key below does not read this file)


# The code that only reads and checks the log: changing it does not change the database it is timed on.
VERIFIERS = {"engine/runtime/replay.py", "engine/runtime/replay_all.py", "engine/helpdesk/projections_check.py",
             "engine/audit/tree_verify.py", "engine/audit/verify_bundle.py", "engine/core/parallel.py"}


def code_version(n: int, rounds: int) -> str:
    """What the cached database depends on: the engine (less the verifiers), the procedure and its forms,
    the schema, the cloner and the generator's version."""
    h = hashlib.sha256(f"{n}:{rounds}:{GENERATOR}".encode())
    for folder in ("engine", "bpmn", "forms", "migrations"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and str(path.relative_to(ROOT)) not in VERIFIERS:
                h.update(str(path.relative_to(ROOT)).encode())
                h.update(path.read_bytes())
    h.update((ROOT / "bench" / "audit_clone.py").read_bytes())
    return h.hexdigest()[:16]


def _environment(folder: Path) -> dict:
    env = dict(os.environ, LIYUAN_DATABASE_URL=f"sqlite:///{folder / 'audit.db'}",
               LIYUAN_AUDIT_KEY_FILE=str(folder / "audit.key"),
               LIYUAN_AUDIT_CHECKPOINT_FILE=str(folder / "checkpoints.jsonl"))
    env.pop("LIYUAN_AUDIT_PUBLIC_KEY", None)
    return env


def build(folder: Path, n: int, rounds: int) -> None:
    """Generate the real walks, clone them to ``n``, and check the result before anything is timed."""
    os.environ.update(_environment(folder))
    os.environ["LIYUAN_SQLITE_SYNCHRONOUS"] = "NORMAL"  # building only: the timed runs only read
    import secrets

    import engine.helpdesk
    from bench.audit_clone import clone
    from engine import identity, repository
    from engine.audit import signing
    from engine.core import config, db, migrate
    from engine.helpdesk import intake
    from engine.helpdesk.scenarios import runner
    from engine.repository import bundle

    engine.helpdesk.install()
    signing.keygen(folder / "audit.key")
    url = os.environ["LIYUAN_DATABASE_URL"]
    migrate.upgrade(url)
    with db.transaction(url) as session:
        repository.deploy(session, bundle.read_paths([config.bpmn_dir()]), actor="process_owner", note="bench")
        identity.ensure_demo_users(session, secrets.token_urlsafe(12))
        intake.ensure_default_fees(session)
    files = [p for p in sorted((config.bpmn_dir() / "scenarios").glob("*.yaml"))
             if "ended: true" in p.read_text(encoding="utf-8") and "timer:" not in p.read_text(encoding="utf-8")]
    walks = [runner.load(p) for p in files]
    t0 = time.perf_counter()
    for _round in range(rounds):
        for k, walk in enumerate(walks):
            outcome = runner.run(_own_caller(walk, _round * len(walks) + k), url)
            if not outcome.ok:
                raise SystemExit(f"walk failed: {outcome.describe()}")
    print(f"  {rounds * len(walks)} real walks ({len(walks)} scenarios x {rounds}) through the engine "
          f"in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    t0 = time.perf_counter()
    added = clone(url, n)
    print(f"  {added} clones in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    db.dispose_all()
    seconds, out, _cpu = _run(folder, ["verify"])
    print(f"  the clone verifies (chains, tree, signatures) in {seconds:.0f} s: {out.splitlines()[0]}", file=sys.stderr)


def _own_caller(walk, n: int):
    """The walk with a caller's number of its own when its story names no resident account. All walks share
    one database here: a walk that has a resident (``resident: customer``) proves the sample number for that
    account, after which every later call from that number is the resident's, as in production, and a story
    written for a caller without an account takes the resident's path and fails."""
    import dataclasses

    caller = walk.start.get("caller") or {}
    if "resident" in walk.start or "phone" in caller:
        return walk
    return dataclasses.replace(walk, start={**walk.start, "caller": {**caller, "phone": f"139{n:08d}"}})


def _run(folder: Path, args: list[str]) -> tuple[float, str, float]:
    """One ``liyuan audit …`` command in its own process; any finding aborts the benchmark. Returns wall
    seconds, its output and the CPU seconds it and its workers used (on a machine shared with other work
    the wall time grows with the load; the CPU time does not)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "webapp.cli", "audit", *args], cwd=ROOT, env=_environment(folder),
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"liyuan audit {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout, cpu


def _figures(folder: Path) -> tuple[int, int, int]:
    import sqlite3

    with sqlite3.connect(folder / "audit.db") as conn:
        return tuple(conn.execute(q).fetchone()[0] for q in (
            "SELECT count(*) FROM instances",
            "SELECT count(*) FROM audit_events",
            "SELECT count(*) FROM audit_checkpoints"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000, help="complete histories (default 10,000)")
    ap.add_argument("--rounds", type=int, default=10, help="rounds of real walks through the engine before cloning")
    ap.add_argument("--jobs", default="1,2", help="worker counts to time, comma-separated (default 1,2)")
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached database")
    ap.add_argument("--build-only", action="store_true", help="build (or find) the database, time nothing")
    ap.add_argument("--reuse-build", action="store_true",
                    help="time the newest finished build of -n even if the engine changed since (for changes that "
                         "do not change what the engine writes; every timed run still must find nothing)")
    args = ap.parse_args()
    folder = ROOT / "bench" / ".cache" / f"audit-scale-{code_version(args.n, args.rounds)}"
    if args.reuse_build and not (folder / "ready").exists():
        built = sorted((p.parent for p in (ROOT / "bench" / ".cache").glob("audit-scale-*/ready")
                        if _figures(p.parent)[0] == args.n), key=lambda p: p.stat().st_mtime)
        if built:
            folder = built[-1]
            print(f"  reusing {folder.relative_to(ROOT)} (built by an earlier engine)", file=sys.stderr)
    if args.rebuild or not (folder / "ready").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        print(f"building {folder.relative_to(ROOT)} …", file=sys.stderr)
        t0 = time.perf_counter()
        build(folder, args.n, args.rounds)
        (folder / "ready").write_text(f"built in {time.perf_counter() - t0:.0f} s\n")
    if args.build_only:
        return
    histories, events, checkpoints = _figures(folder)
    print(f"{histories} complete help_request histories, {events} audit events ({events / histories:.1f} per "
          f"history), {checkpoints} signed checkpoints; database {(folder / 'audit.db').stat().st_size >> 20} MiB "
          f"({folder.relative_to(ROOT)}, {(folder / 'ready').read_text().strip()})")
    print(f"load average before timing: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    runs = [("verify (chains, tree)", ["verify"], 1)]
    for jobs in (int(j) for j in args.jobs.split(",")):
        runs += [("verify --projections", ["verify", "--projections", "--jobs", str(jobs)], jobs),
                 ("replay --all", ["replay", "--all", "--jobs", str(jobs)], jobs)]
    print(f"{'liyuan audit …':<24}{'jobs':>5}{'seconds':>9}{'histories/s':>13}{'vs 60 s':>9}{'CPU s':>8}"
          f"{'load':>6}")
    for name, command, jobs in runs:
        seconds, _out, cpu = _run(folder, command)
        print(f"{name:<24}{jobs:>5}{seconds:>9.1f}{histories / seconds:>13.0f}{seconds / TARGET:>8.2f}x{cpu:>8.0f}"
              f"{os.getloadavg()[0]:>6.1f}", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
