"""CPU milliseconds per replayed history, in one process: ``replay_all.check_chunk`` (what each worker of
``liyuan audit replay --all`` runs) over the first LIMIT instances of LIYUAN_DATABASE_URL, ROUNDS times.

On a machine shared with other work the wall time of the full benchmark (``bench/audit_scale.py``) moves
with the load; this compares two versions of the replay code on the same database by CPU time, run in turn
(each from its own checkout, whose code the working directory selects)::

    LIYUAN_DATABASE_URL=sqlite:///$PWD/bench/.cache/audit-scale-…/audit.db LIMIT=400 \\
        .venv/bin/python bench/audit_replay_cpu.py 1

``PROF=1`` prints a cProfile of the same run (``SORT=cumtime``, ``TOP=60``). Any history that does not
replay clean is counted as bad (the figure is only meaningful with 0).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time


def main() -> None:
    sys.path.insert(0, os.getcwd())
    import engine.helpdesk
    from engine.core import db
    from engine.runtime import replay_all

    engine.helpdesk.install()
    url = os.environ["LIYUAN_DATABASE_URL"]
    with db.read_session(url) as session:
        ids = replay_all.instance_ids(session)[:int(os.environ.get("LIMIT", "100000"))]
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    replay_all.check_chunk(url, ids[:5])  # warm: parse the specs once, as a forked worker inherits them

    def run() -> int:
        bad = 0
        for _ in range(rounds):
            for i in range(0, len(ids), 50):
                bad += sum(1 for o in replay_all.check_chunk(url, ids[i:i + 50]) if not o.ok)
        return bad

    started = time.process_time()
    if os.environ.get("PROF"):
        profile = cProfile.Profile()
        profile.enable()
        bad = run()
        profile.disable()
        stats = pstats.Stats(profile).sort_stats(os.environ.get("SORT", "tottime"))
        stats.print_stats(int(os.environ.get("TOP", "40")))
    else:
        bad = run()
    cpu = time.process_time() - started
    n = len(ids) * rounds
    print(f"{n} replays, {bad} bad, {cpu:.2f} CPU s, {cpu * 1000 / n:.2f} ms/history; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
