"""A local RFC 3161 time-stamping authority for development and tests: OpenSSL's `ts -reply`
answering timestamp queries over HTTP (RFC 3161 §3.4: POST `application/timestamp-query`,
answer `application/timestamp-reply`).

`generate_tsa()` makes a small test CA and a TSA certificate under it (ECDSA P-256,
extendedKeyUsage timeStamping, critical) plus OpenSSL's `ts` configuration; the CA
certificate is what a node and a verifier trust (`TsaFiles.trust_anchor`). `TimestampAuthority`
serves it, in a thread (a context manager, for tests) or as a process
(`python -m devtools.tsa`, which `notary node --dev` starts). Each request runs one
`openssl ts -reply`: the tokens are OpenSSL's, not ours.

`Misbehaviour` lets tests make the TSA slow or its answers oversized.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEV_POLICY: Final = "1.3.6.1.4.1.32473.1.1"
"""The dev TSA's policy OID (under the documentation arc of RFC 5612)."""
MAX_QUERY_BYTES: Final = 4096
"""A query is ~100 bytes (an imprint, a nonce, a policy); anything larger is refused."""
READ_TIMEOUT: Final = 5.0
OPENSSL_TIMEOUT: Final = 10.0
QUERY_TYPE: Final = "application/timestamp-query"
REPLY_TYPE: Final = "application/timestamp-reply"


class TsaError(Exception):
    """The TSA cannot be set up (no `openssl`, unwritable folder)."""


@dataclass(frozen=True)
class TsaFiles:
    """What `generate_tsa` writes into its folder."""

    folder: Path

    @property
    def trust_anchor(self) -> Path:
        """The test CA's certificate (PEM): what nodes and verifiers trust."""
        return self.folder / "tsa-ca.pem"

    @property
    def certificate(self) -> Path:
        return self.folder / "tsa.pem"

    @property
    def key(self) -> Path:
        return self.folder / "tsa.key"

    @property
    def config(self) -> Path:
        return self.folder / "openssl-ts.cnf"


def openssl() -> str:
    """The `openssl` command (Debian's `openssl` package), or a clear error."""
    path = shutil.which("openssl")
    if path is None:
        raise TsaError("the development TSA needs the `openssl` command (apt-get install openssl)")
    return path


def generate_tsa(
    folder: Path,
    *,
    name: str = "Notary DEV TSA",
    eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.TIME_STAMPING,
    valid_from: datetime | None = None,
    valid_for: timedelta = timedelta(days=3650),
) -> TsaFiles:
    """A test CA and a TSA certificate under it, with OpenSSL's `ts` configuration.

    Reused if the folder already holds one. `eku`, `valid_from` and `valid_for` exist for
    tests (a certificate for another purpose, or one expired when it signs)."""
    files = TsaFiles(folder)
    if files.config.exists():
        return files
    folder.mkdir(parents=True, exist_ok=True)
    start = valid_from or datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(ca=False), critical=True)
        # RFC 3161 §2.3: the TSA's certificate has this one purpose, marked critical.
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files.trust_anchor.write_bytes(ca.public_bytes(pem))
    files.certificate.write_bytes(tsa.public_bytes(pem))
    files.key.touch(mode=0o600)
    files.key.write_bytes(
        tsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "serial").write_text("01\n")
    files.config.write_text(_ts_config(folder))
    return files


def key_usage(*, ca: bool) -> x509.KeyUsage:
    """A TSA hierarchy's key usage: certificates and CRLs for the CA, signing for the TSA."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _ts_config(folder: Path) -> str:
    # ess_cert_id_alg sha256: the token names its signer certificate by SHA-256 (ESSCertIDv2).
    return f"""\
[ tsa ]
default_tsa = dev_tsa

[ dev_tsa ]
dir = {folder}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/tsa-ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {DEV_POLICY}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass
class Misbehaviour:
    """What a test asks of the TSA: answer late, or pad the answer beyond any sane size.
    Changed at run time by the test while a node talks to the TSA."""

    delay: float = 0.0
    """Seconds to wait before answering."""
    trickle: float = 0.0
    """If set, send the answer one byte per `trickle` seconds (a slow-loris answer)."""
    padding: int = 0
    """Extra bytes after the DER reply, declared in Content-Length."""
    requests: int = field(default=0)
    """How many queries reached the TSA (a count the test reads)."""


