"""`notary devnet ...`: the consortium chain. Each municipality runs `keygen` and `node` on
its own host; the genesis is made from addresses; signers vote validators in and out.
`init` and `up` build a whole network on one host from the same pieces, for development."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click
from eth_utils.address import is_address, to_checksum_address

from devnet.admin import AdminError, admin_call
from devnet.genesis import DEFAULT_CHAIN_ID, DEFAULT_PERIOD, Genesis
from devnet.keys import generate_key_dir
from devnet.network import DEV_FUNDS_WEI, NetworkLayout, NetworkProcesses, init_network
from devnet.validator import NodeConfig, run_node

DEFAULT_DIR = Path("devnet-data/network")

F = TypeVar("F", bound=Callable[..., Any])


def _dir_option(default: Path | None = DEFAULT_DIR) -> Callable[[F], F]:
    return click.option(
        "--dir", "root", type=click.Path(file_okay=False, path_type=Path), default=default,
        show_default=True, help="The one-host devnet folder (genesis, keys, chain data, logs).",
    )  # fmt: skip


def _dev_account_option() -> Callable[[F], F]:
    return click.option(
        "--dev-account",
        is_flag=True,
        help="Also fund an account at genesis and write its key UNENCRYPTED to "
        "DIR/dev-account.key (development only).",
    )


def _data_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--data", type=click.Path(file_okay=False, path_type=Path), required=required,
        help="The node's data folder (chain data, admin socket).",
    )  # fmt: skip


class HostPort(click.ParamType[tuple[str, int]]):
    name = "HOST:PORT"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        host, _, port = str(value).rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            self.fail(f"{value!r} is not HOST:PORT (e.g. 10.0.0.5:8545)", param, ctx)
        return host, int(port)


class EthAddress(click.ParamType[str]):
    name = "ADDRESS"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        if not isinstance(value, str) or not is_address(value):
            self.fail(f"{value!r} is not a 0x-prefixed 20-byte address", param, ctx)
        return str(to_checksum_address(value))


ADDRESS = EthAddress()


@click.group()
def devnet() -> None:
    """A private Clique proof-of-authority chain: the municipalities are its signers."""


# ---------------------------------------------------------------------- one host per node


@devnet.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for keystore.json and password (created, mode 0700).")  # fmt: skip
def keygen(out: Path) -> None:
    """Generate this host's validator key; the address is the last line of output."""
    address = generate_key_dir(out)
    click.echo(f"validator key in {out} (keystore.json and password, mode 0600)")
    click.echo("send this address to the genesis ceremony, or to the signers for a vote:")
    click.echo(address)


@devnet.command()
@click.option("--signer", "signers", type=ADDRESS, multiple=True, required=True,
              help="A validator address at genesis (repeat).")  # fmt: skip
@click.option("--fund", "funded", type=ADDRESS, multiple=True,
              help="An address to fund at genesis (repeat); signers are funded too.")  # fmt: skip
@click.option("--chain-id", type=click.IntRange(1), default=DEFAULT_CHAIN_ID, show_default=True)
@click.option("--period", type=click.IntRange(1, 60), default=DEFAULT_PERIOD, show_default=True,
              help="Seconds per block.")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def genesis(
    signers: tuple[str, ...], funded: tuple[str, ...], chain_id: int, period: int, out: Path
) -> None:
    """Write a genesis from addresses alone: no private key ever leaves its host."""
    if out.exists():
        raise click.ClickException(f"{out} exists already; a genesis is never overwritten")
    document = Genesis(
        chain_id=chain_id,
        signers=sorted(set(signers)),
        alloc={a: DEV_FUNDS_WEI for a in dict.fromkeys([*signers, *funded])},
        period=period,
    )
    document.save(out)
    click.echo(f"genesis {out}: chain id {chain_id}, {len(document.signers)} signers, {period} s")
    click.echo(f"genesis hash {document.hash_hex()}")


@devnet.command()
@click.option("--genesis", "genesis_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The consortium's genesis.json.")  # fmt: skip
@_data_option()
@click.option("--key", "key_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The keygen folder: with it the node seals once it is a signer.")  # fmt: skip
@click.option("--rpc", type=HostPort(), required=True,
              help="Public JSON-RPC listener (reads, raw transactions).")  # fmt: skip
@click.option("--peer-listen", type=HostPort(), required=True,
              help="Peer-plane listener (signed gossip and sync).")  # fmt: skip
