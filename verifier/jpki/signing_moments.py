"""The signing times at which a signer's verdict can change, so that one verdict serves many.

`check_signer` judges a certificate at one signing time (pyhanko's `moment`, with
`retroactive_revinfo`). For fixed certificates and fixed revocation evidence, that judgement
depends on the signing time only through order comparisons with a finite set of instants:

- the notBefore / notAfter of every certificate that can be on a path (the signer, every
  trust anchor and intermediate, the certificates inside OCSP responses), each compared with
  pyhanko's `time_tolerance` (1 s) and, for anchors, by `_anchor_outside_validity`;
- every CRL's thisUpdate / nextUpdate (pyhanko's freshness window, ± the tolerance; a missing
  nextUpdate counts as thisUpdate + 30 min, `FRESHNESS_FALLBACK_VALIDITY_DEFAULT`);
- every OCSP answer's thisUpdate / nextUpdate (or the same fallback), producedAt and
  revocation time;
- the revocation date and invalidityDate of every CRL entry whose serial number is that of a
  certificate above (the point-in-time revocation rule, and `verifier.jpki.compromise`).

pyhanko's default algorithm policy ignores the time, and the path candidates, CRL signature
checks and CRL scopes do not involve it. So every instant is widened to the whole seconds
within `MARGIN` of it (the "boundary seconds"); between two neighbouring boundary seconds the
signs of all those comparisons are fixed, and so is the verdict, except for the signing time
itself, which the verdict's reason quotes. `at_signing_time` moves a verdict to another
signing time of the same run; a boundary second is always judged in full.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.x509 import ocsp

from verifier.jpki.certificates import JPKICertificate
from verifier.jpki.revocation import RevocationEvidence
from verifier.jpki.validation import SignerCheck

MARGIN: Final = 2
"""Seconds on each side of an instant that are judged in full: more than pyhanko's 1 s
`time_tolerance` plus the rounding of a fractional instant to whole seconds."""

FALLBACK_VALIDITY: Final = timedelta(minutes=30)
"""pyhanko's `FRESHNESS_FALLBACK_VALIDITY_DEFAULT`: revocation info without nextUpdate."""


class UnreadableEvidenceError(ValueError):
    """A CRL or OCSP response cryptography cannot read: its instants are unknown."""


def boundary_seconds(
    certificates: Iterable[JPKICertificate], evidence: RevocationEvidence
) -> tuple[int, ...]:
    """The sorted whole seconds at which the verdict on these certificates may change.

    Raises UnreadableEvidenceError if some evidence cannot be read here (the caller then
    judges every signing time in full)."""
    certs = list(certificates)
    serials = frozenset(c.x509.serial_number for c in certs)
    instants: list[datetime] = []
    for cert in certs:
        instants += (cert.x509.not_valid_before_utc, cert.x509.not_valid_after_utc)
    for der in evidence.crls:
        fixed, by_serial = _crl_instants(der)
        instants += fixed
        for serial in serials:
            instants += by_serial.get(serial, ())
    for der in evidence.ocsp_responses:
        instants += _ocsp_instants(der)
    seconds: set[int] = set()
    for instant in instants:
        stamp = instant.timestamp()
        seconds.update(range(math.floor(stamp) - MARGIN, math.ceil(stamp) + MARGIN + 1))
    return tuple(sorted(seconds))


def at_signing_time(check: SignerCheck, signing_time: datetime) -> SignerCheck | None:
    """`check` (a verdict from the same run of seconds) restated for `signing_time`, or None
    when its reason does not quote its own signing time exactly once (judge it in full)."""
    if check.signing_time == signing_time:
        return check
    old, new = check.signing_time.isoformat(), signing_time.isoformat()
    quoted = check.reason.count(old)
    if quoted > 1 or any(old in problem for problem in check.revocation_problems):
        return None
    return replace(check, signing_time=signing_time, reason=check.reason.replace(old, new))


def run_index(boundaries: Sequence[int], signing_seconds: int) -> int | None:
    """Which run of non-boundary seconds `signing_seconds` falls in; None on a boundary."""
    index = bisect.bisect_left(boundaries, signing_seconds)
    if index < len(boundaries) and boundaries[index] == signing_seconds:
        return None
    return index


@functools.lru_cache(maxsize=64)
def _crl_instants(der: bytes) -> tuple[tuple[datetime, ...], dict[int, tuple[datetime, ...]]]:
    """A CRL's own instants, and each listed serial number's (once per CRL object)."""
    try:
        crl = x509.load_der_x509_crl(der)
        this_update = crl.last_update_utc
        next_update = crl.next_update_utc or this_update + FALLBACK_VALIDITY
        by_serial: dict[int, list[datetime]] = {}
        for entry in crl:
            times = by_serial.setdefault(entry.serial_number, [])
            times.append(entry.revocation_date_utc)
            for extension in entry.extensions:
                if isinstance(extension.value, x509.InvalidityDate):
                    times.append(_utc(extension.value.invalidity_date))
    except ValueError as exc:
        raise UnreadableEvidenceError(str(exc)) from None
    return (this_update, next_update), {k: tuple(v) for k, v in by_serial.items()}


def _ocsp_instants(der: bytes) -> list[datetime]:
    try:
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return []
        instants = [response.produced_at_utc]
        for single in response.responses:
            instants.append(single.this_update_utc)
            instants.append(single.next_update_utc or single.this_update_utc + FALLBACK_VALIDITY)
            if single.revocation_time_utc is not None:
                instants.append(single.revocation_time_utc)
        for cert in response.certificates:
            instants += (cert.not_valid_before_utc, cert.not_valid_after_utc)
    except ValueError as exc:
        raise UnreadableEvidenceError(str(exc)) from None
    return instants


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment
