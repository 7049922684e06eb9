"""`notary verify DOCUMENT --bundle B`: a verdict for a clerk, an exit code for a script.

A sealed PDF carries its own bundle: `notary verify CERT.pdf` (no --bundle) checks the PDF's
container (verifier/pdf.py) and then the seal's signed bytes against the bundle inside.

Exit codes: 0 valid, 1 invalid or revoked, 2 usage error (including a malformed bundle),
3 undecided (pending or unknown, including "revocation not checked": without ``--node-url``
the verdict is valid only with an explicit ``--no-revocation-check``), 4 valid only as of the
bundle's chain evidence (``--offline``: a later withdrawal or revocation is not known).
``--trust-root`` pins the chain, the registry and the J-LIS CAs to the consortium's trust root
and checks a version-3 bundle's evidence against it; ``--offline`` then asks no one.
``--seal-trust`` gives the LGPKI CAs that vouch for municipal seals (never for JPKI
certificates, as ``--trust``'s never vouch for seals); ``--accept-unsealed`` accepts a pre-seal
bundle of a registered type signed with a JPKI card, with a warning. ``--requester-disclosure``
checks the holder's opening of the requester commitment and prints the card serial.
Human output is one verdict line and then every check; ``--json`` prints the same as one
JSON object. The signer's personal data (the basic four items of the JPKI certificate) is
printed only with ``--show-signer``. Expected errors end with one line on stderr, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn

import click

from protocol.bundle import ProofBundle, load_bundle
from protocol.checks import (
    DOCUMENT_REVOCATION,
    ISSUER_POLICY,
    SIGNER_CERTIFICATE,
    Outcome,
    VerdictStatus,
)
from protocol.errors import BundleFormatError
from protocol.requester import RequesterDisclosure, load_disclosure
from protocol.sealed_pdf import MAX_SEALED_PDF_BYTES
from protocol.trust_root import TrustRoot, TrustRootError, load_trust_root
from verifier.errors import PolicyError
from verifier.jpki import (
    CertificateError,
    ConfigurationError,
    JPKICertificate,
    RevocationSourceError,
    RevocationSources,
    load_certificates,
)
from verifier.jpki.ocsp import parse_ocsp_response
from verifier.models import DocumentDigest, Verdict
from verifier.pdf import PdfContainerError, PdfUnreadableError, is_pdf
from verifier.pdf_verify import SealedDocument, container_verdict, open_sealed_pdf
from verifier.policy import VerificationPolicy
from verifier.rules.issuer_policy import UNSEALED_ACCEPTED
from verifier.rules.revocation import REVOCATION_NOT_CHECKED
from verifier.verify import verify as run_verification

DEFAULT_RPC_URL: Final = "http://127.0.0.1:8545"
"""The local chain of `notary dev`."""
EXIT_CODES: Final = {
    VerdictStatus.VALID: 0,
    VerdictStatus.INVALID: 1,
    VerdictStatus.REVOKED: 1,
    VerdictStatus.PENDING: 3,
    VerdictStatus.UNKNOWN: 3,
    VerdictStatus.VALID_AS_OF: 4,
}
USAGE_EXIT: Final = 2
CERTIFICATE_SUFFIXES: Final = (".pem", ".crt", ".cer", ".der")
_MARKS: Final = {
    Outcome.PASSED: "ok  ",
    Outcome.FAILED: "FAIL",
    Outcome.SKIPPED: "skip",
    Outcome.UNKNOWN: "??  ",
}
_PLACEHOLDER_REGISTRY: Final = "0x" + "00" * 20


@click.command("verify")
@click.argument("document")
@click.option(
    "--bundle",
    "bundle_path",
    type=click.Path(path_type=Path),
    help="The proof bundle (JSON) that came with the document; omit it for a sealed PDF, "
    "which carries its own.",
)
@click.option(
    "--digest",
    "is_digest",
    is_flag=True,
    help="DOCUMENT is the document's SHA-256 in hex, not a file.",
)
@click.option(
    "--rpc",
    "rpc_urls",
    multiple=True,
    envvar="NOTARY_RPC_URL",
    help=f"Ethereum JSON-RPC URL, tried in order (repeatable). Default {DEFAULT_RPC_URL}.",
)
@click.option(
    "--registry", envvar="NOTARY_REGISTRY", help="Trusted registry address (default: the bundle's)."
)
@click.option(
    "--chain-id",
    type=int,
    envvar="NOTARY_CHAIN_ID",
    help="Trusted chain id (default: the bundle's).",
)
@click.option(
    "--trust",
    "trust_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="J-LIS CA certificate file, or a folder of them (repeatable: every CA generation).",
)
@click.option(
    "--seal-trust",
    "seal_trust_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="LGPKI organisational CA certificate file, or a folder of them (repeatable): the only "
    "anchors a municipal seal may chain to.",
)
@click.option(
    "--accept-unsealed",
    is_flag=True,
    help="Accept a pre-seal bundle (version-1 or -2 leaf) of a registered certificate type "
    "signed with a JPKI signature certificate instead of the municipality's seal.",
)
@click.option(
    "--requester-disclosure",
    "disclosure_path",
    type=click.Path(path_type=Path),
    help="The holder's requester disclosure (JSON): check that it opens the entry's requester "
    "commitment and show the requesting card's serial.",
)
@click.option(
    "--crl",
    "crl_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="CRL file (DER or PEM), repeatable.",
)
@click.option("--crl-url", "crl_urls", multiple=True, help="CRL to fetch over http(s), repeatable.")
@click.option(
    "--ocsp",
    "ocsp_urls",
    multiple=True,
    help="OCSP responder to ask about the signer certificate (repeatable: tried in order).",
)
@click.option(
    "--ocsp-response",
    "ocsp_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A saved OCSP response (DER) as evidence, repeatable; it counts if its "
    "thisUpdate/nextUpdate window covers the signing time.",
)
@click.option(
    "--ocsp-from-certificate",
    is_flag=True,
    help="Also ask the OCSP responder the signer certificate names (its AIA).",
)
@click.option(
    "--ocsp-without-nonce",
    is_flag=True,
    help="Accept online OCSP answers that do not echo the request's nonce (a responder that "
    "serves pre-signed answers); they could be replays of an older answer.",
)
@click.option(
    "--node-url",
    envvar="NOTARY_NODE_URL",
    help="Issuing node's base URL, asked whether the document was revoked (without it, or "
    "--no-revocation-check, the verdict cannot be valid).",
)
@click.option(
    "--no-revocation-check",
    "skip_revocation",
    is_flag=True,
    help="Accept a verdict without asking the issuing node about revocation (a revoked "
    "document whose bundle lost its revocation section then verifies as valid).",
)
@click.option(
    "--finality", type=int, help="Blocks needed on top of the anchor (default: ask the chain)."
)
@click.option(
    "--trust-root",
    "trust_root_path",
    type=click.Path(path_type=Path),
    help="The consortium's trust-root.json: pins chain id, registry and J-LIS CAs, and checks a "
    "version-3 bundle's chain evidence against its signer history and TSAs.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Decide everything from the bundle's evidence and local files, with no network "
    "(needs --trust-root); the verdict is at best valid as of the evidence (exit 4).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as one JSON object.")
@click.option(
    "--show-signer",
    is_flag=True,
    help="Also print the signer's personal data (name, sex, birth date, address).",
)
def verify(
    document: str,
    bundle_path: Path | None,
    is_digest: bool,
    rpc_urls: tuple[str, ...],
    registry: str | None,
    chain_id: int | None,
    trust_paths: tuple[Path, ...],
    seal_trust_paths: tuple[Path, ...],
    accept_unsealed: bool,
    disclosure_path: Path | None,
    crl_files: tuple[Path, ...],
    crl_urls: tuple[str, ...],
    ocsp_urls: tuple[str, ...],
    ocsp_files: tuple[Path, ...],
    ocsp_from_certificate: bool,
    ocsp_without_nonce: bool,
    node_url: str | None,
    skip_revocation: bool,
    finality: int | None,
    trust_root_path: Path | None,
    offline: bool,
    as_json: bool,
    show_signer: bool,
) -> None:
    """Check DOCUMENT against its proof bundle (a sealed PDF: against the bundle inside it):
    exit 0 valid, 1 invalid or revoked, 2 usage error, 3 pending or unknown, 4 valid as of the
    bundle's evidence (offline)."""
    container_failure: str | None = None
    if bundle_path is None:
        if is_digest:
            _usage("--digest needs --bundle (only a sealed PDF carries its own bundle)")
        sealed, container_failure = _open_sealed_pdf(document)
        bundle = sealed.bundle if sealed is not None else None
        digest = sealed.digest if sealed is not None else None
    else:
        bundle = _read_bundle(bundle_path)
        digest = None
    trust_root = _read_trust_root(trust_root_path) if trust_root_path is not None else None
    if offline and trust_root is None:
        _usage("--offline needs --trust-root (the signer history the evidence is checked by)")
    if container_failure is not None:
        _report(container_verdict(container_failure), [], as_json, show_signer)
    assert bundle is not None  # for the type checker: a sealed PDF without one failed above
    if digest is None:
        digest = _document_digest(document, is_digest)
    disclosure = _read_disclosure(disclosure_path) if disclosure_path is not None else None
    warnings: list[str] = []
    settings = _Settings(
        rpc_urls=rpc_urls,
        registry=registry,
        chain_id=chain_id,
        trust_anchors=_trust_anchors(trust_paths, warnings),
        seal_trust_anchors=_trust_anchors(seal_trust_paths, warnings, "--seal-trust"),
        accept_unsealed=accept_unsealed,
        revocation=_revocation(
            _RevocationOptions(
                crl_files,
                crl_urls,
                ocsp_urls,
                ocsp_files,
                ocsp_from_certificate,
                ocsp_without_nonce,
            )
        ),
        node_url=node_url,
        skip_revocation=skip_revocation,
        finality=finality,
        warnings=warnings,
        trust_root=trust_root,
        offline=offline,
    )
    policy = settings.policy(bundle)
    verdict = run_verification(digest, bundle, policy, requester_disclosure=disclosure)
    _revocation_warning(verdict, settings.warnings)
    _unsealed_warning(verdict, settings.warnings)
    _report(verdict, settings.warnings, as_json, show_signer)


