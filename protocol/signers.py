"""Who may sign what: signer kinds and the issuance policy every node and verifier applies.

A signer's kind follows from its certificate (which PKI, which purpose, card or smartphone);
the verifier classifies the certificate and this table says whether that kind may sign the
entry. The municipality's seal (an LGPKI-style organisational certificate, 職責証明書, no
personal data) is what makes an issued certificate the city's: a registered certificate type
signed with a personal card is not the municipality's document, whoever anchored it.

A seal certificate names the local government it belongs to in its subject's
organizationIdentifier (2.5.4.97, the attribute ETSI EN 319 412-1 gives organisational
certificates) as ``LGCJP-`` + the 6-digit local-government code, so a verifier can bind the
seal to the leaf's `lg_code` without asking anyone: a stolen governance key plus any card
cannot make a document of another municipality.
"""

from __future__ import annotations

import enum
import re
from typing import Final

from protocol.leaf import DocumentType, EntryKind, EventType, is_valid_lg_code


class SignerKind(enum.StrEnum):
    """What kind of certificate signed an entry (the verdict names it)."""

    JPKI_CARD_SIGNATURE = "jpki-card-signature"
    """署名用電子証明書 on the My Number card."""
    JPKI_SMARTPHONE_SIGNATURE = "jpki-smartphone-signature"
    """スマホ用署名用電子証明書 (since 2023), from the same CA as the card's."""
    JPKI_CARD_AUTHENTICATION = "jpki-card-authentication"
    """利用者証明用電子証明書 on the card: logins only."""
    JPKI_SMARTPHONE_AUTHENTICATION = "jpki-smartphone-authentication"
    """スマホ用利用者証明用電子証明書: logins only."""
    LGPKI_SEAL = "lgpki-seal"
    """The municipality's organisational certificate (職責証明書): its seal."""

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]

    @property
    def is_personal(self) -> bool:
        """A resident's or official's own certificate (JPKI), not the organisation's."""
        return self is not SignerKind.LGPKI_SEAL


_DESCRIPTIONS: Final = {
    SignerKind.JPKI_CARD_SIGNATURE: "My Number card signature certificate",
    SignerKind.JPKI_SMARTPHONE_SIGNATURE: "smartphone JPKI signature certificate",
    SignerKind.JPKI_CARD_AUTHENTICATION: "My Number card user-authentication certificate",
    SignerKind.JPKI_SMARTPHONE_AUTHENTICATION: "smartphone JPKI user-authentication certificate",
    SignerKind.LGPKI_SEAL: "municipal seal (LGPKI organisational certificate)",
}

SEAL: Final = frozenset({SignerKind.LGPKI_SEAL})
PERSONAL_SIGNATURE: Final = frozenset(
    {SignerKind.JPKI_CARD_SIGNATURE, SignerKind.JPKI_SMARTPHONE_SIGNATURE}
)
AUTHENTICATION: Final = frozenset(
    {SignerKind.JPKI_CARD_AUTHENTICATION, SignerKind.JPKI_SMARTPHONE_AUTHENTICATION}
)

ORGANIZATION_IDENTIFIER_OID: Final = "2.5.4.97"
"""The subject attribute that names a seal's local government (X.520 organizationIdentifier)."""
SEAL_ORGANIZATION_IDENTIFIER_PREFIX: Final = "LGCJP-"

TEST_POLICY_ARC: Final = "2.999.392.15"
"""Certificate policies this project had to assume live under the X.660 example arc (2.999), so
no test certificate can pass for a production one. docs/PROTOCOL.md, "Signer kinds"."""
SEAL_POLICY_OIDS: Final = (f"{TEST_POLICY_ARC}.1.1",)
"""Policies of a municipal seal certificate (職責証明書): the LGPKI-TEST seal policy. A
consortium adds the production LGPKI organisational-CA policy here when it adopts one."""
SMARTPHONE_POLICY_OIDS: Final = (f"{TEST_POLICY_ARC}.2.1",)
"""The marker that a JPKI certificate lives in a smartphone (スマホ用電子証明書), besides the
card's purpose policy: a JPKI-TEST assumption (the production marker is not public to us)."""
_SEAL_ORGANIZATION_IDENTIFIER: Final = re.compile(r"LGCJP-([0-9]{6})")


def accepted_signer_kinds(kind: EntryKind, type_code: int) -> frozenset[SignerKind]:
    """The signer kinds that may sign an entry of this kind and type.

    Registered certificate types (住民票の写し, 所得証明書, ...) need the municipality's seal;
    municipality-defined types (0x8000-0xFFFE) keep the two-file path a resident or official
    signs with a JPKI signature certificate (or a seal). A login event needs a
    user-authentication certificate, a signature event a signature certificate.
    """
    if kind == EntryKind.EVENT:
        if type_code == EventType.LOGIN:
            return AUTHENTICATION
        if type_code == EventType.SIGNATURE:
            return PERSONAL_SIGNATURE
        return frozenset()
    if type_code in DocumentType._value2member_map_:
        return SEAL
    return SEAL | PERSONAL_SIGNATURE


def seal_organization_identifier(lg_code: int) -> str:
    """The organizationIdentifier a seal certificate of this local government carries."""
    if not is_valid_lg_code(lg_code):
        raise ValueError(f"{lg_code!r} is not a local-government code")
    return f"{SEAL_ORGANIZATION_IDENTIFIER_PREFIX}{lg_code:06d}"


def seal_lg_code(organization_identifier: str) -> int | None:
    """The local-government code a seal's organizationIdentifier names, or None if it names
    none (wrong form or an invalid check digit)."""
    match = _SEAL_ORGANIZATION_IDENTIFIER.fullmatch(organization_identifier)
    if match is None:
        return None
    code = int(match.group(1))
    return code if is_valid_lg_code(code) else None
