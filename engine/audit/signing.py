"""The checkpoint signing key: Ed25519, kept outside the database, and the signed text of a checkpoint.

Someone who can write the database can rewrite every row and recompute every hash, but cannot sign: the
private key lives in a 0600 file (``LIYUAN_AUDIT_KEY_FILE``, default ``var/audit-signing.key``, written by
``liyuan audit keygen``) or in ``LIYUAN_AUDIT_KEY`` (the 32-byte seed, base64), never in a table. Without a
key the tree is still kept but no checkpoint is signed, and ``liyuan audit verify`` says so.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.core import config

CHECKPOINT_FORMAT = "liyuan-audit-checkpoint/1"
RESTORE_FORMAT = "liyuan-audit-restore/1"


def checkpoint_text(tree_size: int, root_hex: str, at: str) -> bytes:
    """The exact bytes signed: format line, tree size, root (hex), time (ISO 8601 UTC), each on its line."""
    return f"{CHECKPOINT_FORMAT}\n{tree_size}\n{root_hex}\n{at}\n".encode()


def key_file() -> Path:
    return Path(os.environ.get("LIYUAN_AUDIT_KEY_FILE") or config.var_dir() / "audit-signing.key")


def checkpoint_file() -> Path:
    """The append-only copy of every signed checkpoint, outside the database."""
    return Path(os.environ.get("LIYUAN_AUDIT_CHECKPOINT_FILE") or config.var_dir() / "audit-checkpoints.jsonl")


_cache: dict[tuple, Ed25519PrivateKey] = {}


def private_key() -> Ed25519PrivateKey | None:
    """The configured signing key, or None. Parsed once per (source, file mtime): this is on every commit."""
    seed = os.environ.get("LIYUAN_AUDIT_KEY")
    if seed:
        key = ("env", seed)
        if key not in _cache:
            _cache[key] = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))
        return _cache[key]
    path = key_file()
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    key = ("file", str(path), stamp)
    if key not in _cache:
        _cache[key] = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return _cache[key]


def load_private(path: Path) -> Ed25519PrivateKey:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_b64(public: Ed25519PublicKey) -> str:
    return base64.b64encode(raw_public(public)).decode()


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def load_public(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def sign(key: Ed25519PrivateKey, tree_size: int, root_hex: str, at: str) -> str:
    return base64.b64encode(key.sign(checkpoint_text(tree_size, root_hex, at))).decode()


def signature_ok(public: Ed25519PublicKey, tree_size: int, root_hex: str, at: str, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature), checkpoint_text(tree_size, root_hex, at))
    except (InvalidSignature, ValueError):
        return False
    return True


def keygen(path: Path, *, overwrite: bool = False) -> Ed25519PublicKey:
    """Write a new key to ``path`` readable by its owner only (0600); refuses to replace one unless told."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(path, 0o600)
    return key.public_key()


def restore_text(tree_size: int, root: str, at: str) -> bytes:
    """What a "restored to checkpoint N" record's signature covers (:mod:`engine.audit.keys` signs it,
    :mod:`engine.audit.witness` checks it)."""
    return f"{RESTORE_FORMAT}\n{tree_size}\n{root}\n{at}\n".encode()
