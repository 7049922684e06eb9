"""`notary registry ...`: governance and read-outs of the registry from a terminal."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount
from web3 import Web3

from anchor.chain import connect
from anchor.keys import load_account
from anchor.models import GovernanceResult, Proposal, ProposalState, TxResult, is_valid_lg_code
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


def share_code_option(f: F) -> F:
    return click.option(
        "--share-code",
        is_flag=True,
        help="Allow this node to be active beside another active node of its code.",
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


def _addresses(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    return [_address(ctx, param, v) for v in value]


@registry.command()
@chain_options
@key_options
@click.option(
    "--member",
    "members",
    multiple=True,
    callback=_addresses,
    help="A governance member (repeat for each; default: the sender alone).",
)
@click.option(
    "--threshold",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Approvals a proposal needs.",
)
@click.option(
    "--timelock",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seconds between reaching the threshold and execution.",
)
def deploy(
    rpc_url: str, chain_id: int | None, key_file: Path, password_file: Path | None,
    members: list[str], threshold: int, timelock: int,
) -> None:  # fmt: skip
    """Deploy a new registry governed by THRESHOLD of the members, with a TIMELOCK."""
    if threshold > max(len(members), 1):
        raise click.BadParameter(
            f"{threshold} approvals cannot come from {max(len(members), 1)} member(s)",
            param_hint="'--threshold'",
        )
    account = load_account(key_file, password_file)
    client, result = RegistryClient.deploy(
        connect(rpc_url, chain_id=chain_id),
        account,
        members=members or None,
        threshold=threshold,
        timelock=timelock,
    )
    config = client.governance_config()
    _echo_tx(
        f"deployed registry {client.address} governed by {config.threshold} of "
        f"{len(config.members)} member(s), timelock {config.timelock} s",
        result,
    )


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


# ---------------------------------------------------------------------- proposals


@registry.group()
def propose() -> None:
    """Propose a governance action (sender: a governance member; its approval counts)."""


ActionBuilder = Callable[..., tuple[bytes, str]]
"""(client, the command's own arguments) → (the encoded action, what it does, in words)."""

_ONE_CALL = (
    "\n\nA governance proposal, executed at once if the sender's approval suffices and there is "
    "no timelock; otherwise it waits for `approve` and `execute`."
)
_PROPOSE_ONLY = "\n\nOnly proposed: approvals (`approve`) and `execute` follow."


def governed(
    name: str, *parameters: Callable[[F], F], one_call: bool = True
) -> Callable[[ActionBuilder], ActionBuilder]:
    """Both commands of one governance action from one definition: `notary registry propose
    NAME`, and (`one_call`) `notary registry NAME`, which proposes and executes when it can."""

    def decorate(build: ActionBuilder) -> ActionBuilder:
        def proposal(
            rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
            password_file: Path | None, description: str, **arguments: Any,
        ) -> None:  # fmt: skip
            client = _client(
                rpc_url, chain_id, registry_address, load_account(key_file, password_file)
            )
            data, _ = build(client, **arguments)
            client.check_action(data)
            proposal_id, result = client.propose([data], description)
            created = client.get_proposal(proposal_id, with_actions=False)
            _echo_tx(f"proposal {proposal_id} created ({_progress(client, created)})", result)

        def one_call_command(
            rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
            password_file: Path | None, description: str, **arguments: Any,
        ) -> None:  # fmt: skip
            client = _client(
                rpc_url, chain_id, registry_address, load_account(key_file, password_file)
            )
            data, what = build(client, **arguments)
            _echo_governed(client, what, client.govern([data], description))

        commands = [(propose, proposal, _PROPOSE_ONLY)]
        if one_call:
            commands.append((registry, one_call_command, _ONE_CALL))
        for group, callback, note in commands:
            command: Callable[..., None] = callback
            for parameter in reversed(parameters):
                command = parameter(command)
            command = click.option(
                "--description", default="", help="Why (public for good: no personal data)."
            )(command)
            command = chain_options(registry_option(key_options(command)))
            group.command(name, help=(build.__doc__ or "") + note)(command)
        return build

    return decorate


@governed(
    "register-node",
    click.argument("node", callback=_address),
    click.argument("lg_code", callback=_lg_code),
    click.argument("name"),
    share_code_option,
)
def _register_node(
    client: RegistryClient, node: str, lg_code: int, name: str, share_code: bool
) -> tuple[bytes, str]:
    """Register NODE (anchoring address) for local government LG_CODE."""
    action = client.action_register_node(node, lg_code, name, share_code=share_code)
    return action, f"registered {node} as {lg_code:06d}"


@governed(
    "suspend-node",
    click.argument("node", callback=_address),
    click.option("--reason", required=True),
)
def _suspend_node(client: RegistryClient, node: str, reason: str) -> tuple[bytes, str]:
    """Suspend NODE: its anchors are refused until reactivated."""
    return client.action_suspend_node(node, reason), f"suspended {node}"


@governed("reactivate-node", click.argument("node", callback=_address), share_code_option)
def _reactivate_node(client: RegistryClient, node: str, share_code: bool) -> tuple[bytes, str]:
    """Lift NODE's suspension."""
    return client.action_reactivate_node(node, share_code=share_code), f"reactivated {node}"


@governed(
    "rotate-key",
    click.argument("current_key", callback=_address),
    click.argument("new_key", callback=_address),
)
def _rotate_key(client: RegistryClient, current_key: str, new_key: str) -> tuple[bytes, str]:
    """Move the node at CURRENT_KEY to NEW_KEY (routine, lost or compromised key: the node's
    own key cannot rotate it)."""
    action = client.action_rotate_node_key(current_key, new_key)
    return action, f"rotated {current_key} -> {new_key}"


@governed(
    "withdraw-head",
    click.argument("node", callback=_address),
    click.argument("root", callback=_root),
    click.option("--reason", required=True),
)
def _withdraw_head(
    client: RegistryClient, node: str, root: bytes, reason: str
) -> tuple[bytes, str]:
    """Withdraw the head ROOT that NODE anchored; verifiers then reject proofs against it."""
    return client.action_withdraw_head(node, root, reason), f"withdrew 0x{root.hex()}"


@governed(
    "set-governance",
    click.option("--member", "members", multiple=True, required=True, callback=_addresses),
    click.option("--threshold", type=click.IntRange(min=1), required=True),
    click.option("--timelock", type=click.IntRange(min=0), required=True, help="Seconds."),
    one_call=False,
)
def _set_governance(
    client: RegistryClient, members: list[str], threshold: int, timelock: int
) -> tuple[bytes, str]:
    """A new governance set (every open proposal then becomes stale)."""
    if threshold > len(members):
        raise click.BadParameter(
            f"{threshold} approvals cannot come from {len(members)} member(s)",
            param_hint="'--threshold'",
        )
    return client.action_set_governance(members, threshold, timelock), "set governance"


def _proposal_id(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value < 1:
        raise click.BadParameter(f"{value} is not a proposal id (ids start at 1)")
    return value


def _open_proposal(client: RegistryClient, proposal_id: int) -> Proposal:
    """The proposal, refused with a readable reason if it cannot be acted on."""
    proposal = client.get_proposal(proposal_id, with_actions=False)
    if proposal.state is ProposalState.UNKNOWN:
        raise click.ClickException(f"there is no proposal {proposal_id} in this registry")
    if not proposal.state.is_open:
        raise click.ClickException(
            f"proposal {proposal_id} is {proposal.state.name.lower()}: nothing more can be done"
        )
    return proposal


def _member_client(
    rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
    password_file: Path | None,
) -> RegistryClient:  # fmt: skip
    client = _client(rpc_url, chain_id, registry_address, load_account(key_file, password_file))
    sender = client._sender().address
    if not client.is_governance_member(sender):
        raise click.ClickException(f"{sender} is not a member of this registry's governance")
    return client


@registry.command()
@chain_options
@registry_option
@key_options
@click.argument("proposal_id", type=int, callback=_proposal_id)
def approve(
    rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
    password_file: Path | None, proposal_id: int,
) -> None:  # fmt: skip
    """Approve proposal PROPOSAL_ID (sender: a governance member)."""
    client = _member_client(rpc_url, chain_id, registry_address, key_file, password_file)
    _open_proposal(client, proposal_id)
    if client.has_approved(proposal_id, client._sender().address):
        raise click.ClickException(f"you approved proposal {proposal_id} already")
    result = client.approve(proposal_id)
    proposal = client.get_proposal(proposal_id, with_actions=False)
    _echo_tx(f"approved proposal {proposal_id} ({_progress(client, proposal)})", result)


@registry.command("revoke-approval")
@chain_options
@registry_option
@key_options
@click.argument("proposal_id", type=int, callback=_proposal_id)
def revoke_approval(
    rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
    password_file: Path | None, proposal_id: int,
) -> None:  # fmt: skip
    """Withdraw your approval of PROPOSAL_ID before it is executed."""
    client = _member_client(rpc_url, chain_id, registry_address, key_file, password_file)
    _open_proposal(client, proposal_id)
    if not client.has_approved(proposal_id, client._sender().address):
        raise click.ClickException(f"you have not approved proposal {proposal_id}")
    result = client.revoke_approval(proposal_id)
    proposal = client.get_proposal(proposal_id, with_actions=False)
    _echo_tx(f"revoked approval of proposal {proposal_id} ({_progress(client, proposal)})", result)


@registry.command()
@chain_options
@registry_option
@key_options
@click.argument("proposal_id", type=int, callback=_proposal_id)
def execute(
    rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
    password_file: Path | None, proposal_id: int,
) -> None:  # fmt: skip
    """Carry out PROPOSAL_ID once approved and past its timelock (any funded sender)."""
    client = _client(rpc_url, chain_id, registry_address, load_account(key_file, password_file))
    proposal = _open_proposal(client, proposal_id)
    if proposal.state is not ProposalState.READY:
        raise click.ClickException(
            f"proposal {proposal_id} cannot be executed yet: {_progress(client, proposal)}"
        )
    _echo_tx(f"executed proposal {proposal_id}", client.execute(proposal_id))


@registry.command()
@chain_options
@registry_option
@key_options
@click.argument("proposal_id", type=int, callback=_proposal_id)
def cancel(
    rpc_url: str, chain_id: int | None, registry_address: str, key_file: Path,
    password_file: Path | None, proposal_id: int,
) -> None:  # fmt: skip
    """Cancel PROPOSAL_ID (sender: its proposer)."""
    client = _client(rpc_url, chain_id, registry_address, load_account(key_file, password_file))
    proposal = _open_proposal(client, proposal_id)
    sender = client._sender().address
    if sender != proposal.proposer:
        raise click.ClickException(
            f"only the proposer {proposal.proposer} may cancel proposal {proposal_id}"
        )
    _echo_tx(f"cancelled proposal {proposal_id}", client.cancel(proposal_id))


@registry.command("list-proposals")
@chain_options
@registry_option
@click.option("--open", "only_open", is_flag=True, help="Only proposals still open.")
def list_proposals(
    rpc_url: str, chain_id: int | None, registry_address: str, only_open: bool
) -> None:
    """One line per proposal: id, state, approvals, actions."""
    client = _client(rpc_url, chain_id, registry_address)
    threshold = client.governance_config().threshold
    for proposal in client.iter_proposals():
        if only_open and not proposal.state.is_open:
            continue
        actions = "; ".join(a.describe() for a in proposal.actions or ())
        click.echo(
            f"{proposal.id}\t{proposal.state.name.lower()}\t"
            f"{proposal.approvals}/{threshold}\t{actions}"
        )


@registry.command("show-proposal")
@chain_options
@registry_option
@click.argument("proposal_id", type=int, callback=_proposal_id)
def show_proposal(
    rpc_url: str, chain_id: int | None, registry_address: str, proposal_id: int
) -> None:
    """PROPOSAL_ID as JSON: state, approvals (by whom), actions, times."""
    client = _client(rpc_url, chain_id, registry_address)
    proposal = client.get_proposal(proposal_id)
    if proposal.state is ProposalState.UNKNOWN:
        raise click.ClickException(f"there is no proposal {proposal_id} in this registry")
    members = client.governance_config().members
    shown = {
        **_jsonable({k: v for k, v in asdict(proposal).items() if k != "actions"}),
        "approved_by": [m for m in members if client.has_approved(proposal_id, m)],
        "actions": [a.describe() for a in proposal.actions or ()],
        "progress": _progress(client, proposal),
    }
    click.echo(json.dumps(shown, indent=2, ensure_ascii=False))


@registry.command("show-governance")
@chain_options
@registry_option
def show_governance(rpc_url: str, chain_id: int | None, registry_address: str) -> None:
    """The governance set, threshold, timelock and epoch as JSON."""
    config = _client(rpc_url, chain_id, registry_address).governance_config()
    click.echo(json.dumps(_jsonable(asdict(config)), indent=2))


def _progress(client: RegistryClient, proposal: Proposal) -> str:
    """Where a proposal stands, in words, with what is needed next."""
    threshold = client.governance_config().threshold
    state = proposal.state
    if state is ProposalState.PENDING:
        missing = threshold - proposal.approvals
        return (
            f"{proposal.approvals} of {threshold} approvals; needs {missing} more "
            f"before {_when(proposal.expires_at)}"
        )
    if state is ProposalState.QUEUED:
        return f"approved; timelocked until {_when(proposal.ready_at)}"
    if state is ProposalState.READY:
        return f"ready: run `notary registry execute {proposal.id}`"
    return state.name.lower()


def _when(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _echo_governed(client: RegistryClient, what: str, result: GovernanceResult) -> None:
    if result.executed:
        _echo_tx(f"{what} (proposal {result.proposal_id} executed)", result)
        return
    proposal = client.get_proposal(result.proposal_id, with_actions=False)
    _echo_tx(f"proposal {result.proposal_id} created ({_progress(client, proposal)})", result)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if hasattr(value, "name") and hasattr(value, "value"):  # enums
        return value.name.lower()
    return value
