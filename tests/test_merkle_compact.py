"""CompactRange, the one RFC 6962 frontier: appending leaf by leaf gives the reference root at
every size, reports exactly the perfect subtrees each leaf completes, and reloads from them."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.merkle import EMPTY_ROOT, CompactRange, MerkleTree, hash_leaf, root_from_subtrees
from protocol.merkle.compact import fold_subtrees, perfect_subtrees


def leaf_hashes(n: int) -> list[bytes]:
    return [hash_leaf(i.to_bytes(4, "big")) for i in range(n)]


def test_empty_range_has_the_empty_root() -> None:
    compact = CompactRange()
    assert (compact.size, compact.hashes, compact.root()) == (0, (), EMPTY_ROOT)
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT


def test_root_after_every_append_matches_the_reference() -> None:
    hashes = leaf_hashes(300)
    tree = MerkleTree(hashes)
    compact = CompactRange()
    for size, leaf in enumerate(hashes, start=1):
        compact.append(leaf)
        assert compact.size == size
        assert compact.root() == MerkleTree(hashes[:size]).root
        assert len(compact.hashes) == size.bit_count()
        assert compact.hashes == tuple(
            tree.subtree_hash(start, end) for start, end in perfect_subtrees(0, size)
        )


def test_append_reports_each_completed_subtree_once() -> None:
    n = 130
    tree = MerkleTree(leaf_hashes(n))
    compact = CompactRange()
    completed = []
    for leaf in leaf_hashes(n):
        completed.extend(compact.append(leaf))
    expected = {
        (level, position) for level in range(n.bit_length()) for position in range(n >> level)
    }
    assert len(completed) == len(expected)
    assert {(level, position) for level, position, _ in completed} == expected
    for level, position, node in completed:
        assert node == tree.subtree_hash(position << level, (position + 1) << level)


def test_append_returns_the_leaf_first_then_its_parents() -> None:
    compact = CompactRange()
    for leaf in leaf_hashes(7):
        compact.append(leaf)
    completed = compact.append(leaf_hashes(8)[7])  # leaf 7 closes [6, 8), [4, 8) and [0, 8)
    assert [(level, position) for level, position, _ in completed] == [
        (0, 7), (1, 3), (2, 1), (3, 0),
    ]  # fmt: skip
    assert compact.hashes == (completed[-1][2],)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=600), st.integers(min_value=0, max_value=40))
def test_from_subtrees_resumes_where_appending_left_off(size: int, more: int) -> None:
    hashes = leaf_hashes(size + more)
    tree = MerkleTree(hashes)
    resumed = CompactRange.from_subtrees(size, tree.subtree_hash)
    assert resumed.size == size
    assert resumed.root() == root_from_subtrees(size, tree.subtree_hash)
    for leaf in hashes[size:]:
        resumed.append(leaf)
    assert resumed.root() == tree.root


def test_copy_is_independent() -> None:
    original = CompactRange()
    original.append(leaf_hashes(1)[0])
    copy = original.copy()
    copy.append(leaf_hashes(2)[1])
    assert (original.size, copy.size) == (1, 2)
    assert original.root() == leaf_hashes(1)[0]


def test_append_rejects_what_is_not_a_leaf_hash() -> None:
    compact = CompactRange()
    with pytest.raises(ValueError, match="32 bytes"):
        compact.append(b"a document, not its hash")
    assert compact.size == 0


def test_perfect_subtrees_cover_the_range_aligned() -> None:
    assert perfect_subtrees(0, 0) == []
    assert perfect_subtrees(0, 13) == [(0, 8), (8, 12), (12, 13)]
    assert perfect_subtrees(6, 13) == [(6, 8), (8, 12), (12, 13)]
    for begin in range(40):
        for end in range(begin, 70):
            ranges = perfect_subtrees(begin, end)
            assert [s for s, _ in ranges[1:]] == [e for _, e in ranges[:-1]]
            assert all((e - s) & (e - s - 1) == 0 and s % (e - s) == 0 for s, e in ranges)


def test_fold_subtrees_of_nothing_is_the_empty_root() -> None:
    assert fold_subtrees([]) == EMPTY_ROOT