@click.option("--peer", "peers", multiple=True,
              help="Another node's peer-plane URL (repeat).")  # fmt: skip
@click.option(
    "--peer-url", help="Our peer-plane URL as others reach it; default from --peer-listen."
)
@click.option("--allow-peer", "allow_peers", type=ADDRESS, multiple=True,
              help="A non-signer node (full node, candidate) allowed as a peer.")  # fmt: skip
@click.option("--rpc-host", "rpc_hosts", multiple=True,
              help="A Host name the public RPC answers besides loopback ('*': any).")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def node(
    genesis_path: Path,
    data: Path,
    key_dir: Path | None,
    rpc: tuple[str, int],
    peer_listen: tuple[str, int],
    peers: tuple[str, ...],
    peer_url: str | None,
    allow_peers: tuple[str, ...],
    rpc_hosts: tuple[str, ...],
    verbose: bool,
) -> None:
    """Run one validator (with --key) or full node (without) in the foreground."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"%(asctime)s {data.name} %(name)s %(levelname)s %(message)s",
    )
    run_node(
        NodeConfig(
            genesis=genesis_path, data=data, rpc=rpc, peer_listen=peer_listen, key_dir=key_dir,
            peers=list(peers), peer_url=peer_url, allow_peers=list(allow_peers),
            rpc_hosts=[h.lower() for h in rpc_hosts],
        )
    )  # fmt: skip


@devnet.group()
def vote() -> None:
    """Vote a validator in or out (EIP-225): a majority of signers must vote alike."""


def _vote(data: Path, address: str, authorize: bool) -> None:
    try:
        admin_call(data, "clique_propose", address, authorize)
    except AdminError as error:
        raise click.ClickException(str(error)) from None
    what = "add" if authorize else "remove"
    click.echo(f"voting to {what} {address} in every block this validator seals")
    click.echo(f"withdraw with: notary devnet vote discard {address} --data {data}")


@vote.command("add")
@click.argument("address", type=ADDRESS)
@_data_option()
def vote_add(address: str, data: Path) -> None:
    """Vote ADDRESS in as a signer (it may also use the peer plane from now on)."""
    _vote(data, address, True)


@vote.command("remove")
@click.argument("address", type=ADDRESS)
@_data_option()
def vote_remove(address: str, data: Path) -> None:
    """Vote ADDRESS out of the signer set."""
    _vote(data, address, False)


@vote.command("discard")
@click.argument("address", type=ADDRESS)
@_data_option()
def vote_discard(address: str, data: Path) -> None:
    """Withdraw this validator's vote on ADDRESS (do so once a vote has passed)."""
    _admin(data, "clique_discard", address)
    click.echo(f"vote on {address} withdrawn")


@vote.command("list")
@_data_option()
def vote_list(data: Path) -> None:
    """This validator's open votes."""
    for address, authorize in _admin(data, "clique_proposals").items():
        click.echo(f"{'add' if authorize else 'remove'} {address}")


@devnet.group()
def peer() -> None:
    """Manage this node's peers (admin socket)."""


@peer.command("allow")
@click.argument("address", type=ADDRESS)
@_data_option()
def peer_allow(address: str, data: Path) -> None:
    """Allow a non-signer node (a full node, or a candidate syncing before its vote)."""
    added = _admin(data, "admin_allowPeer", address)
    click.echo(f"{address} {'allowed' if added else 'was already allowed'}")


@peer.command("disallow")
@click.argument("address", type=ADDRESS)
@_data_option()
def peer_disallow(address: str, data: Path) -> None:
    """Withdraw `peer allow` (signers stay allowed while they are signers)."""
    removed = _admin(data, "admin_disallowPeer", address)
    click.echo(f"{address} {'no longer allowed' if removed else 'was not allowed here'}")


@peer.command("add")
@click.argument("url")
@_data_option()
def peer_add(url: str, data: Path) -> None:
    """Gossip to and sync from another node's peer-plane URL."""
    added = _admin(data, "admin_addPeer", url)
    click.echo(f"{url} {'added' if added else 'was already a peer'}")


@peer.command("remove")
@click.argument("url")
@_data_option()
def peer_remove(url: str, data: Path) -> None:
    """Stop gossiping to and syncing from a peer-plane URL."""
    removed = _admin(data, "admin_removePeer", url)
    click.echo(f"{url} {'removed' if removed else 'was not a peer'}")


