"""What changed between two versions of a process, in the terms a process owner edits.

A byte diff of BPMN XML says nothing a 流程负责人 can read (layout moves, reordered attributes). This diff
compares what the engine reads: each element by id (added, removed, changed) with the properties that
changed — name, type, timer expression, condition, scripts, form and UI schema, lane, clause, SLA key,
assignee, instructions, the flows' ends — and, for every form a version uses, the fields added, removed or
changed (title, type, choices, required …). Diagram layout (``bpmndi``) is ignored: moving a box changes
nothing an instance does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.errors import NotFound
from engine.core.tables import Blob
from engine.repository.validation import BPMN_NS, SPIFF_NS
from engine.repository.versions import get_version

_XML = etree.XMLParser(resolve_entities=False, no_network=True)

# What a person calls each compared property (Chinese, as the CLI and the studio show them).
LABELS = {
    "type": "类型", "name": "名称", "timer": "定时器", "condition": "条件", "script": "脚本",
    "preScript": "前置脚本", "postScript": "后置脚本", "formJsonSchemaFilename": "表单",
    "formUiSchemaFilename": "UI 模式", "lane": "泳道", "clause": "条款", "sla": "SLA 键",
    "sla_withdraw": "撤销的 SLA 键", "sla_when": "SLA 条件", "assignee": "指派", "priority": "优先级",
    "instructions": "办理说明", "source": "起点", "target": "终点", "attachedTo": "附着于",
    "cancelActivity": "中断", "calledElement": "调用的流程", "default": "默认流", "signal": "信号",
}
_FIELD_KEYS = ("title", "type", "format", "enum", "x-enumNames", "oneOf", "const", "minimum", "maximum",
               "minLength", "maxLength", "pattern", "default", "items", "required", "ui")


@dataclass
class ElementChange:
    element_id: str
    kind: str  # added | removed | changed
    name: str = ""
    type: str = ""
    changes: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (property, old, new)


@dataclass
class FieldChange:
    form: str
    field: str
    kind: str  # added | removed | changed
    changes: list[tuple[str, object, object]] = field(default_factory=list)


@dataclass
class VersionDiff:
    process_id: str
    old: int
    new: int
    elements: list[ElementChange] = field(default_factory=list)
    fields: list[FieldChange] = field(default_factory=list)
    forms_added: list[str] = field(default_factory=list)
    forms_removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.elements or self.fields or self.forms_added or self.forms_removed)


def diff_versions(session: Session, process_id: str, old: int, new: int) -> VersionDiff:
    """The semantic diff of ``process_id`` between versions ``old`` and ``new`` (in either order)."""
    rows = []
    for number in (old, new):
        row = get_version(session, process_id, number)
        if row is None:
            raise NotFound(f"流程 {process_id} 没有第{number}版", process_id=process_id, version=number)
        rows.append(row)
    shas = {sha for row in rows for sha in (*row.files.values(), *row.forms.values())}
    blobs = {b.sha256: b.content for b in session.scalars(select(Blob).where(Blob.sha256.in_(shas)))}
    elements = [_elements(blobs, row.files, process_id) for row in rows]
    forms = [{name: json.loads(blobs[sha]) for name, sha in row.forms.items()} for row in rows]
    out = VersionDiff(process_id, old, new)
    out.elements = diff_elements(*elements)
    out.forms_added = sorted(set(forms[1]) - set(forms[0]))
    out.forms_removed = sorted(set(forms[0]) - set(forms[1]))
    for name in sorted(set(forms[0]) & set(forms[1])):
        out.fields += diff_form(name, forms[0][name], forms[1][name])
    return out


def diff_edit(session: Session, process_id: str, content: bytes, forms: dict[str, bytes] | None = None) -> VersionDiff:
    """What publishing ``content`` (an edited, unpublished diagram of ``process_id``) with the edited
    ``forms`` (name -> JSON bytes) would change against the latest version: the studio shows it before it
    asks for confirmation."""
    from engine.repository.versions import latest_version

    latest = latest_version(session, process_id)
    if latest is None:
        raise NotFound(f"流程 {process_id} 尚未发布", process_id=process_id)
    blob = session.get(Blob, latest.bpmn_sha256)
    old = _elements({latest.bpmn_sha256: blob.content}, {latest.bpmn_file: latest.bpmn_sha256}, process_id)
    new = _elements({"edit": content}, {latest.bpmn_file: "edit"}, process_id)
    out = VersionDiff(process_id, latest.version, latest.version + 1)
    out.elements = diff_elements(old, new)
    pinned = {b.sha256: b.content for b in session.scalars(select(Blob).where(Blob.sha256.in_(latest.forms.values())))}
    for name, data in sorted((forms or {}).items()):
        if name in latest.forms:
            out.fields += diff_form(name, json.loads(pinned[latest.forms[name]]), json.loads(data))
    return out


def _elements(blobs: dict, files: dict, process_id: str) -> dict[str, dict]:
    """Element id -> compared properties, for the process and the processes its version pins (called ones)."""
    out: dict[str, dict] = {}
    for _file, sha in sorted(files.items()):
        root = etree.fromstring(blobs[sha], parser=_XML)
        for process in root.iter(f"{{{BPMN_NS}}}process"):
            prefix = "" if process.get("id") == process_id else f"{process.get('id')}:"
            out.update({prefix + k: v for k, v in element_properties(process).items()})
    return out


def element_properties(process) -> dict[str, dict]:
    """Element id -> {property: text} for every element of one ``bpmn:process`` the engine reads."""
    lanes = {}
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.iter(f"{{{BPMN_NS}}}flowNodeRef"):
            lanes[(ref.text or "").strip()] = lane.get("name") or ""
    out: dict[str, dict] = {}
    for el in process.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith(f"{{{BPMN_NS}}}") or not el.get("id"):
            continue
        tag = el.tag.split("}", 1)[1]
        if tag in ("process", "laneSet", "lane") or tag.endswith("EventDefinition"):
            continue
        props: dict[str, str] = {"type": tag}
        for attr, key in (("name", "name"), ("sourceRef", "source"), ("targetRef", "target"),
                          ("attachedToRef", "attachedTo"), ("cancelActivity", "cancelActivity"),
                          ("calledElement", "calledElement"), ("default", "default")):
            if el.get(attr) is not None:
                props[key] = el.get(attr)
        if tag == "boundaryEvent":
            # Written or not, the default is "true" (bpmn-js leaves it out when it saves); and a boundary event
            # runs with its host, whatever lane lists it (bpmn-js adds it to the lane it is drawn in).
            props["cancelActivity"] = el.get("cancelActivity", "true")
        elif el.get("id") in lanes:
            props["lane"] = lanes[el.get("id")]
        for child in el:
            if not isinstance(child.tag, str):
                continue
            ctag = child.tag.split("}", 1)[1]
            if ctag == "conditionExpression":
                props["condition"] = (child.text or "").strip()
            elif ctag == "script":
                props["script"] = (child.text or "").strip()
            elif ctag == "timerEventDefinition":
                for timer in child:
                    if isinstance(timer.tag, str):
                        props["timer"] = f"{timer.tag.split('}', 1)[1]} {(timer.text or '').strip()}"
            elif ctag == "signalEventDefinition":
                props["signal"] = child.get("signalRef") or ""
        ext = el.find(f"{{{BPMN_NS}}}extensionElements")
        if ext is not None:
            for prop in ext.iter(f"{{{SPIFF_NS}}}property"):
                props[prop.get("name")] = prop.get("value") or ""
            for tagname, key in (("preScript", "preScript"), ("postScript", "postScript"),
                                 ("instructionsForEndUser", "instructions")):
                found = ext.find(f"{{{SPIFF_NS}}}{tagname}")
                if found is not None:
                    props[key] = (found.text or "").strip()
        out[el.get("id")] = props
    return out


def diff_elements(old: dict[str, dict], new: dict[str, dict]) -> list[ElementChange]:
    out = []
    for element_id in sorted(set(old) | set(new)):
        before, after = old.get(element_id), new.get(element_id)
        if before is None:
            out.append(ElementChange(element_id, "added", after.get("name", ""), after["type"]))
        elif after is None:
            out.append(ElementChange(element_id, "removed", before.get("name", ""), before["type"]))
        elif before != after:
            changes = [(key, before.get(key), after.get(key)) for key in sorted(set(before) | set(after))
                       if before.get(key) != after.get(key)]
            out.append(ElementChange(element_id, "changed", after.get("name", ""), after["type"], changes))
    return out


def diff_form(name: str, old: dict, new: dict) -> list[FieldChange]:
    """Fields added, removed or changed between two versions of one form (required-ness included)."""
    before, after = _fields(old), _fields(new)
    out = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            out.append(FieldChange(name, key, "added"))
        elif key not in after:
            out.append(FieldChange(name, key, "removed"))
        else:
            changes = [(k, before[key].get(k), after[key].get(k)) for k in _FIELD_KEYS
                       if before[key].get(k) != after[key].get(k)]
            if changes:
                out.append(FieldChange(name, key, "changed", changes))
    return out


def _fields(schema) -> dict[str, dict]:
    """Field name -> its definition (with ``required``); for a UI schema, field name -> its widget settings."""
    if not isinstance(schema, dict):
        return {}
    if not isinstance(schema.get("properties"), dict):  # a UI schema (rjsf style)
        return {k: {"ui": v} for k, v in schema.items() if not k.startswith("ui:")}
    required = set(schema.get("required") or ())
    return {key: {**(prop if isinstance(prop, dict) else {}), "required": key in required}
            for key, prop in schema["properties"].items()}


# --- what a person reads ------------------------------------------------------------------------------

_KIND = {"added": "新增", "removed": "删除", "changed": "修改"}


def describe(diff: VersionDiff) -> list[str]:
    """The diff as lines of Chinese, one per element / field, then one per changed property."""
    if diff.empty:
        return [f"{diff.process_id} 第{diff.old}版与第{diff.new}版没有引擎读取的差异（仅布局或无变化）"]
    lines = [f"{diff.process_id}：第{diff.old}版 → 第{diff.new}版"]
    if diff.elements:
        lines.append(f"元素（{len(diff.elements)} 处变化）：")
    for change in diff.elements:
        title = f"「{change.name}」" if change.name else ""
        lines.append(f"  {_KIND[change.kind]} {change.element_id}{title}（{change.type}）")
        for key, old, new in change.changes:
            lines.append(f"      {LABELS.get(key, key)}：{shown(old)} → {shown(new)}")
    for name in diff.forms_added:
        lines.append(f"表单 {name}：新引用")
    for name in diff.forms_removed:
        lines.append(f"表单 {name}：不再引用")
    if diff.fields:
        lines.append(f"表单字段（{len(diff.fields)} 处变化）：")
    for change in diff.fields:
        lines.append(f"  {_KIND[change.kind]} {change.form} · {change.field}")
        for key, old, new in change.changes:
            label = {"title": "标题", "type": "类型", "enum": "选项", "x-enumNames": "选项名称",
                     "required": "必填", "maxLength": "最大长度", "minLength": "最小长度"}.get(key, key)
            lines.append(f"      {label}：{shown(old)} → {shown(new)}")
    return lines


def shown(value) -> str:
    if value is None:
        return "（无）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str):
        return value if len(value) <= 120 else value[:117] + "…"
    return json.dumps(value, ensure_ascii=False)[:120]
