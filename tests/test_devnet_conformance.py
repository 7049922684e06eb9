"""The devnet's public JSON-RPC against the Ethereum execution-API specification
(ethereum/execution-apis, shipped in tests/data/execution-apis, see SOURCE.md there): every
method of the spec is served with results valid under the spec's schemas, or refused as
geth refuses it; geth's answers where the spec leaves them open; and standard clients
(web3.py's filters, foundry's `cast`) working unchanged."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import rlp
import yaml
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from jsonschema import Draft202012Validator
from web3 import Web3

from anchor import RegistryClient, connect
from devnet import filters as filters_module
from devnet.chain import CanonicalChange
from devnet.filters import BLOCKS, FilterNotFoundError, Filters, TooManyFiltersError
from devnet.network import NetworkLayout, NetworkProcesses, init_network
from protocol.mpt import verify_account_proof, verify_storage_proof
from tests.devnet_helpers import block_number, rpc, rpc_error, rpc_raw, wait_until

pytestmark = pytest.mark.chain

SPEC = Path(__file__).parent / "data" / "execution-apis"
CAST = (
    Path(__file__).resolve().parent.parent
    / "node_modules"
    / "@foundry-rs"
    / "cast-linux-amd64"
    / "bin"
    / "cast"
)
CHAIN_ID = 4243
GWEI = 10**9
HEAD_ANCHORED = "HeadAnchored(address,uint32,uint64,uint64,bytes32,uint64,bytes32)"

# Methods of the spec the devnet does not serve (-32601), and why.
NOT_SERVED = {
    "eth_coinbase": "geth no longer serves it (method not found); Clique has no etherbase",
    "eth_blobBaseFee": "London chain: no blobs (geth answers null, outside the schema)",
    "eth_config": "EIP-7910 describes timestamp forks and blob schedules; Clique is pre-merge",
    "eth_getBlockAccessList": "EIP-7928 (Amsterdam) block access lists",
    "debug_getRawBlockAccessList": "EIP-7928 (Amsterdam) block access lists",
    "eth_simulateV1": "multi-block simulation with overrides: not implemented",
    "eth_fillTransaction": "transaction filling: not implemented",
    "debug_getBadBlocks": "rejected blocks are not kept",
    "debug_traceBlockByNumber": "no tracer",
    "debug_traceBlockByHash": "no tracer",
    "debug_traceTransaction": "no tracer",
    "txpool_status": "txpool namespace not exposed",
    "txpool_content": "txpool namespace not exposed",
    "txpool_contentFrom": "txpool namespace not exposed",
}
# Served, but nodes hold no user keys: geth's answer for a key it does not hold.
UNKNOWN_ACCOUNT = {"eth_sign", "eth_signTransaction", "eth_sendTransaction"}


# ---------------------------------------------------------------------- the specification


@cache
def spec() -> tuple[dict[str, Any], dict[str, Any]]:
    """(methods by name, schemas by name) of the shipped spec."""
    methods: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for path in sorted((SPEC / "src").glob("*/*.yaml")):
        loaded = yaml.safe_load(path.read_text())
        if path.parent.name == "schemas":
            schemas.update(loaded)
        else:
            methods.update({m["name"]: m for m in loaded})
    return methods, schemas


def schema_errors(schema: dict[str, Any], value: Any) -> list[str]:
    _, schemas = spec()
    root = {"components": {"schemas": schemas}, "allOf": [schema]}
    validator = Draft202012Validator(root)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in validator.iter_errors(value)
    ]


def check_call(url: str, method: str, params: list[Any]) -> Any:
    """Call `method`; the params must be valid under the spec, and so must the result."""
    definition = spec()[0][method]
    for value, param in zip(params, definition["params"], strict=False):
        errors = schema_errors(param["schema"], value)
        assert not errors, f"{method} param {param['name']} not valid under the spec: {errors}"
    result = rpc(url, method, *params)
    errors = schema_errors(definition["result"]["schema"], result)
    assert not errors, f"{method}{params} -> {json.dumps(result)[:600]}: {errors}"
    return result


def replay_io(url: str, path: Path, replace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send the request of one of the spec's .io test files, return the answer and the
    expected one."""
    lines = path.read_text().splitlines()
    request = json.loads(next(line[3:] for line in lines if line.startswith(">> ")))
    expected = json.loads(next(line[3:] for line in lines if line.startswith("<< ")))
    if replace:
        request["params"][0].update(replace)
    status, answer = rpc_raw(url, json.dumps(request).encode())
    assert status == 200
    return {"answer": answer, "expected": expected}


