"""Proof bundles and status answers from the store: the exact format `verifier/` checks."""

from __future__ import annotations

from dataclasses import dataclass, replace

from node.models import DocumentSidecar, Head, HeadState
from node.store import LogStore, StoreError
from protocol.bundle import (
    AnchorSection,
    HeadSection,
    InclusionSection,
    ProofBundle,
    RevocationSection,
    build_bundle,
    build_revocation_section,
)
from protocol.errors import LeafEncodingError
from protocol.evidence import EvidenceSection, SignerRevocationEvidence
from protocol.leaf import LEGACY_ENCODING_VERSION, DocumentEntry, RevocationEntry, decode_entry

ANCHORED_STATES = (HeadState.ANCHORED, HeadState.FINAL)


@dataclass(frozen=True)
class ChainIdentity:
    """Where this node anchors: stated in every anchored bundle (`node`: the current key,
    named only for heads anchored before the node recorded each head's key)."""

    chain_id: int
    registry: str
    node: str
    lg_code: int


@dataclass(frozen=True)
class BundleAnswer:
    bundle: ProofBundle
    state: str  # pending | anchored | final (the `Notary-Bundle-State` header)


class BundleBuilder:
    def __init__(self, store: LogStore, identity: ChainIdentity | None) -> None:
        self.store = store
        self.identity = identity

    def for_index(self, index: int) -> BundleAnswer | None:
        stored = self.store.entry(index)
        if stored is None:
            return None
        entry = decode_entry(stored.leaf)
        if not isinstance(entry, DocumentEntry):
            return None  # revocation entries have no bundle of their own
        sidecar = stored.sidecar
        if not isinstance(sidecar, DocumentSidecar):
            raise StoreError(f"entry {index} is a document entry with a {sidecar.kind} sidecar")
        proof = self._proof(stored.index)
        revocation = self.revocation_section(stored.leaf_hash)
        evidence = None
        if proof is not None and entry.version != LEGACY_ENCODING_VERSION:
            evidence = self.evidence(proof[3], index)

        def build(evidence: EvidenceSection | None) -> ProofBundle:
            return build_bundle(
                entry=entry,
                salt=sidecar.salt,
                signature=sidecar.signature,
                certificates=list(sidecar.certificates),
                inclusion=proof[0] if proof else None,
                head=proof[1] if proof else None,
                anchor=proof[2] if proof else None,
                revocation=revocation,
                evidence=evidence,
            )

        try:
            bundle = build(evidence)
        except LeafEncodingError:
            if evidence is None or evidence.signer_revocation is None:
                raise
            # Over the bundle's 1 MiB with the signer's CRL: serve it without (a verifier
            # then needs its own revocation sources, as before the re-check).
            bundle = build(replace(evidence, signer_revocation=None))
        state = "pending" if proof is None else proof[3].state.value
        return BundleAnswer(bundle, state)

    def evidence(self, head: Head, index: int | None = None) -> EvidenceSection | None:
        """The head's chain evidence once final and captured, with its timestamp token if it
        has one (a version-3 bundle then verifies offline), and entry `index`'s signer
        revocation evidence once the node kept it."""
        if head.state is not HeadState.FINAL:
            return None
        stored = self.store.evidence(head.seq)
        if stored is None:
            return None
        timestamp = self.store.timestamp(head.seq)
        return replace(
            stored.section,
            timestamp=timestamp.token if timestamp else None,
            signer_revocation=None if index is None else self.signer_revocation(index),
        )

    def signer_revocation(self, index: int) -> SignerRevocationEvidence | None:
        """The CRL or OCSP response that decided entry `index`'s signer at its signing time."""
        record = self.store.signer_evidence(index)
        if record is None:
            return None
        return SignerRevocationEvidence.of(
            (self.store.revocation_blob(d) for d in record.crls),
            (self.store.revocation_blob(d) for d in record.ocsp_responses),
        )

    def revocation_section(self, leaf_hash: bytes) -> RevocationSection | None:
        index = self.store.revocation_of(leaf_hash)
        if index is None:
            return None
        stored = self.store.entry(index)
        assert stored is not None
        entry = decode_entry(stored.leaf)
        assert isinstance(entry, RevocationEntry)
        proof = self._proof(index)
        if proof is None:
            return build_revocation_section(entry)
        return build_revocation_section(entry, inclusion=proof[0], head=proof[1], anchor=proof[2])

    def _proof(
        self, index: int
    ) -> tuple[InclusionSection, HeadSection, AnchorSection, Head] | None:
        if self.identity is None:
            return None
        head = self.store.covering_head(index, ANCHORED_STATES)
        if (
            head is None
            or head.tx_hash is None
            or head.block_hash is None
            or head.block_number is None
        ):
            return None
        inclusion = InclusionSection(
            index, head.tree_size, tuple(self.store.inclusion_proof(index, head.tree_size))
        )
        anchor = AnchorSection(
            chain_id=self.identity.chain_id,
            registry=self.identity.registry,
            # The key that anchored this head: after a rotation, older heads stay under
            # the previous key in the registry.
            node=head.anchored_by or self.identity.node,
            lg_code=self.identity.lg_code,
            tx_hash=bytes.fromhex(head.tx_hash[2:]),
            block_number=head.block_number,
            block_hash=bytes.fromhex(head.block_hash[2:]),
        )
        return inclusion, HeadSection(head.seq, head.tree_size, head.root), anchor, head
