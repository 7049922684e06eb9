"""`notary devnet ...`: create, run and inspect a Clique validator network."""

from __future__ import annotations

import json
import logging
import signal
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

import click

from devnet.genesis import DEFAULT_CHAIN_ID, DEFAULT_PERIOD
from devnet.network import NetworkLayout, NetworkProcesses, init_network
from devnet.validator import run_node

DEFAULT_DIR = Path("devnet-data/network")


def _dir_option(default: Path | None = DEFAULT_DIR) -> Any:
    return click.option(
        "--dir", "root", type=click.Path(file_okay=False, path_type=Path), default=default,
        show_default=True, help="The devnet folder (genesis, keys, chain data, logs).",
    )  # fmt: skip


@click.group()
def devnet() -> None:
    """A private Clique proof-of-authority chain: the municipalities are its signers."""


@devnet.command()
@click.option("--validators", type=click.IntRange(1, 64), default=3, show_default=True)
@click.option(
    "--full-nodes",
    type=click.IntRange(0, 16),
    default=0,
    show_default=True,
    help="Non-sealing nodes.",
)
@click.option("--chain-id", type=click.IntRange(1), default=DEFAULT_CHAIN_ID, show_default=True)
@click.option(
    "--period",
    type=click.IntRange(1, 60),
    default=DEFAULT_PERIOD,
    show_default=True,
    help="Seconds per block.",
)
@click.option(
    "--base-port",
    type=click.IntRange(1024, 65000),
    help="Ports base, base+1, ...; default: free ports.",
)
@_dir_option()
def init(
    validators: int, full_nodes: int, chain_id: int, period: int, base_port: int | None, root: Path
) -> None:
    """Write genesis, encrypted validator keystores with password files, and the peer list."""
    layout = init_network(
        root,
        validators,
        chain_id=chain_id,
        period=period,
        full_nodes=full_nodes,
        base_port=base_port,
    )
    click.echo(f"devnet in {root}: chain id {chain_id}, {validators} validators, period {period} s")
    for node in layout.nodes:
        click.echo(f"  node {node.index}  {node.address or 'full node':42}  {node.rpc_url}")
    click.echo(
        f"  funded dev account {layout.dev_account().address} (key in {layout.dev_key_path})"
    )


@devnet.command()
@click.option(
    "--validators",
    type=click.IntRange(1, 64),
    default=3,
    show_default=True,
    help="Used when --dir is new.",
)
@_dir_option()
def up(validators: int, root: Path) -> None:
    """Start every node of the devnet (initialising it if new); Ctrl-C stops them all."""
    if not (root / "network.json").exists():
        init_network(root, validators)
    layout = NetworkLayout.load(root)
    processes = NetworkProcesses(layout)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        processes.start_all()
        click.echo(f"devnet running from {root} (logs: {root}/node-*.log)")
        for node in layout.nodes:
            click.echo(f"  node {node.index}  {node.address or 'full node':42}  {node.rpc_url}")
        dev = layout.dev_account()
        click.echo(f"  funded dev account {dev.address}  key file {layout.dev_key_path}")
        click.echo("Press Ctrl-C to stop.")
        exited = processes.wait_any_exit()
        raise click.ClickException(f"node {exited} exited; see {root}/node-{exited}.log")
    except KeyboardInterrupt:
        pass
    finally:
        processes.stop_all()
    click.echo("stopped.")


@devnet.command()
@_dir_option()
@click.option(
    "--index", type=click.IntRange(0), required=True, help="Which node of network.json to run."
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def node(root: Path, index: int, verbose: bool) -> None:
    """Run one node in the foreground (what `up` starts once per node)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"%(asctime)s node-{index} %(name)s %(levelname)s %(message)s",
    )
    run_node(root, index)


@devnet.command()
@_dir_option()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(root: Path, as_json: bool) -> None:
    """Head, signers, peers and sync state of every node."""
    layout = NetworkLayout.load(root)
    report = []
    for entry in layout.nodes:
        try:
            report.append(
                {"node": entry.index, "url": entry.rpc_url, **_rpc(entry.rpc_url, "devnet_status")}
            )
        except OSError as error:
            report.append(
                {"node": entry.index, "url": entry.rpc_url, "error": f"unreachable: {error}"}
            )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for item in report:
        if "error" in item:
            click.echo(f"node {item['node']}  {item['url']}  {item['error']}")
            continue
        head, peers = item["head"], item["peers"]
        up_peers = sum(p["reachable"] for p in peers)
        click.echo(
            f"node {item['node']}  {item['url']}  head {head['number']} {head['hash'][:18]} "
            f"({head['age']:.0f}s old)  signer {item['signer'] or '-'}  "
            f"peers {up_peers}/{len(peers)}  "
            f"{'syncing' if item['syncing'] else 'in sync'}  signers {len(item['signers'])}"
        )


def _rpc(url: str, method: str) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (our own loopback URL)
        return json.loads(response.read())["result"]
