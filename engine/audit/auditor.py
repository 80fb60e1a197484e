"""What an auditor reads: the instances to choose from, a replay told step by step, and the audit bundle.

The bundle is one JSON document an outsider can check without our code: every event of the instance with
its ``prev_hash`` and ``hash`` (``hash = sha256(prev_hash + canonical row)``, see :mod:`engine.audit.history`),
its leaf number and inclusion proof in the Merkle tree, the signed checkpoint those proofs lead to with the
public key, and the pinned BPMN and form files of every version the instance ran on (both, after a
migration) with their sha256. The firm runs
:mod:`engine.audit.verify_bundle` (one file, handed over as is) on it. :func:`check_bundle` is
the same check written out, so the rule documented on the audit page is the rule the tests run.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import history, personal, signing, tree
from engine.core import clock
from engine.core.tables import AuditEvent, Blob, Instance, ProcessVersion

BUNDLE_FORMAT = "liyuan-audit-bundle/2"
STATEMENT_FORMAT = "liyuan-audit-export/1"
MERKLE_RULE = ("默克尔树按 RFC 9162：叶子哈希 = SHA-256(0x00 || 事件 hash 的 ASCII 字节)，"
               "节点哈希 = SHA-256(0x01 || 左 || 右)；检查点签名（Ed25519）的内容为 signed_text。")
HASH_RULE = ("hash = sha256(prev_hash + canonical_row)，其中 canonical_row 为 JSON："
             "取 chain, seq, at, actor, kind, element_id, payload, state_fingerprint 八个字段，"
             "键按字母排序、不转义中文、分隔符为 \",\" 与 \":\"（无空格）；第一行的 prev_hash 为 64 个 \"0\"。")

PERSONAL_RULE = ("个人信息不在事件中：事件 payload 中的 {\"$personal\": ref, \"h\": …} 是承诺，"
                 "h = sha256(salt 的 32 字节 || value_json 的 UTF-8 字节)；personal 中给出尚存的 value_json 与 salt，"
                 "已依法删除的标为 erased。")

# Chinese names of audit event kinds, for auditors (the request page tells the same events as a story).
KIND_NAMES = {
    "started": "流程启动", "task_completed": "完成任务", "task_reached": "到达任务", "task_claimed": "领取任务",
    "task_released": "退回任务", "task_assigned": "派单", "task_cancelled": "任务取消", "timer_fired": "计时器触发",
    "escalated": "超时升级", "instance_completed": "流程结束", "urged": "住户催单", "data_edited": "修改资料",
    "deployed": "发布流程版本", "incident_raised": "出现异常", "incident_retried": "异常重试",
    "key_rotated": "签名密钥轮换", "restored": "从备份恢复（已签名）",
    "personal_data_erased": "依法删除个人信息",
    "migrated": "迁移到新版本",
}

BREAK_REASONS = {  # history.Break.reason (English, for logs and the CLI) -> what the auditor reads
    "expected seq": "序号不连续：有记录被删除或插入",
    "prev_hash": "prev_hash 与上一条记录的哈希不一致",
    "hash does not match": "哈希与记录内容不一致：该记录被修改过",
}


def shown(value) -> str:
    """A data value as an auditor reads it: JSON, Chinese left as Chinese."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


REPLAY_ERRORS = {  # engine.runtime.replay.Replay.error prefixes -> what the auditor reads
    "replayed state differs": "重放得到的状态与实例保存的状态不一致：保存的状态被修改过",
    "the instance's stored state cannot be read": "实例保存的（压缩）状态无法读取：保存的状态被修改过",
}


def replay_error(text: str | None) -> str | None:
    if not text:
        return text
    return next((zh for key, zh in REPLAY_ERRORS.items() if text.startswith(key)), f"记录的输入无法在该版本上重放（{text}）")


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind)


def break_reason(reason: str) -> str:
    return next((zh for key, zh in BREAK_REASONS.items() if reason.startswith(key) or key in reason), reason)


