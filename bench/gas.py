"""Gas per registry operation, measured on anvil and on the devnet in the same run (the
figures must agree: gas is a property of the contract and the London rules, not of the
engine), governance actions as proposal, approval and execution (2 of 3 members), and gas
per head of `anchorMany` for 1, 10 and 100 relayed heads against `anchor`.

    python -m bench.gas

Rewrites the "Registry gas" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

from eth_account import Account

from anchor import RegistryClient, connect, is_valid_lg_code
from bench.report import run_facts, write_section
from tests.chains import ChainEndpoint, running_engine

HEADING = "## Registry gas (bench/gas.py)"
BATCH_SIZES = (1, 10, 100)
BULK_CODES = [c for c in range(10_000, 480_000) if is_valid_lg_code(c)][: max(BATCH_SIZES)]


def register_many(governance: RegistryClient, approver: RegistryClient) -> list[RegistryClient]:
    """`len(BULK_CODES)` nodes registered by one proposal (keys unfunded: a relayer sends)."""
    accounts = [Account.create() for _ in BULK_CODES]
    actions = [
        governance.action_register_node(a.address, code, f"node {i}")
        for i, (a, code) in enumerate(zip(accounts, BULK_CODES, strict=True))
    ]
    # Fixed limits: estimating 100 registrations can outlast an engine's estimate timeout
    # (the devnet's is 1 s of execution).
    sender, functions = governance._sender(), governance.contract.functions
    proposed = sender.wait(
        sender.send(functions.propose(actions, "bulk"), gas_limit=40_000 * len(actions))
    )
    (created,) = governance._receipt_events(proposed, "ProposalCreated")
    proposal_id = int(created["id"])
    approver.approve(proposal_id)
    sender.wait(
        sender.send(functions.execute(proposal_id, actions), gas_limit=200_000 * len(actions))
    )
    return [RegistryClient(governance.w3, governance.address, a) for a in accounts]


def governed(
    proposer: RegistryClient, approver: RegistryClient, actions: list[bytes]
) -> tuple[int, int, int]:
    """Gas of propose, of the approval that reaches the threshold, and of execute."""
    proposal_id, proposed = proposer.propose(actions, "bench")
    approved = approver.approve(proposal_id)
    executed = proposer.execute(proposal_id, actions)
    return proposed.gas_used, approved.gas_used, executed.gas_used


def measure_batches(
    endpoint: ChainEndpoint, governance: RegistryClient, approver: RegistryClient
) -> dict[str, int]:
    """Total gas of `anchorMany` with 1, 10 and 100 heads, first heads and later heads."""
    relayer = RegistryClient(governance.w3, governance.address, endpoint.new_account())
    nodes = register_many(governance, approver)
    gas: dict[str, int] = {}

    def batch(size: int, seq: int) -> int:
        heads = [
            n.sign_head(seq, seq + 1, hashlib.sha256(f"{i}/{seq}".encode()).digest())
            for i, n in enumerate(nodes[:size])
        ]
        result = relayer.anchor_many(heads)
        assert len(result.anchored) == size, result.skipped
        return result.tx.gas_used

    # Node i has anchored seq < next[i]; every batch takes nodes 0.. so sizes stay apart.
    gas["first 100"] = batch(100, 0)
    seq = 1
    for size in sorted(BATCH_SIZES, reverse=True):
        gas[f"later {size}"] = batch(size, seq)
        seq += 1
    return gas


def measure(endpoint: ChainEndpoint) -> tuple[dict[str, int], dict[str, int]]:
    """Governance is 2 of 3 members without timelock (the timelock costs no gas)."""
    w3 = connect(endpoint.rpc_url)
    second, third = endpoint.new_account(), endpoint.new_account()
    members = [endpoint.funder.address, second.address, third.address]
    governance, deployment = RegistryClient.deploy(
        w3, endpoint.funder, members=members, threshold=2
    )
    approver = RegistryClient(w3, governance.address, second)
    node_key, successor = endpoint.new_account(), endpoint.new_account()
    node = RegistryClient(w3, governance.address, node_key)
    gas = {"deploy (3 members)": deployment.gas_used}

    def govern(label: str, *actions: bytes) -> None:
        proposed, approved, executed = governed(governance, approver, list(actions))
        gas[f"{label}: propose"] = proposed
        gas[f"{label}: approve"] = approved
        gas[f"{label}: execute"] = executed

    govern("registerNode", governance.action_register_node(node_key.address, 131016, "千代田区"))
    roots = [hashlib.sha256(f"head {i}".encode()).digest() for i in range(5)]
    gas["anchor (first head)"] = node.anchor(0, 1_000, roots[0]).gas_used
    steady = [node.anchor(seq, 1_000 * (seq + 1), roots[seq]).gas_used for seq in range(1, 4)]
    # Only calldata varies (zero bytes are cheaper), by a few gas.
    gas["anchor (later heads, max)"] = max(steady)
    govern(
        "withdrawHead",
        governance.action_withdraw_head(node_key.address, roots[1], "key compromise drill"),
    )
    govern("suspendNode", governance.action_suspend_node(node_key.address, "audit"))
    govern("reactivateNode", governance.action_reactivate_node(node_key.address))
    govern("rotateNodeKey", governance.action_rotate_node_key(node_key.address, successor.address))
    return gas, measure_batches(endpoint, governance, approver)


def max_difference(results: dict[str, dict[str, int]]) -> int:
    return max(abs(results["anvil"][op] - results["devnet"][op]) for op in results["anvil"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, int]] = {}
    batches: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gas-") as scratch:
        for engine in ("anvil", "devnet"):
            with running_engine(engine, Path(scratch)) as endpoint:
                results[engine], batches[engine] = measure(endpoint)
    peer = {e: results[e]["anchor (later heads, max)"] for e in results}
    peer_first = {e: results[e]["anchor (first head)"] for e in results}

    def per_head(engine: str, key: str, size: int) -> str:
        total = batches[engine][key]
        return f"{total:,} | {total / size:,.0f}"

    def batch_row(label: str, key: str, size: int, against: dict[str, int]) -> str:
        share = batches["devnet"][key] / size / against["devnet"]
        return (
            f"| {label} | {per_head('anvil', key, size)} | {per_head('devnet', key, size)} "
            f"| {share:.0%} |"
        )

    lines = [
        HEADING, "", *run_facts("python -m bench.gas"), "",
        "| operation | gas on anvil | gas on devnet |", "|---|---:|---:|",
        *[f"| {op} | {results['anvil'][op]:,} | {results['devnet'][op]:,} |" for op in results["anvil"]],
        "",
        f"- Largest difference between the engines: {max_difference(results)} gas. Execution is"
        " identical; calldata differs because the test accounts are random (a zero byte costs 4 gas, any other 16).",
        "- An anchor costs the same whatever the batch size (a head is seq, size and root);"
        " the first head of a node costs more because it writes the node's root slot for the first time.",
        "- Target: well under 100k per anchor: met.",
        "- Governance (2 of 3 members): each action is a proposal (`propose`, which counts the"
        " proposer's approval), one `approve` that reaches the threshold, and `execute` after the"
        " timelock (a timelock costs no gas). `execute` runs the action as a call of the registry"
        " to itself. Anchoring reads no governance state; the larger contract's function"
        " dispatch adds about 540 gas to an `anchor` and 230 to a relayed head (single-key"
        " registry: 75,927 first head, 58,839 later heads, 43,735 per head in a batch of 100).",
        "",
        "Relayed heads: `anchorMany` with heads of N nodes, each signed by its node (EIP-712), sent"
        " by one relayer; `anchor` above is the peer, measured in the same run. Later heads are"
        " the steady state (a node's first head also writes its root slot for the first time).",
        "",
        "| heads in the transaction | anvil: tx gas | anvil: gas per head | devnet: tx gas"
        " | devnet: gas per head | per head vs one `anchor` |",
        "|---|---:|---:|---:|---:|---:|",
        *[batch_row(f"{n} (later heads)", f"later {n}", n, peer) for n in BATCH_SIZES],
        batch_row("100 (first heads)", "first 100", 100, peer_first),
        "",
        "- Per head a batch saves the 21,000 gas of a transaction and pays ~3,000 for `ecrecover`,"
        " ~2,500 for 224 bytes of calldata (node, seq, size, root, v, r, s) and the EIP-712 hashing.",
        "- The larger win is in transactions: 100 municipalities' heads are one transaction for"
        " the validators to execute, not 100.",
        "",
    ]  # fmt: skip
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
