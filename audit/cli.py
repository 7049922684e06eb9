"""`notary audit --rpc URL`: a regulator's check of the chain and every municipality's log.

Exit 0: no findings. 1: findings (listed, and in the reports). 2: bad arguments.
3: the audit could not be completed (the chain endpoint failed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
from eth_utils.address import is_address

from audit.auditor import AuditConfig, run_audit
from audit.html import render_html
from protocol.checkpoint import CheckpointError, parse_verifier_key
from protocol.trust_root import TrustRoot, TrustRootError, load_trust_root
from verifier.jsonrpc import ChainReadError
from verifier.tiles import TileSource

USAGE_EXIT = 2
INCOMPLETE_EXIT = 3


class _Bars:
    """One click progress bar per phase, on stderr so stdout stays the summary."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    def phase(self, label: str, total: int) -> Callable[[int], None]:
        self.done()
        if not self.enabled or total == 0:
            return lambda _: None
        self._bar = click.progressbar(length=total, label=f"{label:<10}", file=sys.stderr)
        self._bar.__enter__()
        return self._bar.update  # type: ignore[no-any-return]

    def done(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@click.command("audit")
@click.option("--rpc", "rpc_url", required=True, help="JSON-RPC endpoint of the shared chain.")
@click.option("--registry", help="Registry address (default: the contract matching the lock).")
@click.option(
    "--nodes",
    "nodes_file",
    type=click.Path(path_type=Path),
    help='JSON file: {"<node address or lg code>": "<node base URL>" or '
    '{"tiles": "<tiles base URL>", "note_key": "<checkpoint verifier key>"}, ...}.',
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("audit-report"),
    show_default=True,
    help="Directory for report.json and report.html.",
)
@click.option(
    "--period",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="The chain's Clique block period in seconds.",
)
@click.option(
    "--epoch",
    type=click.IntRange(min=1),
    default=30_000,
    show_default=True,
    help="The chain's Clique epoch (checkpoint interval) in blocks.",
)
@click.option(
    "--trust-root",
    "trust_root_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A published trust-root.json to check against the chain.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars on stderr (default: when stderr is a terminal).",
)
def audit(
    rpc_url: str,
    registry: str | None,
    nodes_file: Path | None,
    out: Path,
    period: int,
    epoch: int,
    trust_root_file: Path | None,
    progress: bool | None,
) -> None:
    """Replay the chain from genesis, the registry's history and every node's log; report
    findings. Exit 0 none, 1 findings, 2 usage error, 3 audit incomplete."""
    if not rpc_url.startswith(("http://", "https://")):
        _usage(f"--rpc {rpc_url!r} must start with http:// or https://")
    if registry is not None and not is_address(registry):
        _usage(f"--registry {registry!r} is not a 20-byte hex address")
    node_urls, tile_sources = _read_nodes(nodes_file) if nodes_file else ({}, {})
    config = AuditConfig(
        rpc_url=rpc_url,
        registry=registry,
        node_urls=node_urls,
        tile_sources=tile_sources,
        nodes_file=str(nodes_file) if nodes_file else None,
        period=period,
        epoch=epoch,
        trust_root=_read_trust_root(trust_root_file) if trust_root_file else None,
        trust_root_file=str(trust_root_file) if trust_root_file else None,
    )
    bars = _Bars(sys.stderr.isatty() if progress is None else progress)
    try:
        report = run_audit(config, bars)
    except ChainReadError as error:  # the chain could not be read completely
        bars.done()
        click.echo(f"notary audit: incomplete: {error}", err=True)
        raise click.exceptions.Exit(INCOMPLETE_EXIT) from None
    document = report.to_json()
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(document, indent=2) + "\n")
        (out / "report.html").write_text(render_html(document))
    except OSError as error:
        _usage(f"cannot write the reports to {out}: {error.strerror}")
    _print_summary(document, out)
    raise click.exceptions.Exit(0 if report.clean else 1)


def _read_trust_root(path: Path) -> TrustRoot:
    try:
        return load_trust_root(path.read_bytes())
    except OSError as error:
        _usage(f"cannot read --trust-root {path}: {error.strerror}")
    except TrustRootError as error:
        _usage(f"--trust-root {path} is not a trust root: {error}")


def _read_nodes(path: Path) -> tuple[dict[str, str], dict[str, TileSource]]:
    """Node API URLs, and the nodes whose log is read from static tiles instead."""
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        _usage(f"cannot read --nodes {path}: {error.strerror}")
    except ValueError as error:
        _usage(f"--nodes {path} is not JSON: {error}")
    shape = (
        f'--nodes {path} must be an object {{"<address or lg code>": "http(s)://..." or '
        '{"tiles": "http(s)://...", "note_key": "<origin>+<hash>+<key>"}}'
    )
    if not isinstance(data, dict):
        _usage(shape)
    urls: dict[str, str] = {}
    tiles: dict[str, TileSource] = {}
    for key, value in data.items():
        if isinstance(value, str) and _is_http(value):
            urls[key] = value
        elif isinstance(value, dict) and _is_http(value.get("tiles")):
            try:
                verifier = parse_verifier_key(str(value.get("note_key", "")))
            except CheckpointError as error:
                _usage(f"--nodes {path}: {key}: note_key: {error}")
            tiles[key] = TileSource(value["tiles"], verifier)
        else:
            _usage(shape)
    return urls, tiles


def _is_http(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _print_summary(document: dict[str, Any], out: Path) -> None:
    s, chain = document["summary"], document["chain"]
    click.echo(
        f"chain {chain['chain_id']}: {_n(s['blocks'], 'block')}, {_n(s['signers'], 'signer')}; "
        f"registry {document['registry']['address']}: {_n(s['anchors'], 'anchor')} by "
        f"{_n(s['nodes'], 'node')}; {_n(s['leaves_checked'], 'leaf', 'leaves')} checked in "
        f"{document['duration_seconds']:.1f} s"
    )
    for finding in document["findings"]:
        click.echo(f"  [{finding['severity']}] {finding['code']}: {finding['message']}")
    click.echo(_n(s["findings"], "finding") if document["findings"] else "no findings")
    click.echo(f"reports: {out / 'report.json'}, {out / 'report.html'}")


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _usage(message: str) -> NoReturn:
    click.echo(f"notary audit: {message}", err=True)
    raise click.exceptions.Exit(USAGE_EXIT)
