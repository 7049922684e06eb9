"""A miniature issuing node for tests: sign, append to a log, seal heads, build bundles.

It uses exactly the producer API the real node will use (`make_document_entry`,
`build_bundle`, `build_revocation_section`), so every bundle the tests verify is one the
protocol allows a node to hand out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from anchor import TxResult
from devtools.cms_sign import load_private_key, sign_cms, sign_raw
from devtools.testca import Issued
from protocol.bundle import (
    AnchorSection,
    HeadSection,
    InclusionSection,
    ProofBundle,
    RevocationSection,
    build_bundle,
    build_revocation_section,
    make_document_entry,
)
from protocol.leaf import (
    NO_REQUESTER,
    DocumentEntry,
    EntryKind,
    RevocationEntry,
    SignatureFormat,
    new_salt,
    unix_seconds,
)
from protocol.merkle import MerkleTree


@dataclass(frozen=True)
class Signer:
    """A JPKI-TEST certificate holder with their key (a card stand-in)."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_issued(cls, issued: Issued, *chain: Issued) -> Signer:
        return cls(
            cert=x509.load_pem_x509_certificate(issued.cert.read_bytes()),
            key=load_private_key(issued.key),
            chain=tuple(x509.load_pem_x509_certificate(c.cert.read_bytes()) for c in chain),
        )

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)

    @property
    def certificates(self) -> list[bytes]:
        return [self.der, *(c.public_bytes(Encoding.DER) for c in self.chain)]

    def sign(self, document: bytes, signing_time: datetime, fmt: SignatureFormat) -> bytes:
        if fmt is SignatureFormat.PKCS1:
            return sign_raw(document, self.key)
        return sign_cms(
            document, key=self.key, cert=self.cert, chain=self.chain, signing_time=signing_time
        )


@dataclass(frozen=True)
class LogDocument:
    """A document entry in the log, with what its bundle needs."""

    entry: DocumentEntry
    salt: bytes
    signature: bytes
    certificates: tuple[bytes, ...]
    index: int


@dataclass
class MiniLog:
    """One municipality's append-only log (in memory), as the node keeps it."""

    lg_code: int = 131016
    leaves: list[bytes] = field(default_factory=list)

    def add_document(
        self,
        document: bytes,
        signer: Signer,
        *,
        signing_time: datetime,
        issued_at: datetime | None = None,
        document_type: int = 0x8001,  # municipality-defined: a JPKI card may sign it
        fmt: SignatureFormat = SignatureFormat.CMS,
        lg_code: int | None = None,
        kind: EntryKind = EntryKind.DOCUMENT,
        requester_ref: bytes = NO_REQUESTER,
    ) -> LogDocument:
        signature = signer.sign(document, signing_time, fmt)
        salt = new_salt()
        entry = make_document_entry(
            document_sha256=hashlib.sha256(document).digest(),
            salt=salt,
            lg_code=lg_code or self.lg_code,
            document_type=document_type,
            issued_at=issued_at or signing_time,
            signing_time=signing_time,
            signature_format=fmt,
            signature=signature,
            signer_certificate=signer.der,
            requester_ref=requester_ref,
            kind=kind,
        )
        self.leaves.append(entry.leaf_hash())
        return LogDocument(entry, salt, signature, tuple(signer.certificates), len(self.leaves) - 1)

    def add_revocation(self, revoked: LogDocument, *, reason: int, revoked_at: datetime) -> int:
        entry = self.revocation_entry(revoked, reason=reason, revoked_at=revoked_at)
        self.leaves.append(entry.leaf_hash())
        return len(self.leaves) - 1

    def revocation_entry(
        self, revoked: LogDocument, *, reason: int, revoked_at: datetime
    ) -> RevocationEntry:
        return RevocationEntry(
            revoked_leaf_hash=revoked.entry.leaf_hash(),
            lg_code=revoked.entry.lg_code,
            reason=reason,
            revoked_at=unix_seconds(revoked_at),
        )

    def tree(self, size: int | None = None) -> MerkleTree:
        return MerkleTree(self.leaves[: size or len(self.leaves)])

    def head(self, seq: int, size: int | None = None) -> HeadSection:
        tree = self.tree(size)
        return HeadSection(seq, tree.size, tree.root)

    def inclusion(self, index: int, size: int) -> InclusionSection:
        tree = self.tree(size)
        return InclusionSection(index, size, tuple(tree.inclusion_proof(index)))

    def bundle(
        self,
        item: LogDocument,
        head: HeadSection | None = None,
        anchor: AnchorSection | None = None,
        revocation: RevocationSection | None = None,
    ) -> ProofBundle:
        return build_bundle(
            entry=item.entry,
            salt=item.salt,
            signature=item.signature,
            certificates=item.certificates,
            inclusion=self.inclusion(item.index, head.tree_size) if head else None,
            head=head,
            anchor=anchor,
            revocation=revocation,
        )

    def revocation_section(
        self,
        entry: RevocationEntry,
        index: int,
        head: HeadSection | None = None,
        anchor: AnchorSection | None = None,
    ) -> RevocationSection:
        return build_revocation_section(
            entry,
            inclusion=self.inclusion(index, head.tree_size) if head else None,
            head=head,
            anchor=anchor,
        )


def anchor_section(
    result: TxResult, *, chain_id: int, registry: str, node: str, lg_code: int
) -> AnchorSection:
    """The bundle's anchor section for a head anchored by `anchor.RegistryClient.anchor`."""
    return AnchorSection(
        chain_id=chain_id,
        registry=registry,
        node=node,
        lg_code=lg_code,
        tx_hash=bytes.fromhex(result.tx_hash.removeprefix("0x")),
        block_number=result.block_number,
        block_hash=bytes.fromhex(result.block_hash.removeprefix("0x")),
    )