def test_shipped_spec_has_the_57_methods_and_its_source() -> None:
    methods, schemas = spec()
    assert len(methods) == 57 and {"Block", "TransactionInfo", "ReceiptInfo", "Log"} <= set(schemas)
    source = (SPEC / "SOURCE.md").read_text()
    assert (
        "ethereum/execution-apis" in source and "033ca6e69da000445840d2060ff47e5e56172a86" in source
    )
    for path in SPEC.rglob("*.yaml"):
        assert str(path.relative_to(SPEC)) in source, f"{path} not listed in SOURCE.md"


# ---------------------------------------------------------------------- the devnet


@dataclass
class Chain:
    url: str
    layout: NetworkLayout
    w3: Web3
    dev: LocalAccount
    registry: RegistryClient
    anchor_tx: str
    anchor_block: int
    anchor_block_hash: str
    legacy_tx: str
    log_filter: str
    block_filter: str
    pending_filter: str
    # polled once by test_results_match_the_spec: an empty answer would be ambiguous under
    # the spec's FilterResults (a oneOf of two arrays), so these have entries by then
    spare_filters: list[str]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    layout = init_network(tmp_path_factory.mktemp("conf") / "net", validators=1, chain_id=CHAIN_ID)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        url = layout.nodes[0].rpc_url
        w3 = connect(url)
        dev = layout.dev_account()
        registry, _ = RegistryClient.deploy(w3, dev)
        registry.register_node(dev.address, 131016, "千代田区")
        topic = "0x" + Web3.keccak(text=HEAD_ANCHORED).hex()
        query = {"fromBlock": "0x1", "address": registry.address, "topics": [topic]}
        log_filter = rpc(url, "eth_newFilter", query)
        block_filter = rpc(url, "eth_newBlockFilter")
        pending_filter = rpc(url, "eth_newPendingTransactionFilter")
        spare_filters = [
            rpc(url, "eth_newBlockFilter"),
            rpc(url, "eth_newPendingTransactionFilter"),
            rpc(url, "eth_newFilter", query),
        ]
        anchored = registry.anchor(0, 3, hashlib.sha256(b"head").digest())
        legacy = dev.sign_transaction(
            {
                "to": Account.create().address,
                "value": 1,
                "gas": 21_000,
                "gasPrice": 10 * GWEI,
                "nonce": w3.eth.get_transaction_count(dev.address, "pending"),
                "chainId": CHAIN_ID,
            }
        )
        legacy_tx = rpc(url, "eth_sendRawTransaction", "0x" + bytes(legacy.raw_transaction).hex())
        w3.eth.wait_for_transaction_receipt(legacy_tx, timeout=30)
        block = rpc(url, "eth_getBlockByNumber", hex(anchored.block_number), False)
        yield Chain(
            url,
            layout,
            w3,
            dev,
            registry,
            anchored.tx_hash,
            anchored.block_number,
            block["hash"],
            legacy_tx,
            log_filter,
            block_filter,
            pending_filter,
            spare_filters,
        )
    finally:
        processes.stop_all()