def _report(verdict: Verdict, warnings: list[str], as_json: bool, show_signer: bool) -> NoReturn:
    if as_json:
        click.echo(json.dumps(_json_report(verdict, warnings, show_signer), indent=2))
    else:
        _print_human(verdict, warnings, show_signer)
    raise click.exceptions.Exit(EXIT_CODES[verdict.status])


def _open_sealed_pdf(document: str) -> tuple[SealedDocument | None, str | None]:
    """The sealed PDF's digest and bundle, or why its container is invalid; a file that is not
    a readable PDF is a usage error."""
    try:
        with open(document, "rb") as handle:
            data = handle.read(MAX_SEALED_PDF_BYTES + 1)
    except OSError as exc:
        _usage(f"cannot read the document {document}: {exc.strerror}")
    if not is_pdf(data[:1024].lstrip(b"\r\n\t\f \x00")):
        _usage(f"{document} is not a PDF: give its proof bundle with --bundle")
    try:
        return open_sealed_pdf(data), None
    except PdfUnreadableError as exc:
        _usage(f"{document}: {exc}")
    except PdfContainerError as exc:
        return None, str(exc)


@dataclass
class _Settings:
    rpc_urls: tuple[str, ...]
    registry: str | None
    chain_id: int | None
    trust_anchors: list[JPKICertificate]
    seal_trust_anchors: list[JPKICertificate]
    accept_unsealed: bool
    revocation: RevocationSources
    node_url: str | None
    skip_revocation: bool
    finality: int | None
    warnings: list[str] = field(default_factory=list)
    trust_root: TrustRoot | None = None
    offline: bool = False

    def policy(self, bundle: ProofBundle) -> VerificationPolicy:
        if self.trust_root is not None:
            return self._trust_root_policy(self.trust_root)
        anchor = bundle.anchor or (bundle.revocation.anchor if bundle.revocation else None)
        chain_id, registry = self.chain_id, self.registry
        taken = []
        if chain_id is None:
            chain_id = anchor.chain_id if anchor else 1
            taken.append(f"chain id {chain_id}")
        if registry is None:
            registry = anchor.registry if anchor else _PLACEHOLDER_REGISTRY
            taken.append(f"registry {registry}")
        if taken and anchor is not None:
            self.warnings.append(
                " and ".join(taken) + " taken from the bundle: the verdict is then only as "
                "trustworthy as the bundle itself (anyone can deploy a look-alike registry). A "
                "production verifier pins them: --chain-id and --registry (or NOTARY_CHAIN_ID "
                "and NOTARY_REGISTRY)."
            )
        rpc_urls = self.rpc_urls or (DEFAULT_RPC_URL,)
        if not self.rpc_urls and anchor is not None:
            self.warnings.append(
                f"no --rpc given: asking {DEFAULT_RPC_URL} (the local development chain)."
            )
        if not self.trust_anchors and not self.seal_trust_anchors:
            self.warnings.append(
                "no --trust given: the JPKI signer cannot be checked, so the verdict cannot be "
                "valid (a municipal seal needs the LGPKI CAs: --seal-trust)."
            )
        if self.finality is not None and self.finality < 0:
            _usage(f"--finality must be 0 or more, not {self.finality}")
        try:
            return VerificationPolicy(
                rpc_urls=rpc_urls,
                registry=registry,
                chain_id=chain_id,
                trust_anchors=self.trust_anchors,
                seal_trust_anchors=self.seal_trust_anchors,
                require_municipal_seal=not self.accept_unsealed,
                revocation=self.revocation,
                finality_depth=self.finality,
                node_url=self.node_url,
                require_revocation_check=not self.skip_revocation,
            )
        except PolicyError as exc:
            _usage(str(exc))

    def _trust_root_policy(self, root: TrustRoot) -> VerificationPolicy:
        """Chain and registry from the trust root (a differing --chain-id or --registry is an
        error); offline, nothing that needs the network."""
        if self.chain_id is not None and self.chain_id != root.chain_id:
            _usage(f"--chain-id {self.chain_id} is not the trust root's chain id {root.chain_id}")
        if self.registry is not None and self.registry.lower() != root.registry.address.lower():
            _usage(f"--registry {self.registry} is not the trust root's {root.registry.address}")
        if self.offline:
            asked = [
                name
                for name, given in (
                    ("--rpc", self.rpc_urls),
                    ("--node-url", self.node_url),
                    ("--crl-url", self.revocation.crl_urls),
                )
                if given
            ]
            if asked:
                _usage(f"--offline asks no one over the network: drop {', '.join(asked)}")
        if self.finality is not None:
            _usage("--finality does not apply with --trust-root: its signer history decides")
        try:
            return VerificationPolicy.for_trust_root(
                root,
                rpc_urls=() if self.offline else (self.rpc_urls or (DEFAULT_RPC_URL,)),
                trust_anchors=self.trust_anchors,
                seal_trust_anchors=self.seal_trust_anchors,
                require_municipal_seal=not self.accept_unsealed,
                revocation=self.revocation,
                node_url=self.node_url,
                require_revocation_check=not self.skip_revocation,
                offline=self.offline,
            )
        except PolicyError as exc:
            _usage(str(exc))


