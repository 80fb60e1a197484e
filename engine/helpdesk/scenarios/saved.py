"""Scenarios written in the studio (issue 14, item 6): stored in the database beside their process.

Why the database and not ``bpmn/scenarios/``: that folder is the repository's — reviewed, versioned with
the diagrams, run by ``liyuan simulate`` and CI — and the web server must not write into the source tree
(it may be read-only, or one of several servers). A process owner's scenario is the procedure's test as
much as a file is, so the studio runs both: the 试运行 and the check before publishing take the files of
``bpmn/scenarios/`` that concern the process *and* every scenario saved here for it
(:func:`write_all` writes them beside the files for the one ``liyuan simulate --json`` run). A saved
scenario that fails therefore blocks publishing like a file does. To make one part of the repository, copy
its text into ``bpmn/scenarios/<name>.yaml``.

The text is checked by the runner's own ``load`` before it is stored (format errors in Chinese, naming the
step); nothing here runs a scenario.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import clock
from engine.helpdesk.scenarios.runner import ScenarioError, load
from engine.helpdesk.tables import StudioScenario

NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
MAX_CHARS = 64 * 1024


def check(name: str, content: str) -> None:
    """Raise :class:`ScenarioError` (Chinese, ``第N步`` for a bad step) unless ``content`` is a scenario."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ScenarioError("场景名称只能用小写字母、数字和下划线（如 t2_1_night_shift），最多64个字符")
    if not isinstance(content, str) or not content.strip():
        raise ScenarioError(f"{name}.yaml：内容为空")
    if len(content) > MAX_CHARS:
        raise ScenarioError(f"{name}.yaml：内容过长（最多 {MAX_CHARS} 个字符）")
    with tempfile.TemporaryDirectory(prefix="liyuan-scenario-") as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(content, encoding="utf-8")
        try:
            load(path)
        except ScenarioError as exc:  # the runner names the temporary path: name the scenario instead
            raise ScenarioError(str(exc).replace(str(path), f"{name}.yaml")) from exc


def save(session: Session, process_id: str, name: str, content: str, actor: str) -> StudioScenario:
    check(name, content)
    row = session.get(StudioScenario, (process_id, name))
    if row is None:
        row = StudioScenario(process_id=process_id, name=name, content=content, saved_by=actor, saved_at=clock.now())
        session.add(row)
    else:
        row.content, row.saved_by, row.saved_at = content, actor, clock.now()
    session.flush()
    return row


def delete(session: Session, process_id: str, name: str) -> bool:
    row = session.get(StudioScenario, (process_id, name))
    if row is not None:
        session.delete(row)
        session.flush()
    return row is not None


def saved(session: Session, process_id: str) -> list[StudioScenario]:
    return list(session.scalars(select(StudioScenario).where(StudioScenario.process_id == process_id)
                                .order_by(StudioScenario.name)))


def write_all(texts: dict[str, str], folder: Path) -> list[Path]:
    """Write {name: YAML text} as ``<name>.yaml`` files into ``folder`` (for the one simulate run)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, content in sorted(texts.items()):
        path = folder / f"{name}.yaml"
        path.write_text(content, encoding="utf-8")
        out.append(path)
    return out