# --- choosing an instance -------------------------------------------------------------------------------

# --- replay, told as differences -------------------------------------------------------------------------

@dataclass
class StepView:
    """One replayed step with what it changed: the input's keys and the ready user tasks."""

    step: object  # engine.runtime.replay.Step
    changed: dict[str, tuple[object, object]] = field(default_factory=dict)  # key -> (before, after)
    ready_added: list[str] = field(default_factory=list)
    ready_removed: list[str] = field(default_factory=list)

    @property
    def at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.step.at)


def step_views(steps) -> list[StepView]:
    """Each step against the one before: input keys that are new or differ, tasks that became or stopped
    being ready. The input is accumulated (later forms overwrite earlier values), as the workflow data is."""
    data: dict = {}
    ready: list[str] = []
    out = []
    for step in steps:
        changed = {k: (data.get(k), v) for k, v in (step.data or {}).items() if data.get(k, _MISSING) != v}
        data.update(step.data or {})
        out.append(StepView(step, changed, [t for t in step.ready if t not in ready],
                            [t for t in ready if t not in step.ready]))
        ready = list(step.ready)
    return out


_MISSING = object()


# --- the audit bundle -------------------------------------------------------------------------------------

def _event_dict(row: AuditEvent) -> dict:
    return {"id": row.id, "chain": row.chain, "seq": row.seq,
            "at": clock.as_utc(row.at).isoformat(timespec="microseconds"), "actor": row.actor,
            "kind": row.kind, "element_id": row.element_id, "payload": row.payload,
            "state_fingerprint": row.state_fingerprint, "prev_hash": row.prev_hash, "hash": row.hash}


def export_bundle(session: Session, instance_id: str) -> dict | None:
    """The instance's audit bundle (``None`` when there is no such instance)."""
    instance = session.get(Instance, instance_id)
    if instance is None:
        return None
    version = session.get(ProcessVersion, instance.version_id)
    _, breaks = history.verify(session, instance_id)
    rows = history.events(session, instance_id)
    versions = _versions_on(session, instance, version, rows)
    pins = [(v.version, "bpmn", n, s) for v in versions for n, s in v.files.items()] + [
        (v.version, "form", n, s) for v in versions for n, s in v.forms.items()]
    blobs = {b.sha256: b for b in session.scalars(select(Blob).where(Blob.sha256.in_({s for *_r, s in pins})))}
    files = []
    for number, kind, name, sha in pins:
        blob = blobs.get(sha)
        files.append({"kind": kind, "name": name, "sha256": sha, "version": number,
                      "content_base64": base64.b64encode(blob.content).decode() if blob else None})
    checkpoint, proofs = tree.inclusion(session, [r.id for r in rows])
    events = []
    for row in rows:
        event = _event_dict(row)
        if row.id in proofs:
            event["leaf"], event["proof"] = proofs[row.id]
        events.append(event)
    bundle = {
        "format": BUNDLE_FORMAT,
        "exported_at": clock.now().isoformat(timespec="seconds"),
        "hash_rule": HASH_RULE,
        "canonical_fields": ["chain", "seq", "at", "actor", "kind", "element_id", "payload", "state_fingerprint"],
        "genesis": history.GENESIS,
        "instance": {"id": instance.id, "process_id": instance.process_id, "version": version.version,
                     "version_fingerprint": version.fingerprint, "bpmn_file": version.bpmn_file,
                     "bpmn_sha256": version.bpmn_sha256, "status": instance.status,
                     "started_by": instance.started_by,
                     "started_at": clock.as_utc(instance.started_at).isoformat(timespec="seconds"),
                     "state_fingerprint": instance.state_fingerprint,
                     # every version the instance ran on, in order (more than one after a migration): the
                     # files below name theirs, so a replay follows the "migrated" events across them
                     "versions": [{"version": v.version, "version_fingerprint": v.fingerprint,
                                   "bpmn_file": v.bpmn_file, "bpmn_sha256": v.bpmn_sha256} for v in versions]},
        "chain_ok_at_export": not breaks,
        "merkle_rule": MERKLE_RULE,
        "checkpoint": checkpoint,
        "events": events,
        "personal_rule": PERSONAL_RULE,
        # ref -> {"field", "value_json", "salt"} while stored, {"erased": true} once lawfully erased
        "personal": personal.rows_for_bundle(
            session, {m[personal.MARK] for r in rows for m in personal.markers(history.payload_of(r))}),
        "files": files,
    }
    bundle["statement"], bundle["statement_signature"] = _statement(instance_id, rows, checkpoint)
    return bundle


