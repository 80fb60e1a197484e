"""Key rotation and lawful restores: signed records that tell them apart from a forger's rollback.

A **rotation** introduces a new signing key by a record signed by the old key *and* the new one (so neither a
thief of the old key alone nor a stranger's key can introduce itself). A **restore** record says, signed by
the key in force, "the database was restored to checkpoint N": checkpoints published before it for a larger
tree belong to the history the restore discarded, and verification reports them as such instead of as
deleted events. Both records go to the published checkpoint file (outside the database) and become events
of the ``audit`` chain, so they are leaves of the tree like everything else.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from sqlalchemy.orm import Session

from engine.audit import history, signing, tree
from engine.core import clock

CHAIN = "audit"
ROTATION_FORMAT = "liyuan-audit-rotation/1"
RESTORE_FORMAT = signing.RESTORE_FORMAT


def rotation_text(old_public: str, new_public: str, at: str) -> bytes:
    return f"{ROTATION_FORMAT}\n{old_public}\n{new_public}\n{at}\n".encode()


restore_text = signing.restore_text  # what a restore record's signature covers (a witness checks it too)


def _sig_ok(public_b64: str, signature: str, text: bytes) -> bool:
    try:
        signing.load_public(public_b64).verify(base64.b64decode(signature), text)
    except (InvalidSignature, ValueError):
        return False
    return True


def _now() -> str:
    return clock.now().astimezone(clock.UTC).isoformat(timespec="seconds")


def rotate(session: Session, path: Path, actor: str) -> dict:
    """Replace the key at ``path`` by a new one, introduced by a record both keys sign. The old key file is
    kept beside it (``.retired-<key id>``): checkpoints it signed stay checkable with its public key."""
    old = signing.private_key()
    if old is None:
        raise FileNotFoundError("没有正在使用的签名密钥：请先运行 liyuan audit keygen")
    staged = path.with_name(path.name + ".new")
    new_public = signing.keygen(staged, overwrite=True)
    new = signing.load_private(staged)
    at = _now()
    old_b64, new_b64 = signing.public_b64(old.public_key()), signing.public_b64(new_public)
    text = rotation_text(old_b64, new_b64, at)
    record = {"record": "rotation", "old_public_key": old_b64, "new_public_key": new_b64, "at": at,
              "old_key_id": signing.key_id(old.public_key()), "new_key_id": signing.key_id(new_public),
              "old_signature": base64.b64encode(old.sign(text)).decode(),
              "new_signature": base64.b64encode(new.sign(text)).decode()}
    tree.append_published(record)
    retired = path.with_name(f"{path.name}.retired-{record['old_key_id']}")
    os.replace(path, retired)
    os.replace(staged, path)
    history.append(session, CHAIN, actor, "key_rotated", element_id=record["new_key_id"], payload=record)
    return record


def restored(session: Session, actor: str) -> dict:
    """Record that the database now holds the tree as of its last signed checkpoint, after a restore.

    Refused unless the tree in the database is exactly what a checkpoint signed: a restore goes back to a
    state the company attested, never to one made up."""
    key = signing.private_key()
    if key is None:
        raise FileNotFoundError("没有签名密钥：无法签署恢复记录")
    size, root = tree.current_root(session)
    signed = {int(r["tree_size"]): r["root"] for r in tree.published() if "record" not in r and "tree_size" in r}
    checkpoint = tree.latest_checkpoint(session)
    if checkpoint is not None:
        signed.setdefault(checkpoint.tree_size, checkpoint.root)
    if signed.get(size) != root:
        raise ValueError(f"数据库中的树（大小 {size}）不是任何已签名检查点：这不是一次对已签名状态的恢复")
    at = _now()
    record = {"record": "restore", "tree_size": size, "root": root, "at": at,
              "key_id": signing.key_id(key.public_key()),
              "signature": base64.b64encode(key.sign(restore_text(size, root, at))).decode()}
    tree.append_published(record)
    history.append(session, CHAIN, actor, "restored", element_id=str(size), payload=record)
    return record


@dataclass
class Trust:
    keys: dict[str, str]  # key id -> public key (base64) whose signatures count
    restores: list[tuple[int, dict]]  # (line position in the published file, record)
    problems: list[str]


def trust(anchor_b64: str, records: list[tuple[int, dict]]) -> Trust:
    """The keys to accept: the anchor, and every key a valid rotation links to an accepted one (either way:
    both keys sign each rotation). Restore records count when signed by an accepted key."""
    keys = {signing.key_id(signing.load_public(anchor_b64)): anchor_b64}
    problems: list[str] = []
    rotations = [(i, r) for i, r in records if r.get("record") == "rotation"]
    valid = []
    for i, r in rotations:
        text = rotation_text(r["old_public_key"], r["new_public_key"], r["at"])
        if _sig_ok(r["old_public_key"], r["old_signature"], text) and _sig_ok(r["new_public_key"], r["new_signature"], text):
            valid.append(r)
        else:
            problems.append(f"密钥轮换记录（{r.get('source', i)}）的签名无效：伪造的轮换")
    grew = True
    while grew:
        grew = False
        for r in valid:
            ids = {signing.key_id(signing.load_public(r["old_public_key"])): r["old_public_key"],
                   signing.key_id(signing.load_public(r["new_public_key"])): r["new_public_key"]}
            if ids.keys() & keys.keys() and not ids.keys() <= keys.keys():
                keys.update(ids)
                grew = True
    for r in valid:
        ids = {signing.key_id(signing.load_public(r["old_public_key"])), signing.key_id(signing.load_public(r["new_public_key"]))}
        if not ids & keys.keys():
            problems.append(f"密钥轮换记录（{r.get('source')}）与本系统的密钥无关：伪造的轮换")
    restores = []
    for i, r in records:
        if r.get("record") != "restore":
            continue
        public = keys.get(r.get("key_id"))
        if public and _sig_ok(public, r["signature"], restore_text(int(r["tree_size"]), r["root"], r["at"])):
            restores.append((i, r))
        else:
            problems.append(f"恢复记录（{r.get('source', i)}）的签名无效：伪造的恢复")
    return Trust(keys, restores, problems)
