"""What every rule may consult: the policy, the moment of verification, the evidence sources."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import msgspec

from protocol.bundle import AnchorSection, HeadSection
from verifier.chain import AnchorFacts, NodeStatusSource
from verifier.jpki import CertificateKind, JPKICertificate, RevocationSources, SignerCheck
from verifier.policy import VerificationPolicy

SignerChecker = Callable[
    [
        JPKICertificate,
        int,
        Sequence[JPKICertificate],
        RevocationSources | None,
        frozenset[CertificateKind],
    ],
    SignerCheck,
]
"""(signer certificate, signing time in Unix seconds, intermediates, revocation sources: None for
the policy's own, the certificate kinds the entry accepts) → the signer verdict, against the
trust anchors of the certificate's own PKI (JPKI or the seal's)."""


class Context(msgspec.Struct, frozen=True):
    policy: VerificationPolicy
    now: datetime
    read_chain: Callable[[HeadSection, AnchorSection], AnchorFacts]
    """Raises `EvidenceUnavailableError` when no endpoint answers."""
    node_status: NodeStatusSource | None
    """The issuing node, asked about revocation; None when the policy names none."""
    check_signer: SignerChecker
