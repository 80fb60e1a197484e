"""Where a form is used: the diagrams (latest version of each process) and their elements that name it.

A form file may be shared by several diagrams (the same 回访 form on two processes). Each version pins the
bytes of the forms it uses, so publishing a changed form with one diagram changes that diagram's next
version only: the other diagrams keep the copy they pinned until they are published with the change too.
The form editor and the diff before publishing therefore list every diagram that uses the form, this one
(which the change affects) and the others (which keep their copy), so the process owner can carry the change
over where it belongs (issue 14, item 4).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.tables import Blob, ProcessVersion
from engine.repository.validation import BPMN_NS, element_properties
from engine.repository.versions import list_versions

FORM_KEYS = ("formJsonSchemaFilename", "formUiSchemaFilename")


@dataclass(frozen=True)
class Use:
    process_id: str
    process_name: str
    version: int
    # (element id, element name) of the process's own elements naming the form; empty when the form is
    # pinned through a process it calls
    elements: list[tuple[str, str]] = field(default_factory=list)

    def describe(self) -> str:
        where = "、".join(f"{eid}「{name}」" if name else eid for eid, name in self.elements) or "经其调用的子流程"
        return f"{self.process_name}（{self.process_id} 第{self.version}版）：{where}"


def latest_versions(session: Session) -> list[ProcessVersion]:
    latest: dict[str, ProcessVersion] = {}
    for v in list_versions(session):  # ordered by process id, then version
        latest[v.process_id] = v
    return list(latest.values())


def usage(session: Session, form_name: str) -> list[Use]:
    """The diagrams whose latest version pins ``form_name``, with the elements naming it."""
    versions = [v for v in latest_versions(session) if form_name in v.forms]
    blobs = {b.sha256: b.content for b in session.scalars(
        select(Blob).where(Blob.sha256.in_([v.bpmn_sha256 for v in versions])))}
    out = []
    for v in versions:
        root = etree.fromstring(blobs[v.bpmn_sha256], parser=etree.XMLParser(resolve_entities=False, no_network=True))
        process = next((p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id") == v.process_id), None)
        elements: list[tuple[str, str]] = []
        if process is not None:
            names = {el.get("id"): el.get("name") or "" for el in process.iter() if isinstance(el.tag, str)}
            elements = [(eid, names.get(eid, "")) for eid, props in element_properties(process).items()
                        if any(props.get(k) == form_name for k in FORM_KEYS)]
        out.append(Use(v.process_id, v.name, v.version, sorted(elements)))
    return out


def changed_forms(pinned: dict[str, str], edited: dict[str, bytes]) -> list[str]:
    """The names of the forms of an edit whose bytes differ from those the latest version pinned."""
    return sorted(name for name, data in edited.items() if hashlib.sha256(data).hexdigest() != pinned.get(name))


def affected(session: Session, process_id: str, forms: list[str]) -> list[str]:
    """Lines of Chinese for the diff: per changed form, this diagram and every other diagram that uses it."""
    lines = []
    for name in forms:
        uses = usage(session, name)
        here = [u for u in uses if u.process_id == process_id]
        others = [u for u in uses if u.process_id != process_id]
        lines.append(f"表单 {name} 的变更影响：" + ("；".join(u.describe() for u in here) or process_id))
        if others:
            lines.append(f"  另有 {len(others)} 个流程图使用此表单（保持其已发布版本固定的表单，须在各自流程中同样修改并发布）：")
            lines.extend(f"    {u.describe()}" for u in others)
    return lines