def _read_trust_root(path: Path) -> TrustRoot:
    try:
        data = path.read_bytes()
    except OSError as exc:
        _usage(f"cannot read the trust root {path}: {exc.strerror}")
    try:
        return load_trust_root(data)
    except TrustRootError as exc:
        _usage(f"{path} is not a valid trust root: {exc}")


def _read_disclosure(path: Path) -> RequesterDisclosure:
    try:
        data = path.read_bytes()
    except OSError as exc:
        _usage(f"cannot read the requester disclosure {path}: {exc.strerror}")
    try:
        return load_disclosure(data)
    except BundleFormatError as exc:
        _usage(f"{path} is not a valid requester disclosure: {exc}")


def _unsealed_warning(verdict: Verdict, warnings: list[str]) -> None:
    """--accept-unsealed made the difference: say that the municipality did not seal it."""
    check = verdict.check(ISSUER_POLICY)
    if check is not None and check.passed and UNSEALED_ACCEPTED in check.detail:
        warnings.append(
            "accepted without the municipal seal (--accept-unsealed): this pre-seal document "
            "was signed with a personal JPKI certificate, not the municipality's seal."
        )


def _revocation_warning(verdict: Verdict, warnings: list[str]) -> None:
    """Say plainly when the verdict rests on a revocation check that did not happen."""
    check = verdict.check(DOCUMENT_REVOCATION)
    if check is None:
        return
    if verdict.status is VerdictStatus.VALID_AS_OF:
        warnings.append(
            "verified offline: valid as of the bundle's chain evidence (block "
            f"{verdict.facts.as_of_block}) only. Whether governance withdrew the head, or the "
            "municipality revoked the document, after that is not known offline: verify online "
            "with --node-url before relying on it for anything that needs the current state."
        )
        signer = verdict.check(SIGNER_CERTIFICATE)
        if signer is not None and signer.as_of:
            warnings.append(
                "the JPKI signer was judged by the CRL/OCSP evidence the bundle carries: a "
                "revocation of its certificate published after that (a key compromise reaching "
                "back before the signing time) is not known; give current CRLs (--crl) or an "
                "OCSP responder to rule it out."
            )
        return
    if check.outcome is Outcome.UNKNOWN and check.detail == REVOCATION_NOT_CHECKED:
        warnings.append(
            "no --node-url given: the issuing node was not asked whether the document was "
            "revoked, so the verdict cannot be valid. Give the URL of the issuing "
            "municipality's node (--node-url or NOTARY_NODE_URL; take it from your "
            "consortium's list of nodes, not from whoever handed you the bundle), or accept "
            "the risk with --no-revocation-check."
        )
    elif check.outcome is Outcome.SKIPPED and verdict.checks[0].passed:
        warnings.append(
            "revocation not checked (--no-revocation-check): the issuing node was not asked, so "
            "a document the municipality revoked verifies as valid if its bundle lost the "
            "revocation section."
        )


