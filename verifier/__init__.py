"""The trust base of municipal-notary: check a document against its proof bundle.

Typical use::

    from verifier import VerificationPolicy, verify
    from verifier.jpki import RevocationSources, load_certificates

    policy = VerificationPolicy(
        rpc_urls=["https://rpc.example.lg.jp"],
        registry="0x...",                     # pinned: never taken from the bundle
        chain_id=...,
        trust_anchors=load_certificates(["jpki-sign-ca-02.pem", "jpki-sign-ca-03.pem"]),
        revocation=RevocationSources(crl_files=["tsukuba.crl"]),
        node_url="https://notary.city.example.lg.jp",  # without it: never valid (revocation)
    )
    verdict = verify(document_bytes, bundle_json, policy)
    verdict.status      # valid, invalid, pending, revoked or unknown
    verdict.checks      # every check, in order, with its outcome and detail

Sub-packages: `verifier.merkle` (RFC 6962), `verifier.jpki` (My Number card certificates and
signatures). This package imports without the node's server stack (FastAPI, plyvel, py-evm).
"""

from verifier.bundle import (
    AnchorSection,
    HeadSection,
    InclusionSection,
    LeafSection,
    ProofBundle,
    RevocationSection,
    SignatureSection,
    build_bundle,
    build_revocation_section,
    bundle_to_json,
    dump_bundle,
    load_bundle,
    make_document_entry,
    parse_bundle,
)
from verifier.errors import (
    BundleFormatError,
    EvidenceUnavailableError,
    LeafEncodingError,
    PolicyError,
    VerifierError,
)
from verifier.leaf import (
    DocumentEntry,
    DocumentType,
    RevocationEntry,
    RevocationReason,
    SignatureFormat,
    decode_entry,
    new_salt,
    salted_digest,
)
from verifier.models import Check, DocumentDigest, Outcome, Verdict, VerdictFacts, VerdictStatus
from verifier.policy import VerificationPolicy
from verifier.verify import Verifier, verify

__all__ = [
    "AnchorSection",
    "BundleFormatError",
    "Check",
    "DocumentDigest",
    "DocumentEntry",
    "DocumentType",
    "EvidenceUnavailableError",
    "HeadSection",
    "InclusionSection",
    "LeafEncodingError",
    "LeafSection",
    "Outcome",
    "PolicyError",
    "ProofBundle",
    "RevocationEntry",
    "RevocationReason",
    "RevocationSection",
    "SignatureFormat",
    "SignatureSection",
    "Verdict",
    "VerdictFacts",
    "VerdictStatus",
    "VerificationPolicy",
    "Verifier",
    "VerifierError",
    "build_bundle",
    "build_revocation_section",
    "bundle_to_json",
    "decode_entry",
    "dump_bundle",
    "load_bundle",
    "make_document_entry",
    "new_salt",
    "parse_bundle",
    "salted_digest",
    "verify",
]
