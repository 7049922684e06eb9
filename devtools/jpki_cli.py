"""`jpki` commands: write the JPKI-TEST hierarchy and make card-like CMS signatures with it.

Errors end the command with one line and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from devtools.cms_sign import load_private_key, sign_cms
from devtools.testca import generate_test_hierarchy
from verifier.jpki.certificates import JPKICertificate, load_certificates
from verifier.jpki.errors import JPKIError

jpki = click.Group("jpki", help="JPKI (My Number card) test fixtures and signatures.")

# Paths are checked where they are used, so every mistake gives one "Error: ..." line
# instead of click's multi-line usage error.
_FILE = click.Path(path_type=Path)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.ClickException(f"{value!r} is not an ISO 8601 time") from None
    if parsed.utcoffset() is None:
        raise click.ClickException(f"{value!r} has no time zone; add e.g. +09:00 or Z")
    return parsed


@jpki.command("test-ca")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=_FILE,
    help="Folder to write certificates, keys (mode 0600), CRLs and manifest.json into.",
)
@click.option("--now", default=None, help="Reference time (ISO 8601 with zone); default: now.")
def test_ca(out_dir: Path, now: str | None) -> None:
    """Write synthetic JPKI-TEST (card and smartphone) and LGPKI-TEST (municipal seal) CA
    hierarchies (test keys: never use them for real)."""
    try:
        hierarchy = generate_test_hierarchy(out_dir, _parse_time(now))
    except JPKIError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote the JPKI-TEST and LGPKI-TEST hierarchies to {hierarchy.out_dir}")
    click.echo(f"seal trust anchor: {hierarchy.lgpki_ca.cert}")
    click.echo(f"manifest: {hierarchy.manifest}")


@jpki.command("sign")
@click.option("--key", "key_path", required=True, type=_FILE, help="Signer's RSA private key.")
@click.option("--cert", "cert_path", required=True, type=_FILE, help="Signer's certificate.")
@click.option(
    "--chain",
    "chain_paths",
    multiple=True,
    type=_FILE,
    help="CA certificate to embed (repeatable).",
)
@click.option("--out", "out_path", type=_FILE, default=None, help="Output file; default FILE.p7s.")
@click.option("--attach", is_flag=True, help="Embed the content instead of a detached signature.")
@click.option("--signing-time", default=None, help="signingTime (ISO 8601 with zone); default now.")
@click.argument("file", type=_FILE)
def sign(
    key_path: Path,
    cert_path: Path,
    chain_paths: tuple[Path, ...],
    out_path: Path | None,
    attach: bool,
    signing_time: str | None,
    file: Path,
) -> None:
    """Sign FILE like a My Number card: DER CMS SignedData, RSA PKCS#1 v1.5, SHA-256."""
    when = _parse_time(signing_time)
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
    try:
        key = load_private_key(key_path)
        signer = _single_certificate(cert_path)
        chain = [c.x509 for c in load_certificates(chain_paths)]
    except JPKIError as exc:
        raise click.ClickException(str(exc)) from None
    if signer.x509.public_key() != key.public_key():
        raise click.ClickException(f"{key_path} is not the key of the certificate {cert_path}")
    der = sign_cms(
        content, key=key, cert=signer.x509, chain=chain, signing_time=when, attach=attach
    )
    target = out_path or file.with_name(file.name + ".p7s")
    try:
        target.write_bytes(der)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None
    style = "attached" if attach else "detached"
    click.echo(f"wrote {target} ({style} CMS, signer serial 0x{signer.serial_hex})")


def _single_certificate(path: Path) -> JPKICertificate:
    certificates = load_certificates([path])
    if len(certificates) != 1:
        raise JPKIError(f"{path} holds {len(certificates)} certificates; give only the signer's")
    return certificates[0]
