"""The Merkle tree of RFC 9162 (Certificate Transparency v2), as plain functions over 32-byte hashes.

Leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)``, the tree of ``n`` leaves
splitting at the largest power of two below ``n``. A *frontier* (the roots of the perfect subtrees along the
right edge, left to right, as ``(height, hash)``) is all a writer needs to append leaves and compute the new
root, so sealing a commit costs O(its events + log n), not O(n). The standalone bundle verifier repeats the
inclusion check on its own, so an outside firm runs no code of ours.
"""

from __future__ import annotations

import hashlib

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def event_leaf(event_hash: str) -> bytes:
    """An audit event's leaf: its chain hash (which already commits to chain, seq, content and prev_hash)."""
    return leaf_hash(event_hash.encode("ascii"))


def push(frontier: list[tuple[int, bytes]], leaf: bytes) -> None:
    """Append one leaf hash to the right edge, merging equal-height subtrees (in place)."""
    frontier.append((0, leaf))
    while len(frontier) > 1 and frontier[-1][0] == frontier[-2][0]:
        (height, right), (_, left) = frontier.pop(), frontier.pop()
        frontier.append((height + 1, node_hash(left, right)))


def root(frontier: list[tuple[int, bytes]]) -> bytes:
    """The tree head of the leaves the frontier summarises (RFC 9162 MTH)."""
    if not frontier:
        return EMPTY_ROOT
    value = frontier[-1][1]
    for _height, left in reversed(frontier[:-1]):
        value = node_hash(left, value)
    return value


def levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the tree, bottom up; an odd last node is carried up unhashed, which is exactly the
    RFC 9162 split at the largest power of two."""
    out = [list(leaves)]
    while len(out[-1]) > 1:
        below = out[-1]
        out.append([node_hash(below[i], below[i + 1]) if i + 1 < len(below) else below[i]
                    for i in range(0, len(below), 2)])
    return out


def inclusion_proof(tree: list[list[bytes]], index: int) -> list[bytes]:
    """RFC 9162 PATH(index, D[n]) from the levels of a tree of n leaves, leaf side first."""
    proof = []
    for level in tree[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index >>= 1
    return proof


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], expected_root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, value = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(p, value)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            value = node_hash(value, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and value == expected_root


# --- consistency proofs (RFC 9162 section 2.1.4): a later tree extends an earlier one ---------------------

def _mth(leaves: list[bytes]) -> bytes:
    frontier: list = []
    for leaf in leaves:
        push(frontier, leaf)
    return root(frontier)


def _largest_power_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def consistency_proof(leaves: list[bytes], first: int) -> list[bytes]:
    """RFC 9162 PROOF(first, D[n]) over the leaf hashes of the tree of n = len(leaves) leaves."""
    if not 0 < first <= len(leaves):
        raise ValueError(f"first must be in 1..{len(leaves)}")
    return _subproof(first, leaves, True)


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = _largest_power_below(n)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [_mth(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [_mth(leaves[:k])]


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2: does the tree of ``second`` leaves with ``second_root`` extend the tree of
    ``first`` leaves with ``first_root``?"""
    if first > second or first < 0:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a subtree of the proof
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
