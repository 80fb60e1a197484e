"""The append-only audit log and what an auditor does with it.

``history``: appending events to per-instance hash chains and verifying them (every room that changes
state writes here, so this room stands low, just above core). ``tree``: every event also a leaf of one
global RFC 9162 Merkle tree (``merkle``), sealed as each transaction commits, with checkpoints signed by a
key outside the database (``signing``) and published to a file; ``tree_verify`` checks the tree against
them. ``personal``: names, phones, addresses and medical details kept beside the log, committed to it by
salted hashes, so a person's data can be erased with every chain and checkpoint intact. ``verify_bundle``: the one-file checker an outside firm runs on an exported bundle. ``auditor``: what an auditor reads (kind
names, replay steps told in Chinese, the self-checking bundle). ``backup``: a consistent, verified copy of
the embedded database. Replaying an instance re-applies its steps, so it lives with the runtime
(:mod:`engine.runtime.replay`).
"""

from engine.audit import backup, history, merkle, personal, signing, tree, verify_bundle, witness
from engine.audit.auditor import (
           BUNDLE_FORMAT,
           HASH_RULE,
           KIND_NAMES,
           break_reason,
           check_bundle,
           export_bundle,
           kind_name,
           replay_error,
           shown,
           step_views,
)

__all__ = ["BUNDLE_FORMAT", "HASH_RULE", "KIND_NAMES", "backup", "break_reason", "check_bundle",
           "export_bundle", "history", "merkle", "personal", "signing", "tree", "verify_bundle", "witness",
           "kind_name", "replay_error", "shown", "step_views"]
