"""Traceability from the 工作规程's clauses to the flow nodes that implement them.

``bpmn/clauses.toml`` lists every clause; each flow node that implements one carries
``spiffworkflow:property name="clause"`` (comma-separated ids allowed). The matrix proves coverage both
ways: every clause is implemented somewhere, and no element names a clause that does not exist.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from engine.repository.validation import BPMN_NS, element_properties


@dataclass(frozen=True)
class Clause:
    id: str
    text: str


@dataclass
class Matrix:
    clauses: list[Clause]
    # clause id -> [(process id, element id, file name)]
    implemented_by: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    unknown: list[tuple[str, str, str, str]] = field(default_factory=list)  # (file, element, process, clause)

    @property
    def uncovered(self) -> list[Clause]:
        return [c for c in self.clauses if not self.implemented_by.get(c.id)]

    @property
    def ok(self) -> bool:
        return not self.uncovered and not self.unknown


def load_clauses(path: Path) -> list[Clause]:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    clauses = [Clause(str(c["id"]), str(c.get("text", ""))) for c in data.get("clause", [])]
    seen: set[str] = set()
    duplicates = [c.id for c in clauses if c.id in seen or seen.add(c.id)]
    if duplicates:
        raise ValueError(f"{path}: duplicate clause ids: {', '.join(duplicates)}")
    return clauses


def build(bpmn_dir: Path) -> Matrix:
    clauses = load_clauses(bpmn_dir / "clauses.toml")
    known = {c.id for c in clauses}
    matrix = Matrix(clauses)
    for path in sorted(bpmn_dir.glob("*.bpmn")):
        tree = etree.parse(str(path))
        for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
            for element_id, props in element_properties(process).items():
                for clause_id in filter(None, (x.strip() for x in props.get("clause", "").split(","))):
                    if clause_id in known:
                        matrix.implemented_by.setdefault(clause_id, []).append(
                            (process.get("id"), element_id, path.name))
                    else:
                        matrix.unknown.append((path.name, element_id, process.get("id"), clause_id))
    return matrix
