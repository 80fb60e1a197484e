"""A second approver for publishing (issue 14, item 5): when the admin turns it on (管理 → 发布审批, stored in
``desk_settings``), a process owner's 发布 or 恢复为此版本 does not deploy: it becomes a *pending publication*
that a 公司经理 approves — then it is deployed as the next version, with the process owner as its author and
the manager as its approver — or refuses with a written reason, and the published version stays as it was.

Why a pending row holds the exact bytes: the manager approves what the process owner checked (the diff and
the change note shown to both are computed from it), not whatever the editor holds later. A pending
publication is asked against the latest version of its process; when another version was published meanwhile
it can no longer be approved (its diff would be against a version nobody reviewed it with) and the process
owner asks again. A new request for the same process replaces the one still waiting. Nobody approves their
own request, whatever roles they hold. Every step is an event on the ``repository`` audit chain.

Off by default: the demo keeps its one-step publish.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import repository
from engine.audit import history
from engine.core import clock
from engine.helpdesk.tables import DeskSetting, PendingPublication
from engine.repository import editing

KEY = "publish_second_approver"
CHAIN = "repository"


class ApprovalError(ValueError):
    """A decision that cannot be taken (message in Chinese)."""


def required(session: Session) -> bool:
    row = session.get(DeskSetting, KEY)
    return row is not None and row.value == "on"


def set_required(session: Session, on: bool, actor: str) -> None:
    value = "on" if on else "off"
    row = session.get(DeskSetting, KEY)
    if row is None:
        session.add(DeskSetting(key=KEY, value=value, updated_at=clock.now(), updated_by=actor))
    else:
        row.value, row.updated_at, row.updated_by = value, clock.now(), actor
    history.append(session, CHAIN, actor, "publish_approval_setting", payload={"required": on})
    session.flush()


def setting_row(session: Session) -> DeskSetting | None:
    return session.get(DeskSetting, KEY)


def request_edit(session: Session, process_id: str, xml: bytes, forms: dict[str, bytes], note: str,
                 actor: str) -> PendingPublication:
    """Ask for the edit to be published; the caller has already checked it (validator, scenarios)."""
    editing.bundle_for(session, process_id, xml, forms)  # unknown process, empty or oversized: EditError
    return _ask(session, process_id, "edit", actor, note, xml=xml.decode("utf-8"),
                forms={name: data.decode("utf-8") for name, data in forms.items()})


def request_revert(session: Session, process_id: str, number: int, note: str, actor: str) -> PendingPublication:
    if repository.get_version(session, process_id, number) is None:
        raise editing.EditError(f"流程 {process_id} 没有第{number}版")
    return _ask(session, process_id, "revert", actor, note, revert_to=number)


def _ask(session: Session, process_id: str, kind: str, actor: str, note: str, *, xml: str = "",
         forms: dict[str, str] | None = None, revert_to: int | None = None) -> PendingPublication:
    if not note.strip():
        raise editing.EditError("请填写变更说明：改了什么、为什么改（将记入版本历史）")
    latest = repository.latest_version(session, process_id)
    if latest is None:
        raise editing.EditError(f"流程 {process_id} 尚未发布")
    for old in waiting(session, process_id):
        old.status, old.decided_at = "superseded", clock.now()
        history.append(session, CHAIN, actor, "publication_superseded", element_id=process_id,
                       payload={"pending_id": old.id, "process_id": process_id})
    row = PendingPublication(process_id=process_id, base_version=latest.version, kind=kind, revert_to=revert_to,
                             xml=xml, forms=json.dumps(forms or {}, ensure_ascii=False, sort_keys=True),
                             note=note.strip(), requested_by=actor, requested_at=clock.now(), status="pending",
                             reason="")
    session.add(row)
    session.flush()
    history.append(session, CHAIN, actor, "publication_requested", element_id=process_id,
                   payload={"pending_id": row.id, "process_id": process_id, "kind": kind,
                            "base_version": latest.version, "note": row.note,
                            **({"revert_to": revert_to} if revert_to else {})})
    return row


def waiting(session: Session, process_id: str | None = None) -> list[PendingPublication]:
    query = select(PendingPublication).where(PendingPublication.status == "pending")
    if process_id is not None:
        query = query.where(PendingPublication.process_id == process_id)
    return list(session.scalars(query.order_by(PendingPublication.id)))


def forms_of(row: PendingPublication) -> dict[str, bytes]:
    return {name: text.encode("utf-8") for name, text in json.loads(row.forms or "{}").items()}


def approvals(session: Session) -> dict[tuple[str, int], PendingPublication]:
    """(process id, version) -> the approved request it was published from: the version list's 批准人."""
    rows = session.scalars(select(PendingPublication).where(PendingPublication.status == "approved"))
    return {(r.process_id, r.version): r for r in rows}


def _pending(session: Session, pending_id: int, actor: str) -> PendingPublication:
    row = session.get(PendingPublication, pending_id, with_for_update=True)
    if row is None or row.status != "pending":
        raise ApprovalError("这项发布申请已处理或已被新的申请取代")
    if row.requested_by == actor:
        raise ApprovalError("不能审批自己提交的发布申请：须由另一位公司经理审批")
    return row


def stale(session: Session, row: PendingPublication) -> bool:
    """Another version was published after this was asked for."""
    return repository.latest_version(session, row.process_id).version != row.base_version


def approve(session: Session, pending_id: int, actor: str) -> editing.Published:
    """Deploy the request as the next version (author: the process owner; approver recorded beside it)."""
    row = _pending(session, pending_id, actor)
    if stale(session, row):
        latest = repository.latest_version(session, row.process_id).version
        raise ApprovalError(f"提交后已发布了第{latest}版，此申请所示的变更已不准确：请拒绝，由流程负责人重新提交")
    if row.kind == "revert":
        published = editing.revert(session, row.process_id, row.revert_to, row.requested_by, row.note)
    else:
        published = editing.publish(session, row.process_id, row.xml.encode("utf-8"), row.requested_by,
                                    row.note, forms_of(row))
    row.status, row.decided_by, row.decided_at = "approved", actor, clock.now()
    row.version = published.version if published.created else None
    history.append(session, CHAIN, actor, "publication_approved", element_id=row.process_id,
                   payload={"pending_id": row.id, "process_id": row.process_id, "version": published.version,
                            "created": published.created, "requested_by": row.requested_by, "approved_by": actor})
    session.flush()
    return published


def refuse(session: Session, pending_id: int, actor: str, reason: str) -> PendingPublication:
    if not (reason or "").strip():
        raise ApprovalError("请写明拒绝的理由（流程负责人会看到）")
    row = _pending(session, pending_id, actor)
    row.status, row.decided_by, row.decided_at, row.reason = "refused", actor, clock.now(), reason.strip()
    history.append(session, CHAIN, actor, "publication_refused", element_id=row.process_id,
                   payload={"pending_id": row.id, "process_id": row.process_id, "requested_by": row.requested_by,
                            "reason": row.reason})
    session.flush()
    return row


def recent(session: Session, process_id: str | None = None, limit: int = 20) -> list[PendingPublication]:
    """The latest requests of any status (the process owner sees what became of theirs)."""
    query = select(PendingPublication)
    if process_id is not None:
        query = query.where(PendingPublication.process_id == process_id)
    return list(session.scalars(query.order_by(PendingPublication.id.desc()).limit(limit)))
