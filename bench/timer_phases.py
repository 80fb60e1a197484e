"""Where a timer firing's time goes: per-phase milliseconds over N past-due ``mini_tick`` timers.

Not a benchmark target, a diagnostic for the Performance section of the README: it wraps the engine's
phase functions with timers, drains a backlog with one poller (no scheduler thread), and prints the mean
cost per firing of each phase. Phases nest (``fire`` contains all others), so they do not add up.

    python bench/timer_phases.py sqlite 3000
    python bench/timer_phases.py postgresql 3000
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import timers as bench_timers  # noqa: E402  (bench/timers.py: database set-up and the outage backlog)

import engine.helpdesk  # noqa: E402
from bench.phases import Phases  # noqa: E402  (the timed wrappers)
from engine.runtime import instances, serialization, store  # noqa: E402
from engine.timers import firing  # noqa: E402

engine.helpdesk.install()  # an entry point: the help desk plugs into the runtime

PHASES = [(firing.Poller, "fire", "fire (whole firing)"), (firing.Poller, "claim", "claim (per firing)"),
          (store, "load", "load the instance row"), (store, "write", "revision-checked UPDATE"),
          (serialization, "loads", "SpiffWorkflow deserialize"), (serialization, "dumps", "SpiffWorkflow serialize"),
          (instances, "_snapshot", "snapshot before the step"),
          (instances, "state_fingerprint", "state fingerprint"),
          (instances, "_write_projections_and_events", "projections + audit events")]


def main() -> int:
    kind = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    url = bench_timers.fresh_database(kind)
    bench_timers.create_before_outage(url, n)
    phases = Phases()
    for owner, name, label in PHASES:
        phases.wrap(owner, name, label)
    poller = firing.Poller(url)
    started = time.perf_counter()
    stats = poller.run_due()
    elapsed = time.perf_counter() - started
    poller.release()
    print(f"{kind}: {stats.fired} firings in {elapsed:.1f}s = {stats.fired / elapsed:.0f}/s, "
          f"{elapsed / n * 1000:.2f} ms per firing")
    phases.restore()
    for label, seconds in phases.wall.most_common():
        print(f"  {label:<28} {seconds / n * 1000:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