def test_every_spec_method_is_served_or_refused_like_geth(chain: Chain) -> None:
    """The spec's methods: each answers -32601 (NOT_SERVED), geth's `unknown account`
    (UNKNOWN_ACCOUNT), or a result valid under its schema (test_results_match_the_spec)."""
    methods, _ = spec()
    served = set(methods) - set(NOT_SERVED) - UNKNOWN_ACCOUNT
    assert served == set(valid_calls(chain)), "a served method has no schema check"
    for method in NOT_SERVED:
        assert rpc_error(chain.url, method)["code"] == -32601, method
    transaction = {
        "from": chain.dev.address,
        "to": chain.registry.address,
        "gas": "0x5208",
        "gasPrice": "0x3b9aca00",
        "nonce": "0x0",
        "value": "0x0",
    }
    for method, params in (
        ("eth_sign", [chain.dev.address, "0xdeadbeef"]),
        ("eth_signTransaction", [transaction]),
        ("eth_sendTransaction", [transaction]),
    ):
        assert rpc_error(chain.url, method, *params) == {
            "code": -32000,
            "message": "unknown account",
        }
    answered = len(served) + len(UNKNOWN_ACCOUNT)
    print(
        f"served {len(served)} + geth's refusal {len(UNKNOWN_ACCOUNT)} = {answered}/{len(methods)}"
    )


def valid_calls(chain: Chain) -> dict[str, list[list[Any]]]:
    """Parameters for each served method, valid under the spec."""
    registry, dev, number = chain.registry.address, chain.dev.address, hex(chain.anchor_block)
    block_hash, tx = chain.anchor_block_hash, chain.anchor_tx
    functions = chain.registry.contract.functions
    getter = functions.nextSeq(dev)._encode_transaction_data()
    seq = functions.nextSeq(dev).call()
    anchor_data = functions.anchor(seq, 1000, b"\x02" * 32)._encode_transaction_data()
    slot0 = "0x" + "00" * 32
    transfer = chain.dev.sign_transaction(
        {
            "to": Account.create().address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI,
            "nonce": chain.w3.eth.get_transaction_count(dev, "pending"),
            "chainId": CHAIN_ID,
        }
    )
    return {
        "eth_chainId": [[]],
        "eth_syncing": [[]],
        "eth_accounts": [[]],
        "eth_blockNumber": [[]],
        "net_version": [[]],
        "eth_capabilities": [[]],
        "eth_getBlockByHash": [[block_hash, False], [block_hash, True], ["0x" + "00" * 32, False]],
        "eth_getBlockByNumber": [[number, True], ["latest", False], ["finalized", False]],
        "eth_getBlockTransactionCountByHash": [[block_hash]],
        "eth_getBlockTransactionCountByNumber": [[number], ["0x" + "f" * 10]],
        "eth_getBlockReceipts": [[number], [block_hash], ["latest"], ["0x" + "f" * 10]],
        "eth_call": [
            [{"to": registry, "input": getter}, "latest"],
            [{"to": registry, "input": getter}, block_hash],
        ],
        "eth_estimateGas": [[{"from": dev, "to": registry, "input": anchor_data}]],
        "eth_createAccessList": [
            [{"from": dev, "to": registry, "input": anchor_data}, "latest"],
            [{"from": dev, "to": "0x" + "01" * 20, "value": "0xa"}, "latest"],
        ],
        "eth_gasPrice": [[]],
        "eth_baseFee": [[]],
        "eth_maxPriorityFeePerGas": [[]],
        "eth_feeHistory": [["0x4", "latest", [10, 50, 90]], ["0x2", number, []]],
        "eth_newFilter": [[{"fromBlock": "0x1", "address": registry}]],
        "eth_newBlockFilter": [[]],
        "eth_newPendingTransactionFilter": [[]],
        "eth_getFilterChanges": [[f] for f in chain.spare_filters],
        "eth_getFilterLogs": [[chain.log_filter]],
        "eth_uninstallFilter": [[rpc(chain.url, "eth_newBlockFilter")]],
        "eth_getLogs": [
            [{"fromBlock": "0x0", "toBlock": "latest", "address": registry}],
            [{"blockHash": block_hash}],
        ],
        "eth_getBalance": [[dev, "latest"], [dev, block_hash]],
        "eth_getStorageAt": [[registry, "0x0", number]],
        "eth_getStorageValues": [[{registry: [slot0, "0x01"], dev: [slot0]}, "latest"]],
        "eth_getTransactionCount": [[dev, "pending"], [dev, block_hash]],
        "eth_getCode": [[registry, "latest"]],
        "eth_getProof": [[registry, [slot0, "0x1"], "latest"], [chain.dev.address, [], number]],
        "eth_sendRawTransaction": [["0x" + bytes(transfer.raw_transaction).hex()]],
        "eth_getTransactionByHash": [[tx], [chain.legacy_tx]],
        "eth_getTransactionByBlockHashAndIndex": [[block_hash, "0x0"], [block_hash, "0x9"]],
        "eth_getTransactionByBlockNumberAndIndex": [[number, "0x0"]],
        "eth_getTransactionReceipt": [[tx], [chain.legacy_tx]],
        # The spec takes a number or tag only (a hash is geth's extension, tested below): a hash
        # whose first digit is not 0 would pass the uint pattern by chance, 15 times in 16.
        "debug_getRawHeader": [[number]],
        "debug_getRawBlock": [[number]],
        "debug_getRawTransaction": [[tx]],
        "debug_getRawReceipts": [[block_hash]],
    }  # fmt: skip


