"""Gather the CRLs and OCSP responses that can say whether a JPKI certificate was revoked.

Only verifiers registered with J-LIS get CRL/OCSP access, so most will be handed CRL files;
some fetch them. JPKI names its CRL distribution points with directory names, split per
municipality, which no HTTP client can resolve: a configuration maps each DirName to a file
or URL. This module only *collects* evidence; whether it covers a certificate, and what it
says, is judged by the path validator in `verifier.jpki.validation`. Nothing is fetched
from the network unless a URL is configured.
"""

from __future__ import annotations

import functools
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from verifier.jpki.certificates import JPKICertificate
from verifier.jpki.errors import ConfigurationError, RevocationSourceError
from verifier.jpki.ocsp import MAX_OCSP_BYTES, fetch_ocsp, parse_ocsp_response

DEFAULT_FETCH_TIMEOUT: Final = 10.0
MAX_CRL_BYTES: Final = 64 * 1024 * 1024
"""JPKI CRLs are split per municipality; anything bigger is not a CRL we asked for."""


@dataclass(frozen=True)
class RevocationSources:
    """Where revocation evidence comes from; the default is no source at all.

    - `crls` / `ocsp_responses`: DER or PEM data already in memory (e.g. from a proof bundle);
    - `crl_files`: every file is loaded and the validator matches each CRL by issuer and
      issuing distribution point;
    - `crl_by_distribution_point`: a DirName (``C=JP,O=JPKI,...,CN=Tsukuba-shi CRLDP``, in
      certificate order or RFC 4514 order) → a file path or http(s) URL, or a list of them
      (one per CA generation), loaded only for certificates that name that point;
    - `crl_urls`: fetched for every check;
    - `ocsp_urls`: OCSP responders to ask, in order, until one gives a usable answer (a
      registered party's J-LIS responder, typically); `use_certificate_ocsp_urls` also asks
      the ones in the certificate's Authority Information Access (off by default: a
      certificate should not choose whom we contact). Online answers must echo our nonce
      unless `ocsp_require_nonce` is off (for a responder that only serves pre-signed answers).
    """

    crls: Sequence[bytes] = ()
    ocsp_responses: Sequence[bytes] = ()
    crl_files: Sequence[str | os.PathLike[str]] = ()
    crl_by_distribution_point: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    crl_urls: Sequence[str] = ()
    ocsp_urls: Sequence[str] = ()
    use_certificate_ocsp_urls: bool = False
    ocsp_require_nonce: bool = True
    fetch_timeout: float = DEFAULT_FETCH_TIMEOUT

    def __post_init__(self) -> None:
        if isinstance(self.ocsp_urls, str):
            raise ConfigurationError("ocsp_urls is a list of URLs, not one string")
        for url in (*self.crl_urls, *self.ocsp_urls):
            _check_url(url)
        for key, value in self.crl_by_distribution_point.items():
            parse_dirname(key)
            for target in [value] if isinstance(value, str) else value:
                if "://" in target:
                    _check_url(target)
        if self.fetch_timeout <= 0:
            raise ConfigurationError("fetch_timeout must be a positive number of seconds")

    @property
    def is_empty(self) -> bool:
        return not (
            self.crls
            or self.ocsp_responses
            or self.crl_files
            or self.crl_by_distribution_point
            or self.crl_urls
            or self.ocsp_urls
            or self.use_certificate_ocsp_urls
        )


@dataclass(frozen=True)
class RevocationEvidence:
    """DER CRLs and OCSP responses for one check, and why any source gave nothing."""

    crls: tuple[bytes, ...] = ()
    ocsp_responses: tuple[bytes, ...] = ()
    problems: tuple[str, ...] = ()


def collect_evidence(
    cert: JPKICertificate,
    issuers: Sequence[JPKICertificate],
    sources: RevocationSources,
) -> RevocationEvidence:
    """Load and fetch what `sources` offers for `cert`; a failing source becomes a problem.

    `issuers` are the candidate CA certificates (all generations with the right DN); they are
    needed only to build OCSP requests.
    """
    crls: list[bytes] = []
    ocsps: list[bytes] = []
    problems: list[str] = []

    def attempt_crl(description: str, load: Callable[[], bytes]) -> None:
        try:
            crls.append(load())
        except RevocationSourceError as exc:
            problems.append(f"{description}: {exc}")

    for index, data in enumerate(sources.crls):
        attempt_crl(f"CRL #{index + 1}", functools.partial(parse_crl, data))
    for path in sources.crl_files:
        attempt_crl(f"CRL file {path}", functools.partial(load_crl_file, path))
    for target in crl_locations_for(cert, sources.crl_by_distribution_point):
        attempt_crl(f"CRL {target}", functools.partial(_load_crl_target, target, sources))
    for url in sources.crl_urls:
        attempt_crl(f"CRL {url}", functools.partial(fetch_crl, url, sources.fetch_timeout))

    for index, data in enumerate(sources.ocsp_responses):
        try:
            ocsps.append(parse_ocsp_response(data))
        except RevocationSourceError as exc:
            problems.append(f"OCSP response #{index + 1}: {exc}")
    ocsps.extend(_ask_responders(cert, issuers, sources, problems))
    return RevocationEvidence(tuple(crls), tuple(ocsps), tuple(problems))


