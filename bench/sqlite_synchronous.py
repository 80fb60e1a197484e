"""What ``synchronous=FULL`` costs on the embedded SQLite database, against NORMAL, in the same run.

In WAL mode NORMAL syncs the WAL only at checkpoints, so a power cut can lose the last commits a person was
told were saved; FULL syncs the WAL at every commit. This runs the lifecycle of ``bench/engine.py`` (one
transaction per step) on two fresh databases in a folder on disk (not tmpfs, where a sync is free), one
per setting, taking turns round by round so a busy machine slows both alike, and prints steps per second,
per-step p50/p95 and the ratio FULL/NORMAL. Figures compare only within one run on one machine.

    python bench/sqlite_synchronous.py [-n 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.core import db  # noqa: E402


def _lifecycle_bench():
    """bench/engine.py (the lifecycle and its figures), loaded by path: its file name is the package's."""
    spec = importlib.util.spec_from_file_location("bench_lifecycle", ROOT / "bench" / "engine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_engine = _lifecycle_bench()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100, help="lifecycles per setting (default 100)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "var", prefix="bench-sync-") as tmp:
        urls = {}
        for setting in ("NORMAL", "FULL"):
            os.environ["LIYUAN_SQLITE_SYNCHRONOUS"] = setting  # read once, when the setting's engine is made
            urls[setting] = bench_engine.setup_engine(f"sqlite:///{tmp}/{setting.lower()}.db")
        os.environ.pop("LIYUAN_SQLITE_SYNCHRONOUS")
        bench_engine.run_memory(3)  # warm caches
        totals = {setting: [0.0, []] for setting in urls}
        per_round = max(1, args.n // args.rounds)
        for _ in range(args.rounds):
            for setting, url in urls.items():
                elapsed, steps = bench_engine.run_engine(per_round, url)
                totals[setting][0] += elapsed
                totals[setting][1] += steps
        db.dispose_all()
    done = per_round * args.rounds
    print(f"{done} lifecycles per setting ({len(totals['FULL'][1])} committed steps), {args.rounds} rounds, "
          f"SQLite WAL on {ROOT / 'var'}")
    print(f"{'synchronous':<14}{'steps/s':>10}{'step p50 ms':>13}{'step p95 ms':>13}")
    rates = {}
    for setting, (_elapsed, steps) in totals.items():
        rates[setting] = len(steps) / sum(steps)
        print(f"{setting:<14}{rates[setting]:>10.1f}{bench_engine._pct(steps, 50):>13.2f}"
              f"{bench_engine._pct(steps, 95):>13.2f}")
    print(f"FULL/NORMAL throughput ratio: {rates['FULL'] / rates['NORMAL']:.2f}")


if __name__ == "__main__":
    main()
