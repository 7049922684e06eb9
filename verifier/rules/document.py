"""document_leaf: the document (or its digest) and the bundle's salt give the bundle's leaf."""

from __future__ import annotations

from protocol.bundle import ProofBundle
from protocol.checks import DOCUMENT_LEAF, Check, Outcome


def document_leaf(bundle: ProofBundle, digest: bytes) -> Check:
    leaf = bundle.leaf
    computed = leaf.leaf_hash_for(digest, bundle.signature.format)
    if computed != leaf.leaf_hash:
        return Check(
            DOCUMENT_LEAF,
            Outcome.FAILED,
            "the document does not match this bundle: SHA-256 of the document, salt and "
            f"leaf fields give leaf hash {computed.hex()}, the bundle says "
            f"{leaf.leaf_hash.hex()} (a different or altered document, or altered leaf "
            "fields)",
        )
    return Check(
        DOCUMENT_LEAF,
        Outcome.PASSED,
        f"document SHA-256 {digest.hex()} with the bundle's salt gives leaf hash {computed.hex()}",
    )
