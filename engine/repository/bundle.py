"""A set of BPMN files and forms read from disk, the unit that is validated and deployed together."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.core import config


@dataclass(frozen=True)
class SourceFile:
    name: str  # the name the BPMN refers to (file name for forms, file name for diagrams)
    path: str  # where it came from, for messages
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class Bundle:
    bpmn: dict[str, SourceFile] = field(default_factory=dict)
    forms: dict[str, SourceFile] = field(default_factory=dict)


def read_paths(paths: Iterable[str | Path], *, default_forms: bool = True) -> Bundle:
    """Collect ``*.bpmn`` and form ``*.json`` files from files and folders.

    Forms named by the diagrams are looked up in ``forms/`` (``LIYUAN_FORMS_DIR``) unless a given path
    provides a file of the same name, so ``liyuan validate bpmn/`` checks the forms too. Where that folder
    does not exist (an installed command run elsewhere), the ``forms/`` folder beside a given ``bpmn/``
    folder is used: the procedure's diagrams and forms travel together.
    """
    paths = list(paths)
    bundle = Bundle()
    forms_dir = _default_forms_dir(paths) if default_forms else None
    if forms_dir is not None:
        for f in sorted(forms_dir.glob("*.json")):
            bundle.forms[f.name] = SourceFile(f.name, str(f), f.read_bytes())
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise FileNotFoundError(f"{raw}：找不到该文件或目录")
        files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
        for f in files:
            if f.suffix == ".bpmn":
                bundle.bpmn[f.name] = SourceFile(f.name, str(f), f.read_bytes())
            elif f.suffix == ".json":
                bundle.forms[f.name] = SourceFile(f.name, str(f), f.read_bytes())
    return bundle


def _default_forms_dir(paths: list) -> Path | None:
    if config.forms_dir().is_dir():
        return config.forms_dir()
    for raw in paths:
        sibling = Path(raw).resolve().parent / "forms"
        if Path(raw).is_dir() and sibling.is_dir():
            return sibling
    return None