def test_results_match_the_spec(chain: Chain) -> None:
    for method, calls in valid_calls(chain).items():
        for params in calls:
            check_call(chain.url, method, params)


def test_transaction_objects_carry_block_timestamp(chain: Chain) -> None:
    block = rpc(chain.url, "eth_getBlockByNumber", hex(chain.anchor_block), True)
    found = rpc(chain.url, "eth_getTransactionByHash", chain.anchor_tx)
    assert found["blockTimestamp"] == block["timestamp"]
    assert all(tx["blockTimestamp"] == block["timestamp"] for tx in block["transactions"])
    legacy = rpc(chain.url, "eth_getTransactionByHash", chain.legacy_tx)
    assert legacy["type"] == "0x0" and legacy["chainId"] == hex(CHAIN_ID)
    logs = rpc(chain.url, "eth_getLogs", {"blockHash": chain.anchor_block_hash})
    assert logs and all(entry["blockTimestamp"] == block["timestamp"] for entry in logs)


def test_by_index_count_and_uncle_methods(chain: Chain) -> None:
    url, number, block_hash = chain.url, hex(chain.anchor_block), chain.anchor_block_hash
    block = rpc(url, "eth_getBlockByHash", block_hash, True)
    count = len(block["transactions"])
    assert rpc(url, "eth_getBlockTransactionCountByHash", block_hash) == hex(count)
    assert rpc(url, "eth_getBlockTransactionCountByNumber", number) == hex(count)
    for index, tx in enumerate(block["transactions"]):
        assert rpc(url, "eth_getTransactionByBlockHashAndIndex", block_hash, hex(index)) == tx
        assert rpc(url, "eth_getTransactionByBlockNumberAndIndex", number, hex(index)) == tx
    assert rpc(url, "eth_getTransactionByBlockNumberAndIndex", number, hex(count)) is None
    assert rpc(url, "eth_getBlockTransactionCountByHash", "0x" + "00" * 32) is None
    assert rpc(url, "eth_getUncleCountByBlockHash", block_hash) == "0x0"
    assert rpc(url, "eth_getUncleCountByBlockNumber", number) == "0x0"
    assert rpc(url, "eth_getUncleCountByBlockNumber", "0x" + "f" * 10) is None
    assert rpc(url, "eth_getUncleByBlockHashAndIndex", block_hash, "0x0") is None
    assert rpc(url, "eth_getUncleByBlockNumberAndIndex", number, "0x0") is None
    receipts = rpc(url, "eth_getBlockReceipts", block_hash)
    assert receipts == [
        rpc(url, "eth_getTransactionReceipt", t["hash"]) for t in block["transactions"]
    ]
    assert rpc(url, "eth_accounts") == []


