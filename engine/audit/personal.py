"""Personal data beside the audit log: committed to it by salted hashes, so it can be erased (PIPL).

Which values are personal is declared in one place per kind of input: a form field marked
``"x-personal": true`` in ``forms/*.schema.json`` (the caller's name, phone, address and description of the
hotline record — the same keys as a help request's start data —, a patient's address, phone and condition,
nursing details …), and the request-row columns marked ``info={"personal": True}`` in
:class:`engine.helpdesk.tables.HelpRequest`, which copy them.

When a change brings such a value in (start data, a submitted form), :func:`commit_data` stores it in the
``personal_data`` table with 32 random bytes of salt, and the audit event's payload holds instead::

    {"$personal": "<ref>", "h": sha256(salt || canonical JSON of the value)}

so every event hash, Merkle leaf and signed checkpoint is computed over the commitment, never the value.
The salt keeps a short value (a phone number) from being found by hashing every candidate.

Readers (replay, the auditor's pages, the bundle) call :func:`reveal`: a reference becomes its value while
the row exists, and :data:`ERASED` once it was erased. Erasing deletes the rows (value and salt together,
so nothing is left to confirm a guess against ``h``) and the caller writes an audit event of kind
:data:`ERASED_KIND` naming the references — never the values. :func:`verify` recomputes every stored
value's commitment: a value edited in ``personal_data`` without its event no longer matches, a row no event
commits to was inserted, and a reference gone without an erasure event was deleted unlawfully.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from engine.audit import history
from engine.core.tables import AuditEvent, PersonalData

MARK = "$personal"
ERASED = "已删除（依法删除个人信息）"
ERASED_KIND = "personal_data_erased"


def commitment(salt_hex: str, value_json: str) -> str:
    """``sha256(salt || value)``: the salt's 32 bytes, then the value's canonical JSON in UTF-8."""
    return hashlib.sha256(bytes.fromhex(salt_hex) + value_json.encode("utf-8")).hexdigest()


def is_marker(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {MARK, "h"}


def commit_data(session: Session, chain: str, data: dict, fields: Iterable[str]) -> dict:
    """``data`` with the value of every personal field replaced by its commitment, the values stored in
    ``personal_data`` (one INSERT, in the caller's transaction). Empty values are not personal data."""
    fields = set(fields)
    if not fields or not data:
        return data
    out, rows = dict(data), []
    for key in sorted(fields & data.keys()):
        value = data[key]
        if value is None or value == "" or is_marker(value):
            continue
        ref, salt, text = str(uuid.uuid4()), secrets.token_hex(32), history.canonical_json(value)
        rows.append({"ref": ref, "chain": chain, "field": key, "value": text, "salt": salt})
        out[key] = {MARK: ref, "h": commitment(salt, text)}
    if rows:
        session.connection().execute(insert(PersonalData), rows)
    return out


def markers(value: Any) -> Iterator[dict]:
    """Every commitment inside a payload (data dicts, lists, nested)."""
    if is_marker(value):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from markers(v)
    elif isinstance(value, list):
        for v in value:
            yield from markers(v)


def values(session: Session, refs: Iterable[str]) -> dict[str, Any]:
    """ref -> value for the references still stored (erased ones are absent)."""
    refs = list(set(refs))
    out: dict[str, Any] = {}
    for start in range(0, len(refs), 500):
        for ref, text in session.execute(select(PersonalData.ref, PersonalData.value)
                                         .where(PersonalData.ref.in_(refs[start:start + 500]))):
            out[ref] = json.loads(text)
    return out


def chain_values(session: Session, chain: str) -> dict[str, Any]:
    """ref -> value for every stored personal value of one chain (one query: what a replay needs)."""
    return {ref: json.loads(text) for ref, text in session.execute(
        select(PersonalData.ref, PersonalData.value).where(PersonalData.chain == chain))}


def values_by_chain(session: Session, chains: list[str]) -> dict[str, dict[str, Any]]:
    """:func:`chain_values` of many chains with one query (chain -> ref -> value): replaying a chunk."""
    out: dict[str, dict[str, Any]] = {}
    for chain, ref, text in session.execute(select(PersonalData.chain, PersonalData.ref, PersonalData.value)
                                            .where(PersonalData.chain.in_(chains))):
        out.setdefault(chain, {})[ref] = json.loads(text)
    return out


def reveal(value: Any, known: dict[str, Any]) -> Any:
    """``value`` with each commitment replaced by its stored value, or :data:`ERASED` once erased."""
    if is_marker(value):
        return known.get(value[MARK], ERASED)
    if isinstance(value, dict):
        return {k: reveal(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v, known) for v in value]
    return value


def erase(session: Session, refs: Iterable[str]) -> int:
    """Delete the values and salts of ``refs``; the caller records the erasure in the log."""
    refs = list(set(refs))
    deleted = 0
    for start in range(0, len(refs), 500):
        deleted += session.execute(delete(PersonalData).where(PersonalData.ref.in_(refs[start:start + 500]))).rowcount
    return deleted


def rows_for_bundle(session: Session, refs: Iterable[str]) -> dict[str, dict]:
    """What an export carries per reference: the value's JSON text and salt, or ``{"erased": true}``."""
    refs = set(refs)
    found = {r.ref: {"field": r.field, "value_json": r.value, "salt": r.salt}
             for r in session.scalars(select(PersonalData).where(PersonalData.ref.in_(list(refs))))} if refs else {}
    return {ref: found.get(ref, {"erased": True}) for ref in sorted(refs)}


@dataclass(frozen=True)
class Problem:
    ref: str
    chain: str
    reason: str

    def __str__(self) -> str:
        return f"personal_data {self.ref}（实例 {self.chain}）：{self.reason}"


def verify(session: Session) -> list[Problem]:
    """Every stored personal value against the commitment its event holds, and every commitment against
    the table: altered, inserted, or deleted without an erasure event."""
    committed: dict[str, tuple[str, str]] = {}  # ref -> (h, chain)
    erased: set[str] = set()
    query = (select(AuditEvent.chain, AuditEvent.kind, AuditEvent.payload)
             .where(AuditEvent.payload.like(f'%"{MARK}"%') | (AuditEvent.kind == ERASED_KIND))
             .execution_options(yield_per=2000))
    for chain, kind, text in session.execute(query):
        try:
            payload = json.loads(text)
        except ValueError:
            continue  # an unreadable payload breaks its chain; history.verify reports it
        if kind == ERASED_KIND:
            erased.update(r for r in payload.get("refs", []) if isinstance(r, str))
        for m in markers(payload):
            committed[m[MARK]] = (m["h"], chain)
    problems = []
    seen = set()
    for row in session.execute(select(PersonalData.ref, PersonalData.chain, PersonalData.value, PersonalData.salt)
                               .order_by(PersonalData.chain, PersonalData.ref).execution_options(yield_per=2000)):
        seen.add(row.ref)
        expected = committed.get(row.ref)
        if expected is None:
            problems.append(Problem(row.ref, row.chain, "没有任何审计事件承诺此值：该行是后来插入的"))
        elif row.ref in erased:
            problems.append(Problem(row.ref, row.chain, "已记录为依法删除，却仍然（或重新）存在"))
        else:
            try:
                ok = commitment(row.salt, row.value) == expected[0]
            except ValueError:
                ok = False
            if not ok:
                problems.append(Problem(row.ref, row.chain, "值或盐与审计日志中的哈希承诺不符：个人信息被改动过"))
    for ref, (_h, chain) in sorted(committed.items(), key=lambda kv: (kv[1][1], kv[0])):
        if ref not in seen and ref not in erased:
            problems.append(Problem(ref, chain, "个人信息缺失，且没有依法删除的审计记录：被擅自删除"))
    return problems
