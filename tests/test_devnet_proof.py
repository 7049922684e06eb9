"""eth_getProof (EIP-1186) on a real devnet: the proofs verify offline with `protocol.mpt`
against the block's `stateRoot`, agree with the plain state reads, prove absence, have anvil's
shape (and, for the same state, anvil's very nodes), refuse bad parameters with -32602, and
foundry's `cast proof` reads them. `protocol.mpt` itself rejects every tampered proof."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_typing import Hash32
from eth_utils import keccak
from trie import HexaryTrie
from trie.exceptions import MissingTrieNode

from anchor import RegistryClient, connect
from devnet.anvil import ANVIL_BINARY, wait_for_rpc
from devnet.genesis import Genesis
from devnet.network import NetworkLayout, NetworkProcesses, init_network
from devnet.ports import free_port
from devnet.rpc import MAX_STORAGE_SLOTS, Api, RpcError
from devnet.server import EXPENSIVE_METHODS
from protocol.mpt import (
    EMPTY_ACCOUNT,
    EMPTY_CODE_HASH,
    EMPTY_TRIE_ROOT,
    AccountState,
    MptProofError,
    verify_account_proof,
    verify_proof,
    verify_storage_proof,
)
from tests.devnet_helpers import rpc, rpc_error

pytestmark = pytest.mark.chain

CAST = Path(__file__).resolve().parent.parent / "node_modules/@foundry-rs/cast-linux-amd64/bin/cast"
CHAIN_ID = 4244
SLOTS = 12  # the registry's first slots: enough to hit set and unset ones
ABSENT_SLOT = 2**255 + 12345


@dataclass
class ProofChain:
    url: str
    layout: NetworkLayout
    registry: str
    dev: str
    deploy_block: int
    anchor_block: int


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProofChain]:
    layout = init_network(tmp_path_factory.mktemp("proof") / "net", validators=1, chain_id=CHAIN_ID)
    processes = NetworkProcesses(layout)
    try:
        processes.start_all()
        url = layout.nodes[0].rpc_url
        w3 = connect(url)
        dev = layout.dev_account()
        registry, _ = RegistryClient.deploy(w3, dev)
        deploy_block = w3.eth.block_number
        registry.register_node(dev.address, 131016, "千代田区")
        anchored = registry.anchor(0, 3, keccak(b"head"))
        yield ProofChain(
            url, layout, registry.address, dev.address, deploy_block, anchored.block_number
        )
    finally:
        processes.stop_all()


def nodes(proof: list[str]) -> list[bytes]:
    return [bytes.fromhex(node[2:]) for node in proof]


def hexbytes(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def state_root(url: str, block: str) -> bytes:
    return hexbytes(rpc(url, "eth_getBlockByNumber", block, False)["stateRoot"])


def check_account(url: str, address: str, block: str, keys: list[str]) -> dict[str, Any]:
    """eth_getProof of `address` at `block`, verified against the block's state root and
    compared with eth_getBalance, eth_getTransactionCount, eth_getCode and eth_getStorageAt."""
    proof = rpc(url, "eth_getProof", address, keys, block)
    account = verify_account_proof(
        state_root(url, block), hexbytes(address), nodes(proof["accountProof"])
    )
    shown = account or EMPTY_ACCOUNT
    assert proof["address"] == address.lower()
    assert proof["nonce"] == hex(shown.nonce) == rpc(url, "eth_getTransactionCount", address, block)
    assert proof["balance"] == hex(shown.balance) == rpc(url, "eth_getBalance", address, block)
    code = hexbytes(rpc(url, "eth_getCode", address, block))
    assert hexbytes(proof["codeHash"]) == shown.code_hash == keccak(code)
    assert hexbytes(proof["storageHash"]) == shown.storage_root
    assert [entry["key"] for entry in proof["storageProof"]] == keys
    for key, entry in zip(keys, proof["storageProof"], strict=True):
        value = verify_storage_proof(shown.storage_root, int(key, 16), nodes(entry["proof"]))
        assert entry["value"] == hex(value)
        assert int(rpc(url, "eth_getStorageAt", address, key, block), 16) == value
    return dict(proof)


# ---------------------------------------------------------------------- (a) accounts


def test_account_proofs_verify_against_the_state_root_and_the_state_reads(
    chain: ProofChain,
) -> None:
    url = chain.url
    head = hex(chain.anchor_block)
    validator = chain.layout.nodes[0].address
    assert validator is not None
    for address in (chain.dev, validator, chain.registry):
        proof = check_account(url, address, head, ["0x0"])
        assert proof["accountProof"] and int(proof["balance"], 16) >= 0
    dev = check_account(url, chain.dev, head, [])
    assert int(dev["nonce"], 16) >= 3 and dev["storageProof"] == []  # deploy, register, anchor
    # a block hash and an EIP-1898 object name the same state
    block_hash = rpc(url, "eth_getBlockByNumber", head, False)["hash"]
    by_hash = rpc(url, "eth_getProof", chain.dev, [], block_hash)
    by_object = rpc(url, "eth_getProof", chain.dev, [], {"blockHash": block_hash})
    assert by_hash == by_object == dev


# ---------------------------------------------------------------------- (b) registry storage


def test_registry_storage_is_proven_at_a_block(chain: ProofChain) -> None:
    url, registry = chain.url, chain.registry
    keys = [hex(slot) for slot in range(SLOTS)]
    at_anchor = check_account(url, registry, hex(chain.anchor_block), keys)
    assert hexbytes(at_anchor["codeHash"]) != EMPTY_CODE_HASH
    assert hexbytes(at_anchor["storageHash"]) != EMPTY_TRIE_ROOT
    set_slots = [e for e in at_anchor["storageProof"] if e["value"] != "0x0"]
    assert set_slots, "the registry sets some of its first slots"
    # the same slots at the deploy block: the state as it was then, also proven
    at_deploy = check_account(url, registry, hex(chain.deploy_block), keys)
    assert at_deploy["storageHash"] != at_anchor["storageHash"]
    # a key of 32 bytes is echoed as given (lower case), a shorter one as a quantity
    full = "0x" + "00" * 31 + "0A"
    echoed = rpc(url, "eth_getProof", registry, [full, "0x000a", "0xa"], hex(chain.anchor_block))
    assert [e["key"] for e in echoed["storageProof"]] == [full.lower(), "0xa", "0xa"]
    assert len({json.dumps(e["proof"]) for e in echoed["storageProof"]}) == 1


# ---------------------------------------------------------------------- (c) exclusion


def test_absent_account_and_absent_slot_have_exclusion_proofs(chain: ProofChain) -> None:
    url, head = chain.url, hex(chain.anchor_block)
    nobody = Account.create().address
    proof = check_account(url, nobody, head, ["0x0", hex(ABSENT_SLOT)])
    root = state_root(url, head)
    assert verify_account_proof(root, hexbytes(nobody), nodes(proof["accountProof"])) is None
    assert proof["accountProof"]  # an exclusion proof, not nothing
    assert (proof["balance"], proof["nonce"]) == ("0x0", "0x0")
    assert hexbytes(proof["codeHash"]) == EMPTY_CODE_HASH  # anvil's and reth's answer
    assert hexbytes(proof["storageHash"]) == EMPTY_TRIE_ROOT
    for entry in proof["storageProof"]:
        assert entry == {"key": entry["key"], "value": "0x0", "proof": ["0x80"]}
    # before its deployment the registry is absent too
    before = check_account(url, chain.registry, hex(chain.deploy_block - 1), ["0x0"])
    assert before["codeHash"] == "0x" + EMPTY_CODE_HASH.hex()
    # an unset slot of the deployed registry: value 0, proven by a walk that ends early
    registry = rpc(url, "eth_getProof", chain.registry, [hex(ABSENT_SLOT)], head)
    (entry,) = registry["storageProof"]
    assert entry["value"] == "0x0" and entry["proof"]
    storage_root = hexbytes(registry["storageHash"])
    assert verify_storage_proof(storage_root, ABSENT_SLOT, nodes(entry["proof"])) == 0


# ---------------------------------------------------------------------- (d) anvil


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


@dataclass
class Anvil:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def anvil_with(tmp_path: Path) -> Iterator[Any]:
    started: list[Anvil] = []

    def start(*args: str) -> str:
        port = free_port()
        log_file = (tmp_path / f"anvil-{port}.log").open("wb")
        process = subprocess.Popen(
            [str(ANVIL_BINARY), "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        log_file.close()
        url = f"http://127.0.0.1:{port}"
        started.append(Anvil(url, process))
        wait_for_rpc(url, 20, process)
        return url

    yield start
    for anvil in started:
        anvil.process.terminate()
        anvil.process.wait(timeout=10)


def test_anvil_answers_the_same_shape(chain: ProofChain, anvil_with: Any) -> None:
    anvil = anvil_with("--hardfork", "london", "--chain-id", str(CHAIN_ID))
    funded = rpc(anvil, "eth_accounts")[0]
    keys = ["0x" + "00" * 32, "0x" + "00" * 31 + "01"]
    ours = {
        "funded": rpc(chain.url, "eth_getProof", chain.dev, keys, "latest"),
        "contract": rpc(chain.url, "eth_getProof", chain.registry, keys, "latest"),
        "absent": rpc(chain.url, "eth_getProof", "0x" + "ab" * 20, keys, "latest"),
    }
    theirs = {
        "funded": rpc(anvil, "eth_getProof", funded, keys, "latest"),
        "absent": rpc(anvil, "eth_getProof", "0x" + "ab" * 20, keys, "latest"),
    }
    for name, answer in theirs.items():
        assert shape(ours[name]) == shape(answer), name
        assert shape(ours["contract"]) == shape(answer)
    # the same fields for the same facts: an empty account, an empty storage trie
    for field in ("address", "balance", "nonce", "codeHash", "storageHash", "storageProof"):
        assert ours["absent"][field] == theirs["absent"][field], field
    assert ours["funded"]["storageProof"] == theirs["funded"]["storageProof"]


def test_anvil_proves_the_same_state_with_the_same_nodes(
    chain: ProofChain, anvil_with: Any, tmp_path: Path
) -> None:
    """anvil started from the devnet's genesis allocation holds the devnet's genesis state:
    every account's proof is the same, node for node."""
    genesis = Genesis.load(chain.layout.genesis_path)
    forks = (
        "homestead", "eip150", "eip155", "eip158", "byzantium", "constantinople", "petersburg",
        "istanbul", "berlin", "london",
    )  # fmt: skip
    geth_genesis = {
        "config": {"chainId": CHAIN_ID, **{f"{fork}Block": 0 for fork in forks}},
        "nonce": "0x0",
        "timestamp": "0x0",
        "extraData": "0x",
        "gasLimit": hex(genesis.gas_limit),
        "difficulty": "0x1",
        "alloc": {address: {"balance": hex(wei)} for address, wei in genesis.alloc.items()},
    }
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(geth_genesis))
    anvil = anvil_with(
        "--init", str(path), "--accounts", "0", "--disable-default-create2-deployer",
        "--hardfork", "london",
    )  # fmt: skip
    for address in [*genesis.alloc, "0x" + "cd" * 20]:
        ours = rpc(chain.url, "eth_getProof", address, ["0x" + "00" * 32], "0x0")
        theirs = rpc(anvil, "eth_getProof", address, ["0x" + "00" * 32], "latest")
        assert ours == theirs, address


