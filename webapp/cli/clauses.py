"""``liyuan clauses``: the clause → process/element matrix; exits 1 on a gap either way.

``--tests`` lists per clause the scenario files whose passing runs went through one of its elements (read
from each run's audit log, not from file names); exits 1 when a scenario fails or a clause has none.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.core import config
from engine.helpdesk import clauses, scenarios


def _short(text: str) -> str:
    return text if len(text) <= 30 else text[:29] + "…"


def cmd_clauses(args) -> int:
    matrix = clauses.build(Path(args.dir) if args.dir else config.bpmn_dir())
    if args.tests is not None:
        return _tests(matrix, args.tests)
    for clause in matrix.clauses:
        where = matrix.implemented_by.get(clause.id, [])
        refs = ", ".join(f"{pid}:{eid}" for pid, eid, _ in where) or "— NOT COVERED"
        print(f"{clause.id:<12} {_short(clause.text):<32} {refs}")
    for fname, element_id, pid, clause_id in matrix.unknown:
        print(f"{fname}: {element_id}: ({pid}) names clause {clause_id!r}, which is not in clauses.toml")
    covered = len(matrix.clauses) - len(matrix.uncovered)
    summary = f"{covered}/{len(matrix.clauses)} clauses covered, {len(matrix.unknown)} unknown clause reference(s)"
    print(summary, file=sys.stderr if not matrix.ok else sys.stdout)
    return 0 if matrix.ok else 1


def _tests(matrix: clauses.Matrix, files: list[str]) -> int:
    from webapp.cli import simulate

    outcomes = simulate.run(files)
    if outcomes is None:
        return 1
    for outcome in outcomes:
        if not outcome.ok:
            print(f"失败  {outcome.describe()}", file=sys.stderr)
    proven = scenarios.proven_clauses(matrix, outcomes)
    for clause in matrix.clauses:
        print(f"{clause.id:<12} {_short(clause.text):<32} {', '.join(proven[clause.id]) or '— 无场景证明'}")
    empty = [c.id for c in matrix.clauses if not proven[c.id]]
    failed = sum(not o.ok for o in outcomes)
    summary = (f"{len(matrix.clauses) - len(empty)}/{len(matrix.clauses)} 条款由通过的场景证明；"
               f"{len(outcomes) - failed}/{len(outcomes)} 个场景通过")
    bad = bool(empty or failed)
    print(summary, file=sys.stderr if bad else sys.stdout)
    return 1 if bad else 0


def register(sub) -> None:
    p = sub.add_parser("clauses", help="clause → process/element traceability matrix")
    p.add_argument("--dir", help="folder with clauses.toml and the diagrams (default: bpmn/)")
    p.add_argument("--tests", nargs="*", metavar="FILE",
                   help="per clause, the scenarios whose runs passed through its elements "
                        "(default files: bpmn/scenarios/)")
    p.set_defaults(func=cmd_clauses)