def _read_bundle(path: Path) -> ProofBundle:
    try:
        data = path.read_bytes()
    except OSError as exc:
        _usage(f"cannot read the bundle {path}: {exc.strerror}")
    try:
        return load_bundle(data)
    except BundleFormatError as exc:
        _usage(f"{path} is not a valid proof bundle: {exc}")


def _document_digest(document: str, is_digest: bool) -> DocumentDigest:
    if is_digest:
        try:
            return DocumentDigest.from_hex(document)
        except PolicyError as exc:
            _usage(str(exc))
    try:
        with open(document, "rb") as handle:
            return DocumentDigest(hashlib.file_digest(handle, "sha256").digest())
    except OSError as exc:
        _usage(f"cannot read the document {document}: {exc.strerror}")


def _trust_anchors(
    paths: tuple[Path, ...], warnings: list[str], option: str = "--trust"
) -> list[JPKICertificate]:
    """Certificates from files, or from every certificate file in a folder.

    In a folder, files that hold no certificate (a CRL saved as .der, say) are skipped with a
    warning; a named file that holds none is an error.
    """
    certificates: list[JPKICertificate] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.suffix.lower() in CERTIFICATE_SUFFIXES and p.is_file()
            )
            loaded = []
            for file in found:
                try:
                    loaded.append((file, load_certificates([file])))
                except CertificateError:
                    warnings.append(f"{option} {path}: skipped {file.name} (not a certificate)")
            if not loaded:
                _usage(f"{option} {path}: no certificate files in this folder")
        else:
            try:
                loaded = [(path, load_certificates([path]))]
            except CertificateError as exc:
                _usage(f"{option}: {exc}")
        whose = "J-LIS" if option == "--trust" else "LGPKI"
        for source, certs in loaded:
            for cert in certs:
                if not cert.is_ca:
                    _usage(
                        f"{option}: {source} holds an end-entity certificate (serial "
                        f"0x{cert.serial_hex}); give the {whose} CA certificates"
                    )
            certificates.extend(certs)
    return certificates


