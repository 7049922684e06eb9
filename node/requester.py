"""The requester of a document: check the resident's JPKI-signed application and draw the
requester commitment that goes into the leaf (docs/PROTOCOL.md section 13).

The application is checked as any JPKI signature at intake (signature over its digest, path
and revocation at its signing time), and its signer must be a personal signature certificate
(card or smartphone): an application is signed, never merely logged in to. The card's
serial number and the CMS stay with the node (node.requester_record); the resident gets the
disclosure that opens the commitment."""

from __future__ import annotations

import time

from node.intake import (
    REVOCATION_RETRY_AFTER,
    ApplicationInput,
    SignerGate,
    SigningWindow,
    SubmissionRejectedError,
)
from node.requester_record import RequesterRecord
from protocol.bundle import MAX_CERTIFICATES
from protocol.errors import LeafEncodingError
from protocol.leaf import MAX_UINT64, card_serial_bytes, new_salt
from protocol.requester import RequesterDisclosure
from protocol.signers import PERSONAL_SIGNATURE
from verifier.digest_signature import verify_cms_digest
from verifier.jpki import JPKIError
from verifier.jpki.signer_kind import SignerKindError, classify_signer


def check_application(
    application: ApplicationInput,
    gate: SignerGate,
    window: SigningWindow,
    *,
    field_prefix: str = "",
    received_at: float | None = None,
) -> RequesterRecord:
    """The requester record of a checked application, with a fresh salt; raises
    SubmissionRejectedError naming `application.*`. `window` bounds the application's
    signing time (a resident applies some time before the certificate is issued)."""
    received = time.time() if received_at is None else received_at
    where = f"{field_prefix}application"
    try:
        signed = verify_cms_digest(application.cms, application.application_sha256)
    except JPKIError as error:
        raise SubmissionRejectedError(
            f"{where}.value", f"the application signature does not verify: {error}"
        ) from None
    if signed.signing_time is None:
        raise SubmissionRejectedError(
            f"{where}.value", "the application's CMS has no signingTime attribute"
        )
    signing_seconds = int(signed.signing_time.timestamp())
    if not 0 <= signing_seconds <= MAX_UINT64:
        raise SubmissionRejectedError(
            f"{where}.value", "the signing time must not be before 1970-01-01T00:00:00Z"
        )
    if (outside := window.refusal(signing_seconds, received)) is not None:
        outside = outside.replace("signing_time_max_age", "application_max_age")
        raise SubmissionRejectedError(
            f"{where}.value", outside, problem="signing-time-outside-window"
        )
    signer = signed.signer_cert
    cert_field = f"{where}.certificate"
    try:
        kind = classify_signer(signer)
    except SignerKindError as error:
        raise SubmissionRejectedError(
            cert_field, str(error), problem="signer-not-accepted"
        ) from None
    if kind not in PERSONAL_SIGNATURE:
        raise SubmissionRejectedError(
            cert_field,
            f"an application is signed with the resident's JPKI signature certificate (card "
            f"or smartphone), not a {kind.description}",
            problem="signer-not-accepted",
        )
    others = [c for c in signed.embedded_certs if c.sha256 != signer.sha256]
    if 1 + len(others) > MAX_CERTIFICATES:
        raise SubmissionRejectedError(
            f"{where}.value", f"the CMS carries more than {MAX_CERTIFICATES} certificates"
        )
    check = gate.check(signer, others, signing_seconds)
    if (unavailable := gate.unavailable(signer, check)) is not None:
        raise SubmissionRejectedError(
            cert_field,
            unavailable[1],
            status=503,
            problem=unavailable[0],
            retry_after=REVOCATION_RETRY_AFTER,
        )
    if not check.ok:
        raise SubmissionRejectedError(
            cert_field,
            f"the application's signer certificate is {check.status} at its signing time: "
            f"{check.reason}",
            problem=f"signer-{check.status.replace('_', '-')}",
        )
    serial = signer.x509.serial_number
    try:
        card_serial_bytes(serial)
    except LeafEncodingError as error:
        raise SubmissionRejectedError(cert_field, str(error)) from None
    disclosure = RequesterDisclosure(new_salt(), application.application_sha256, serial)
    return RequesterRecord(disclosure, application.cms, kind, signing_seconds)
