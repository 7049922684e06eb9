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

The formats themselves (RFC 6962, leaves, bundles, registry ABI, check names and the verdict
rule) are `protocol`'s; `verifier.jpki` checks My Number card certificates and signatures. This
package imports without the node's server stack (FastAPI, plyvel, py-evm) and without web3.
"""

from protocol.bundle import ProofBundle, load_bundle
from protocol.checks import Check, Outcome, VerdictStatus
from protocol.errors import BundleFormatError, LeafEncodingError, ProtocolError
from verifier.errors import EvidenceUnavailableError, PolicyError, VerifierError
from verifier.models import DocumentDigest, Verdict, VerdictFacts
from verifier.policy import VerificationPolicy
from verifier.verify import Verifier, verify

__all__ = [
    "BundleFormatError",
    "Check",
    "DocumentDigest",
    "EvidenceUnavailableError",
    "LeafEncodingError",
    "Outcome",
    "PolicyError",
    "ProofBundle",
    "ProtocolError",
    "Verdict",
    "VerdictFacts",
    "VerdictStatus",
    "VerificationPolicy",
    "Verifier",
    "VerifierError",
    "load_bundle",
    "verify",
]
