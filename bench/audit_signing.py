"""What signing a checkpoint per commit costs: the same lifecycles with and without the signing key.

Every write transaction seals its audit events into the Merkle tree either way; with a key it also signs
a checkpoint (Ed25519), stores it and appends it to the published file. Both variants run the lifecycle of
bench/engine.py (one transaction per step) on SQLite, taking turns in rounds so a busy machine slows them
alike, and the figure printed is the throughput ratio signed/unsigned. Run ``python bench/audit_signing.py``.
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

from bench.engine import PROCESS, run_engine, setup_engine  # noqa: E402
from engine.audit import signing  # noqa: E402
from engine.core import db  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=60, help="lifecycles per variant (default 60)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        key_path = Path(tmp) / "audit.key"
        public = signing.keygen(key_path)
        os.environ["LIYUAN_AUDIT_CHECKPOINT_FILE"] = f"{tmp}/checkpoints.jsonl"
        url = setup_engine(f"sqlite:///{tmp}/bench.db")
        variants = {"unsigned": f"{tmp}/no-such.key", "signed": str(key_path)}
        totals = dict.fromkeys(variants, 0.0)
        per_round = max(1, args.n // args.rounds)
        run_engine(3, url)  # warm caches
        for _ in range(args.rounds):
            for name, key in variants.items():
                os.environ["LIYUAN_AUDIT_KEY_FILE"] = key
                elapsed, _steps = run_engine(per_round, url)
                totals[name] += elapsed
        checkpoints = sum(1 for _ in open(f"{tmp}/checkpoints.jsonl"))
        key = signing.private_key()
        t0 = time.perf_counter()
        for i in range(2000):
            signing.sign(key, i, "ab" * 32, "2026-12-01T00:00:00+00:00")
        sign_us = (time.perf_counter() - t0) / 2000 * 1e6
        signature = signing.sign(key, 1, "ab" * 32, "2026-12-01T00:00:00+00:00")
        t0 = time.perf_counter()
        for _ in range(2000):
            signing.signature_ok(public, 1, "ab" * 32, "2026-12-01T00:00:00+00:00", signature)
        verify_us = (time.perf_counter() - t0) / 2000 * 1e6
        db.dispose_all()
    done = per_round * args.rounds
    print(f"{done} lifecycles of {PROCESS} per variant on SQLite, {args.rounds} interleaved rounds; "
          f"{checkpoints} checkpoints signed and published")
    for name, elapsed in totals.items():
        print(f"{name:<10}{done / elapsed:>10.1f} lifecycles/s")
    print(f"signed/unsigned throughput ratio: {totals['unsigned'] / totals['signed']:.3f}")
    print(f"Ed25519: sign {sign_us:.0f} µs, verify {verify_us:.0f} µs per checkpoint")


if __name__ == "__main__":
    main()
