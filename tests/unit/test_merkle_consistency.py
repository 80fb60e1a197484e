"""RFC 9162 consistency proofs: every earlier tree of up to 40 leaves is proven to be a prefix of every later
one, and a proof over a tree whose earlier leaves were changed is refused (what a witness relies on)."""

from __future__ import annotations

from engine.audit import merkle


def _root(leaves):
    frontier: list = []
    for leaf in leaves:
        merkle.push(frontier, leaf)
    return merkle.root(frontier)


LEAVES = [merkle.leaf_hash(str(i).encode()) for i in range(40)]


def test_every_prefix_is_proven_consistent_with_every_later_tree():
    for second in range(1, len(LEAVES) + 1):
        for first in range(1, second + 1):
            proof = merkle.consistency_proof(LEAVES[:second], first)
            assert merkle.verify_consistency(first, second, _root(LEAVES[:first]), _root(LEAVES[:second]), proof), \
                (first, second)


def test_a_rewritten_earlier_leaf_or_a_wrong_proof_is_refused():
    for second in range(2, len(LEAVES) + 1):
        for first in range(1, second):
            forged = list(LEAVES[:second])
            forged[first - 1] = merkle.leaf_hash(b"forged")  # a leaf the first tree already held
            proof = merkle.consistency_proof(forged, first)
            assert not merkle.verify_consistency(first, second, _root(LEAVES[:first]), _root(forged), proof)
            good = merkle.consistency_proof(LEAVES[:second], first)
            if good:
                bad = [bytes(32)] + good[1:]
                assert not merkle.verify_consistency(first, second, _root(LEAVES[:first]),
                                                     _root(LEAVES[:second]), bad)
    assert merkle.verify_consistency(3, 3, _root(LEAVES[:3]), _root(LEAVES[:3]), [])
    assert not merkle.verify_consistency(4, 3, _root(LEAVES[:4]), _root(LEAVES[:3]), [])