def _ask_responders(
    cert: JPKICertificate,
    issuers: Sequence[JPKICertificate],
    sources: RevocationSources,
    problems: list[str],
) -> list[bytes]:
    """One answer per candidate issuer: the responders are tried in order (failover)."""
    urls = _ocsp_urls(cert, sources)
    if not urls:
        return []
    candidates = [issuer for issuer in issuers if _may_have_issued(issuer, cert)]
    if not candidates:
        problems.append("OCSP: no configured CA certificate could have issued it")
        return []

    def post(url: str, body: bytes) -> bytes:
        return _http(url, body, "application/ocsp-request", sources.fetch_timeout, MAX_OCSP_BYTES)

    answers = []
    for issuer in candidates:
        for url in urls:
            try:
                answers.append(
                    fetch_ocsp(cert, issuer, url, post, require_nonce=sources.ocsp_require_nonce)
                )
            except RevocationSourceError as exc:
                problems.append(f"OCSP {url}: {exc}")
                continue
            break
    return answers


def crl_locations_for(
    cert: JPKICertificate, mapping: Mapping[str, str | Sequence[str]]
) -> list[str]:
    """The configured files/URLs for the DirName CRL distribution points `cert` names.

    A DirName may map to several CRLs: each CA generation signs its own CRL for the same
    distribution point, and the validator keeps only the one whose key matches.
    """
    if not mapping:
        return []
    wanted = distribution_point_keys(cert)
    targets: list[str] = []
    for key, value in mapping.items():
        if parse_dirname(key) in wanted:
            targets.extend([value] if isinstance(value, str) else value)
    return targets


def parse_dirname(text: str) -> tuple[tuple[str, str], ...]:
    """A comparable form of a DirName string, in certificate order (C first).

    Accepts RFC 4514 order (CN first) or certificate order, with or without a space after each
    comma; attribute values compare case-insensitively, as RFC 5280 name matching does.
    """
    compact = re.sub(r"(?<!\\),\s+", ",", text.strip())
    try:
        name = x509.Name.from_rfc4514_string(compact)
    except ValueError:
        raise ConfigurationError(f"not a distinguished name: {text!r}") from None
    rdns = list(reversed(name.rdns))  # from_rfc4514_string reads the string as CN-first
    key = _dirname_key(rdns)
    if key and key[0][0] != "2.5.4.6" and key[-1][0] == "2.5.4.6":
        key = tuple(reversed(key))  # the string was written C-first
    return key


def dirname_key(name: x509.Name) -> tuple[tuple[str, str], ...]:
    """The comparable form of a DirName (as `parse_dirname` gives for its string)."""
    return _dirname_key(list(name.rdns))


def distribution_point_keys(cert: JPKICertificate) -> list[tuple[tuple[str, str], ...]]:
    """The DirName CRL distribution points `cert` names, in comparable form."""
    return [dirname_key(name) for name in _dirname_points(cert)]


def _dirname_key(rdns: list[x509.RelativeDistinguishedName]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for rdn in rdns:
        for attribute in rdn:
            value = attribute.value
            text = value if isinstance(value, str) else value.hex()
            pairs.append((attribute.oid.dotted_string, " ".join(text.split()).casefold()))
    return tuple(pairs)


def _dirname_points(cert: JPKICertificate) -> list[x509.Name]:
    try:
        points = cert.x509.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        general_name.value
        for point in points
        for general_name in point.full_name or ()
        if isinstance(general_name, x509.DirectoryName)
    ]


def _load_crl_target(target: str, sources: RevocationSources) -> bytes:
    if target.startswith(("http://", "https://")):
        return fetch_crl(target, sources.fetch_timeout)
    return load_crl_file(target)


def parse_crl(data: bytes) -> bytes:
    """Check that `data` is a DER or PEM CRL and return it as DER."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            loaded = x509.load_pem_x509_crl(data)
        else:
            loaded = x509.load_der_x509_crl(data)
    except ValueError:
        raise RevocationSourceError("not a DER or PEM certificate revocation list") from None
    return loaded.public_bytes(serialization.Encoding.DER)


def load_crl_file(path: str | os.PathLike[str]) -> bytes:
    """Read a CRL file; unchanged files are parsed once per process."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise RevocationSourceError(f"cannot read CRL file: {exc.strerror}") from None
    return _load_crl_file_cached(os.fspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _load_crl_file_cached(path: str, mtime_ns: int, size: int) -> bytes:
    del mtime_ns, size  # only part of the cache key
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RevocationSourceError(f"cannot read CRL file: {exc.strerror}") from None
    return parse_crl(data)


def fetch_crl(url: str, timeout: float = DEFAULT_FETCH_TIMEOUT) -> bytes:
    """GET a CRL over http(s)."""
    return parse_crl(_http(url, None, None, timeout, MAX_CRL_BYTES))


def _ocsp_urls(cert: JPKICertificate, sources: RevocationSources) -> list[str]:
    urls = list(sources.ocsp_urls)
    if sources.use_certificate_ocsp_urls:
        for url in cert.ocsp_urls:
            try:
                _check_url(url)
            except ConfigurationError:
                continue  # a certificate cannot make us speak anything but http(s)
            if url not in urls:
                urls.append(url)
    return urls


def _may_have_issued(issuer: JPKICertificate, cert: JPKICertificate) -> bool:
    if issuer.x509.subject != cert.x509.issuer:
        return False
    if cert.authority_key_identifier and issuer.subject_key_identifier:
        return cert.authority_key_identifier == issuer.subject_key_identifier
    return True


def _check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"only http:// and https:// URLs can be fetched, not {url!r}")
    return url


def _http(
    url: str, data: bytes | None, content_type: str | None, timeout: float, limit: int
) -> bytes:
    _check_url(url)
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise RevocationSourceError(f"HTTP {exc.code} from {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RevocationSourceError(f"cannot reach {url} ({reason})") from None
    if len(body) > limit:
        raise RevocationSourceError(f"{url} sent more than {limit} bytes")
    return body