@dataclass(frozen=True)
class _RevocationOptions:
    crl_files: tuple[Path, ...]
    crl_urls: tuple[str, ...]
    ocsp_urls: tuple[str, ...]
    ocsp_files: tuple[Path, ...]
    ocsp_from_certificate: bool
    ocsp_without_nonce: bool


def _revocation(options: _RevocationOptions) -> RevocationSources:
    for path in options.crl_files:
        if not path.is_file():
            _usage(f"--crl {path}: no such file")
    responses = []
    for path in options.ocsp_files:
        try:
            responses.append(parse_ocsp_response(path.read_bytes()))
        except OSError as exc:
            _usage(f"--ocsp-response {path}: {exc.strerror}")
        except RevocationSourceError as exc:
            _usage(f"--ocsp-response {path}: {exc}")
    for url in options.ocsp_urls:
        if not url.startswith(("http://", "https://")):
            _usage(f"--ocsp {url}: only http:// and https:// responders can be asked")
    try:
        return RevocationSources(
            crl_files=options.crl_files,
            crl_urls=options.crl_urls,
            ocsp_urls=options.ocsp_urls,
            ocsp_responses=responses,
            use_certificate_ocsp_urls=options.ocsp_from_certificate,
            ocsp_require_nonce=not options.ocsp_without_nonce,
        )
    except ConfigurationError as exc:
        _usage(f"--crl-url: {exc}")