def test_raw_debug_getters_decode(chain: Chain) -> None:
    url, number = chain.url, hex(chain.anchor_block)
    header = rlp.decode(bytes.fromhex(rpc(url, "debug_getRawHeader", number)[2:]))
    assert "0x" + keccak(rlp.encode(header)).hex() == chain.anchor_block_hash
    by_hash = rpc(url, "debug_getRawHeader", chain.anchor_block_hash)
    assert by_hash == rpc(url, "debug_getRawHeader", number)
    raw_tx = rpc(url, "debug_getRawTransaction", chain.anchor_tx)
    assert "0x" + keccak(bytes.fromhex(raw_tx[2:])).hex() == chain.anchor_tx
    assert rpc(url, "debug_getRawHeader", "0x" + "f" * 10) == "0x"


def test_get_proof_verifies_against_the_state_root(chain: Chain) -> None:
    """The proof walks from the block's state root (protocol/mpt.py, independent of the
    py-trie code that built it); tests/test_devnet_proof.py checks much more."""
    url, registry = chain.url, chain.registry.address
    block = rpc(url, "eth_getBlockByNumber", "latest", False)
    proof = rpc(url, "eth_getProof", registry, ["0x0", "0x" + "00" * 31 + "01"], block["number"])

    def nodes(proof: list[str]) -> list[bytes]:
        return [bytes.fromhex(n[2:]) for n in proof]

    account = verify_account_proof(
        bytes.fromhex(block["stateRoot"][2:]),
        bytes.fromhex(registry[2:]),
        nodes(proof["accountProof"]),
    )
    assert account is not None
    assert (hex(account.nonce), hex(account.balance)) == (proof["nonce"], proof["balance"])
    assert ("0x" + account.storage_root.hex(), "0x" + account.code_hash.hex()) == (
        proof["storageHash"],
        proof["codeHash"],
    )
    assert [entry["key"] for entry in proof["storageProof"]] == ["0x0", "0x" + "00" * 31 + "01"]
    for slot, entry in enumerate(proof["storageProof"]):
        value = verify_storage_proof(account.storage_root, slot, nodes(entry["proof"]))
        assert value == int(entry["value"], 16)
        stored = rpc(url, "eth_getStorageAt", registry, hex(slot), block["number"])
        assert int(stored, 16) == value
    nobody = rpc(url, "eth_getProof", Account.create().address, ["0x1"], "latest")
    assert nobody["balance"] == "0x0" and nobody["storageProof"][0]["proof"] == ["0x80"]


# ---------------------------------------------------------------------- geth's answers


def test_call_with_value_over_balance_is_insufficient_funds(chain: Chain) -> None:
    """The spec's own examples: eth_call from the zero address (no balance) with a value;
    eth_estimateGas from an unfunded account. geth: -32000, never an internal error."""
    methods, _ = spec()
    call_example = methods["eth_call"]["examples"][0]["params"]
    error = rpc_error(chain.url, "eth_call", *[p["value"] for p in call_example])
    assert error["code"] == -32000
    assert error["message"].startswith(
        "err: insufficient funds for gas * price + value: address "
        "0x0000000000000000000000000000000000000000 have 0 want 1 (supplied gas"
    ), error
    estimate_example = methods["eth_estimateGas"]["examples"][0]["params"]
    error = rpc_error(chain.url, "eth_estimateGas", *[p["value"] for p in estimate_example])
    assert error["code"] == -32000
    assert "insufficient funds for gas * price + value" in error["message"], error
    poor = Account.create().address
    error = rpc_error(
        chain.url, "eth_estimateGas", {"from": poor, "to": poor, "value": "0x1", "gasPrice": "0x1"}
    )
    assert error == {"code": -32000, "message": "insufficient funds for transfer"}
    priced = {"from": poor, "to": poor, "gas": "0x5208", "gasPrice": "0x1"}
    error = rpc_error(chain.url, "eth_call", priced)
    assert "have 0 want 21000 (supplied gas 21000)" in error["message"]


