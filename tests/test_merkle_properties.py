"""Property tests: random trees up to 2,000 leaves, honest proofs verify, tampered ones do not.

Three generators (RFC 6962 list-based, subtree-callable, in-memory MerkleTree) must agree, and
our verifier must agree with a literal transcription of the RFC 9162 verification algorithms on
every mutation. pymerkle 7.0.0 serves as an independent peer for roots and inclusion proofs.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from protocol.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    consistency_proof,
    consistency_proof_from_subtrees,
    hash_children,
    hash_leaf,
    inclusion_proof,
    inclusion_proof_from_subtrees,
    root_from_leaf_hashes,
    root_from_subtrees,
    verify_consistency,
    verify_inclusion,
)

MAX_LEAVES = 2000
SAMPLED_LEAVES = 24  # leaves checked per tree when the tree is larger than this

sizes = st.integers(min_value=1, max_value=MAX_LEAVES)
small_sizes = st.integers(min_value=1, max_value=300)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _leaves(n: int, seed: int) -> list[bytes]:
    # Distinct documents, so no two subtrees can collide by accident.
    return [hash_leaf(b"%d/%d" % (seed, i)) for i in range(n)]


def _flips(value: bytes) -> Iterator[bytes]:
    """Every single-bit change of ``value``."""
    for bit in range(len(value) * 8):
        flipped = bytearray(value)
        flipped[bit // 8] ^= 1 << (bit % 8)
        yield bytes(flipped)


def _rejects(verify: Callable[..., None], *args: object) -> bool:
    """True if ``verify(*args)`` raises ProofError; any other exception propagates (a bug)."""
    try:
        verify(*args)
    except ProofError:
        return True
    return False


# --------------------------------------------------------------------------- RFC 9162 reference


def _rfc9162_inclusion(
    leaf_hash: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, step by step, as the yardstick for tricky mutations."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def _rfc9162_consistency(
    first: int, second: int, path: Sequence[bytes], first_hash: bytes, second_hash: bytes
) -> bool:
    """RFC 9162 §2.1.4.2 for 0 < first < second; the trivial cases as transparency-dev does."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not path and first_hash == second_hash
    if first == 0:
        return not path and first_hash == EMPTY_ROOT
    if not path:
        return False
    path = list(path)
    if first & (first - 1) == 0:  # an exact power of two
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = hash_children(c, fr), hash_children(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_hash and sr == second_hash and sn == 0


# --------------------------------------------------------------------------- honest proofs


@settings(max_examples=100, deadline=None)
@given(n=sizes, seed=seeds)
@example(n=MAX_LEAVES, seed=0)
@example(n=1024, seed=1)
@example(n=1025, seed=2)
def test_every_leaf_proof_verifies_and_generators_agree(n: int, seed: int) -> None:
    leaves = _leaves(n, seed)
    tree = MerkleTree(leaves)
    assert tree.root == root_from_leaf_hashes(leaves)
    all_proofs = list(tree.inclusion_proofs())
    assert len(all_proofs) == n
    rng = random.Random(seed)
    checked = range(n) if n <= SAMPLED_LEAVES else [0, n - 1, *rng.sample(range(n), 20)]
    for index in checked:
        proof = tree.inclusion_proof(index)
        assert all_proofs[index] == proof
        assert inclusion_proof(leaves, index, n) == proof
        assert inclusion_proof_from_subtrees(index, n, tree.subtree_hash) == proof
        verify_inclusion(leaves[index], index, n, proof, tree.root)
    for index, proof in enumerate(all_proofs):  # cheap: every proof of the batch verifies
        verify_inclusion(leaves[index], index, n, proof, tree.root)


@settings(max_examples=100, deadline=None)
@given(n=sizes, seed=seeds, data=st.data())
def test_consistency_holds_and_generators_agree(n: int, seed: int, data: st.DataObject) -> None:
    leaves = _leaves(n, seed)
    tree = MerkleTree(leaves)
    for _ in range(4):
        size2 = data.draw(st.integers(min_value=0, max_value=n), label="size2")
        size1 = data.draw(st.integers(min_value=0, max_value=size2), label="size1")
        root1 = root_from_leaf_hashes(leaves[:size1])
        root2 = root_from_leaf_hashes(leaves[:size2])
        assert root_from_subtrees(size1, tree.subtree_hash) == root1
        assert root_from_subtrees(size2, tree.subtree_hash) == root2
        proof = consistency_proof(leaves, size1, size2)
        assert tree.consistency_proof(size1, size2) == proof
        assert consistency_proof_from_subtrees(size1, size2, tree.subtree_hash) == proof
        verify_consistency(size1, size2, proof, root1, root2)
        assert _rfc9162_consistency(size1, size2, proof, root1, root2)
        if size2:  # proofs against an older state of the tree, from the in-memory levels
            index = data.draw(st.integers(min_value=0, max_value=size2 - 1), label="index")
            assert tree.inclusion_proof(index, size2) == inclusion_proof(leaves, index, size2)


# --------------------------------------------------------------------------- tampering


@settings(max_examples=200, deadline=None)
@given(n=sizes, seed=seeds, data=st.data())
def test_any_tampered_inclusion_proof_is_rejected(n: int, seed: int, data: st.DataObject) -> None:
    leaves = _leaves(n, seed)
    tree = MerkleTree(leaves)
    index = data.draw(st.integers(min_value=0, max_value=n - 1), label="index")
    leaf, proof, root = leaves[index], tree.inclusion_proof(index), tree.root
    verify_inclusion(leaf, index, n, proof, root)

    for i, element in enumerate(proof):
        for flipped in _flips(element):
            bad = [*proof[:i], flipped, *proof[i + 1 :]]
            assert _rejects(verify_inclusion, leaf, index, n, bad, root)
    for flipped in _flips(leaf):
        assert _rejects(verify_inclusion, flipped, index, n, proof, root)
    for flipped in _flips(root):
        assert _rejects(verify_inclusion, leaf, index, n, proof, flipped)
    for bit in range(65):
        assert _rejects(verify_inclusion, leaf, index ^ 1 << bit, n, proof, root)
    for bit in range(65):
        # A proof binds the leaf to the root, not the tree size: if the flipped size gives the
        # same path shape, RFC 6962 computes the same root and must accept (the signed tree head
        # is what binds the size). So the rule is "agree with RFC 9162", not "always reject".
        size = n ^ 1 << bit
        ours = not _rejects(verify_inclusion, leaf, index, size, proof, root)
        assert ours == _rfc9162_inclusion(leaf, index, size, proof, root), (index, n, size)
    extra = hashlib.sha256(b"extra").digest()
    for i in range(len(proof) + 1):
        for added in (extra, root, leaf, *proof[i : i + 1]):
            longer = [*proof[:i], added, *proof[i:]]
            assert _rejects(verify_inclusion, leaf, index, n, longer, root)
    for i in range(len(proof)):
        shorter = proof[:i] + proof[i + 1 :]
        assert _rejects(verify_inclusion, leaf, index, n, shorter, root)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=2, max_value=MAX_LEAVES), seed=seeds, data=st.data())
