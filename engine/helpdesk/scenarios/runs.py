"""Running scenario files on throwaway databases, and what their runs prove about the clause matrix.

``liyuan simulate`` and ``liyuan clauses --tests`` must never touch the real database, and one scenario's
timers must not fire inside the next one's simulated hours. So the procedure (``bpmn/`` or
``LIYUAN_BPMN_DIR``, with its forms) is deployed once into a migrated SQLite file in a temporary folder,
with the demo users and the fee schedule, and every scenario runs on its own copy of that file.
"""

from __future__ import annotations

import secrets
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path

from engine import identity, repository
from engine.core import db
from engine.helpdesk import clauses, intake
from engine.helpdesk.scenarios import runner as scenarios
from engine.repository import bundle


def scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    """The ``*.yaml`` files named, or found in the folders named, in a stable order."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(p.glob("*.yaml")))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{raw}：找不到该文件或目录")
    return out


def run_files(files: Iterable[Path], bpmn_dir: Path) -> list[scenarios.Outcome]:
    """Load and run every file, each on a fresh copy of the procedure deployed from ``bpmn_dir``.

    Raises ``ScenarioError`` for a file that is not a scenario (before anything runs), and
    ``InvalidBundle`` when the diagrams do not deploy.
    """
    loaded = [scenarios.load(f) for f in files]
    from engine.core import migrate  # Alembic is slow to import; only this entry point needs it here

    with tempfile.TemporaryDirectory(prefix="liyuan-scenarios-") as tmp:
        template = Path(tmp) / "deployed.db"
        url = f"sqlite:///{template}"
        migrate.upgrade(url)
        with db.transaction(url) as session:
            repository.deploy(session, bundle.read_paths([bpmn_dir]), actor="process_owner",
                              note="scenario run")
            identity.ensure_demo_users(session, secrets.token_urlsafe(12))
            intake.ensure_default_fees(session)
        db.dispose_all()
        outcomes = []
        for n, scenario in enumerate(loaded):
            copy = Path(tmp) / f"run-{n}.db"
            with sqlite3.connect(template) as src, sqlite3.connect(copy) as dst:
                src.backup(dst)
            outcomes.append(scenarios.run(scenario, f"sqlite:///{copy}"))
            db.dispose_all()
            copy.unlink()
        return outcomes


def concerning(session, process_id: str, files: Iterable[Path]) -> list[Path]:
    """The scenario files whose runs go through ``process_id``: those that start it, or start a process
    whose latest version calls it (pins its diagram). Loading a bad file raises ``ScenarioError``."""
    latest = {v.process_id: v for v in repository.list_versions(session)}  # oldest first: the last one wins
    target = latest.get(process_id)
    out = []
    for f in files:
        start = scenarios.load(f).start
        started = latest.get(str(start.get("timer") or start.get("process") or "help_request"))
        if started is not None and target is not None and (
                started.process_id == process_id or target.bpmn_sha256 in started.files.values()):
            out.append(f)
    return out


def write_procedure(session, process_id: str, content: bytes, folder: Path,
                    forms: dict[str, bytes] | None = None) -> None:
    """Write the procedure as deployed in ``session`` into ``folder``, with ``process_id``'s diagram replaced
    by the unpublished edit ``content`` (and ``forms`` by their edited copies): every latest version's diagram and the forms it pinned, so that
    :func:`run_files` (``liyuan simulate`` with ``LIYUAN_BPMN_DIR`` set to the folder) runs the scenarios
    against the edit — the studio's 试运行. The run itself happens in another process: it moves the
    engine clock, which in the web server would move every request's time."""
    from sqlalchemy import select

    from engine.core.tables import Blob

    versions = {v.process_id: v for v in repository.list_versions(session)}
    edited = versions[process_id]
    wanted = {sha for v in versions.values() for sha in (v.bpmn_sha256, *v.forms.values())}
    blobs = {b.sha256: b.content for b in session.scalars(select(Blob).where(Blob.sha256.in_(wanted)))}
    for v in versions.values():
        (folder / v.bpmn_file).write_bytes(blobs[v.bpmn_sha256])
        for name, sha in v.forms.items():
            (folder / name).write_bytes(blobs[sha])
    (folder / edited.bpmn_file).write_bytes(content)
    for name, data in (forms or {}).items():  # the forms edited with it (names checked by the validator)
        (folder / Path(name).name).write_bytes(data)


def proven_clauses(matrix: clauses.Matrix, outcomes: Iterable[scenarios.Outcome]) -> dict[str, list[str]]:
    """clause id -> names of the scenario files whose passing runs went through an element carrying it."""
    where: dict[tuple[str, str], set[str]] = {}
    for clause_id, elements in matrix.implemented_by.items():
        for process_id, element_id, _file in elements:
            where.setdefault((process_id, element_id), set()).add(clause_id)
    proven: dict[str, set[str]] = {c.id: set() for c in matrix.clauses}
    for outcome in outcomes:
        if not outcome.ok:
            continue
        for node in outcome.passed:
            for clause_id in where.get(node, ()):
                proven[clause_id].add(outcome.scenario.path.name)
    return {k: sorted(v) for k, v in proven.items()}