def test_plain_block_hash_names_a_block(chain: Chain) -> None:
    url, dev, block_hash = chain.url, chain.dev.address, chain.anchor_block_hash
    number = hex(chain.anchor_block)
    assert rpc(url, "eth_getBalance", dev, block_hash) == rpc(url, "eth_getBalance", dev, number)
    assert rpc(url, "eth_getTransactionCount", dev, block_hash) == rpc(
        url, "eth_getTransactionCount", dev, {"blockHash": block_hash}
    )
    unknown = rpc_error(url, "eth_getBalance", dev, "0x" + "ab" * 32)
    assert unknown == {"code": -32000, "message": "header for hash not found"}
    assert rpc_error(url, "eth_getBlockByNumber", block_hash, False)["code"] == -32602


def test_get_logs_errors_are_the_spec_tests(chain: Chain) -> None:
    tests = SPEC / "tests" / "eth_getLogs"
    for name in ("filter-error-invalid-blockHash-and-range", "filter-error-reversed-block-range"):
        run = replay_io(chain.url, tests / f"{name}.io")
        assert run["answer"]["error"] == run["expected"]["error"], name
    head = block_number(chain.url)
    future = {"fromBlock": hex(head + 100), "toBlock": hex(head + 106)}
    run = replay_io(chain.url, tests / "filter-error-future-block-range.io", future)
    assert run["answer"]["error"] == run["expected"]["error"]
    beyond = rpc_error(chain.url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(head + 5)})
    assert beyond == run["expected"]["error"]
    pending = rpc_error(chain.url, "eth_getLogs", {"toBlock": "pending"})
    assert pending == {"code": -32602, "message": "pending logs are not supported"}


def test_fee_history_weights_rewards_by_gas_and_zero_count_is_empty(chain: Chain) -> None:
    """One block with a 1 gwei-tip transaction using most of the gas and a 5 gwei-tip
    plain transfer: at the 50th percentile of gas used the tip is 1 gwei (geth's rule),
    not the median of the two tips."""
    url, dev, w3 = chain.url, chain.dev, chain.w3
    for _ in range(3):
        nonce = w3.eth.get_transaction_count(dev.address, "pending")
        bulky = {
            "to": Account.create().address,
            "value": 0,
            "gas": 200_000,
            "data": b"\x01" * 3000,
            "maxFeePerGas": 20 * GWEI,
            "maxPriorityFeePerGas": GWEI,
        }
        small = {
            "to": Account.create().address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 20 * GWEI,
            "maxPriorityFeePerGas": 5 * GWEI,
        }
        hashes = [
            rpc(
                url,
                "eth_sendRawTransaction",
                "0x"
                + bytes(
                    dev.sign_transaction(
                        {**tx, "nonce": nonce + i, "chainId": CHAIN_ID}
                    ).raw_transaction
                ).hex(),
            )
            for i, tx in enumerate((bulky, small))
        ]
        receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30) for h in hashes]
        if receipts[0]["blockNumber"] == receipts[1]["blockNumber"]:
            break
    else:
        pytest.fail("the two transactions never shared a block")
    number = hex(receipts[0]["blockNumber"])
    history = rpc(url, "eth_feeHistory", "0x1", number, [25, 50, 75, 99])
    assert history["oldestBlock"] == number
    # gas used: 69,000 at 1 gwei then 21,000 at 5 gwei; up to 69/90 = 76.7 % it is 1 gwei
    assert history["reward"] == [[hex(GWEI), hex(GWEI), hex(GWEI), hex(5 * GWEI)]]
    assert rpc(url, "eth_feeHistory", "0x0", "latest", [50]) == {
        "oldestBlock": "0x0",
        "baseFeePerGas": [],
        "gasUsedRatio": [],
    }
    decreasing = rpc_error(url, "eth_feeHistory", "0x1", "latest", [50, 10])
    assert decreasing["code"] == -32000 and "invalid reward percentile" in decreasing["message"]
    beyond = rpc_error(url, "eth_feeHistory", "0x1", hex(block_number(url) + 1000), [])
    assert beyond["code"] == -32000 and beyond["message"].startswith("request beyond head block")


