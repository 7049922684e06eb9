"""Turning an issuing system's submission into a log entry: check the JPKI signature and its
signer at signing time, draw the salt, and encode the leaf. Nothing is stored here."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from node.store import NewEntry
from verifier.bundle import MAX_CERTIFICATES, make_document_entry
from verifier.digest_signature import certificate_from_der, verify_cms_digest, verify_pkcs1_digest
from verifier.jpki import (
    JPKICertificate,
    JPKIError,
    RevocationSources,
    SignerCheck,
    SignerPolicy,
    check_signer,
)
from verifier.leaf import (
    MAX_UINT64,
    RevocationEntry,
    SignatureFormat,
    new_salt,
)


class SubmissionRejectedError(Exception):
    """The submission is refused; `field` names the offending field for the problem body."""

    def __init__(
        self, field: str, detail: str, status: int = 422, problem: str = "invalid-entry"
    ) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail
        self.status = status
        self.problem = problem


@dataclass(frozen=True)
class SignatureInput:
    format: SignatureFormat
    value: bytes
    certificate: bytes | None  # DER; required for PKCS#1, optional for CMS (embedded there)
    signing_time: int | None  # required for PKCS#1 (the card does not state it)


@dataclass(frozen=True)
class Submission:
    document_sha256: bytes
    document_type: int
    issued_at: int
    signature: SignatureInput
    request_id: str | None = None


@dataclass(frozen=True)
class SignerGate:
    """What the node accepts as a signer: trust anchors, revocation sources, policy.

    Path validation costs ~10 ms per signer; a batch signed by one official in the same
    second repeats the same question, so answers are cached per (certificate, signing
    time). The cache lives as long as the gate: the node builds a new gate with new CRLs.
    """

    trust_anchors: tuple[JPKICertificate, ...]
    revocation: RevocationSources
    policy: SignerPolicy
    cache_size: int = 4096
    _cache: OrderedDict[tuple[str, int], SignerCheck] = field(
        default_factory=OrderedDict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(
        self, signer: JPKICertificate, intermediates: list[JPKICertificate], signing_seconds: int
    ) -> SignerCheck:
        key = (signer.sha256, signing_seconds)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = check_signer(
            signer,
            signing_time=datetime.fromtimestamp(signing_seconds, UTC),
            trust_anchors=self.trust_anchors,
            intermediates=intermediates,
            revocation=self.revocation,
            policy=self.policy,
        )
        if result.status in (
            "valid",
            "revoked",
            "expired",
            "not_yet_valid",
            "untrusted",
            "invalid",
        ):
            with self._lock:  # "unknown" (no revocation info yet) is worth asking again
                self._cache[key] = result
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return result


def new_receipt_id() -> str:
    return "r_" + secrets.token_hex(16)


def document_entry(
    submission: Submission, lg_code: int, gate: SignerGate, *, client: str, field_prefix: str = ""
) -> NewEntry:
    """Check `submission` and build its log entry. Raises SubmissionRejectedError."""
    sig = submission.signature
    where = f"{field_prefix}signature"
    if not 0 <= submission.issued_at <= MAX_UINT64:
        raise SubmissionRejectedError(
            f"{field_prefix}issued_at", "must not be before 1970-01-01T00:00:00Z"
        )
    try:
        if sig.format is SignatureFormat.CMS:
            signed = verify_cms_digest(sig.value, submission.document_sha256)
            signer, embedded, signing_time = (
                signed.signer_cert,
                signed.embedded_certs,
                signed.signing_time,
            )
            if signing_time is None:
                raise SubmissionRejectedError(
                    f"{where}.value", "the CMS signature has no signingTime attribute"
                )
            signing_seconds = int(signing_time.timestamp())
        else:
            if sig.certificate is None:
                raise SubmissionRejectedError(
                    f"{where}.certificate", "a PKCS#1 signature needs the signer certificate"
                )
            if sig.signing_time is None:
                raise SubmissionRejectedError(
                    f"{where}.signing_time", "a PKCS#1 signature needs its signing time"
                )
            signer = certificate_from_der(sig.certificate)
            verify_pkcs1_digest(sig.value, submission.document_sha256, signer)
            embedded, signing_seconds = [], sig.signing_time
    except JPKIError as error:
        raise SubmissionRejectedError(
            f"{where}.value", f"signature does not verify: {error}"
        ) from None
    if not 0 <= signing_seconds <= MAX_UINT64:
        raise SubmissionRejectedError(
            f"{where}.signing_time" if sig.format is SignatureFormat.PKCS1 else f"{where}.value",
            "the signing time must not be before 1970-01-01T00:00:00Z",
        )
    others = [c for c in embedded if c.sha256 != signer.sha256]
    if 1 + len(others) > MAX_CERTIFICATES:
        # The bundle carries the signer's certificate and these; a bundle may carry at most
        # MAX_CERTIFICATES, so an entry with more could be logged but never proven.
        raise SubmissionRejectedError(
            f"{where}.value",
            f"the CMS carries {1 + len(others)} certificates (the signer's and "
            f"{len(others)} more); at most {MAX_CERTIFICATES} are allowed",
        )
    check = gate.check(signer, others, signing_seconds)
    if not check.ok:
        raise SubmissionRejectedError(
            f"{where}.certificate",
            f"signer certificate is {check.status} at the signing time: {check.reason}",
            problem=f"signer-{check.status.replace('_', '-')}",
        )
    certificates = [signer.der, *(c.der for c in others)]
    salt = new_salt()
    entry = make_document_entry(
        document_sha256=submission.document_sha256,
        salt=salt,
        lg_code=lg_code,
        document_type=submission.document_type,
        issued_at=submission.issued_at,
        signing_time=signing_seconds,
        signature_format=sig.format,
        signature=sig.value,
        signer_certificate=signer.der,
    )
    receipt_id = new_receipt_id()
    sidecar: dict[str, Any] = {
        "kind": "document",
        "salt": salt.hex(),
        "signature_format": sig.format.label,
        "signature": _b64(sig.value),
        "certificates": [_b64(c) for c in certificates],
        "receipt_id": receipt_id,
        "request_id": submission.request_id,
        "client": client,
        "received_at": int(time.time()),
    }
    return NewEntry(entry.encode(), sidecar, receipt_id)


def revocation_entry(
    revoked_leaf_hash: bytes, lg_code: int, reason: int, *, client: str
) -> NewEntry:
    entry = RevocationEntry(revoked_leaf_hash, lg_code, reason, int(time.time()))
    receipt_id = new_receipt_id()
    sidecar = {
        "kind": "revocation",
        "receipt_id": receipt_id,
        "client": client,
        "received_at": entry.revoked_at,
        "revokes": revoked_leaf_hash.hex(),
    }
    return NewEntry(entry.encode(), sidecar, receipt_id, revokes=revoked_leaf_hash)


def body_fingerprint(body: Any) -> str:
    """Stable hash of a request body, to tell a retry from a conflicting reuse of an id."""
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