# ---------------------------------------------------------------------- (e) parameters


@pytest.mark.parametrize(
    ("params", "named"),
    [
        (["0x12", []], "address"),
        (["0x" + "00" * 20], "expected 2 to 3 params (address, storageKeys, block)"),
        (["0x" + "00" * 20, "0x0"], "storageKeys"),
        (["0x" + "00" * 20, ["0x0", "zz"]], "storageKeys[1]"),
        (["0x" + "00" * 20, ["0x" + "11" * 33]], "storageKeys[0]"),
        (["0x" + "00" * 20, ["0x-1"]], "storageKeys[0]"),
        (["0x" + "00" * 20, [7]], "storageKeys[0]"),
        (["0x" + "00" * 20, ["0x0"] * (MAX_STORAGE_SLOTS + 1)], "storageKeys: too many"),
        (["0x" + "00" * 20, [], "0xzz"], "block"),
        (["0x" + "00" * 20, [], {"blockHash": "0x12"}], "blockHash"),
    ],
)
def test_invalid_params_are_refused_naming_the_parameter(
    chain: ProofChain, params: list[Any], named: str
) -> None:
    error = rpc_error(chain.url, "eth_getProof", *params)
    assert error["code"] == -32602 and named in error["message"], error


def test_limits_and_unknown_blocks(chain: ProofChain) -> None:
    url = chain.url
    assert "eth_getProof" in EXPENSIVE_METHODS  # capped per client like eth_call
    keys = [hex(slot) for slot in range(MAX_STORAGE_SLOTS)]
    proof = rpc(url, "eth_getProof", chain.registry, keys, "latest")
    assert len(proof["storageProof"]) == MAX_STORAGE_SLOTS
    # the same errors as the other state reads
    future = hex(chain.anchor_block + 10_000)
    expected = rpc_error(url, "eth_getBalance", chain.dev, future)
    assert rpc_error(url, "eth_getProof", chain.dev, [], future) == expected
    unknown = "0x" + "ab" * 32
    expected = rpc_error(url, "eth_getBalance", chain.dev, unknown)
    assert rpc_error(url, "eth_getProof", chain.dev, [], unknown) == expected


