"""Pure-Python RFC 6962 Merkle trees: hashing, proof generation and proof verification.

No third-party dependencies (only hashlib), so the bank-side verifier can trust it by reading it.
Appending to a growing log (the node store, the audit) goes through CompactRange.
Verification raises ProofError (or a subclass) on every failure and returns None on success.
"""

from protocol.merkle.compact import CompactRange
from protocol.merkle.hasher import EMPTY_ROOT, HASH_SIZE, hash_children, hash_leaf
from protocol.merkle.proof import (
    MAX_TREE_SIZE,
    MalformedProofError,
    MerkleTree,
    ProofError,
    RootMismatchError,
    SubtreeHash,
    consistency_proof,
    consistency_proof_from_subtrees,
    inclusion_proof,
    inclusion_proof_from_subtrees,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    root_from_subtrees,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "CompactRange",
    "MalformedProofError",
    "MerkleTree",
    "ProofError",
    "RootMismatchError",
    "SubtreeHash",
    "consistency_proof",
    "consistency_proof_from_subtrees",
    "hash_children",
    "hash_leaf",
    "inclusion_proof",
    "inclusion_proof_from_subtrees",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "root_from_subtrees",
    "verify_consistency",
    "verify_inclusion",
]