@peer.command("list")
@_data_option()
def peer_list(data: Path) -> None:
    """Peers with their reachability and head."""
    for item in _admin(data, "admin_peers"):
        state = "up" if item["reachable"] else "unreachable"
        click.echo(
            f"{item['url']}  {state}  head {item['head']}  rejected {item['rejected_blocks']}"
        )


def _admin(data: Path, method: str, *params: Any) -> Any:
    try:
        return admin_call(data, method, *params)
    except AdminError as error:
        raise click.ClickException(str(error)) from None


# ---------------------------------------------------------------------- one-host development


@devnet.command()
@click.option("--validators", type=click.IntRange(1, 64), default=3, show_default=True)
@click.option("--full-nodes", type=click.IntRange(0, 16), default=0, show_default=True,
              help="Non-sealing nodes.")  # fmt: skip
@click.option("--chain-id", type=click.IntRange(1), default=DEFAULT_CHAIN_ID, show_default=True)
@click.option("--period", type=click.IntRange(1, 60), default=DEFAULT_PERIOD, show_default=True,
              help="Seconds per block.")  # fmt: skip
@click.option("--base-port", type=click.IntRange(1024, 65000),
              help="Ports base, base+1, ... (RPC, peer per node); default: free.")  # fmt: skip
@_dev_account_option()
@_dir_option()
def init(
    validators: int,
    full_nodes: int,
    chain_id: int,
    period: int,
    base_port: int | None,
    dev_account: bool,
    root: Path,
) -> None:
    """A whole network in one folder: keygen per validator, genesis, the peer list."""
    layout = init_network(
        root, validators, chain_id=chain_id, period=period, full_nodes=full_nodes,
        base_port=base_port, dev_account=dev_account,
    )  # fmt: skip
    click.echo(f"devnet in {root}: chain id {chain_id}, {validators} validators, period {period} s")
    _print_nodes(layout)


def _print_nodes(layout: NetworkLayout) -> None:
    for entry in layout.nodes:
        click.echo(f"  node {entry.index}  {entry.address or 'full node':42}  {entry.rpc_url}")
    if layout.has_dev_account:
        click.echo(
            f"  funded dev account {layout.dev_account().address} (key in {layout.dev_key_path})"
        )


@devnet.command()
@click.option("--validators", type=click.IntRange(1, 64), default=3, show_default=True,
              help="Used when --dir is new.")  # fmt: skip
@_dev_account_option()
@_dir_option()
def up(validators: int, dev_account: bool, root: Path) -> None:
    """Start every node of the folder (initialising it if new) and keep them running: a node
    that dies is restarted with back-off. Ctrl-C or SIGTERM stops them all."""
    if not (root / "network.json").exists():
        init_network(root, validators, dev_account=dev_account)
    layout = NetworkLayout.load(root)
    processes = NetworkProcesses(layout)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        processes.start_all()
        click.echo(f"devnet running from {root} (logs: {root}/node-*.log)")
        _print_nodes(layout)
        click.echo("Press Ctrl-C to stop.")
        processes.supervise(stop, lambda line: click.echo(line, err=True))
    finally:
        processes.stop_all()
    click.echo("stopped.")


@devnet.command()
@_dir_option(default=None)
@_data_option(required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(root: Path | None, data: Path | None, as_json: bool) -> None:
    """Head, signers, peers and sync state: of one node (--data) or of a folder's (--dir)."""
    if data is not None:
        targets = [(data.name, data)]
    else:
        layout = NetworkLayout.load(root or DEFAULT_DIR)
        targets = [(f"node {n.index}", layout.node_dir(n.index)) for n in layout.nodes]
    report = []
    for name, folder in targets:
        try:
            report.append({"node": name, **admin_call(folder, "devnet_status")})
        except AdminError as error:
            report.append({"node": name, "error": str(error)})
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for item in report:
        if "error" in item:
            click.echo(f"{item['node']}  {item['error']}")
            continue
        head, peers = item["head"], item["peers"]
        up_peers = sum(p["reachable"] for p in peers)
        sync = "syncing" if item["syncing"] else "in sync" if up_peers else "no peer reachable"
        click.echo(
            f"{item['node']}  head {head['number']} {head['hash'][:18]} "
            f"({head['age']:.0f}s old)  signer {item['signer'] or '-'}  "
            f"peers {up_peers}/{len(peers)}  {sync}  signers {len(item['signers'])}"
        )
    if any("error" in item for item in report):
        raise SystemExit(1)
