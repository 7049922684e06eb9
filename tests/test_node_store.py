"""The log store's stored subtrees give the same roots and proofs as the reference tree,
across batches and reopenings (the in-memory frontier is rebuilt from disk)."""

from __future__ import annotations

import random
from pathlib import Path

from node.models import RevocationSidecar
from node.store import NODE, LogStore, NewEntry
from protocol.merkle import MerkleTree, hash_leaf


def sidecar(receipt_id: str) -> RevocationSidecar:
    """A minimal well-formed sidecar: the store keeps it, these tests never read it."""
    return RevocationSidecar(receipt_id=receipt_id, client="test", received_at=0, revokes=b"")


def test_roots_and_proofs_match_the_reference_across_reopen(tmp_path: Path) -> None:
    rng = random.Random(7)
    leaves = [rng.randbytes(40) for _ in range(300)]
    store = LogStore(tmp_path)
    position = 0
    for batch in (1, 2, 5, 64, 3, 100, 1, 124):  # odd batch sizes cross subtree boundaries
        store.append(
            [
                NewEntry(leaf, sidecar(f"r{position + i}"), f"r{position + i}")
                for i, leaf in enumerate(leaves[position : position + batch])
            ]
        )
        position += batch
        if batch % 2:  # reopen now and then: the frontier must come back from disk
            store.close()
            store = LogStore(tmp_path)
    assert store.size == len(leaves) == position
    tree = MerkleTree([hash_leaf(leaf) for leaf in leaves])
    for size in (1, 2, 3, 64, 65, 127, 128, 129, 300):
        assert store.root(size) == MerkleTree([hash_leaf(x) for x in leaves[:size]]).root
        for index in {0, size // 2, size - 1}:
            assert store.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
    for size1, size2 in ((1, 300), (64, 129), (100, 200), (299, 300)):
        assert store.consistency_proof(size1, size2) == tree.consistency_proof(size1, size2)
    assert store.index_of(hash_leaf(leaves[77])) == 77
    assert store.index_of_receipt("r77") == 77
    store.close()


def test_stored_subtree_nodes_keep_their_on_disk_keys(tmp_path: Path) -> None:
    """The on-disk format: exactly one NODE key (b"N" + u8 level + u64 position) per complete
    aligned subtree, holding that subtree's hash; appends through the frontier keep it so."""
    leaves = [i.to_bytes(2, "big") for i in range(77)]
    store = LogStore(tmp_path)
    for start in range(0, len(leaves), 10):
        chunk = leaves[start : start + 10]
        store.append(
            [
                NewEntry(leaf, sidecar(f"s{start + i}"), f"s{start + i}")
                for i, leaf in enumerate(chunk)
            ]
        )
    tree = MerkleTree([hash_leaf(leaf) for leaf in leaves])
    stored = dict(store.iterate_prefix(NODE))
    expected = {
        NODE + bytes([level]) + (position).to_bytes(8, "big"): tree.subtree_hash(
            position << level, (position + 1) << level
        )
        for level in range(len(leaves).bit_length())
        for position in range(len(leaves) >> level)
    }
    assert stored == expected
    store.close()
