"""``liyuan simulate FILE…``: run scenario files against the diagrams in ``bpmn/`` (or ``LIYUAN_BPMN_DIR``)
on throwaway databases; exit 1 naming each failing step and what was found instead.

The running itself is the engine's (``engine.helpdesk.scenarios``) so that the test
suite and the studio run scenarios exactly as this command does.
"""

from __future__ import annotations

import json
import sys

from engine.core import config
from engine.helpdesk import scenarios
from engine.repository.validation import InvalidBundle


def default_files() -> list:
    """The procedure's own scenarios: ``scenarios/`` beside the diagrams."""
    return [config.bpmn_dir() / "scenarios"]


def run(paths) -> list[scenarios.Outcome] | None:
    """Every scenario run, or None after printing why nothing could run (bad file, undeployable diagrams)."""
    try:
        return scenarios.run_files(scenarios.scenario_files(paths or default_files()), config.bpmn_dir())
    except scenarios.ScenarioError as exc:
        print(exc, file=sys.stderr)
    except InvalidBundle as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        print(f"{config.bpmn_dir()} 中的流程图无法部署，未运行任何场景", file=sys.stderr)
    return None


def cmd_simulate(args) -> int:
    outcomes = run(args.files)
    if outcomes is None:
        return 1
    if args.json:  # for the studio, which runs this command in a child process (the runs move the clock)
        json.dump([{"file": o.scenario.path.name, "name": o.scenario.name, "ok": o.ok,
                    "step": o.failed_step.describe() if o.failed_step else None, "message": o.message,
                    # where each step went on the diagrams: the studio numbers these elements on the canvas
                    "failed_number": o.failed_step.number if o.failed_step else None,
                    "steps": [t.as_json() for t in o.trail]}
                   for o in outcomes], sys.stdout, ensure_ascii=False)
        return 1 if any(not o.ok for o in outcomes) or not outcomes else 0
    for outcome in outcomes:
        if outcome.ok:
            print(f"通过  {outcome.scenario.path.name}  {outcome.scenario.name}")
        else:
            print(f"失败  {outcome.describe()}")
    failed = sum(not o.ok for o in outcomes)
    print(f"{len(outcomes) - failed} 个场景通过，{failed} 个失败", file=sys.stderr if failed else sys.stdout)
    return 1 if failed or not outcomes else 0


def register(sub) -> None:
    p = sub.add_parser("simulate", help="run scenario files (bpmn/scenarios/*.yaml) on a throwaway database")
    p.add_argument("files", nargs="*", help="scenario files or folders (default: bpmn/scenarios/)")
    p.add_argument("--json", action="store_true", help="print the outcomes as JSON (file, name, ok, step, message, failed_number, steps)")
    p.set_defaults(func=cmd_simulate)
