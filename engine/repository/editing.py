"""A process owner's edit of one deployed diagram: validate it and publish it as the next version.

The bundle is the edited file plus the forms: the forms the latest version pinned (so editing a diagram
never silently picks up a form changed on disk) and, for form names that version did not use, the files
in ``forms/``. Processes the diagram calls are *not* put in the bundle: they are deployed already, and
the repository pins their latest versions when it deploys this one. Putting the called files in would
redeploy whatever copy this version happened to pin over a newer version of a called process.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import repository
from engine.core import config
from engine.core.tables import Blob, Deployment, Instance, ProcessVersion
from engine.repository.bundle import Bundle, SourceFile
from engine.repository.validation import InvalidBundle, Problem, validate

MAX_BYTES = 5 * 1024 * 1024


class EditError(ValueError):
    """The edit cannot even be checked (unknown process, empty or oversized file); message in Chinese."""


@dataclass(frozen=True)
class Published:
    process_id: str
    version: int
    created: bool


@dataclass(frozen=True)
class VersionRow:
    version: ProcessVersion
    deployment: Deployment
    running: int  # instances still running on this version


def versions(session: Session) -> dict[str, list[VersionRow]]:
    """Every deployed version, newest first per process, with who deployed it and what still runs on it."""
    from sqlalchemy import func

    running = dict(session.execute(select(Instance.version_id, func.count())
                                   .where(Instance.status.in_(("running", "incident")))
                                   .group_by(Instance.version_id)).all())
    deployments = {d.id: d for d in session.scalars(select(Deployment))}
    out: dict[str, list[VersionRow]] = {}
    for v in reversed(repository.list_versions(session)):
        out.setdefault(v.process_id, []).append(VersionRow(v, deployments[v.deployment_id], running.get(v.id, 0)))
    return dict(sorted(out.items()))


def bundle_for(session: Session, process_id: str, content: bytes, forms: dict[str, bytes] | None = None) -> Bundle:
    latest = repository.latest_version(session, process_id)
    if latest is None:
        raise EditError(f"流程 {process_id} 尚未发布")
    if not content.strip():
        raise EditError("流程图内容为空")
    if len(content) > MAX_BYTES:
        raise EditError("流程图文件过大（超过 5 MB）")
    bundle = Bundle()
    forms_dir = config.forms_dir()
    if forms_dir.is_dir():
        for f in sorted(forms_dir.glob("*.json")):
            bundle.forms[f.name] = SourceFile(f.name, f"forms/{f.name}", f.read_bytes())
    for blob in session.scalars(select(Blob).where(Blob.sha256.in_(list(latest.forms.values())))):
        for name, sha in latest.forms.items():
            if sha == blob.sha256:
                bundle.forms[name] = SourceFile(name, name, blob.content)
    bundle.bpmn[latest.bpmn_file] = SourceFile(latest.bpmn_file, latest.bpmn_file, content)
    for name, data in (forms or {}).items():  # forms edited beside the diagram (the studio's field titles)
        if name not in bundle.forms:
            raise EditError(f"表单 {name} 不存在（只能修改已有的表单）")
        if len(data) > MAX_BYTES:
            raise EditError(f"表单 {name} 过大（超过 5 MB）")
        bundle.forms[name] = SourceFile(name, f"编辑中/{name}", data)
    return bundle


def check(session: Session, process_id: str, content: bytes, forms: dict[str, bytes] | None = None) -> list[Problem]:
    bundle = bundle_for(session, process_id, content, forms)
    problems = validate(bundle, repository.deployed_process_ids(session))
    return problems or _still_defines(bundle, process_id)


def publish(session: Session, process_id: str, content: bytes, actor: str, note: str = "",
            forms: dict[str, bytes] | None = None) -> Published:
    """Deploy the edit inside the caller's transaction; raises InvalidBundle (nothing written) on problems.

    A version's change note is required: the version list is the process's history, read by whoever
    asks later why a deadline moved."""
    _require_note(note)
    bundle = bundle_for(session, process_id, content, forms)
    missing = _still_defines(bundle, process_id)
    if missing:
        raise InvalidBundle(missing)
    results = repository.deploy(session, bundle, actor=actor, note=note)
    mine = next(r for r in results if r.process_id == process_id)
    return Published(process_id, mine.version, mine.created)


def revert(session: Session, process_id: str, number: int, actor: str, note: str) -> Published:
    """Publish version ``number``'s content (its diagram and the forms it pinned) as a new version.

    Versions are immutable, so going back is going forward: the history keeps the version that is being
    undone, and instances on it keep running on it (or are migrated). Processes the diagram calls are
    pinned at their latest versions, as for any edit.
    """
    _require_note(note)
    old = repository.get_version(session, process_id, number)
    if old is None:
        raise EditError(f"流程 {process_id} 没有第{number}版")
    latest = repository.latest_version(session, process_id)
    bundle = Bundle()
    blobs = {b.sha256: b for b in session.scalars(
        select(Blob).where(Blob.sha256.in_([old.bpmn_sha256, *old.forms.values()])))}
    bundle.bpmn[old.bpmn_file] = SourceFile(old.bpmn_file, f"第{number}版/{old.bpmn_file}",
                                            blobs[old.bpmn_sha256].content)
    for name, sha in old.forms.items():
        bundle.forms[name] = SourceFile(name, f"第{number}版/{name}", blobs[sha].content)
    results = repository.deploy(session, bundle, actor=actor,
                                note=f"恢复为第{number}版（此前最新为第{latest.version}版）：{note.strip()}")
    mine = next(r for r in results if r.process_id == process_id)
    return Published(process_id, mine.version, mine.created)


def _require_note(note: str | None) -> None:
    if not isinstance(note, str) or not note.strip():
        raise EditError("请填写变更说明：改了什么、为什么改（将记入版本历史）")


def _still_defines(bundle: Bundle, process_id: str) -> list[Problem]:
    """An edit that renamed the process id would deploy a new process instead of a new version."""
    from lxml import etree

    from engine.repository.validation import BPMN_NS

    (source,) = bundle.bpmn.values()
    try:
        tree = etree.fromstring(source.content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:  # a broken file posted by the editor: a problem to show, not a 500
        return [Problem(source.name, exc.lineno or 0, "", f"XML 格式错误：{exc.msg}")]
    ids = [p.get("id") for p in tree.iter(f"{{{BPMN_NS}}}process")]
    if process_id in ids:
        return []
    return [Problem(source.name, 0, "", f"the diagram no longer defines process '{process_id}' "
                                        f"(found: {', '.join(filter(None, ids)) or 'none'})")]