def test_any_tampered_consistency_proof_is_rejected(n: int, seed: int, data: st.DataObject) -> None:
    leaves = _leaves(n, seed)
    size2 = data.draw(st.integers(min_value=2, max_value=n), label="size2")
    size1 = data.draw(st.integers(min_value=1, max_value=size2 - 1), label="size1")
    tree = MerkleTree(leaves[:size2])
    proof = tree.consistency_proof(size1)
    root1, root2 = root_from_leaf_hashes(leaves[:size1]), tree.root
    verify_consistency(size1, size2, proof, root1, root2)

    for i, element in enumerate(proof):
        for flipped in _flips(element):
            bad = [*proof[:i], flipped, *proof[i + 1 :]]
            assert _rejects(verify_consistency, size1, size2, bad, root1, root2)
    for flipped in _flips(root1):
        assert _rejects(verify_consistency, size1, size2, proof, flipped, root2)
    for flipped in _flips(root2):
        assert _rejects(verify_consistency, size1, size2, proof, root1, flipped)
    for bit in range(65):
        # As for inclusion, sizes are bound by signed tree heads; the proof only rejects a size
        # change when it changes the shape. Our verdict must match RFC 9162's either way.
        for s1, s2 in ((size1 ^ 1 << bit, size2), (size1, size2 ^ 1 << bit)):
            ours = not _rejects(verify_consistency, s1, s2, proof, root1, root2)
            assert ours == _rfc9162_consistency(s1, s2, proof, root1, root2), (s1, s2)
    assert _rejects(verify_consistency, size1, size2, proof, root2, root1)
    extra = hashlib.sha256(b"extra").digest()
    for i in range(len(proof) + 1):
        for added in (extra, root1, root2, *proof[i : i + 1]):
            longer = [*proof[:i], added, *proof[i:]]
            assert _rejects(verify_consistency, size1, size2, longer, root1, root2)
    for i in range(len(proof)):
        shorter = proof[:i] + proof[i + 1 :]
        assert _rejects(verify_consistency, size1, size2, shorter, root1, root2)


