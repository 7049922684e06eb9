"""``python -m verifier.web``: write the verification page with a configuration filled in.

For IT departments that publish the page themselves (docs/VERIFY_PAGE.md, "Static use"):
the page then needs nothing but the chain's JSON-RPC endpoint and the issuing node's
revocation endpoint. Everything is fixed here: the page ignores settings in a link.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from protocol.trust_root import TrustRootError, load_trust_root
from verifier.jpki import CertificateError, load_certificates
from verifier.jpki.errors import RevocationSourceError
from verifier.jpki.revocation import load_crl_file
from verifier.web import PageConfig, render_page

CERTIFICATE_SUFFIXES = (".pem", ".crt", ".cer", ".der")


@click.command()
@click.option("--rpc", "rpc_urls", multiple=True, help="JSON-RPC URL as browsers reach it.")
@click.option("--chain-id", type=click.IntRange(min=1), help="The consortium chain id.")
@click.option("--registry", help="NotaryRegistry address.")
@click.option(
    "--node-url",
    help="Issuing node asked about revocation ('' = the page's origin). Without it the page "
    "shows no document as valid: revocation cannot be checked.",
)
@click.option(
    "--trust",
    "trust",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="J-LIS CA certificate file or folder (every generation); repeat.",
)
@click.option(
    "--seal-trust",
    "seal_trust",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="LGPKI organisational CA certificate file or folder (the municipal seals' CAs, as "
    "notary verify --seal-trust); repeat. Default: the trust root's seal_anchors.",
)
@click.option(
    "--accept-unsealed",
    is_flag=True,
    help="Accept pre-seal (version-1 or -2) documents of a registered type signed with a My "
    "Number card, as notary verify --accept-unsealed.",
)
@click.option(
    "--crl",
    "crls",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CRL file (DER or PEM); repeat.",
)
@click.option("--finality-depth", type=click.IntRange(min=0), help="Default: ask the chain.")
@click.option(
    "--trust-root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The consortium's trust-root.json: the page then checks version-3 bundles' chain "
    "evidence, and without --rpc verifies offline (at best 'valid as of the evidence').",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("verify.html")
)
def main(
    rpc_urls: tuple[str, ...],
    chain_id: int | None,
    registry: str | None,
    node_url: str | None,
    trust: tuple[Path, ...],
    seal_trust: tuple[Path, ...],
    accept_unsealed: bool,
    crls: tuple[Path, ...],
    finality_depth: int | None,
    trust_root: Path | None,
    output: Path,
) -> None:
    """Write the clerk's verification page (one self-contained HTML file)."""
    try:
        anchors = [cert.der for cert in load_certificates(_certificate_files(trust))]
        seal_anchors = [cert.der for cert in load_certificates(_certificate_files(seal_trust))]
        revocation_lists = [load_crl_file(path) for path in crls]
    except (CertificateError, RevocationSourceError) as exc:
        raise click.ClickException(str(exc)) from None
    root_json: dict[str, Any] | None = None
    if trust_root is not None:
        data = trust_root.read_bytes()
        try:
            root = load_trust_root(data)
        except TrustRootError as exc:
            raise click.ClickException(f"{trust_root}: {exc}") from None
        if chain_id is not None and chain_id != root.chain_id:
            raise click.ClickException(
                f"--chain-id {chain_id} is not the trust root's {root.chain_id}"
            )
        root_json = json.loads(data)
    config = PageConfig(
        rpc_urls=rpc_urls,
        chain_id=chain_id,
        registry=registry,
        node_url=node_url,
        trust_anchors=anchors,
        seal_trust_anchors=seal_anchors,
        require_municipal_seal=not accept_unsealed,
        crls=revocation_lists,
        finality_depth=finality_depth,
        trust_root=root_json,
    )
    output.write_text(render_page(config), encoding="utf-8")
    click.echo(f"wrote {output} ({len(anchors)} trust anchors, {len(revocation_lists)} CRLs)")


def _certificate_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in CERTIFICATE_SUFFIXES)
        else:
            files.append(path)
    return files


if __name__ == "__main__":
    main()
