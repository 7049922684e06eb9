"""What the node keeps privately about a document's requester: the resident's JPKI-signed
application (its CMS, which embeds the card certificate), the requester salt and the card's
serial number. Only the requester commitment reaches the leaf; this record stays on the LGWAN
side, written in the same synced batch as its entry (`NewEntry.private`)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from protocol.requester import RequesterDisclosure, disclosure_to_json, parse_disclosure
from protocol.signers import SignerKind

REQUESTER = b"A"  # + receipt id -> JSON RequesterRecord (LGWAN only, personal data)


def requester_key(receipt_id: str) -> bytes:
    return REQUESTER + receipt_id.encode()


@dataclass(frozen=True, repr=False)
class RequesterRecord:
    """A requester as the node keeps it; `repr` hides it (a stray log line must not leak it)."""

    disclosure: RequesterDisclosure
    application_cms: bytes
    signer_kind: SignerKind
    signing_time: int

    def commitment(self) -> bytes:
        return self.disclosure.commitment()

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "disclosure": disclosure_to_json(self.disclosure),
                "application_cms": base64.b64encode(self.application_cms).decode(),
                "signer_kind": self.signer_kind.value,
                "signing_time": self.signing_time,
            }
        ).encode()

    def public_answer(self) -> dict[str, Any]:
        """What the municipality's own records get back (LGWAN, token-authenticated)."""
        return {
            "requester_disclosure": disclosure_to_json(self.disclosure),
            "application": {
                "format": "cms",
                "value": base64.b64encode(self.application_cms).decode(),
                "application_sha256": self.disclosure.application_sha256.hex(),
            },
            "signer_kind": self.signer_kind.value,
            "signing_time": self.signing_time,
        }

    def __repr__(self) -> str:
        return "RequesterRecord(<personal data redacted>)"


def requester_from_json(obj: Any) -> RequesterRecord:
    """The record from its stored JSON (parsed)."""
    return RequesterRecord(
        disclosure=parse_disclosure(obj["disclosure"]),
        application_cms=base64.b64decode(obj["application_cms"]),
        signer_kind=SignerKind(obj["signer_kind"]),
        signing_time=int(obj["signing_time"]),
    )
