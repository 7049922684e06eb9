"""Chain engines for integration tests: real processes on 127.0.0.1, reached over JSON-RPC.

Every registry test runs once per engine in `ENGINES`; adding the devnet is one entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_account.types import TransactionDictType
from eth_typing import HexStr
from web3 import Web3

from anchor import connect
from devnet.anvil import AnvilProcess, dev_account
from devnet.network import NetworkProcesses, init_network

ENGINES = ["anvil", "devnet"]


@dataclass
class ChainEndpoint:
    engine: str
    rpc_url: str
    chain_id: int
    funder: LocalAccount

    def web3(self) -> Web3:
        return connect(self.rpc_url, chain_id=self.chain_id)

    def new_account(self, ether: int = 10) -> LocalAccount:
        """A fresh key funded from the engine's development account."""
        account: LocalAccount = Account.create()
        send_ether(self.web3(), self.funder, account.address, ether)
        return account


def send_ether(w3: Web3, sender: LocalAccount, to: str, ether: int) -> None:
    block = w3.eth.get_block("latest")
    priority = w3.eth.max_priority_fee
    tx: TransactionDictType = {
        "to": HexStr(to),
        "value": Web3.to_wei(ether, "ether"),
        "gas": 21_000,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "chainId": w3.eth.chain_id,
        "maxPriorityFeePerGas": priority,
        "maxFeePerGas": 2 * block["baseFeePerGas"] + priority,
    }
    tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
    assert receipt["status"] == 1


@contextmanager
def running_engine(engine: str, workdir: Path) -> Iterator[ChainEndpoint]:
    if engine == "anvil":
        with AnvilProcess(log_file=workdir / "anvil.log") as anvil:
            yield ChainEndpoint("anvil", anvil.rpc_url, anvil.chain_id, dev_account(0))
        return
    if engine == "devnet":
        layout = init_network(workdir / "network", validators=3)
        processes = NetworkProcesses(layout)
        try:
            processes.start_all()
            genesis_chain_id = connect(layout.nodes[0].rpc_url).eth.chain_id
            yield ChainEndpoint(
                "devnet", layout.nodes[0].rpc_url, genesis_chain_id, layout.dev_account()
            )
        finally:
            processes.stop_all()
        return
    raise ValueError(f"unknown engine {engine!r}")