def _versions_on(session: Session, instance: Instance, current: ProcessVersion, rows: list[AuditEvent]) -> list:
    """The versions the instance ran on, in order: the one its "started" event names, then each version a
    "migrated" event moved it to (the current one last)."""
    numbers = [history.payload_of(r).get("version") for r in rows if r.kind == "started"]
    numbers += [history.payload_of(r).get("to_version") for r in rows if r.kind == "migrated"]
    out = []
    for number in dict.fromkeys(n for n in numbers if n is not None and n != current.version):
        row = session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == instance.process_id,
                                                          ProcessVersion.version == number))
        if row is not None:
            out.append(row)
    return [*out, current]


def _statement(instance_id: str, rows: list[AuditEvent], checkpoint: dict | None) -> tuple[dict | None, str | None]:
    """What the company attests by signing the export: this is the *whole* chain of the instance (so an
    event dropped from the end of the bundle shows), as contained in the checkpoint's tree."""
    key = signing.private_key()
    if key is None or checkpoint is None or not rows:
        return None, None
    statement = {"format": STATEMENT_FORMAT, "instance_id": instance_id, "events": len(rows),
                 "head": rows[-1].hash, "tree_size": checkpoint["tree_size"]}
    text = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    return statement, base64.b64encode(key.sign(text)).decode()


def check_bundle(bundle: dict) -> list[str]:
    """Problems found by an outsider's check of a bundle (empty when everything holds).

    Written against the bundle alone, with the standard library, exactly as the audit page documents it.
    """
    problems = []
    prev = bundle["genesis"]
    fields = bundle["canonical_fields"]
    for expected_seq, event in enumerate(bundle["events"], start=1):
        canonical = json.dumps({k: event[k] for k in fields}, sort_keys=True, ensure_ascii=False,
                               separators=(",", ":"))
        digest = hashlib.sha256((prev + canonical).encode()).hexdigest()
        if event["seq"] != expected_seq:
            problems.append(f"seq {event['seq']}: expected seq {expected_seq}")
        if event["prev_hash"] != prev:
            problems.append(f"seq {event['seq']}: prev_hash does not match")
        if event["hash"] != digest:
            problems.append(f"seq {event['seq']}: hash does not match the row")
        prev = event["hash"]
    stored = bundle.get("personal") or {}
    for event in bundle["events"]:
        try:
            payload = json.loads(event["payload"])
        except ValueError:
            continue  # its hash no longer matches: reported above
        for m in personal.markers(payload):
            entry = stored.get(m[personal.MARK])
            if entry is None:
                problems.append(f"seq {event['seq']}: personal value {m[personal.MARK]} missing")
            elif not entry.get("erased") and personal.commitment(entry["salt"], entry["value_json"]) != m["h"]:
                problems.append(f"seq {event['seq']}: personal value {m[personal.MARK]} does not match its commitment")
    for f in bundle["files"]:
        if f["content_base64"] is None:
            problems.append(f"{f['name']}: content missing")
        elif hashlib.sha256(base64.b64decode(f["content_base64"])).hexdigest() != f["sha256"]:
            problems.append(f"{f['name']}: sha256 does not match the content")
    return problems
