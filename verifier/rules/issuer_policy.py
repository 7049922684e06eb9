"""issuer_policy: may this kind of signer sign this entry, and is a seal this municipality's?

A registered certificate type is the municipality's document only under its seal; a login
event is signed with a user-authentication certificate; a seal names its local government in
its organizationIdentifier and must name the leaf's (`protocol.signers`). Bundles of version-1
and -2 leaves predate the seal: `VerificationPolicy.require_municipal_seal` off accepts them
signed with a JPKI signature certificate, and the check says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.bundle import LeafSection
from protocol.checks import ISSUER_POLICY, Check, Outcome
from protocol.leaf import ENCODING_VERSION, EntryKind, entry_type_label
from protocol.signers import PERSONAL_SIGNATURE, SignerKind, accepted_signer_kinds
from verifier.jpki import CertificateKind, JPKICertificate
from verifier.jpki.signer_kind import (
    CERTIFICATE_KINDS,
    SealIdentity,
    SignerKindError,
    classify_signer,
    seal_identity,
)
from verifier.policy import VerificationPolicy

UNSEALED_ACCEPTED = "accepted without the municipal seal (pre-seal bundle, --accept-unsealed)"


@dataclass(frozen=True)
class SignerFacts:
    """The signer's kind and, for a seal, the office it speaks for (no personal data)."""

    kind: SignerKind
    seal: SealIdentity | None = None

    def describe(self, cert: JPKICertificate) -> str:
        if self.seal is not None:
            return f"the municipal seal of {self.seal.describe()}"
        return f"a {self.kind.description} (serial 0x{cert.serial_hex})"


def accepted_kinds(leaf: LeafSection, policy: VerificationPolicy) -> frozenset[SignerKind]:
    """What may sign this entry under `policy`."""
    accepted = accepted_signer_kinds(leaf.kind, leaf.document_type)
    if is_unsealed_allowed(leaf, policy):
        accepted |= PERSONAL_SIGNATURE
    return accepted


def is_unsealed_allowed(leaf: LeafSection, policy: VerificationPolicy) -> bool:
    """A pre-seal (version 1 or 2) document leaf, and a policy that accepts those unsealed."""
    return (
        not policy.require_municipal_seal
        and leaf.version < ENCODING_VERSION
        and leaf.kind == EntryKind.DOCUMENT
    )


def allowed_certificate_kinds(
    leaf: LeafSection, policy: VerificationPolicy
) -> frozenset[CertificateKind]:
    """The certificate profiles the signer check may accept for this entry (a
    user-authentication certificate for a login event only)."""
    return frozenset(CERTIFICATE_KINDS[kind] for kind in accepted_kinds(leaf, policy))


def classify(cert: JPKICertificate) -> SignerFacts | None:
    try:
        kind = classify_signer(cert)
    except SignerKindError:
        return None
    return SignerFacts(kind, seal_identity(cert) if kind is SignerKind.LGPKI_SEAL else None)


def issuer_policy(
    leaf: LeafSection, cert: JPKICertificate, policy: VerificationPolicy
) -> tuple[Check, SignerFacts | None]:
    signer = classify(cert)
    what = f"a {entry_type_label(leaf.kind, leaf.document_type)}"
    if leaf.kind == EntryKind.EVENT:
        what += " event"
    if signer is None:
        return Check(
            ISSUER_POLICY,
            Outcome.FAILED,
            f"the signer certificate (serial 0x{cert.serial_hex}) is neither a JPKI "
            "certificate nor a municipal seal, so it may sign nothing",
        ), None
    accepted = accepted_kinds(leaf, policy)
    who = signer.describe(cert)
    if signer.kind not in accepted:
        names = ", ".join(sorted(k.description for k in accepted)) or "nothing"
        hint = ""
        if (
            leaf.version < ENCODING_VERSION
            and signer.kind in PERSONAL_SIGNATURE
            and policy.require_municipal_seal
        ):
            hint = (
                "; this bundle predates the municipal seal: a relying party that accepts such "
                "documents verifies with --accept-unsealed"
            )
        return Check(
            ISSUER_POLICY,
            Outcome.FAILED,
            f"{who} may not sign {what} (accepted: {names}){hint}",
        ), signer
    if signer.seal is not None and signer.seal.lg_code != leaf.lg_code:
        named = (
            f"local government {signer.seal.lg_code:06d}"
            if signer.seal.lg_code is not None
            else "no valid local-government code"
        )
        return Check(
            ISSUER_POLICY,
            Outcome.FAILED,
            f"{who} names {named}, but the entry was issued by municipality "
            f"{leaf.lg_code:06d}: a seal signs only its own municipality's documents",
        ), signer
    detail = f"{who} may sign {what}"
    if is_unsealed_allowed(leaf, policy) and signer.kind not in accepted_signer_kinds(
        leaf.kind, leaf.document_type
    ):
        detail += f": {UNSEALED_ACCEPTED}"
    return Check(ISSUER_POLICY, Outcome.PASSED, detail), signer