# ---------------------------------------------------------------------- (f) tampering


def test_tampered_devnet_proofs_are_rejected(chain: ProofChain) -> None:
    head = hex(chain.anchor_block)
    proof = rpc(chain.url, "eth_getProof", chain.registry, ["0x0"], head)
    root, address = state_root(chain.url, head), hexbytes(chain.registry)
    account_nodes = nodes(proof["accountProof"])
    account = verify_account_proof(root, address, account_nodes)
    assert isinstance(account, AccountState)
    assert len(account_nodes) >= 2
    last = account_nodes[-1]
    flipped = last[:-5] + bytes([last[-5] ^ 1]) + last[-4:]
    tampered = {
        "a flipped byte": [*account_nodes[:-1], flipped],
        "a node dropped": account_nodes[:-1],
        "a node added": [*account_nodes, account_nodes[-1]],
        "nodes reordered": account_nodes[::-1],
        "no nodes": [],
        "the root node only": account_nodes[:1],
        "not RLP": [b"\xff" * 40],
    }
    for what, bad in tampered.items():
        with pytest.raises(MptProofError):
            verify_account_proof(root, address, bad)
            pytest.fail(what)
    with pytest.raises(MptProofError, match="the root"):
        verify_account_proof(keccak(b"another root"), address, account_nodes)
    # a valid proof for another key does not prove this one
    (entry,) = proof["storageProof"]
    storage = nodes(entry["proof"])
    assert verify_storage_proof(account.storage_root, 0, storage) == int(entry["value"], 16)
    with pytest.raises(MptProofError):
        verify_storage_proof(account.storage_root, 0, [*storage, storage[0]])
    # a forged balance inside a re-encoded leaf changes its hash
    leaf = rlp.decode(last)
    fields = rlp.decode(leaf[1])
    fields[1] = (10**30).to_bytes(13, "big")
    forged = rlp.encode([leaf[0], rlp.encode(fields)])
    with pytest.raises(MptProofError, match="does not hash"):
        verify_account_proof(root, address, [*account_nodes[:-1], forged])


