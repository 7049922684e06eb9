"""`notary registry ...`: governance and read-outs of the registry from a terminal."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount
from web3 import Web3

from anchor.chain import connect
from anchor.keys import load_account
from anchor.models import TxResult, is_valid_lg_code
from anchor.registry import RegistryClient

F = TypeVar("F", bound=Callable[..., Any])


def chain_options(f: F) -> F:
    f = click.option(
        "--chain-id",
        type=int,
        envvar="NOTARY_CHAIN_ID",
        help="Refuse an endpoint on another chain.",
    )(f)
    f = click.option(
        "--rpc", "rpc_url", required=True, envvar="NOTARY_RPC_URL", help="Ethereum JSON-RPC URL."
    )(f)
    return f


def key_options(f: F) -> F:
    f = click.option(
        "--password-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Keystore password.",
    )(f)
    f = click.option(
        "--key-file",
        type=click.Path(dir_okay=False, path_type=Path),
        required=True,
        envvar="NOTARY_KEY_FILE",
        help="Encrypted keystore (or, for development, a hex key) of the sender.",
    )(f)
    return f


def registry_option(f: F) -> F:
    return click.option(
        "--registry",
        "registry_address",
        required=True,
        envvar="NOTARY_REGISTRY",
        help="Registry address.",
    )(f)


def _address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not Web3.is_address(value):
        raise click.BadParameter(f"{value!r} is not a 20-byte hex address")
    return str(Web3.to_checksum_address(value))


def _lg_code(ctx: click.Context, param: click.Parameter, value: str) -> int:
    if not (len(value) == 6 and value.isdigit() and is_valid_lg_code(int(value))):
        raise click.BadParameter(
            f"{value!r} is not a 6-digit local-government code with a valid check digit"
        )
    return int(value)


def _root(ctx: click.Context, param: click.Parameter, value: str) -> bytes:
    try:
        root = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        root = b""
    if len(root) != 32:
        raise click.BadParameter(f"{value!r} is not a 32-byte hex root")
    return root


def _client(
    rpc_url: str, chain_id: int | None, registry: str, account: LocalAccount | None = None
) -> RegistryClient:
    return RegistryClient(connect(rpc_url, chain_id=chain_id), registry, account)


def _echo_tx(what: str, result: TxResult) -> None:
    click.echo(
        f"{what}: tx {result.tx_hash} in block {result.block_number} ({result.gas_used} gas)"
    )


@click.group()
def registry() -> None:
    """Deploy and govern the NotaryRegistry; read nodes and anchors."""


@registry.command()
@chain_options
@key_options
@click.option(
    "--governance",
    callback=lambda c, p, v: _address(c, p, v) if v else None,
    help="Defaults to the sender.",
)
def deploy(
    rpc_url: str,
    chain_id: int | None,
    key_file: Path,
    password_file: Path | None,
    governance: str | None,
) -> None:
    """Deploy a new registry."""
    account = load_account(key_file, password_file)
    client, result = RegistryClient.deploy(
        connect(rpc_url, chain_id=chain_id), account, governance=governance
    )
    _echo_tx(f"deployed registry {client.address}", result)


@registry.command("register-node")
@chain_options
@registry_option
@key_options
@click.argument("node", callback=_address)
@click.argument("lg_code", callback=_lg_code)
@click.argument("name")
def register_node(
    rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
    password_file: Path | None, node: str, lg_code: int, name: str,
) -> None:  # fmt: skip
    """Register NODE (anchoring address) for local government LG_CODE."""
    client = _client(rpc_url, chain_id, registry_address, load_account(key_file, password_file))
    _echo_tx(f"registered {node} as {lg_code:06d}", client.register_node(node, lg_code, name))


@registry.command("suspend-node")
@chain_options
@registry_option
@key_options
@click.argument("node", callback=_address)
@click.option("--reason", required=True)
def suspend_node(
    rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
    password_file: Path | None, node: str, reason: str,
) -> None:  # fmt: skip
    """Suspend NODE: its anchors are refused until reactivated."""
    client = _client(rpc_url, chain_id, registry_address, load_account(key_file, password_file))
    _echo_tx(f"suspended {node}", client.suspend_node(node, reason))


@registry.command("reactivate-node")
@chain_options
@registry_option
@key_options
@click.argument("node", callback=_address)
def reactivate_node(
    rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
    password_file: Path | None, node: str,
) -> None:  # fmt: skip
    """Lift NODE's suspension."""
    client = _client(rpc_url, chain_id, registry_address, load_account(key_file, password_file))
    _echo_tx(f"reactivated {node}", client.reactivate_node(node))


@registry.command("rotate-key")
@chain_options
@registry_option
@key_options
@click.argument("current_key", callback=_address)
@click.argument("new_key", callback=_address)
def rotate_key(
    rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
    password_file: Path | None, current_key: str, new_key: str,
) -> None:  # fmt: skip
    """Move a node from CURRENT_KEY to NEW_KEY (sent by the node itself or governance)."""
    client = _client(rpc_url, chain_id, registry_address, load_account(key_file, password_file))
    _echo_tx(f"rotated {current_key} -> {new_key}", client.rotate_node_key(current_key, new_key))


@registry.command("withdraw-head")
@chain_options
@registry_option
@key_options
@click.argument("node", callback=_address)
@click.argument("root", callback=_root)
@click.option("--reason", required=True)
def withdraw_head(
    rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
    password_file: Path | None, node: str, root: bytes, reason: str,
) -> None:  # fmt: skip
    """Withdraw the head ROOT that NODE anchored; verifiers then reject proofs against it."""
    client = _client(rpc_url, chain_id, registry_address, load_account(key_file, password_file))
    _echo_tx(f"withdrew 0x{root.hex()}", client.withdraw_head(node, root, reason))


@registry.command("show-node")
@chain_options
@registry_option
@click.argument("node", callback=_address)
def show_node(rpc_url: str, chain_id: int | None, registry_address: str, node: str) -> None:
    """Print NODE's record and latest head as JSON."""
    record = _client(rpc_url, chain_id, registry_address).get_node(node)
    click.echo(json.dumps(_jsonable(asdict(record)), indent=2, ensure_ascii=False))


@registry.command("lookup")
@chain_options
@registry_option
@click.argument("node", callback=_address)
@click.argument("root", callback=_root)
def lookup(
    rpc_url: str, chain_id: int | None, registry_address: str, node: str, root: bytes
) -> None:
    """Where and when NODE anchored ROOT; exit 1 if it never did."""
    record = _client(rpc_url, chain_id, registry_address).get_anchor(node, root)
    if record is None:
        raise click.ClickException(f"{node} never anchored 0x{root.hex()} in this registry")
    click.echo(json.dumps(_jsonable(asdict(record)), indent=2))


@registry.command("anchors")
@chain_options
@registry_option
@click.option(
    "--node", callback=lambda c, p, v: _address(c, p, v) if v else None, help="Only this node."
)
@click.option("--from-block", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--to-block", type=click.IntRange(min=0))
def anchors(
    rpc_url: str, chain_id: int | None, registry_address: str, node: str | None,
    from_block: int, to_block: int | None,
) -> None:  # fmt: skip
    """Stream anchored heads as JSON lines, oldest first."""
    client = _client(rpc_url, chain_id, registry_address)
    for event in client.iter_anchored_heads(from_block, to_block, node=node):
        click.echo(json.dumps(_jsonable(asdict(event))))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if hasattr(value, "name") and hasattr(value, "value"):  # enums
        return value.name.lower()
    return value