class TimestampAuthority:
    """The HTTP server in front of `openssl ts -reply`; `with` runs it in a thread."""

    def __init__(self, files: TsaFiles, host: str = "127.0.0.1", port: int = 0) -> None:
        self.files = files
        self.openssl = openssl()
        self.misbehaviour = Misbehaviour()
        self._lock = threading.Lock()  # `ts -reply` rewrites its serial file: one at a time
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def reply(self, query: bytes) -> bytes:
        """The DER TimeStampResp that `openssl ts -reply` gives for the DER `query`."""
        with self._lock, tempfile.TemporaryDirectory(prefix="tsa-") as work:
            query_file, reply_file = Path(work) / "query.tsq", Path(work) / "reply.tsr"
            query_file.write_bytes(query)
            done = subprocess.run(
                [
                    self.openssl, "ts", "-reply", "-config", str(self.files.config),
                    "-queryfile", str(query_file), "-out", str(reply_file),
                ],
                capture_output=True,
                timeout=OPENSSL_TIMEOUT,
                check=False,
            )  # fmt: skip
            if done.returncode != 0 or not reply_file.exists():
                raise TsaError(f"openssl ts -reply failed: {done.stderr.decode()[-300:]}")
            # A query OpenSSL cannot parse still gets a DER reply (status rejection).
            return reply_file.read_bytes()

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.1)

    def __enter__(self) -> TimestampAuthority:
        self._thread = threading.Thread(target=self.serve_forever, name="tsa", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()


def _handler(tsa: TimestampAuthority) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = READ_TIMEOUT  # a client that stops sending mid-request is dropped
        protocol_version = "HTTP/1.1"
        server_version = "notary-dev-tsa"

        def do_POST(self) -> None:
            kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind != QUERY_TYPE:
                self._problem(415, f"send a DER TimeStampReq as {QUERY_TYPE}")
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._problem(411, "Content-Length is required")
                return
            if int(length) > MAX_QUERY_BYTES:
                self._problem(413, f"a query is at most {MAX_QUERY_BYTES} bytes")
                return
            query = self.rfile.read(int(length))
            tsa.misbehaviour.requests += 1
            try:
                answer = tsa.reply(query)
            except (TsaError, subprocess.TimeoutExpired) as error:
                self.log_error("%s", error)
                self._problem(500, "the time-stamping service failed")
                return
            self._answer(answer)

        def do_GET(self) -> None:
            self._problem(405, f"POST a DER TimeStampReq as {QUERY_TYPE}")

        def _answer(self, answer: bytes) -> None:
            bad = tsa.misbehaviour
            if bad.delay:
                time.sleep(bad.delay)
            body = answer + b"\0" * bad.padding
            self.send_response(200)
            self.send_header("Content-Type", REPLY_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                if bad.trickle:
                    for offset in range(len(body)):
                        self.wfile.write(body[offset : offset + 1])
                        self.wfile.flush()
                        time.sleep(bad.trickle)
                else:
                    self.wfile.write(body)
            except OSError:
                pass  # the client gave up: what a slow answer is for

        def _problem(self, status: int, detail: str) -> None:
            body = json.dumps({"type": "about:blank", "status": status, "detail": detail}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass  # queries carry only digests, but a dev TSA needs no access log

    return Handler


@contextmanager
def running_tsa(
    folder: Path, host: str = "127.0.0.1", port: int = 0
) -> Iterator[TimestampAuthority]:
    """A TSA with the identity in `folder` (made on first use), served in a thread."""
    with TimestampAuthority(generate_tsa(folder), host, port) as tsa:
        yield tsa


def main(argv: list[str] | None = None) -> int:
    """`python -m devtools.tsa --dir D [--host H] [--port P] [--url-file F]`: serve until
    killed; the URL goes to stdout and, if given, to F (written once listening)."""
    parser = argparse.ArgumentParser(prog="python -m devtools.tsa", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="TSA key, certificates, config")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--url-file", type=Path)
    args = parser.parse_args(argv)
    try:
        tsa = TimestampAuthority(generate_tsa(args.dir), args.host, args.port)
    except (TsaError, OSError) as error:
        print(f"tsa: {error}", file=sys.stderr)
        return 1
    if args.url_file is not None:
        partial = args.url_file.with_suffix(".tmp")
        partial.write_text(tsa.url + "\n")
        partial.replace(args.url_file)  # a reader never sees half a URL
    print(tsa.url, flush=True)
    try:
        tsa.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        tsa.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
