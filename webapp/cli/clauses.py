"""``liyuan clauses``: the clause → process/element matrix; exits 1 on a gap either way."""

from __future__ import annotations

import sys

from engine.core import config
from engine.helpdesk import clauses


def cmd_clauses(args) -> int:
    matrix = clauses.build(config.bpmn_dir() if not args.dir else __import__("pathlib").Path(args.dir))
    for clause in matrix.clauses:
        where = matrix.implemented_by.get(clause.id, [])
        refs = ", ".join(f"{pid}:{eid}" for pid, eid, _ in where) or "— NOT COVERED"
        text = clause.text if len(clause.text) <= 30 else clause.text[:29] + "…"
        print(f"{clause.id:<12} {text:<32} {refs}")
    for fname, element_id, pid, clause_id in matrix.unknown:
        print(f"{fname}: {element_id}: ({pid}) names clause {clause_id!r}, which is not in clauses.toml")
    covered = len(matrix.clauses) - len(matrix.uncovered)
    summary = f"{covered}/{len(matrix.clauses)} clauses covered, {len(matrix.unknown)} unknown clause reference(s)"
    print(summary, file=sys.stderr if not matrix.ok else sys.stdout)
    return 0 if matrix.ok else 1


def register(sub) -> None:
    p = sub.add_parser("clauses", help="clause → process/element traceability matrix")
    p.add_argument("--dir", help="folder with clauses.toml and the diagrams (default: bpmn/)")
    p.set_defaults(func=cmd_clauses)