def proof_of(trie: HexaryTrie, key: bytes) -> list[bytes]:
    """A proof as geth lists it: the root and every node stored by hash."""
    encoded = [rlp.encode(node) for node in trie.get_proof(key)]
    return [e for i, e in enumerate(encoded) if i == 0 or len(e) >= 32]


def test_mpt_verifier_against_py_trie() -> None:
    """Inclusion and exclusion in tries of every size, with embedded nodes (short keys and
    values) too; every single-byte corruption of every node is refused or proves nothing
    different."""
    rng = random.Random(1186)
    for size in (0, 1, 2, 17, 300):
        trie = HexaryTrie({})
        stored: dict[bytes, bytes] = {}
        for i in range(size):
            key = keccak(i.to_bytes(32, "big"))
            stored[key] = rlp.encode(rng.randrange(1, 2**256))
            trie[key] = stored[key]
        for key, value in list(stored.items())[:40]:
            assert verify_proof(trie.root_hash, key, proof_of(trie, key)) == value
        for i in range(40):
            key = keccak(b"absent %d" % i)
            assert verify_proof(trie.root_hash, key, proof_of(trie, key)) is None
    small = HexaryTrie({})
    for i in range(200):
        small[bytes([i])] = b"v%d" % i
    for i in range(200):
        proof = proof_of(small, bytes([i]))
        assert verify_proof(small.root_hash, bytes([i]), proof) == b"v%d" % i
    # every byte of every node of a real path, corrupted
    key = next(iter(stored))
    proof = proof_of(trie, key)
    for n, node in enumerate(proof):
        for position in range(len(node)):
            bad = node[:position] + bytes([node[position] ^ 0x01]) + node[position + 1 :]
            with pytest.raises(MptProofError):
                verify_proof(trie.root_hash, key, [*proof[:n], bad, *proof[n + 1 :]])
    assert verify_proof(EMPTY_TRIE_ROOT, key, []) is None  # geth's empty-trie proof
    assert verify_proof(EMPTY_TRIE_ROOT, key, [b"\x80"]) is None  # anvil's and the devnet's
    with pytest.raises(MptProofError, match="after the end"):
        verify_proof(EMPTY_TRIE_ROOT, key, [b"\x80", b"\x80"])