@settings(max_examples=500, deadline=None)
@given(n=small_sizes, seed=seeds, data=st.data())
def test_rfc9162_reference_agrees_on_honest_and_shifted_claims(
    n: int, seed: int, data: st.DataObject
) -> None:
    """Our verifier and the RFC text agree on honest proofs presented with other indices/sizes."""
    leaves = _leaves(n, seed)
    tree = MerkleTree(leaves)
    index = data.draw(st.integers(min_value=0, max_value=n - 1), label="index")
    proof = tree.inclusion_proof(index)
    claim_index = data.draw(st.integers(min_value=0, max_value=n + 2), label="claim_index")
    claim_size = data.draw(st.integers(min_value=0, max_value=2 * n + 2), label="claim_size")
    ours = not _rejects(verify_inclusion, leaves[index], claim_index, claim_size, proof, tree.root)
    rfc = _rfc9162_inclusion(leaves[index], claim_index, claim_size, proof, tree.root)
    assert ours == rfc
    if ours and claim_size == n:
        # Another index can fit the same path only in a tree of another size (see below);
        # at the anchored head's size, a proof proves one index.
        assert claim_index == index


def test_a_proof_can_fit_another_index_in_a_tree_of_another_size() -> None:
    """RFC 6962's ambiguity, pinned: leaf 2 of a 3-leaf tree has the path [h(l0, l1)], which
    also proves it as leaf 1 of a 2-leaf tree with the same root. Harmless because the
    verifier takes the tree size from the anchored head, never from the proof alone."""
    leaves = _leaves(3, 7)
    tree = MerkleTree(leaves)
    proof = tree.inclusion_proof(2)
    verify_inclusion(leaves[2], 2, 3, proof, tree.root)
    verify_inclusion(leaves[2], 1, 2, proof, tree.root)  # the other reading: also accepted
    assert _rejects(verify_inclusion, leaves[2], 1, 3, proof, tree.root)


# --------------------------------------------------------------------------- pymerkle as a peer


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 31, 100, 257, 1000])
def test_pymerkle_agrees(n: int) -> None:
    """pymerkle (security mode on = RFC 6962's 0x00/0x01 prefixes) builds the same tree.

    Its inclusion proofs are ours with the leaf hash prepended (pymerkle counts leaves from 1).
    Its consistency proofs use a different format (rule/subset bit vectors, and the new part is
    listed in smaller pieces rather than RFC 6962's PROOF nodes), so for those we only check that
    pymerkle accepts the (size, root) pairs our tree reports.
    """
    from pymerkle import InmemoryTree

    documents = [b"certificate %d" % i for i in range(n)]
    theirs = InmemoryTree()  # default: sha256, security (domain separation) enabled
    for document in documents:
        theirs.append_entry(document)
    leaves = [hash_leaf(document) for document in documents]
    ours = MerkleTree(leaves)

    assert theirs.get_root() == ours.root
    for index in range(n):
        path = theirs.prove_inclusion(index + 1).path
        assert path[0] == leaves[index]
        assert path[1:] == ours.inclusion_proof(index)
    for size1 in {1, n // 2 or 1, n - 1 or 1, n}:
        root1 = root_from_leaf_hashes(leaves[:size1])
        assert theirs.get_root(size1) == root1
        theirs.prove_consistency(size1, n).verify(root1, ours.root)
        verify_consistency(size1, n, ours.consistency_proof(size1), root1, ours.root)
