"""Erasing a person's personal data on a lawful request (PIPL), with every chain and checkpoint kept valid.

A person is named by a phone number or a resident's username. Their requests are the ``requests`` rows with
that phone or belonging to that resident. For each request, in one transaction:

1. the personal values its log committed to are deleted from ``personal_data`` (value and salt;
   :mod:`engine.audit.personal`): the events keep only ``{"$personal": ref, "h": …}``, so their hashes, the
   Merkle tree and the signed checkpoints are untouched;
2. the stored workflow state gets :data:`~engine.audit.personal.ERASED` in place of every value of a field
   the version marks personal (its fingerprint counts those values as a mask, so it stays the one the log
   recorded), written with ``revision + 1`` like any change;
3. the outbox keeps its messages as rows, their text and number erased, and one-time codes to the number go
   (:func:`engine.notify.outbox.forget`);
3a. the request row is projected again from that state (name, phone, address, description read "已删除…"),
    and the search index forgets the old words (:func:`engine.helpdesk.text_search.purge_erased`);
4. an audit event ``personal_data_erased`` (actor, reason, the references and field names — never the
   values) is appended to the request's chain.

A resident's account loses its display name and phone and is deactivated (the username stays: it names
the actor of their events in the log; signup usernames are phone numbers, see README).
Requests started on a version whose forms marked nothing personal (before this feature) hold their values in
the log itself; they cannot be erased without breaking the chain and are listed in ``legacy`` instead.
Replay after an erasure runs on the placeholders and still reproduces every fingerprint
(:mod:`engine.runtime.replay`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import forms, notify, repository
from engine.audit import history, personal
from engine.core.errors import Conflict, InvalidData, NotFound
from engine.core.tables import AuditEvent, User
from engine.helpdesk import intake, text_search
from engine.helpdesk.tables import HelpRequest
from engine.runtime import all_tasks, current_data, serialization, state_fingerprint, store


@dataclass
class Erased:
    instances: list[str] = field(default_factory=list)
    refs: int = 0
    legacy: list[str] = field(default_factory=list)  # requests whose values are in the log itself
    user: str | None = None  # the resident account scrubbed, if any
    task_ids: list[str] = field(default_factory=list)  # every task of the erased instances (drafts to drop)
    messages: int = 0  # outbox messages whose text and number were erased (the rows stay on record)


def _scrub(value, fields: frozenset[str]) -> tuple[object, int]:
    """The stored state's JSON with every non-empty value of a personal key replaced by the placeholder."""
    if isinstance(value, dict):
        count, out = 0, {}
        for k, v in value.items():
            if k in fields and isinstance(v, str | int | float) and v != "" and v != personal.ERASED:
                out[k] = personal.ERASED
                count += 1
            else:
                out[k], n = _scrub(v, fields)
                count += n
        return out, count
    if isinstance(value, list):
        items = [_scrub(v, fields) for v in value]
        return [v for v, _n in items], sum(n for _v, n in items)
    return value, 0


def find(session: Session, person: str) -> tuple[User | None, list[str]]:
    """The resident account and the request instance ids that belong to ``person`` (phone or username)."""
    person = person.strip()
    phone = forms.normalise_phone(person)
    user = session.scalar(select(User).where(or_(User.username == person, User.phone == phone)))
    names = {person} | ({user.username} if user is not None else set())
    phones = {phone} | ({user.phone} if user is not None and user.phone else set())
    ids = list(session.scalars(select(HelpRequest.instance_id).where(
        or_(HelpRequest.phone.in_(phones), HelpRequest.customer_username.in_(names)))
        .order_by(HelpRequest.created_at)))
    return user, ids


def erase_person(session: Session, person: str, actor: str, reason: str = "") -> Erased:
    """Erase everything personal of ``person`` in the caller's transaction (see the module docstring)."""
    if not (person or "").strip():
        raise InvalidData({"person": "请填写要删除个人信息的人：电话号码或住户账号"})
    if len(reason) > 500:
        raise InvalidData({"reason": "删除依据最多填写500个字"})
    user, ids = find(session, person)
    if user is not None and user.role_codes - {"customer"}:
        raise InvalidData({"person": f"{user.username} 是工作人员账号，不是住户：工作人员的资料请在用户管理中处理"})
    if user is None and not ids:
        raise NotFound("找不到此人：没有该电话或账号的求助记录，也没有该住户账号")
    out = Erased()
    phones = {forms.normalise_phone(person.strip())}
    if user is not None:
        phones |= {p for p in (user.phone, user.pending_phone) if p}
    for iid in ids:
        _erase_instance(session, iid, actor, reason, out)
    out.messages = notify.outbox.forget(session, out.instances, phones, personal.ERASED)
    if user is not None:
        user.display_name, user.phone, user.is_active = personal.ERASED, None, False
        user.pending_phone = None  # a number claimed but not proven is personal data too
        history.append(session, "management", actor, personal.ERASED_KIND, element_id=str(user.id),
                       payload={"user_id": user.id, "fields": ["display_name", "phone", "pending_phone"],
                                "reason": reason,
                                "instances": out.instances})
        out.user = user.username
    session.flush()  # the request rows rewritten: the search index's trigger has dropped their old words …
    if out.instances:
        text_search.purge_erased(session)  # … and no segment of the index keeps them
    return out


def _erase_instance(session: Session, iid: str, actor: str, reason: str, out: Erased) -> None:
    found = store.load(session, iid, lock=True)
    if found is None:
        return
    instance, row = found
    version = repository.load(session, row)
    fields = version.personal_fields
    texts = session.scalars(select(AuditEvent.payload).where(AuditEvent.chain == iid).order_by(AuditEvent.seq))
    committed = sorted({m[personal.MARK] for text in texts for m in personal.markers(json.loads(text))})
    if not fields:
        out.legacy.append(iid)
        return
    personal.erase(session, committed)
    scrubbed, count = _scrub(json.loads(instance.state), fields)
    wf = serialization.loads(json.dumps(scrubbed), version.spec, version.subprocess_specs)
    out.task_ids += [str(t.id) for t in all_tasks(wf)]
    if count:
        instance.state = serialization.dumps(wf)
        instance.state_fingerprint = state_fingerprint(wf, fields)
        head = store.write(session, instance)
        if head is False:  # cannot happen under the row lock; never write half an erasure
            raise Conflict("此求助刚被他人更新，删除未执行，请重试")
        history.known_head(session, iid, head)
        values = intake.projection(instance.process_id, current_data(wf))
        if values is not None:
            intake.sync(session, instance, values, ended=False)
    history.append(session, iid, actor, personal.ERASED_KIND,
                   payload={"refs": committed, "fields": sorted(fields), "reason": reason},
                   state_fingerprint=instance.state_fingerprint)
    out.instances.append(iid)
    out.refs += len(committed)
