"""An RFC 6960 OCSP responder over HTTP for the JPKI-TEST hierarchy, for tests and demos.

It answers for every CA of a folder written by `devtools.testca`: `good` for a serial the
manifest lists under that CA, `revoked` (with the date and reason of its CRL entry) for one
that CA's CRL lists, `unknown` for any other serial; a request about a CA it does not serve
gets `unauthorized`. Responses are built by `cryptography`'s `OCSPResponseBuilder`, signed by
the CA itself or (``delegate=True``) by a responder certificate the CA issued with
id-kp-OCSPSigning, and echo the request's nonce. Requests are bounded (size, socket timeout),
as a responder on a network must be.

    python -m devtools.ocsp HIERARCHY_DIR [--port 0] [--delegate]

prints the URL it listens on and serves until interrupted. Never for production: the CA keys
of the test hierarchy sign the answers.
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp

from devtools.testca import make_ocsp_responder, new_key

MAX_REQUEST_BYTES: Final = 8 * 1024
"""A request for one certificate is ~100 bytes, ~300 with a nonce and a few extras."""
SOCKET_TIMEOUT: Final = 5.0
"""A client that stalls mid-request is dropped after this many seconds."""
DEFAULT_VALIDITY: Final = timedelta(hours=1)
_HASHES: Final = frozenset({"sha1", "sha256"})
"""CertID hash algorithms answered (asn1crypto attribute names)."""


@dataclass
class Authority:
    """One CA the responder answers for, and who signs its answers."""

    cert: x509.Certificate
    signer_cert: x509.Certificate
    signer_key: rsa.RSAPrivateKey
    issued: set[int] = field(default_factory=set)
    revoked: dict[int, tuple[datetime, x509.ReasonFlags | None]] = field(default_factory=dict)

    @property
    def delegated(self) -> bool:
        return self.signer_cert != self.cert

    def matches(self, request: ocsp.OCSPRequest) -> bool:
        asn1 = asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))
        algorithm = request.hash_algorithm.name
        if algorithm not in _HASHES:
            return False
        return bool(
            request.issuer_name_hash == getattr(asn1.subject, algorithm)
            and request.issuer_key_hash == getattr(asn1.public_key, algorithm)
        )


@dataclass
class TestOCSPResponder:
    """Builds answers; `serve` puts it on HTTP. `now` and `validity` set thisUpdate and
    nextUpdate (a fixed `now` in the past makes the stale answers tests need)."""

    __test__ = False  # not a pytest test class despite the name

    authorities: list[Authority]
    validity: timedelta = DEFAULT_VALIDITY
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    echo_nonce: bool = True
    requests: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_hierarchy(cls, folder: Path, *, delegate: bool = False) -> TestOCSPResponder:
        """Every CA of a `devtools.testca` folder, with the serials and CRLs its manifest lists."""
        manifest = json.loads((folder / "manifest.json").read_text())
        files = manifest["files"]
        keys = {e["role"]: folder / e["path"] for e in files if e["type"] == "private_key"}
        cas: dict[str, Authority] = {}
        for entry in files:
            if entry["type"] != "ca_certificate":
                continue
            cert = x509.load_pem_x509_certificate((folder / entry["path"]).read_bytes())
            key = _load_key(keys[entry["role"]])
            signer_cert, signer_key = cert, key
            if delegate:
                signer_key = new_key()
                signer_cert = make_ocsp_responder(
                    issuer_cert=cert,
                    issuer_key=key,
                    key=signer_key,
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                )
            cas[entry["role"]] = Authority(cert, signer_cert, signer_key)
        for entry in files:
            authority = cas.get(entry.get("issuer_role") or "")
            if authority is None:
                continue
            if entry["type"] == "certificate":
                authority.issued.add(int(entry["serial"], 16))
            elif entry["type"] == "crl":
                crl = x509.load_der_x509_crl((folder / entry["path"]).read_bytes())
                for revoked in crl:
                    authority.revoked[revoked.serial_number] = _listing(revoked)
        return cls(list(cas.values()))

    def authority_for(self, cert: x509.Certificate) -> Authority:
        """The authority whose key signed `cert` (generations share a DN)."""
        for authority in self.authorities:
            try:
                cert.verify_directly_issued_by(authority.cert)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return authority
        raise LookupError("no served CA issued this certificate")

    def revoke(
        self, cert: x509.Certificate, when: datetime, reason: x509.ReasonFlags | None = None
    ) -> None:
        with self._lock:
            self.authority_for(cert).revoked[cert.serial_number] = (when, reason)

    def respond(self, request_der: bytes) -> bytes:
        """The DER response to one DER request."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        with self._lock:
            authority = next((a for a in self.authorities if a.matches(request)), None)
            if authority is None:
                return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
            listing = authority.revoked.get(request.serial_number)
            known = request.serial_number in authority.issued
        if listing is not None:
            status = ocsp.OCSPCertStatus.REVOKED
        elif known:
            status = ocsp.OCSPCertStatus.GOOD
        else:
            status = ocsp.OCSPCertStatus.UNKNOWN
        this_update = self.now()
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=request.hash_algorithm,
            cert_status=status,
            this_update=this_update,
            next_update=this_update + self.validity,
            revocation_time=listing[0] if listing else None,
            revocation_reason=listing[1] if listing else None,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, authority.signer_cert)
        if authority.delegated:
            builder = builder.certificates([authority.signer_cert])
        if self.echo_nonce:
            try:
                nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
                builder = builder.add_extension(nonce, critical=False)
            except x509.ExtensionNotFound:
                pass
        response = builder.sign(authority.signer_key, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over HTTP in a thread; yields the base URL."""
        server = _server(self, host, port)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.server_address[1]}/"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def _server(responder: TestOCSPResponder, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        timeout = SOCKET_TIMEOUT  # applied to the connection's socket by StreamRequestHandler

        def do_POST(self) -> None:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._reply(411, b"Content-Length required", "text/plain")
                return
            if int(length) > MAX_REQUEST_BYTES:
                self._reply(413, b"request too large", "text/plain")
                return
            self._answer("POST", self.rfile.read(int(length)))

        def do_GET(self) -> None:
            # RFC 6960 A.1: GET {url}/{url-encoding of base-64 encoding of the DER request}
            # (served at the root; base64 may itself hold "/" when not URL-encoded)
            encoded = urllib.parse.unquote(self.path.lstrip("/"))
            if len(encoded) > MAX_REQUEST_BYTES * 2:
                self._reply(414, b"request too large", "text/plain")
                return
            try:
                der = base64.b64decode(encoded, validate=True)
            except ValueError:
                self._reply(400, b"not a base64 OCSP request", "text/plain")
                return
            self._answer("GET", der)

        def _answer(self, method: str, der: bytes) -> None:
            responder.requests.append(f"{method} {self.path if method == 'POST' else '/'}")
            self._reply(200, responder.respond(der), "application/ocsp-response")

        def _reply(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # requests name certificate serials; keep them out of logs

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def _listing(entry: x509.RevokedCertificate) -> tuple[datetime, x509.ReasonFlags | None]:
    try:
        reason: x509.ReasonFlags | None = entry.extensions.get_extension_for_class(
            x509.CRLReason
        ).value.reason
    except x509.ExtensionNotFound:
        reason = None
    return entry.revocation_date_utc, reason


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA key")
    return key


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.ocsp", description=__doc__)
    parser.add_argument("hierarchy", type=Path, help="a folder written by devtools.testca")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--delegate", action="store_true", help="sign with delegated responder certificates"
    )
    args = parser.parse_args(argv)
    responder = TestOCSPResponder.for_hierarchy(args.hierarchy, delegate=args.delegate)
    server = _server(responder, args.host, args.port)
    print(f"OCSP responder listening on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
