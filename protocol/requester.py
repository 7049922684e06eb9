"""The requester disclosure: what opens a leaf's requester commitment.

The node keeps the resident's JPKI-signed application; the leaf and the public bundle carry
only `requester_commitment(salt, SHA-256(application), card serial)`. The resident receives
this small JSON document (never public) and may hand it to a verifier who needs to know who
asked for the certificate: it proves that the card with this serial number signed the
application with this digest, bound to this very document, and nothing more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from protocol.errors import BundleFormatError, LeafEncodingError
from protocol.json_fields import json_int, json_object, only_fields, required
from protocol.leaf import SALT_SIZE, card_serial_bytes, requester_commitment

DISCLOSURE_VERSION: Final = 1
DISCLOSURE_FIELDS: Final = ("requester_disclosure", "salt", "application_sha256", "card_serial")
MAX_DISCLOSURE_BYTES: Final = 4096


@dataclass(frozen=True, slots=True)
class RequesterDisclosure:
    salt: bytes
    application_sha256: bytes
    card_serial: int

    def commitment(self) -> bytes:
        return requester_commitment(self.salt, self.application_sha256, self.card_serial)

    def opens(self, requester_ref: bytes) -> bool:
        return self.commitment() == requester_ref

    @property
    def card_serial_hex(self) -> str:
        """The serial as certificate viewers show it: upper-case hex, no leading zero bytes."""
        return format(self.card_serial, "X")


def disclosure_to_json(disclosure: RequesterDisclosure) -> dict[str, Any]:
    return {
        "requester_disclosure": DISCLOSURE_VERSION,
        "salt": disclosure.salt.hex(),
        "application_sha256": disclosure.application_sha256.hex(),
        "card_serial": disclosure.card_serial_hex,
    }


def dump_disclosure(disclosure: RequesterDisclosure) -> str:
    return json.dumps(disclosure_to_json(disclosure), indent=2) + "\n"


def load_disclosure(data: bytes | str) -> RequesterDisclosure:
    """Parse a disclosure strictly; raises BundleFormatError naming the field."""
    if len(data) > MAX_DISCLOSURE_BYTES:
        raise BundleFormatError("requester_disclosure", "larger than any disclosure")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise BundleFormatError("requester_disclosure", "not JSON") from None
    return parse_disclosure(obj)


def parse_disclosure(obj: object) -> RequesterDisclosure:
    top = json_object(obj, "requester_disclosure")
    only_fields(top, DISCLOSURE_FIELDS, "")
    version = json_int(
        required(top, "requester_disclosure", ""), "requester_disclosure", 1, DISCLOSURE_VERSION
    )
    if version != DISCLOSURE_VERSION:
        raise BundleFormatError("requester_disclosure", f"must be {DISCLOSURE_VERSION}")
    salt = _hex(required(top, "salt", ""), "salt", SALT_SIZE)
    digest = _hex(required(top, "application_sha256", ""), "application_sha256", 32)
    serial_text = required(top, "card_serial", "")
    if (
        not isinstance(serial_text, str)
        or not 1 <= len(serial_text) <= 40
        or any(c not in "0123456789ABCDEF" for c in serial_text)
        or serial_text.startswith("0")
    ):
        raise BundleFormatError(
            "card_serial", "must be the serial number in upper-case hex without leading zeros"
        )
    try:
        serial = int(serial_text, 16)
        card_serial_bytes(serial)
    except LeafEncodingError as exc:
        raise BundleFormatError("card_serial", str(exc)) from None
    return RequesterDisclosure(salt, digest, serial)


def _hex(value: object, path: str, size: int) -> bytes:
    if (
        not isinstance(value, str)
        or len(value) != 2 * size
        or any(c not in "0123456789abcdef" for c in value)
    ):
        raise BundleFormatError(path, f"must be {size} bytes as lower-case hex")
    return bytes.fromhex(value)
