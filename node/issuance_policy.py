"""Which signers this node accepts for which entries: protocol/signers.py's table, narrowed by
the operator's `issuance_policy`, and the seal bound to this node's own local government.

The node refuses at intake what every verifier would reject at issuer_policy (a personal card
on a registered certificate type, a user-authentication certificate on a document, another
municipality's seal), so an issuing system learns at once, not from a resident's bank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from protocol.leaf import EntryKind, entry_type_label
from protocol.signers import SignerKind, accepted_signer_kinds, seal_organization_identifier
from verifier.jpki import JPKICertificate
from verifier.jpki.errors import CertificateError
from verifier.jpki.signer_kind import SignerKindError, classify_signer, seal_identity

MAX_DOCUMENT_TYPE = 0xFFFE


class PolicyRefusalError(Exception):
    """A signer the policy refuses for this entry; `field` names what to change."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def parse_policy(raw: Mapping[str, Sequence[str]]) -> dict[int, frozenset[SignerKind]]:
    """The configured policy by document type; ValueError (one line) if it names an unknown
    type or signer kind, or widens protocol/signers.py's table."""
    narrowed: dict[int, frozenset[SignerKind]] = {}
    for key, kinds in raw.items():
        try:
            code = int(str(key), 0)
        except ValueError:
            raise ValueError(
                f"issuance_policy key {key!r} is not a document type code (e.g. 1 or 0x8001)"
            ) from None
        if not 1 <= code <= MAX_DOCUMENT_TYPE:
            raise ValueError(f"issuance_policy key {key!r} is not a document type (1 to 0xFFFE)")
        if isinstance(kinds, str):
            raise ValueError(f"issuance_policy {key!r} must be a list of signer kinds")
        parsed = set()
        for name in kinds:
            try:
                parsed.add(SignerKind(name))
            except ValueError:
                known = ", ".join(k.value for k in SignerKind)
                raise ValueError(
                    f"issuance_policy {key!r}: {name!r} is not a signer kind ({known})"
                ) from None
        allowed = accepted_signer_kinds(EntryKind.DOCUMENT, code)
        if wider := sorted(k.value for k in parsed - allowed):
            raise ValueError(
                f"issuance_policy {key!r} ({entry_type_label(EntryKind.DOCUMENT, code)}) widens "
                f"the protocol's table with {', '.join(wider)}: a policy may only narrow it "
                f"(allowed: {', '.join(sorted(k.value for k in allowed))})"
            )
        if code in narrowed:
            raise ValueError(f"issuance_policy names document type {code:#x} twice")
        narrowed[code] = frozenset(parsed)
    return narrowed


@dataclass(frozen=True)
class IssuancePolicy:
    """What this node accepts; `narrowed` replaces the table's set for the types it names."""

    lg_code: int
    narrowed: Mapping[int, frozenset[SignerKind]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def accepted(self, kind: EntryKind, type_code: int) -> frozenset[SignerKind]:
        if kind == EntryKind.DOCUMENT and type_code in self.narrowed:
            return self.narrowed[type_code]
        return accepted_signer_kinds(kind, type_code)

    def admit(
        self,
        signer: JPKICertificate,
        kind: EntryKind,
        type_code: int,
        *,
        where: str,
        type_field: str,
    ) -> SignerKind:
        """The signer's kind, if it may sign this entry; PolicyRefusalError otherwise. `where` is
        the signature field, `type_field` the document or event type field."""
        cert_field = f"{where}.certificates[0]"
        try:
            signer_kind = classify_signer(signer)
        except SignerKindError as error:
            raise PolicyRefusalError(cert_field, str(error)) from None
        accepted = self.accepted(kind, type_code)
        if signer_kind not in accepted:
            label = entry_type_label(kind, type_code)
            names = ", ".join(sorted(k.value for k in accepted)) or "none"
            raise PolicyRefusalError(
                type_field,
                f"a {signer_kind.description} may not sign {label} on this node "
                f"(accepted: {names})",
            )
        if signer_kind is SignerKind.LGPKI_SEAL:
            self._own_seal(signer, cert_field)
        return signer_kind

    def _own_seal(self, signer: JPKICertificate, cert_field: str) -> None:
        try:
            identity = seal_identity(signer)
        except CertificateError as error:
            raise PolicyRefusalError(cert_field, str(error)) from None
        if identity.lg_code != self.lg_code:
            named = identity.organization_identifier or "no organizationIdentifier"
            raise PolicyRefusalError(
                cert_field,
                f"the seal names {named}, not this node's local government "
                f"({seal_organization_identifier(self.lg_code)}): a seal signs only its own "
                "municipality's documents",
            )
