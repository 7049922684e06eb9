"""Shared JPKI test fixtures: one JPKI-TEST hierarchy per session, and a local CRL/OCSP server.

Test modules load the fixtures with ``pytest_plugins = ["tests.jpki_fixtures"]`` (one
registration, so the session fixture really runs once) and import the helpers directly. The
hierarchy is generated into a pytest temporary folder; no key is written anywhere else.

PYTEST_DONT_REWRITE: test modules import this before pytest loads it as a plugin, and it has
no assertions worth rewriting; the marker keeps pytest from warning about that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from devtools.cms_sign import load_private_key
from devtools.testca import Issued, TestHierarchy, generate_test_hierarchy
from verifier.jpki.certificates import JPKICertificate, load_certificates
from verifier.jpki.revocation import RevocationSources


@pytest.fixture(scope="session")
def jpki_hierarchy(tmp_path_factory: pytest.TempPathFactory) -> TestHierarchy:
    """The JPKI-TEST jpki_hierarchy, generated once per session (RSA-2048 keys are not free)."""
    return generate_test_hierarchy(tmp_path_factory.mktemp("jpki-test-ca"))


def cert(issued: Issued) -> JPKICertificate:
    return load_certificates([issued.cert])[0]


def x509_cert(issued: Issued) -> x509.Certificate:
    return x509.load_pem_x509_certificate(issued.cert.read_bytes())


def key(issued: Issued) -> rsa.RSAPrivateKey:
    return load_private_key(issued.key)


def anchors(h: TestHierarchy) -> list[JPKICertificate]:
    """The genuine roots only: both sign-CA generations and the user-authentication CA."""
    return load_certificates(h.trust_anchors)


def all_crls(h: TestHierarchy) -> RevocationSources:
    return RevocationSources(crl_files=h.crl_files)


@dataclass
class LocalRevocationServer:
    """CRLs by GET path and an OCSP responder on POST, on 127.0.0.1 with an ephemeral port."""

    url: str
    crls: dict[str, bytes] = field(default_factory=dict)
    ocsp_answer: Callable[[bytes], bytes] | None = None
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def jpki_revocation_server() -> Iterator[LocalRevocationServer]:
    state = LocalRevocationServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(f"GET {self.path}")
            body = state.crls.get(self.path)
            self._reply(200 if body is not None else 404, body or b"not found")

        def do_POST(self) -> None:
            state.requests.append(f"POST {self.path}")
            length = int(self.headers.get("Content-Length", "0"))
            request = self.rfile.read(length)
            if state.ocsp_answer is None:
                self._reply(404, b"no OCSP here")
                return
            self._reply(200, state.ocsp_answer(request), "application/ocsp-response")

        def _reply(self, code: int, body: bytes, ctype: str = "application/pkix-crl") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def ocsp_responder(
    h: TestHierarchy,
    *,
    issuer: Issued,
    subjects: list[Issued],
    revoked: dict[int, x509.ReasonFlags] | None = None,
) -> Callable[[bytes], bytes]:
    """An RFC 6960 responder signed by `issuer`'s own key that knows `subjects` by serial."""
    issuer_cert = x509_cert(issuer)
    issuer_key = key(issuer)
    known = {s.serial: x509_cert(s) for s in subjects}
    revoked = revoked or {}

    def answer(der_request: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(der_request)
        subject = known.get(request.serial_number)
        if subject is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED
            ).public_bytes(serialization.Encoding.DER)
        reason = revoked.get(request.serial_number)
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=subject,
            issuer=issuer_cert,
            algorithm=hashes.SHA1(),  # noqa: S303 - CertID naming, as real responders use
            cert_status=ocsp.OCSPCertStatus.REVOKED if reason else ocsp.OCSPCertStatus.GOOD,
            this_update=h.now,
            next_update=h.now + timedelta(days=1),
            revocation_time=h.revoked_at if reason else None,
            revocation_reason=reason,
        )
        try:  # echo the nonce, as the verifier requires of online answers
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
            builder = builder.add_extension(nonce, critical=False)
        except x509.ExtensionNotFound:
            pass
        response = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, issuer_cert).sign(
            issuer_key, hashes.SHA256()
        )
        return response.public_bytes(serialization.Encoding.DER)

    return answer


def issue_from_gen01(
    jpki_hierarchy: TestHierarchy,
    *,
    non_repudiation: bool = True,
    policy_critical: bool = True,
    san_value: bytes | None = None,
    ec_key: bool = False,
) -> x509.Certificate:
    """An end-entity certificate from gen01 with one profile deviation."""
    ca = x509_cert(jpki_hierarchy.sign_ca_gen01)
    public_key = (
        ec.generate_private_key(ec.SECP256R1()).public_key()
        if ec_key
        else key(jpki_hierarchy.ee_valid_gen01).public_key()
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PROFILE-TEST")]))
        .issuer_name(ca.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(jpki_hierarchy.now - timedelta(days=1))
        .not_valid_after(jpki_hierarchy.now + timedelta(days=30))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=non_repudiation,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier("1.2.392.200149.8.5.1.1.20"), None)]
            ),
            critical=policy_critical,
        )
    )
    if san_value is not None:
        other = x509.OtherName(x509.ObjectIdentifier("1.2.392.200149.8.5.5.1"), san_value)
        builder = builder.add_extension(x509.SubjectAlternativeName([other]), critical=False)
    return builder.sign(key(jpki_hierarchy.sign_ca_gen01), hashes.SHA256())
