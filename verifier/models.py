"""What verification returns: a `Verdict` made of named `Check`s, each with its outcome.

The verdict is explicit about what it could not decide: ``unknown`` (evidence unreachable)
and ``pending`` (not anchored, or not yet final) are never folded into ``valid``. Nothing here
holds personal data except the signer certificate, which is kept private and decoded only by
`Verdict.signer_personal_data()`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from protocol.checks import (
    ON_REQUEST_CHECKS,
    SIGNER_CERTIFICATE,
    Check,
    Outcome,
    VerdictStatus,
    decide,
)
from verifier.errors import PolicyError
from verifier.jpki import BasicFourItems, JPKICertificate, read_basic_four_items


@dataclass(frozen=True, slots=True)
class DocumentDigest:
    """The SHA-256 of a document, for verifying without the document itself.

    A bare 32-byte `bytes` would be ambiguous (it could be a 32-byte document), so `verify`
    takes digests only wrapped in this type.
    """

    sha256: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.sha256, bytes) or len(self.sha256) != 32:
            raise PolicyError("a document digest is the 32-byte SHA-256 of the document")

    @classmethod
    def from_hex(cls, text: str) -> DocumentDigest:
        cleaned = text.strip().lower().removeprefix("0x")
        try:
            raw = bytes.fromhex(cleaned)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise PolicyError(f"{text.strip()[:80]!r} is not a SHA-256 digest (64 hex characters)")
        return cls(raw)

    @classmethod
    def of(cls, document: bytes) -> DocumentDigest:
        return cls(hashlib.sha256(document).digest())


@dataclass(frozen=True, slots=True)
class VerdictFacts:
    """What the bundle claims and the chain confirmed, free of personal data.

    Fields are None when the bundle does not state them or verification stopped before
    reading them. `anchored_at` comes from the chain, never from the bundle.
    """

    leaf_hash: str | None = None
    lg_code: int | None = None
    entry_kind: str | None = None
    """"document" or "event" (a login or signature event: `document_type` is its event type)."""
    document_type: int | None = None
    document_type_label: str | None = None
    issued_at: datetime | None = None
    signing_time: datetime | None = None
    chain_id: int | None = None
    registry: str | None = None
    node: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    anchored_at: datetime | None = None
    confirmations: int | None = None
    signer: dict[str, Any] | None = None
    """Kind, signer kind, serial, fingerprint, issuer; a seal's office (`seal`). No subject."""
    requester: dict[str, Any] | None = None
    """Card serial and application digest, when a requester disclosure opened the leaf."""
    revocation: dict[str, Any] | None = None
    as_of_block: int | None = None
    """Offline: the block the chain evidence shows the registry's state at."""
    as_of_time: datetime | None = None
    timestamped_at: datetime | None = None
    """A trusted TSA's genTime for the head (from the bundle's evidence)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "leaf_hash": self.leaf_hash,
            "lg_code": None if self.lg_code is None else f"{self.lg_code:06d}",
            "entry_kind": self.entry_kind,
            "document_type": self.document_type,
            "document_type_label": self.document_type_label,
            "issued_at": _iso(self.issued_at),
            "signing_time": _iso(self.signing_time),
            "chain_id": self.chain_id,
            "registry": self.registry,
            "node": self.node,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "anchored_at": _iso(self.anchored_at),
            "confirmations": self.confirmations,
            "signer": self.signer,
            "requester": self.requester,
            "revocation": self.revocation,
            "as_of_block": self.as_of_block,
            "as_of_time": _iso(self.as_of_time),
            "timestamped_at": _iso(self.timestamped_at),
        }


@dataclass(frozen=True, eq=False)
class Verdict:
    """The answer to "can I trust this document?", with every check that led to it.

    `facts` and `summary` are worked out when first read: a bulk verifier that looks only at
    `status` or `ok` does not pay for them. Verdicts compare by identity."""

    status: VerdictStatus
    checks: tuple[Check, ...]
    failed_check: str | None
    """The check that decided a verdict other than valid (first failed, else first unknown)."""
    _facts: VerdictFacts | Callable[[], VerdictFacts] = field(
        default_factory=VerdictFacts, repr=False
    )
    _signer: JPKICertificate | None = field(default=None, repr=False)

    @classmethod
    def from_checks(
        cls,
        checks: Sequence[Check],
        facts: VerdictFacts | Callable[[], VerdictFacts],
        signer: JPKICertificate | None = None,
    ) -> Verdict:
        """The verdict the checks decide; `facts` may be a function giving them on demand."""
        status, deciding = decide(checks)
        return cls(
            status, tuple(checks), deciding.name if deciding is not None else None, facts, signer
        )

    @functools.cached_property
    def facts(self) -> VerdictFacts:
        """What the bundle claims and the chain confirmed, free of personal data."""
        facts = self._facts
        return facts if isinstance(facts, VerdictFacts) else facts()

    @functools.cached_property
    def summary(self) -> str:
        """One line: the verdict and what decided it, or what a valid document is."""
        deciding = self.check(self.failed_check) if self.failed_check else None
        return _summary(self.status, deciding, self.checks, self.facts)

    @property
    def ok(self) -> bool:
        """True only for ``valid``: the one verdict that means "accept the document"."""
        return self.status is VerdictStatus.VALID

    @property
    def reason(self) -> str | None:
        """The deciding check's detail, or None for a valid verdict."""
        check = self.check(self.failed_check) if self.failed_check else None
        return check.detail if check is not None else None

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form without personal data (no subject, no basic four items)."""
        return {
            "status": self.status.value,
            "summary": self.summary,
            "failed_check": self.failed_check,
            "checks": [c.as_dict() for c in self.checks],
            "facts": self.facts.as_dict(),
        }

    def signer_personal_data(self) -> BasicFourItems | None:
        """The signer's name, sex, date of birth and address from the certificate.

        Personal data: show it only to someone entitled to see it, never log it. None when
        the signer certificate could not be read or carries no basic four items.
        """
        if self._signer is None:
            return None
        return read_basic_four_items(self._signer)


def _summary(
    status: VerdictStatus, deciding: Check | None, checks: Sequence[Check], facts: VerdictFacts
) -> str:
    if deciding is not None:
        return f"{status.value.upper()}: {deciding.name}: {deciding.detail}"
    parts = _what(facts)
    if facts.anchored_at is not None:
        parts.append(
            f"anchored {_iso(facts.anchored_at)} in block {facts.block_number} "
            f"of chain {facts.chain_id}"
        )
    if facts.timestamped_at is not None:
        parts.append(f"(TSA time {_iso(facts.timestamped_at)})")
    if status is VerdictStatus.VALID_AS_OF:
        text = (
            f"VALID AS OF EVIDENCE (block {facts.as_of_block}, {_iso(facts.as_of_time)}): "
            + " ".join(parts)
            + "; not known offline: a withdrawal of the head or a revocation of the document "
            "after that"
        )
        signer = next((c for c in checks if c.name == SIGNER_CERTIFICATE), None)
        if signer is not None and signer.as_of:
            text += (
                ", nor a revocation of the signer certificate published after the bundle's "
                "CRL/OCSP evidence (a key compromise reaching back)"
            )
    else:
        text = "VALID: " + " ".join(parts)
    if facts.signer is not None:
        text += "; " + _signed_with(facts.signer)
    if facts.requester is not None:
        text += f"; requested with card certificate serial 0x{facts.requester['card_serial']}"
    skip = Outcome.SKIPPED
    skipped = [c.name for c in checks if c.outcome is skip and c.name not in ON_REQUEST_CHECKS]
    if skipped:
        text += "; not checked: " + ", ".join(skipped)
    return text


def _what(facts: VerdictFacts) -> list[str]:
    """A document's type, issuer and issue time; an event's type, time and municipality."""
    if facts.entry_kind == "event":
        parts = [f"{facts.document_type_label or 'unknown'} event"]
        if facts.signing_time is not None:
            parts.append(f"at {_iso(facts.signing_time)}")
        if facts.lg_code is not None:
            parts.append(f"recorded by municipality {facts.lg_code:06d}")
        return parts
    parts = [f"{facts.document_type_label or 'document'}"]
    if facts.lg_code is not None:
        parts.append(f"issued by municipality {facts.lg_code:06d}")
    if facts.issued_at is not None:
        parts.append(f"at {_iso(facts.issued_at)}")
    return parts


def _signed_with(signer: dict[str, Any]) -> str:
    """ "signed with the municipal seal of ..." or "signed with a <JPKI kind> serial 0x..."."""
    seal = signer.get("seal")
    if seal is not None:
        office = seal["common_name"] or "an office"
        return f"sealed by {office} ({seal['organization_identifier']}, {seal['organisation']})"
    what = signer.get("description") or "JPKI certificate"
    return f"signed with a {what} serial 0x{signer['serial']}"


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return _iso_seconds(int(moment.timestamp()))


@functools.lru_cache(maxsize=4096)
def _iso_seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
