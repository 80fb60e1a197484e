#!/usr/bin/env python3
"""Standalone checker for a 荔园物业 audit bundle — hand this one file to an outside audit firm.

Usage::

    pip install cryptography
    python verify_bundle.py BUNDLE.json [--public-key BASE64]

It needs the Python standard library and ``cryptography`` (for Ed25519) and nothing else: no database,
no code of the company. It checks that

1. every event's ``hash`` is ``sha256(prev_hash + canonical_row)`` and the events form one unbroken chain
   from the genesis hash, numbered 1, 2, 3 …;
2. every event is a leaf of the company's Merkle tree (RFC 9162: leaf hash ``SHA-256(0x00 || event hash)``,
   node hash ``SHA-256(0x01 || left || right)``), proven by its inclusion proof against the checkpoint's root;
3. the checkpoint (tree size, root, time) carries a valid Ed25519 signature by the public key — pass the key
   the company published (``--public-key``) so a bundle re-signed with another key is refused;
4. the company's signed export statement (same key) names this instance, its number of events and the
   last event's hash — so an event dropped from the end is noticed too;
5. the pinned BPMN and form files match their sha256 — those of every version the instance ran on, both
   before and after a migration —, and the instance's recorded state is its chain's last;
6. every personal value (name, phone, address, medical detail) the events commit to as
   ``{"$personal": ref, "h": …}`` is in the bundle's ``personal`` section with ``h = sha256(salt || value_json)``,
   or marked ``erased`` (lawfully deleted on the person's request: the events still verify, the value is gone).

Exit status 0 when everything holds, 1 with one line per problem otherwise, 2 when the file is unreadable.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "liyuan-audit-bundle/2"
CHECKPOINT_FORMAT = "liyuan-audit-checkpoint/1"


def leaf_hash(event_hash: str) -> bytes:
    return hashlib.sha256(b"\x00" + event_hash.encode("ascii")).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162, section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, value = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(p, value)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            value = node_hash(value, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and value == root


def check_chain(bundle: dict) -> list[str]:
    problems = []
    prev = bundle["genesis"]
    fields = bundle["canonical_fields"]
    for expected_seq, event in enumerate(bundle["events"], start=1):
        canonical = json.dumps({k: event[k] for k in fields}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        if event["seq"] != expected_seq:
            problems.append(f"事件 seq {event['seq']}：应为第 {expected_seq} 条——有事件被删除或插入")
        if event["prev_hash"] != prev:
            problems.append(f"事件 seq {event['seq']}：prev_hash 与上一条的 hash 不一致")
        if event["hash"] != hashlib.sha256((prev + canonical).encode()).hexdigest():
            problems.append(f"事件 seq {event['seq']}：hash 与内容不符——该事件被改动过")
        prev = event["hash"]
    if not bundle["events"]:
        problems.append("包中没有任何事件")
    return problems


def check_checkpoint(bundle: dict, pinned_key: str | None) -> tuple[list[str], dict | None]:
    cp = bundle.get("checkpoint")
    if not cp:
        return ["包中没有签名检查点：无法证明这些事件属于公司的审计日志"], None
    key_text = pinned_key or cp.get("public_key")
    if not key_text:
        return ["包中没有签名公钥，也未通过 --public-key 提供"], None
    signed = f"{CHECKPOINT_FORMAT}\n{cp['tree_size']}\n{cp['root']}\n{cp['at']}\n".encode()
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key_text)).verify(base64.b64decode(cp["signature"]), signed)
    except (InvalidSignature, ValueError):
        return ["检查点签名无效：它不是由该公钥签署的（或树大小、根、时间被改过）"], None
    return [], cp


def check_statement(bundle: dict, key_text: str) -> list[str]:
    statement, signature = bundle.get("statement"), bundle.get("statement_signature")
    if not statement or not signature:
        return ["包中没有公司签署的导出声明：无法确认事件是否完整"]
    text = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key_text)).verify(base64.b64decode(signature), text)
    except (InvalidSignature, ValueError):
        return ["导出声明的签名无效：声明被改过，或不是由该公钥签署"]
    events = bundle["events"]
    problems = []
    if statement.get("instance_id") != bundle["instance"]["id"]:
        problems.append("导出声明所指的实例与包中的实例不同")
    if statement.get("events") != len(events) or (events and statement.get("head") != events[-1]["hash"]):
        problems.append(f"导出声明记载 {statement.get('events')} 条事件，包中有 {len(events)} 条，"
                        "或最后一条不符——有事件被删去或添加")
    if statement.get("tree_size") != bundle["checkpoint"]["tree_size"]:
        problems.append("导出声明与检查点的树大小不一致")
    return problems


def check_proofs(bundle: dict, cp: dict) -> list[str]:
    problems = []
    size, root = int(cp["tree_size"]), bytes.fromhex(cp["root"])
    for event in bundle["events"]:
        if "leaf" not in event or "proof" not in event:
            problems.append(f"事件 seq {event['seq']}：没有默克尔包含证明")
            continue
        proof = [bytes.fromhex(p) for p in event["proof"]]
        if not verify_inclusion(int(event["leaf"]), size, leaf_hash(event["hash"]), proof, root):
            problems.append(f"事件 seq {event['seq']}（叶子 {event['leaf']}）：包含证明不成立——"
                            "该事件不在已签名的树中，或证明被改过")
    return problems


def check_files(bundle: dict) -> list[str]:
    problems = []
    for f in bundle["files"]:
        if f.get("content_base64") is None:
            problems.append(f"{f['name']}：缺少文件内容")
        elif hashlib.sha256(base64.b64decode(f["content_base64"])).hexdigest() != f["sha256"]:
            problems.append(f"{f['name']}：内容与 sha256 不符")
    instance = bundle["instance"]
    # After a migration the instance ran on more than one version: each version its "started" and
    # "migrated" events name must come with its own files (each file says its version).
    carried = {f.get("version", instance.get("version")) for f in bundle["files"] if f.get("kind") == "bpmn"}
    for event in bundle["events"]:
        if event.get("kind") not in ("started", "migrated"):
            continue
        try:
            payload = json.loads(event["payload"])
        except (TypeError, ValueError):
            continue  # its hash no longer matches: reported by the chain check
        for number in (payload.get("version"), payload.get("from_version"), payload.get("to_version")):
            if number is not None and number not in carried:
                problems.append(f"第 {event['seq']} 条事件（{event['kind']}）所用的第 {number} 版流程图未随审计包提供")
                carried.add(number)  # said once
    recorded = [e["state_fingerprint"] for e in bundle["events"] if e.get("state_fingerprint")]
    if recorded and instance.get("state_fingerprint") != recorded[-1]:
        problems.append("实例的状态指纹与其日志最后记录的状态不一致")
    return problems


def _commitments(value):
    """Every {"$personal": ref, "h": hash} inside an event's payload."""
    if isinstance(value, dict):
        if set(value) == {"$personal", "h"}:
            yield value
        else:
            for v in value.values():
                yield from _commitments(v)
    elif isinstance(value, list):
        for v in value:
            yield from _commitments(v)


