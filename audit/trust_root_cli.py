"""`notary trust-root export` and `notary trust-root verify`: the read side of the trust root.

export: exit 0 written, 1 the chain cannot vouch for a trust root, 2 bad arguments, 3 the
chain could not be read. verify (no network): exit 0 trusted, 1 not trusted, 2 bad arguments.
(`notary trust-root sign`, which needs a member's key, is the write side: `anchor/`.)
"""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path
from typing import NoReturn

import click
from eth_utils.address import is_address

from audit.cli import INCOMPLETE_EXIT, USAGE_EXIT, _Bars
from audit.trust_root import (
    ExportConfig,
    TrustRootExportError,
    export_trust_root,
    read_certificates,
)
from protocol.trust_root import (
    TrustRoot,
    TrustRootError,
    accept_chain,
    accept_update,
    dump_trust_root,
    load_trust_root,
    trust_root_digest,
    valid_signers,
    verify_self_signed,
)
from verifier.jsonrpc import ChainReadError

REFUSED_EXIT = 1


@click.command("export")
@click.option("--rpc", "rpc_url", required=True, help="JSON-RPC endpoint of the shared chain.")
@click.option("--registry", required=True, help="Registry address.")
@click.option(
    "--tsa-anchor",
    "tsa_anchors",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="PEM (or DER) certificate(s) of a TSA whose tokens count; repeatable.",
)
@click.option(
    "--jpki-anchor",
    "jpki_anchors",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="PEM (or DER) certificate(s) of a J-LIS CA generation; repeatable.",
)
@click.option(
    "--seal-anchor",
    "seal_anchors",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="PEM (or DER) certificate(s) of an LGPKI organisational CA whose municipal seals "
    "count; repeatable.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write trust-root.json (default: stdout).",
)
@click.option("--period", type=click.IntRange(min=0), default=1, show_default=True,
              help="The chain's Clique block period in seconds.")  # fmt: skip
@click.option("--epoch", type=click.IntRange(min=1), default=30_000, show_default=True,
              help="The chain's Clique epoch (checkpoint interval) in blocks.")  # fmt: skip
@click.option("--progress/--no-progress", default=None,
              help="Progress bars on stderr (default: when stderr is a terminal).")  # fmt: skip
def export(
    rpc_url: str,
    registry: str,
    tsa_anchors: tuple[Path, ...],
    jpki_anchors: tuple[Path, ...],
    seal_anchors: tuple[Path, ...],
    out: Path | None,
    period: int,
    epoch: int,
    progress: bool | None,
) -> None:
    """Build the trust root from the chain: replay it from genesis (signer history from
    genesis, votes and checkpoints), read the registry's code and governance. Unsigned."""
    name = "notary trust-root export"
    if not rpc_url.startswith(("http://", "https://")):
        _fail(name, f"--rpc {rpc_url!r} must start with http:// or https://", USAGE_EXIT)
    if not is_address(registry):
        _fail(name, f"--registry {registry!r} is not a 20-byte hex address", USAGE_EXIT)
    try:
        config = ExportConfig(
            rpc_url=rpc_url,
            registry=registry,
            tsa_anchors=tuple(c for p in tsa_anchors for c in read_certificates(p)),
            jpki_anchors=tuple(c for p in jpki_anchors for c in read_certificates(p)),
            seal_anchors=tuple(c for p in seal_anchors for c in read_certificates(p)),
            period=period,
            epoch=epoch,
        )
    except TrustRootExportError as error:
        _fail(name, str(error), USAGE_EXIT)
    bars = _Bars(sys.stderr.isatty() if progress is None else progress)
    try:
        root = export_trust_root(config, bars.phase)
    except ChainReadError as error:
        bars.done()
        _fail(name, f"incomplete: {error}", INCOMPLETE_EXIT)
    except TrustRootExportError as error:
        bars.done()
        _fail(name, str(error), REFUSED_EXIT)
    bars.done()
    text = dump_trust_root(root) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as error:
            _fail(name, f"cannot write {out}: {error.strerror}", USAGE_EXIT)
    assert root.governance is not None  # export always reads it
    click.echo(
        f"trust root of chain {root.chain_id} as of block {root.as_of_block}: "
        f"{len(root.signer_sets)} signer set(s), governance {root.governance.threshold} of "
        f"{len(root.governance.members)}; digest 0x{trust_root_digest(root).hex()} (unsigned)",
        err=True,
    )


@click.command("verify")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--previous",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A trust root already trusted; repeat for a chain of them, oldest first.",
)
@click.option("--pin", help="SHA-256 digest (hex) of the first trust root, pinned out of band.")
def verify(file: Path, previous: tuple[Path, ...], pin: str | None) -> None:
    """Check a trust root's governance signatures (no network). With --pin and/or --previous,
    accept it only through the chain of updates from the trusted one."""
    name = "notary trust-root verify"
    pinned = _pin(name, pin) if pin is not None else None
    roots = [_load(name, p) for p in (*previous, file)]
    root = roots[-1]
    try:
        if pinned is not None:
            accept_chain(pinned, roots)
        else:
            for older, newer in pairwise(roots):
                accept_update(older, newer)
        # After an update, members of the older governance may have signed too.
        signers = valid_signers(root) if len(roots) > 1 else verify_self_signed(root)
    except TrustRootError as error:
        _fail(name, f"{file} is not trusted: {error}", REFUSED_EXIT)
    assert root.governance is not None  # verify_self_signed requires it
    how = (
        "chained from the pinned digest"
        if pinned is not None
        else "chained from --previous"
        if previous
        else "self-signed only: pin its digest or give --previous to trust it"
    )
    click.echo(
        f"{file}: signed by {len(signers)} of {len(root.governance.members)} members "
        f"(threshold {root.governance.threshold}): {', '.join(sorted(signers))}; {how}; "
        f"digest 0x{trust_root_digest(root).hex()}"
    )


def _load(name: str, path: Path) -> TrustRoot:
    try:
        return load_trust_root(path.read_bytes())
    except OSError as error:
        _fail(name, f"cannot read {path}: {error.strerror}", USAGE_EXIT)
    except TrustRootError as error:
        _fail(name, f"{path} is not a trust root: {error}", USAGE_EXIT)


def _pin(name: str, value: str) -> bytes:
    try:
        digest = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        digest = b""
    if len(digest) != 32:
        _fail(name, f"--pin {value!r} is not a SHA-256 digest (64 hex characters)", USAGE_EXIT)
    return digest


def _fail(name: str, message: str, code: int) -> NoReturn:
    click.echo(f"{name}: {message}", err=True)
    raise click.exceptions.Exit(code)
