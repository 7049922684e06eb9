"""requester_disclosure: does the holder's disclosure open the leaf's requester commitment?

The leaf carries only `requester_commitment(salt, SHA-256(application), card serial)`; the
resident alone holds the opening (`protocol.requester`). Given one, the verifier learns the
serial of the card that signed the application and the application's digest, bound to this
very document; without one the check is skipped and the requester stays a commitment.
"""

from __future__ import annotations

from typing import Any

from protocol.bundle import LeafSection
from protocol.checks import REQUESTER_DISCLOSURE, Check, Outcome
from protocol.leaf import ENCODING_VERSION, NO_REQUESTER
from protocol.requester import RequesterDisclosure

_NOT_GIVEN_COMMITTED = Check(
    REQUESTER_DISCLOSURE,
    Outcome.SKIPPED,
    "no requester disclosure given; the entry commits to its requester without naming them",
)
_NOT_GIVEN = Check(
    REQUESTER_DISCLOSURE,
    Outcome.SKIPPED,
    "no requester disclosure given (the entry names no requester)",
)


def requester_disclosure(
    leaf: LeafSection, disclosure: RequesterDisclosure | None
) -> tuple[Check, dict[str, Any] | None]:
    """The check, and the requester facts for the verdict when the disclosure opens it."""
    committed = leaf.version == ENCODING_VERSION and leaf.requester_commitment != NO_REQUESTER
    if disclosure is None:
        return (_NOT_GIVEN_COMMITTED if committed else _NOT_GIVEN), None
    if not committed:
        return Check(
            REQUESTER_DISCLOSURE,
            Outcome.FAILED,
            "a requester disclosure was given, but this entry commits to no requester "
            "(leaf.requester_commitment is null): the disclosure belongs to another document",
        ), None
    if not disclosure.opens(leaf.requester_commitment):
        return Check(
            REQUESTER_DISCLOSURE,
            Outcome.FAILED,
            "the requester disclosure does not open leaf.requester_commitment: its salt, "
            "application digest or card serial is not the one this document was issued for",
        ), None
    facts = {
        "card_serial": disclosure.card_serial_hex,
        "application_sha256": disclosure.application_sha256.hex(),
    }
    return Check(
        REQUESTER_DISCLOSURE,
        Outcome.PASSED,
        f"requested with the card certificate serial 0x{disclosure.card_serial_hex} "
        f"(application SHA-256 {disclosure.application_sha256.hex()}): the disclosure opens "
        "leaf.requester_commitment",
    ), facts
