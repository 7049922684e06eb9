"""Decode the "basic four items" (基本4情報) of a JPKI signature certificate, on request only.

These are personal data: the holder's name, sex, date of birth and address. Nothing else in
`verifier.jpki` calls this module; a caller who needs them (e.g. to show the holder their own
certificate) must ask explicitly, and must not log or publish the result. `BasicFourItems`
redacts itself in `repr()` so that an accidental log line does not leak them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from asn1crypto import core
from cryptography import x509

from verifier.jpki.certificates import JPKICertificate
from verifier.jpki.errors import CertificateError

_ARC: Final = "1.2.392.200149.8.5.5"
NAME_OID: Final = f"{_ARC}.1"
NAME_SUBSTITUTE_OID: Final = f"{_ARC}.2"
SEX_OID: Final = f"{_ARC}.3"
DATE_OF_BIRTH_OID: Final = f"{_ARC}.4"
ADDRESS_OID: Final = f"{_ARC}.5"
ADDRESS_SUBSTITUTE_OID: Final = f"{_ARC}.6"
BASIC_FOUR_OIDS: Final = frozenset(
    {NAME_OID, NAME_SUBSTITUTE_OID, SEX_OID, DATE_OF_BIRTH_OID, ADDRESS_OID, ADDRESS_SUBSTITUTE_OID}
)


@dataclass(frozen=True, repr=False)
class BasicFourItems:
    """The holder's personal data as the card's signature certificate states it.

    `date_of_birth_raw` is kept as written (era digit + YYYYMMDD); `date_of_birth` is the
    Gregorian date read from it, or None when it does not have that form. The substitute
    flags say where the card replaced characters that JIS cannot represent.
    """

    name: str | None
    name_substitute_flag: str | None
    sex: str | None
    date_of_birth_raw: str | None
    address: str | None
    address_substitute_flag: str | None

    @property
    def date_of_birth(self) -> date | None:
        raw = self.date_of_birth_raw
        if raw is None:
            return None
        digits = raw[1:] if len(raw) == 9 else raw
        try:
            return datetime.strptime(digits, "%Y%m%d").date()
        except ValueError:
            return None

    def __repr__(self) -> str:
        return "BasicFourItems(<personal data redacted>)"

    __str__ = __repr__


def read_basic_four_items(cert: JPKICertificate) -> BasicFourItems | None:
    """The basic four items in `cert`'s subjectAltName, or None if it carries none.

    User-authentication certificates carry none by design.
    """
    try:
        san = cert.x509.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:
        raise CertificateError(f"malformed subjectAltName ({exc})") from None
    values: dict[str, str] = {}
    for other in san.get_values_for_type(x509.OtherName):
        oid = other.type_id.dotted_string
        if oid in BASIC_FOUR_OIDS:
            if oid in values:
                raise CertificateError(f"subjectAltName repeats basic-four item {oid}")
            values[oid] = _decode_string(oid, other.value)
    if not values:
        return None
    return BasicFourItems(
        name=values.get(NAME_OID),
        name_substitute_flag=values.get(NAME_SUBSTITUTE_OID),
        sex=values.get(SEX_OID),
        date_of_birth_raw=values.get(DATE_OF_BIRTH_OID),
        address=values.get(ADDRESS_OID),
        address_substitute_flag=values.get(ADDRESS_SUBSTITUTE_OID),
    )


def _decode_string(oid: str, der: bytes) -> str:
    # The value is the DER inside otherName's [0] EXPLICIT: a string type of any kind.
    try:
        value = core.load(der)
        if isinstance(value, core.AbstractString):
            native = value.native
            if isinstance(native, str):
                return native
    except (ValueError, TypeError):
        pass
    raise CertificateError(f"subjectAltName item {oid} is not an ASN.1 string")