def check_personal(bundle: dict) -> tuple[list[str], int, int]:
    """(problems, values checked, values erased)."""
    problems, checked, erased = [], 0, 0
    stored = bundle.get("personal") or {}
    for event in bundle["events"]:
        try:
            payload = json.loads(event["payload"])
        except ValueError:
            continue  # an altered payload: its hash no longer matches, check_chain says so
        for c in _commitments(payload):
            entry = stored.get(c["$personal"])
            if entry is None:
                problems.append(f"事件 seq {event['seq']}：个人信息 {c['$personal']} 既未给出也未标为已删除")
            elif entry.get("erased") is True:
                erased += 1
            else:
                digest = hashlib.sha256(bytes.fromhex(entry["salt"]) + entry["value_json"].encode("utf-8")).hexdigest()
                if digest != c["h"]:
                    problems.append(f"事件 seq {event['seq']}：个人信息 {c['$personal']} 与事件中的哈希承诺不符——被改动过")
                checked += 1
    return problems, checked, erased


def verify(bundle: dict, pinned_key: str | None = None) -> list[str]:
    """Every problem found in ``bundle`` (empty when it holds)."""
    if bundle.get("format") != FORMAT:
        return [f"不支持的格式：{bundle.get('format')!r}（应为 {FORMAT}）"]
    problems = check_chain(bundle)
    cp_problems, cp = check_checkpoint(bundle, pinned_key)
    problems += cp_problems
    if cp is not None:
        problems += check_proofs(bundle, cp)
        problems += check_statement(bundle, pinned_key or cp["public_key"])
    return problems + check_files(bundle) + check_personal(bundle)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="校验荔园物业审计包（无需数据库）")
    parser.add_argument("bundle", help="审计包 JSON 文件")
    parser.add_argument("--public-key", help="公司公布的签名公钥（base64）；不给则使用包内的公钥，并请核对其 key id")
    args = parser.parse_args(argv)
    try:
        with open(args.bundle, encoding="utf-8") as fh:
            bundle = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"无法读取审计包：{exc}", file=sys.stderr)
        return 2
    try:
        problems = verify(bundle, args.public_key)
    except (KeyError, TypeError, ValueError) as exc:
        problems = [f"审计包结构不完整或被改动：{type(exc).__name__}: {exc}"]
    for problem in problems:
        print(f"不通过：{problem}")
    if problems:
        return 1
    cp = bundle["checkpoint"]
    key = base64.b64decode(args.public_key or cp["public_key"])
    print(f"通过：实例 {bundle['instance']['id']} 的 {len(bundle['events'])} 条事件哈希链完整，"
          f"均包含在树大小 {cp['tree_size']} 的已签名检查点（{cp['at']}）中；"
          f"签名公钥 key id {hashlib.sha256(key).hexdigest()[:16]}"
          + ("（已与指定公钥核对）" if args.public_key else "（请与公司公布的公钥核对）"))
    _problems, checked, erased = check_personal(bundle)
    if checked or erased:
        print(f"个人信息：{checked} 项与哈希承诺相符" + (f"，{erased} 项已依法删除（事件仍完整，取值已不在包中）" if erased else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
