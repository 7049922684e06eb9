"""How fresh the node's CRLs are, per CA: what `/readyz`, `/metrics` and a refused submission say.

A CRL past its nextUpdate can no longer vouch for a signature made after that moment, so every
signer it covers is refused ("no revocation information"). That is the node's fault (its CRL
job stopped), not the issuing system's: the node reports itself not ready and names the CRL,
instead of answering ready while refusing every entry.

JPKI splits CRLs per municipality (distribution point) and each CA generation signs its own,
so freshness is judged per (CA, distribution point): the newest CRL file for a point counts.
A CA is stale when one of its points is past nextUpdate + `grace` and no OCSP responder is
configured (the responder may still answer; whether it does shows in the submissions).
Files are re-read when they change on disk, as the signer checks do.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.oid import NameOID

from node.intake import file_state
from verifier.jpki import JPKICertificate
from verifier.jpki.revocation import dirname_key, distribution_point_keys

DirNameKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PointFreshness:
    """The newest CRL the node holds for one CA generation and distribution point."""

    ca: str
    ca_fingerprint: str
    point: DirNameKey | None  # None: a CRL without an issuing distribution point
    point_name: str
    this_update: datetime
    next_update: datetime | None
    path: str

    def stale_at(self, moment: datetime, grace: timedelta = timedelta(0)) -> bool:
        return self.next_update is not None and moment > self.next_update + grace


@dataclass(frozen=True)
class CAFreshness:
    """One CA generation's CRLs, summed up for the metrics."""

    ca: str
    next_update: datetime | None  # the earliest among its points: the first to go stale
    oldest_this_update: datetime
    stale_points: tuple[str, ...]


@dataclass
class RevocationFreshness:
    """Watches the configured CRL files against the trust anchors."""

    trust_anchors: Sequence[JPKICertificate]
    crl_files: Sequence[str | os.PathLike[str]]
    ocsp_configured: bool
    grace: timedelta = timedelta(0)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    _state: tuple[tuple[str, int, int, int], ...] | None = field(default=None, repr=False)
    _points: list[PointFreshness] = field(default_factory=list, repr=False)
    _unreadable: list[str] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def points(self) -> list[PointFreshness]:
        self._reload_if_changed()
        return list(self._points)

    def per_ca(self) -> list[CAFreshness]:
        now = self.now()
        by_ca: dict[str, list[PointFreshness]] = {}
        for point in self.points():
            by_ca.setdefault(point.ca, []).append(point)
        summary = []
        for ca, points in sorted(by_ca.items()):
            dated = [p.next_update for p in points if p.next_update is not None]
            summary.append(
                CAFreshness(
                    ca=ca,
                    next_update=min(dated) if dated else None,
                    oldest_this_update=min(p.this_update for p in points),
                    stale_points=tuple(p.point_name for p in points if p.stale_at(now, self.grace)),
                )
            )
        return summary

    def not_ready_reason(self) -> str | None:
        """Why the node cannot judge signers of some CA, or None. No personal data: CA and
        distribution-point names only."""
        if self.ocsp_configured:
            return None
        stale = [(ca.ca, point) for ca in self.per_ca() for point in ca.stale_points]
        if stale:
            listed = "; ".join(f"CA {ca!r}, point {point!r}" for ca, point in stale)
            return (
                f"CRL past its nextUpdate (grace {int(self.grace.total_seconds())} s) and no "
                f"OCSP responder configured, so signers it covers are refused: {listed}. "
                "Replace the CRL file with a fresh one (the node rereads it)"
            )
        if self._unreadable:
            return "CRL file unreadable or not a CRL of a trusted CA: " + ", ".join(
                self._unreadable
            )
        return None

    def stale_cause(
        self, signer: JPKICertificate, anchor_fingerprint: str | None, signing_time: datetime
    ) -> str | None:
        """If `signer` went unjudged because the node's CRLs for it are out of date, say so."""
        if anchor_fingerprint is None:
            return None
        wanted = distribution_point_keys(signer)
        covering = [
            p
            for p in self.points()
            if p.ca_fingerprint == anchor_fingerprint and (p.point is None or p.point in wanted)
        ]
        if not covering or not all(p.stale_at(signing_time) for p in covering):
            return None
        newest = max(covering, key=lambda p: p.next_update or p.this_update)
        due = newest.next_update.isoformat() if newest.next_update else "?"
        return (
            f"the node's CRL for this signer (CA {newest.ca!r}, point {newest.point_name!r}) "
            f"expired at {due}, before the signing time: the node cannot tell whether the "
            "certificate was revoked. The node's operator must refresh the CRL; retry later"
        )

    def _reload_if_changed(self) -> None:
        state = file_state(self.crl_files)
        with self._lock:
            if state == self._state:
                return
            points: dict[tuple[str, DirNameKey | None], PointFreshness] = {}
            unreadable = []
            for path in self.crl_files:
                found = self._read(os.fspath(path))
                if found is None:
                    unreadable.append(os.fspath(path))
                    continue
                key = (found.ca_fingerprint, found.point)
                if key not in points or found.this_update > points[key].this_update:
                    points[key] = found
            self._points = sorted(points.values(), key=lambda p: (p.ca, p.point_name))
            self._unreadable = unreadable
            self._state = state

    def _read(self, path: str) -> PointFreshness | None:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            crl = (
                x509.load_pem_x509_crl(data)
                if data.lstrip().startswith(b"-----BEGIN")
                else x509.load_der_x509_crl(data)
            )
        except (OSError, ValueError):
            return None
        for anchor in self.trust_anchors:
            try:
                signed = crl.issuer == anchor.x509.subject and crl.is_signature_valid(
                    anchor.x509.public_key()  # type: ignore[arg-type]
                )
            except (TypeError, UnsupportedAlgorithm):
                continue
            if signed:
                point, point_name = _issuing_point(crl)
                return PointFreshness(
                    ca=ca_label(anchor),
                    ca_fingerprint=anchor.sha256,
                    point=point,
                    point_name=point_name,
                    this_update=crl.last_update_utc,
                    next_update=crl.next_update_utc,
                    path=path,
                )
        return None


def ca_label(anchor: JPKICertificate) -> str:
    """A CA generation's name for metrics and messages: its CN (or first OU) and fingerprint
    prefix, since generations share one DN."""
    subject = anchor.x509.subject
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME) or subject.get_attributes_for_oid(
        NameOID.ORGANIZATIONAL_UNIT_NAME
    )
    name = str(names[0].value) if names else subject.rfc4514_string()
    return f"{name} sha256:{anchor.sha256[:12]}"


def _issuing_point(crl: x509.CertificateRevocationList) -> tuple[DirNameKey | None, str]:
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return None, "(whole CA)"
    for general_name in idp.full_name or ():
        if isinstance(general_name, x509.DirectoryName):
            name = general_name.value
            return dirname_key(name), ",".join(rdn.rfc4514_string() for rdn in name.rdns)
    return None, "(whole CA)"