def _print_human(verdict: Verdict, warnings: list[str], show_signer: bool) -> None:
    click.echo(verdict.summary)
    width = max(len(check.name) for check in verdict.checks)
    for check in verdict.checks:
        mark = "asof" if check.as_of else _MARKS[check.outcome]
        click.echo(f"  [{mark}] {check.name:<{width}}  {check.detail}")
    if show_signer:
        click.echo("signer (personal data): " + _personal_line(verdict))
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def _json_report(verdict: Verdict, warnings: list[str], show_signer: bool) -> dict[str, Any]:
    report = verdict.as_dict()
    report["exit_code"] = EXIT_CODES[verdict.status]
    report["warnings"] = warnings
    if show_signer:
        report["signer_personal_data"] = _personal_data(verdict)
    return report


def _personal_data(verdict: Verdict) -> dict[str, str | None] | None:
    items = verdict.signer_personal_data()
    if items is None:
        return None
    return {
        "name": items.name,
        "sex": items.sex,
        "date_of_birth": items.date_of_birth_raw,
        "address": items.address,
    }


def _personal_line(verdict: Verdict) -> str:
    data = _personal_data(verdict)
    if data is None:
        return "none (no readable signer certificate with basic four items)"
    return ", ".join(f"{key}={value}" for key, value in data.items())


def _usage(message: str) -> NoReturn:
    click.echo(f"notary verify: {message}", err=True)
    raise click.exceptions.Exit(USAGE_EXIT)