def test_create_access_list_matches_what_a_transaction_is_charged(chain: Chain) -> None:
    """The list and gas geth's eth_createAccessList gives: sending the transaction with
    that list is charged exactly the reported gas."""
    url, w3, registry = chain.url, chain.w3, chain.registry
    seq = registry.contract.functions.nextSeq(chain.dev.address).call()
    function = registry.contract.functions.anchor(seq, 5, b"\x03" * 32)
    call = {
        "from": chain.dev.address,
        "to": registry.address,
        "input": function._encode_transaction_data(),
    }
    created = rpc(url, "eth_createAccessList", call, "latest")
    assert "error" not in created and created["accessList"]
    assert {e["address"] for e in created["accessList"]} == {registry.address}
    assert created["accessList"][0]["storageKeys"]
    tx = function.build_transaction(
        {
            "from": chain.dev.address,
            "nonce": w3.eth.get_transaction_count(chain.dev.address),
            "gas": 500_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI,
            "chainId": CHAIN_ID,
            "accessList": created["accessList"],
        }
    )
    sent = w3.eth.send_raw_transaction(chain.dev.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(sent, timeout=30)
    assert receipt["status"] == 1 and receipt["gasUsed"] == int(created["gasUsed"], 16)
    plain = rpc(
        url,
        "eth_createAccessList",
        {"from": chain.dev.address, "to": "0x" + "01" * 20, "value": "0xa"},
    )
    assert plain == {"accessList": [], "gasUsed": "0x5208"}  # the spec's own test
    stranger = {**call, "from": Account.create().address}
    reverted = rpc(url, "eth_createAccessList", stranger, "latest")
    assert reverted["error"] == "execution reverted" and reverted["accessList"]


def test_filters_poll_like_geth(chain: Chain) -> None:
    url = chain.url
    logs = rpc(url, "eth_getFilterChanges", chain.log_filter)
    assert logs and logs[0]["transactionHash"] == chain.anchor_tx  # (later tests anchor more)
    assert rpc(url, "eth_getFilterChanges", chain.log_filter) == []  # consumed
    registry, topic = chain.registry.address, "0x" + Web3.keccak(text=HEAD_ANCHORED).hex()
    query = {"fromBlock": "0x1", "address": registry, "topics": [topic]}
    assert rpc(url, "eth_getFilterLogs", chain.log_filter) == rpc(url, "eth_getLogs", query)
    blocks = rpc(url, "eth_getFilterChanges", chain.block_filter)
    assert chain.anchor_block_hash in blocks
    pending = rpc(url, "eth_getFilterChanges", chain.pending_filter)
    assert chain.anchor_tx in pending and chain.legacy_tx in pending
    assert rpc(url, "eth_uninstallFilter", chain.block_filter) is True
    assert rpc(url, "eth_uninstallFilter", chain.block_filter) is False
    gone = rpc_error(url, "eth_getFilterChanges", chain.block_filter)
    assert gone == {"code": -32000, "message": "filter not found"}
    reversed_range = rpc_error(url, "eth_newFilter", {"fromBlock": "0x5", "toBlock": "0x2"})
    assert reversed_range == {"code": -32602, "message": "invalid block range params"}


def test_web3_filters_work_unchanged(chain: Chain) -> None:
    w3, registry = chain.w3, chain.registry
    topic = Web3.keccak(text=HEAD_ANCHORED)
    event_filter = w3.eth.filter(
        {"address": registry.address, "topics": [topic], "fromBlock": chain.anchor_block}
    )
    block_filter = w3.eth.filter("latest")
    pending_filter = w3.eth.filter("pending")
    seq = registry.contract.functions.nextSeq(chain.dev.address).call()
    result = registry.anchor(seq, 9, hashlib.sha256(b"web3").digest())
    new = event_filter.get_new_entries()
    assert [bytes(e["transactionHash"]) for e in new] == [bytes.fromhex(result.tx_hash[2:])]
    everything = event_filter.get_all_entries()
    assert (
        len(everything) == seq + 1
        and everything[-1]["transactionHash"] == new[0]["transactionHash"]
    )
    assert event_filter.get_new_entries() == []
    wait_until(lambda: block_number(chain.url) > result.block_number, 30, "a block after it")
    assert len(block_filter.get_new_entries()) >= 1
    assert bytes.fromhex(result.tx_hash[2:]) in [bytes(h) for h in pending_filter.get_new_entries()]
    assert w3.eth.uninstall_filter(event_filter.filter_id)


def test_filters_expire_and_are_capped() -> None:
    now = [0.0]
    filters = Filters(clock=lambda: now[0])
    kept = filters.install(BLOCKS)
    idle = filters.install(BLOCKS)
    now[0] = filters_module.FILTER_TIMEOUT_SECONDS - 1
    filters.changes(kept)  # a poll restarts the timeout
    now[0] = filters_module.FILTER_TIMEOUT_SECONDS + 1
    filters.changes(kept)
    with pytest.raises(FilterNotFoundError):
        filters.changes(idle)
    for _ in range(filters_module.MAX_FILTERS - 1):
        filters.install(BLOCKS)
    with pytest.raises(TooManyFiltersError):
        filters.install(BLOCKS)
    assert filters.uninstall(kept)
    filters.install(BLOCKS)  # room again


def test_filter_journal_reports_reorgs_and_pool_arrivals() -> None:
    @dataclass
    class FakeBlock:
        hash: bytes

    filters = Filters()
    blocks, pending = filters.install(BLOCKS), filters.install(filters_module.PENDING)
    filters.on_canonical_change(CanonicalChange((FakeBlock(b"a"),), ()))
    filters.on_canonical_change(CanonicalChange((FakeBlock(b"b2"),), (FakeBlock(b"b1"),)))
    filters.on_pending_transaction(b"t")
    _, events = filters.changes(blocks)
    assert [(e.block_hash, e.removed) for e in events] == [
        (b"a", False),
        (b"b1", True),
        (b"b2", False),
    ]
    assert filters.changes(blocks)[1] == [] and filters.changes(pending)[1] == [b"t"]
    late = filters.install(BLOCKS)  # sees only what comes after it
    filters.on_canonical_change(CanonicalChange((FakeBlock(b"c"),), ()))
    assert [e.block_hash for e in filters.changes(late)[1]] == [b"c"]


# ---------------------------------------------------------------------- foundry's cast


def cast(chain: Chain, *args: str) -> str:
    done = subprocess.run(
        [str(CAST), *args, "--rpc-url", chain.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"cast {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def test_cast_works_unchanged(chain: Chain) -> None:
    assert int(cast(chain, "block-number")) >= chain.anchor_block
    assert cast(chain, "chain-id") == str(CHAIN_ID)
    latest = json.loads(cast(chain, "block", "latest", "--json"))
    assert latest["hash"].startswith("0x") and int(latest["number"], 16) >= chain.anchor_block
    receipt = json.loads(cast(chain, "receipt", chain.anchor_tx, "--json"))
    assert receipt["transactionHash"] == chain.anchor_tx and receipt["status"] == "0x1"
    logs = json.loads(
        cast(
            chain,
            "logs",
            "--from-block",
            str(chain.anchor_block),
            "--to-block",
            str(chain.anchor_block),
            "--address",
            chain.registry.address,
            HEAD_ANCHORED,
            "--json",
        )
    )
    assert [entry["transactionHash"] for entry in logs] == [chain.anchor_tx]
    tx = json.loads(cast(chain, "tx", chain.anchor_tx, "--json"))
    assert tx["hash"] == chain.anchor_tx