# ---------------------------------------------------------------------- (g) cast


def test_cast_proof_reads_the_devnet(chain: ProofChain) -> None:
    done = subprocess.run(
        [
            str(CAST), "proof", chain.registry, "0", "1",
            "--block", str(chain.anchor_block), "--rpc-url", chain.url,
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    ours = rpc(
        chain.url, "eth_getProof", chain.registry,
        ["0x" + "00" * 32, "0x" + "00" * 31 + "01"], hex(chain.anchor_block),
    )  # fmt: skip
    assert shown["accountProof"] == ours["accountProof"]
    assert shown["storageHash"] == ours["storageHash"]
    assert [e["proof"] for e in shown["storageProof"]] == [e["proof"] for e in ours["storageProof"]]


def test_a_state_that_is_not_held_is_a_server_error_for_every_state_read() -> None:
    """Nodes never prune, but a damaged database must not answer -32603: every method that
    reads state answers as geth does for a pruned block (-32000, `missing trie node`)."""
    api = Api.__new__(Api)  # only the dispatcher: no chain behind it

    def read(params: Any) -> None:
        raise MissingTrieNode(Hash32(b"\x12" * 32), Hash32(b"\x34" * 32), b"\x56")

    api.methods = {"eth_getProof": read}
    with pytest.raises(RpcError) as raised:
        api.call("eth_getProof", [])
    assert raised.value.code == RpcError.SERVER
    assert raised.value.message.startswith("missing trie node 0x" + "12" * 32)
