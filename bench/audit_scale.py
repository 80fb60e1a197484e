"""Verification and replay over many complete histories: what an auditor's full check costs.

Generates N complete lifecycles of bench/bpmn's ``bench_lifecycle`` (9 user tasks, gateways, a parallel
split/join, a call activity: about 25 audit events each) on a fresh SQLite database with checkpoint
signing on, then times, one after the other, what ``liyuan audit verify`` does:

  chains       every per-instance hash chain recomputed;
  tree         every leaf against every signed checkpoint (one per committed change), instance heads;
  projections  every instance replayed from its log, its request, task, SLA and status rows recomputed.

It prints events per history and histories/s for each phase, and the time the same rate would take for
10,000 histories. Run ``python bench/audit_scale.py -n 200`` (generation dominates: ~1 step per ms).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.engine import run_engine, setup_engine  # noqa: E402
from engine.audit import history, signing, tree_verify  # noqa: E402
from engine.core import db  # noqa: E402
from engine.core.tables import AuditEvent, Instance  # noqa: E402
from engine.helpdesk import projections_check  # noqa: E402


def _progress(done: int, total: int, started: float) -> None:
    if done % max(1, total // 20) and done != total:
        return
    elapsed = time.monotonic() - started
    eta = elapsed / done * (total - done)
    print(f"\r  [{'#' * int(30 * done / total):<30}] {done}/{total}  ETA {eta:.0f}s", end="" if done < total else "\n",
          file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="complete histories to generate (default 200)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        signing.keygen(Path(tmp) / "audit.key")
        os.environ["LIYUAN_AUDIT_KEY_FILE"] = f"{tmp}/audit.key"
        os.environ["LIYUAN_AUDIT_CHECKPOINT_FILE"] = f"{tmp}/checkpoints.jsonl"
        url = setup_engine(f"sqlite:///{tmp}/bench.db")
        t0 = time.perf_counter()
        run_engine(args.n, url)
        generated = time.perf_counter() - t0
        figures = {}
        with db.read_session(url) as session:
            histories = session.scalar(select(func.count()).select_from(Instance))
            events = session.scalar(select(func.count()).select_from(AuditEvent))
            t0 = time.perf_counter()
            _count, breaks = history.verify(session)
            figures["chains"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = tree_verify.verify(session)
            figures["tree"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            diffs = projections_check.verify(session, progress=_progress)
            figures["projections"] = time.perf_counter() - t0
        assert not breaks and not report.problems and not diffs, (breaks, report.problems, diffs[:3])
        db.dispose_all()
    print(f"{histories} complete histories, {events} audit events ({events / histories:.1f} per history), "
          f"{report.checkpoints} signed checkpoints; generated in {generated:.1f}s")
    print(f"{'phase':<14}{'seconds':>9}{'histories/s':>13}{'10,000 at this rate':>22}")
    for name, seconds in figures.items():
        print(f"{name:<14}{seconds:>9.2f}{histories / seconds:>13.0f}{10_000 / histories * seconds:>20.1f} s")


if __name__ == "__main__":
    main()
