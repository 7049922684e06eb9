"""The JSON-RPC methods a validator serves: the `eth_` subset web3.py and tools written
against geth or anvil use, `clique_` signer voting, and `devnet_` methods peers use to
gossip and sync. Errors use JSON-RPC codes; a revert is code 3 with its data, as in geth."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI, SignedTransactionAPI
from eth.constants import BLANK_ROOT_HASH
from eth.exceptions import Revert
from eth.rlp.accounts import Account
from eth.vm.spoof import SpoofTransaction
from eth_bloom.bloom import BloomFilter
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError
from eth_utils.hexadecimal import is_hex
from rlp.sedes import big_endian_int
from trie.exceptions import MissingTrieNode
from trie.hexary import HexaryTrie

from devnet import encoding as enc
from devnet.accesslist import create_access_list, recording_state
from devnet.chain import BlockRejectedError, CanonicalChange, ChainStore, UnknownParentError, Vote
from devnet.execution import CallTimeoutError, cap_gas, costless_state, estimate_gas, execute_call
from devnet.filters import (
    BLOCKS,
    LOGS,
    PENDING,
    BlockEvent,
    FilterNotFoundError,
    Filters,
    LogCriteria,
    TooManyFiltersError,
)
from devnet.txpool import TxPool, TxRejectedError

if TYPE_CHECKING:
    from devnet.peers import Peers
    from devnet.sealer import Sealer

log = logging.getLogger("devnet.rpc")

CLIENT_VERSION = "municipal-notary-devnet/0.1.0/py-evm-0.12.1b1/python3.11"
CALL_SECONDS = 1.0  # wall-clock limit of one eth_call / eth_estimateGas
MAX_LOG_BLOCK_RANGE = 10_000
MAX_LOGS = 10_000
MAX_SYNC_BLOCKS = 256
DEFAULT_PRIORITY_FEE = 1_000_000_000
MAX_FEE_HISTORY = 1024  # geth's maxHeaderHistory / maxBlockHistory default
MAX_REWARD_PERCENTILES = 100  # geth's maxQueryLimit
MAX_STORAGE_SLOTS = 1024  # eth_getStorageValues, geth's maxGetStorageSlots
MAX_BLOCK_NUMBER = 2**63 - 1  # geth: "block number larger than int64"
TX_GAS = 21_000


class RpcError(Exception):
    PARSE = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL = -32603
    SERVER = -32000
    TIMEOUT = -32002  # geth's errcodeTimeout: a batch ran out of time before this request
    LIMIT = -32005
    EXECUTION_REVERTED = 3

    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def as_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid(message: str) -> RpcError:
    return RpcError(RpcError.INVALID_PARAMS, message)


@contextlib.contextmanager
def _call_deadline() -> Iterator[None]:
    try:
        yield
    except CallTimeoutError:
        raise RpcError(
            RpcError.SERVER, f"execution aborted (timeout = {CALL_SECONDS:g}s)"
        ) from None
    except ValidationError as error:  # py-evm refused the call before running it
        raise RpcError(RpcError.SERVER, f"err: {error}") from None


# ---------------------------------------------------------------------- parameter parsing


_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


def parse_quantity(value: Any, name: str) -> int:
    if (
        not isinstance(value, str)
        or not value.startswith("0x")
        or not is_hex(value)
        or value == "0x"
    ):
        raise invalid(f"{name}: expected a hex quantity like 0x1a, got {value!r}")
    return int(value, 16)


def parse_data(value: Any, name: str, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise invalid(f"{name}: expected 0x-prefixed hex data, got {value!r}")
    # Digits only: bytes.fromhex alone would also take "0x00 01" (it skips whitespace).
    if _HEX_DIGITS.fullmatch(value, 2) is None:
        raise invalid(f"{name}: not valid hex")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise invalid(f"{name}: not valid hex") from None
    if length is not None and len(raw) != length:
        raise invalid(f"{name}: expected {length} bytes, got {len(raw)}")
    return raw


def parse_address(value: Any, name: str) -> Address:
    return Address(parse_data(value, name, 20))


def parse_block_number(value: Any, name: str) -> int:
    number = parse_quantity(value, name)
    if number > MAX_BLOCK_NUMBER:
        raise invalid(f"{name}: block number larger than int64")
    return number


def parse_index(value: Any, name: str) -> int:
    """geth's hexutil.Uint: a hex quantity (a JSON number is accepted too)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return parse_quantity(value, name)


def parse_hash(value: Any, name: str) -> Hash32:
    return Hash32(parse_data(value, name, 32))


def _peer_url(url: Any) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise invalid("url: expected an http:// or https:// peer-plane URL")
    return url


def params_of(params: Any, names: list[str], required: int) -> list[Any]:
    if params is None:
        params = []
    if not isinstance(params, list):
        raise invalid("params must be an array")
    if not required <= len(params) <= len(names):
        raise invalid(
            f"expected {required} to {len(names)} params ({', '.join(names)}), got {len(params)}"
        )
    return params + [None] * (len(names) - len(params))


def _filter_id(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise invalid(f"filter id: expected a 0x-prefixed id, got {value!r}")
    return value


def _check_percentiles(percentiles: Any) -> None:
    """geth's checks and texts (error -32000): at most 100, each 0-100, increasing."""
    if percentiles is None:
        return
    if not isinstance(percentiles, list) or not all(
        isinstance(p, int | float) and not isinstance(p, bool) and _is_float64(p)
        for p in percentiles
    ):
        raise invalid("rewardPercentiles: a list of numbers")
    if len(percentiles) > MAX_REWARD_PERCENTILES:
        raise RpcError(
            RpcError.SERVER,
            f"invalid reward percentile: over the query limit {MAX_REWARD_PERCENTILES}",
        )
    for i, p in enumerate(percentiles):
        if not 0 <= p <= 100:
            raise RpcError(RpcError.SERVER, f"invalid reward percentile: {p:f}")
        if i > 0 and p <= percentiles[i - 1]:
            raise RpcError(
                RpcError.SERVER,
                f"invalid reward percentile: #{i - 1}:{percentiles[i - 1]:f} >= #{i}:{p:f}",
            )


def _is_float64(number: float) -> bool:
    """Whether a JSON number fits a float64, as geth's decoder requires (and `:f` needs)."""
    try:
        float(number)
    except OverflowError:
        return False
    return True


def _proof_storage_key(value: Any, position: int) -> int:
    """A key of eth_getProof's storageKeys: an error names its position."""
    try:
        return parse_storage_key(value)
    except RpcError as error:
        raise invalid(
            f"storageKeys[{position}]: {error.message.removeprefix('storage key: ')}"
        ) from None


def parse_storage_key(value: Any) -> int:
    """A storage slot as geth's decodeStorageKey takes it: hex, at most 32 bytes."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise invalid(f"storage key: expected 0x-prefixed hex, got {value!r}")
    digits = value[2:]
    if len(digits) > 64:
        raise invalid(f"hex string too long, want at most 32 bytes: {value!r}")
    # Digits only: int() would also take "-1", "+1", "1_0" and surrounding whitespace.
    if _HEX_DIGITS.fullmatch(digits) is None:
        raise invalid(f"storage key: not valid hex: {value!r}")
    return int(digits or "0", 16)


def _proof_key(value: str) -> str:
    """geth echoes a key of 32 bytes (odd digits padded) as given, any other as a quantity."""
    digits = value[2:]
    if (len(digits) + 1) // 2 == 32:
        return "0x" + digits.lower().rjust(64, "0")
    return hex(int(digits or "0", 16))


def _trie_proof(trie: HexaryTrie, key: bytes) -> list[str]:
    """RLP of the trie nodes on `key`'s path that are stored by hash (the root and every
    node of 32 bytes or more); smaller nodes are inside their parent, as in geth's proofs.
    An empty trie's proof is its root node (0x80), as anvil gives it: it hashes to the
    empty root, so it proves that `key` is absent."""
    if trie.root_hash == BLANK_ROOT_HASH:
        return [enc.data(rlp.encode(b""))]
    # trie 4.0 leaves HexaryTrie.get_proof unannotated
    nodes = trie.get_proof(key)  # type: ignore[no-untyped-call]
    encoded = [rlp.encode(node) for node in nodes]
    return [enc.data(e) for i, e in enumerate(encoded) if i == 0 or len(e) >= 32]


def raw_transaction(tx: SignedTransactionAPI) -> bytes:
    """The bytes eth_sendRawTransaction takes: typed envelope, or RLP for legacy."""
    encode = getattr(tx, "encode", None)
    return bytes(encode()) if callable(encode) else rlp.encode(tx)


def raw_receipt(receipt: Any) -> bytes:
    """A receipt as it is hashed into the receipts root: typed envelope, or RLP."""
    encode = getattr(receipt, "encode", None)
    return bytes(encode()) if callable(encode) else rlp.encode(receipt)


WITHOUT_PARAMS = {
    "web3_clientVersion", "net_version", "net_listening", "net_peerCount", "eth_chainId",
    "eth_blockNumber", "eth_syncing", "eth_gasPrice", "eth_maxPriorityFeePerGas",
    "eth_accounts", "eth_baseFee", "eth_capabilities", "eth_newBlockFilter",
    "clique_proposals", "clique_status", "devnet_head", "devnet_status", "admin_peers",
    "admin_nodeInfo",
}  # fmt: skip
# Gossip and sync: served only on the authenticated peer plane.
PEER_METHODS = frozenset({
    "devnet_head", "devnet_canonicalHashes", "devnet_getBlocks", "devnet_newBlock",
    "devnet_newTransactions",
})  # fmt: skip
# Votes, peers and the node's own status: served only on the admin plane (unix socket).
ADMIN_METHODS = frozenset({
    "clique_propose", "clique_discard", "clique_proposals", "devnet_status", "admin_peers",
    "admin_nodeInfo", "admin_addPeer", "admin_removePeer", "admin_allowPeer",
    "admin_disallowPeer",
})  # fmt: skip


@dataclass(frozen=True)
class CallPlan:
    """An eth_call-style call: the spoofed transaction py-evm runs (for free), and what
    geth's balance check (`buyGas`) needs: gas × max fee + value."""

    tx: SignedTransactionAPI
    sender: Address
    nonce: int
    gas: int
    value: int
    fee_cap: int  # maxFeePerGas, or gasPrice, or 0
    balance: int

    def shortfall(self) -> str | None:
        """geth's ErrInsufficientFunds text, or None when the sender can pay."""
        want = self.gas * self.fee_cap + self.value
        if self.balance >= want:
            return None
        return (
            "insufficient funds for gas * price + value: "
            f"address {enc.address(self.sender)} have {self.balance} want {want}"
        )


def _parse_access_list(value: Any) -> dict[Address, set[int]]:
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise invalid("accessList: a list of {address, storageKeys}")
    access: dict[Address, set[int]] = {}
    for entry in value:
        keys = entry.get("storageKeys") or []
        if not isinstance(keys, list):
            raise invalid("accessList: storageKeys must be a list")
        address = parse_address(entry.get("address"), "accessList.address")
        access.setdefault(address, set()).update(
            int.from_bytes(parse_data(k, "accessList.storageKeys", 32), "big") for k in keys
        )
    return access


@dataclass
class SyncStatus:
    starting: int = 0
    highest: int = 0
    syncing: bool = False


class Api:
    def __init__(
        self, store: ChainStore, pool: TxPool, sealer: Sealer | None, peers: Peers | None
    ) -> None:
        self.store = store
        self.pool = pool
        self.sealer = sealer
        self.peers = peers
        self.sync = SyncStatus()
        self.filters = Filters()
        store.listeners.append(self.filters.on_canonical_change)
        self.methods: dict[str, Callable[..., Any]] = {
            name.replace("_rpc_", "", 1).replace("__", "_"): getattr(self, name)
            for name in dir(self)
            if name.startswith("_rpc_")
        }

    def public_methods(self) -> frozenset[str]:
        return frozenset(self.methods) - PEER_METHODS - ADMIN_METHODS

    def admin_methods(self) -> frozenset[str]:
        """The admin plane serves every read as well, for the operator's tools."""
        return frozenset(self.methods) - PEER_METHODS

    def call(self, method: Any, params: Any) -> Any:
        if not isinstance(method, str) or method not in self.methods:
            raise RpcError(
                RpcError.METHOD_NOT_FOUND, f"the method {method} does not exist/is not available"
            )
        if method in WITHOUT_PARAMS:
            params_of(params, [], 0)
        try:
            return self.methods[method](params)
        except MissingTrieNode as error:  # every state read: a block whose state is gone
            raise RpcError(
                RpcError.SERVER,
                f"missing trie node 0x{error.missing_node_hash.hex()}: "
                "the state at this block is not available",
            ) from None

    # ------------------------------------------------------------------ block tags

    def finality_depth(self, head: BlockHeaderAPI) -> int:
        return len(self.store.signers(head)) // 2 + 1

    def resolve_block(
        self, tag: Any, name: str = "block", allow_hash: bool = False
    ) -> BlockHeaderAPI:
        """The header a block parameter names; -32000 `header not found` past the head.
        `allow_hash`: the parameter is geth's BlockNumberOrHash (the spec's
        BlockNumberOrTagOrHash), where a plain 32-byte block hash names a block too."""
        head = self.store.head()
        if tag is None or tag in ("latest", "pending"):
            return head
        if tag == "earliest":
            number = 0
        elif tag in ("safe", "finalized"):
            number = max(0, head.block_number - self.finality_depth(head))
        elif isinstance(tag, dict):  # EIP-1898
            return self._resolve_block_object(tag, name)
        elif allow_hash and isinstance(tag, str) and len(tag) == 66:
            return self._header_for_hash(parse_hash(tag, name), require_canonical=False)
        else:
            number = parse_block_number(tag, name)
        header = self.store.header_by_number(number)
        if header is None:
            raise RpcError(RpcError.SERVER, "header not found")
        return header

    def _resolve_block_object(self, tag: dict[str, Any], name: str) -> BlockHeaderAPI:
        has_hash, has_number = tag.get("blockHash") is not None, tag.get("blockNumber") is not None
        if has_hash and has_number:
            raise invalid("cannot specify both BlockHash and BlockNumber, choose one or the other")
        if has_hash:
            return self._header_for_hash(
                parse_hash(tag["blockHash"], "blockHash"), bool(tag.get("requireCanonical"))
            )
        if not has_number:
            raise invalid("must specify either BlockHash or BlockNumber")
        if not isinstance(tag["blockNumber"], str):  # not another object: no recursion
            raise invalid(
                f"blockNumber: expected a hex quantity or a tag, got {tag['blockNumber']!r}"
            )
        return self.resolve_block(tag["blockNumber"], name)

    def _header_for_hash(self, block_hash: Hash32, require_canonical: bool) -> BlockHeaderAPI:
        header = self.store.header_by_hash(block_hash)
        if header is None:
            raise RpcError(RpcError.SERVER, "header for hash not found")
        if require_canonical:
            canonical = self.store.header_by_number(header.block_number)
            if canonical is None or canonical.hash != header.hash:
                raise RpcError(RpcError.SERVER, "hash is not currently canonical")
        return header

    def state_at(self, tag: Any) -> Any:
        header = self.resolve_block(tag, allow_hash=True)
        with self.store.locked() as chain:
            return chain.get_vm(header).state

    # ------------------------------------------------------------------ web3 / net

    def _rpc_web3__clientVersion(self, params: Any) -> str:
        return CLIENT_VERSION

    def _rpc_net__version(self, params: Any) -> str:
        return str(self.store.genesis.chain_id)

    def _rpc_net__listening(self, params: Any) -> bool:
        return True

    def _rpc_net__peerCount(self, params: Any) -> str:
        return enc.quantity(len(self.peers.reachable()) if self.peers else 0)

    # ------------------------------------------------------------------ eth: chain

    def _rpc_eth__chainId(self, params: Any) -> str:
        return enc.quantity(self.store.genesis.chain_id)

    def _rpc_eth__blockNumber(self, params: Any) -> str:
        return enc.quantity(self.store.head().block_number)

    def _rpc_eth__syncing(self, params: Any) -> Any:
        if not self.sync.syncing:
            return False
        return {
            "startingBlock": enc.quantity(self.sync.starting),
            "currentBlock": enc.quantity(self.store.head().block_number),
            "highestBlock": enc.quantity(self.sync.highest),
        }

    def _rpc_eth__getBlockByNumber(self, params: Any) -> Any:
        tag, full = params_of(params, ["block", "fullTransactions"], 1)
        try:
            header = self.resolve_block(tag)
        except RpcError as error:
            if error.code == RpcError.SERVER:
                return None
            raise
        return self._block(header, bool(full))

    def _rpc_eth__getBlockByHash(self, params: Any) -> Any:
        block_hash, full = params_of(params, ["blockHash", "fullTransactions"], 1)
        header = self.store.header_by_hash(parse_hash(block_hash, "blockHash"))
        return None if header is None else self._block(header, bool(full))

    def _block(self, header: BlockHeaderAPI, full: bool) -> dict[str, Any]:
        block = self.store.block_by_header(header)
        return enc.block_json(block, self.store.total_difficulty(header.hash), full)

    def _mined_transaction(
        self, tx_hash: Hash32
    ) -> tuple[SignedTransactionAPI, BlockHeaderAPI, int] | None:
        """A canonical transaction with its block header and index, or None."""
        located = self.store.transaction_location(tx_hash)
        if located is None:
            return None
        header, index = located
        return self.store.block_by_header(header).transactions[index], header, index

    def _rpc_eth__getTransactionByHash(self, params: Any) -> Any:
        (tx_hash,) = params_of(params, ["transactionHash"], 1)
        wanted = parse_hash(tx_hash, "transactionHash")
        mined = self._mined_transaction(wanted)
        if mined is not None:
            return enc.transaction_json(*mined)
        pooled = self.pool.get(wanted)
        return None if pooled is None else enc.transaction_json(pooled.tx, None, None)

    def _rpc_eth__getTransactionReceipt(self, params: Any) -> Any:
        (tx_hash,) = params_of(params, ["transactionHash"], 1)
        located = self.store.transaction_location(parse_hash(tx_hash, "transactionHash"))
        if located is None:
            return None
        header, index = located
        block = self.store.block_by_header(header)
        receipts = self.store.receipts(header)
        previous = receipts[index - 1].gas_used if index else 0
        first_log = sum(len(r.logs) for r in receipts[:index])
        return enc.receipt_json(
            block.transactions[index], receipts[index], header, index, previous, first_log
        )

    # Block lookups that find nothing answer null, as in geth: an unknown hash, or a number
    # past the head.

    def _header_or_none(self, tag: Any, allow_hash: bool = False) -> BlockHeaderAPI | None:
        try:
            return self.resolve_block(tag, allow_hash=allow_hash)
        except RpcError as error:
            if error.code == RpcError.SERVER:
                return None
            raise

    def _header_by_hash_param(self, value: Any) -> BlockHeaderAPI | None:
        return self.store.header_by_hash(parse_hash(value, "blockHash"))

    def _transaction_count(self, header: BlockHeaderAPI | None) -> str | None:
        if header is None:
            return None
        return enc.quantity(len(self.store.block_by_header(header).transactions))

    def _rpc_eth__getBlockTransactionCountByHash(self, params: Any) -> str | None:
        (block_hash,) = params_of(params, ["blockHash"], 1)
        return self._transaction_count(self._header_by_hash_param(block_hash))

    def _rpc_eth__getBlockTransactionCountByNumber(self, params: Any) -> str | None:
        (tag,) = params_of(params, ["block"], 1)
        return self._transaction_count(self._header_or_none(tag))

    def _transaction_at(self, header: BlockHeaderAPI | None, index: Any) -> Any:
        position = parse_index(index, "index")
        if header is None:
            return None
        transactions = self.store.block_by_header(header).transactions
        if position >= len(transactions):
            return None
        return enc.transaction_json(transactions[position], header, position)

    def _rpc_eth__getTransactionByBlockHashAndIndex(self, params: Any) -> Any:
        block_hash, index = params_of(params, ["blockHash", "index"], 2)
        return self._transaction_at(self._header_by_hash_param(block_hash), index)

    def _rpc_eth__getTransactionByBlockNumberAndIndex(self, params: Any) -> Any:
        tag, index = params_of(params, ["block", "index"], 2)
        return self._transaction_at(self._header_or_none(tag), index)

    # Clique blocks have no uncles: a known block has 0, and none at any index.

    def _rpc_eth__getUncleCountByBlockHash(self, params: Any) -> str | None:
        (block_hash,) = params_of(params, ["blockHash"], 1)
        return None if self._header_by_hash_param(block_hash) is None else enc.quantity(0)

    def _rpc_eth__getUncleCountByBlockNumber(self, params: Any) -> str | None:
        (tag,) = params_of(params, ["block"], 1)
        return None if self._header_or_none(tag) is None else enc.quantity(0)

    def _rpc_eth__getUncleByBlockHashAndIndex(self, params: Any) -> None:
        block_hash, index = params_of(params, ["blockHash", "index"], 2)
        parse_hash(block_hash, "blockHash")
        parse_index(index, "index")

    def _rpc_eth__getUncleByBlockNumberAndIndex(self, params: Any) -> None:
        tag, index = params_of(params, ["block", "index"], 2)
        self._header_or_none(tag)
        parse_index(index, "index")

    def _rpc_eth__getBlockReceipts(self, params: Any) -> list[dict[str, Any]] | None:
        (tag,) = params_of(params, ["block"], 1)
        header = self._header_or_none(tag, allow_hash=True)
        if header is None:
            return None
        return enc.block_receipts_json(
            self.store.block_by_header(header), self.store.receipts(header)
        )

    def _rpc_eth__accounts(self, params: Any) -> list[str]:
        return []  # nodes hold no user keys

    def _rpc_eth__sign(self, params: Any) -> None:
        who, message = params_of(params, ["address", "data"], 2)
        parse_address(who, "address")
        parse_data(message, "data")
        raise RpcError(RpcError.SERVER, "unknown account")  # geth, for a key it does not hold

    def _rpc_eth__signTransaction(self, params: Any) -> None:
        (call,) = params_of(params, ["transaction"], 1)
        if not isinstance(call, dict):
            raise invalid("transaction object expected")
        if call.get("gas") is None:
            raise RpcError(RpcError.SERVER, "gas not specified")
        if call.get("gasPrice") is None and (
            call.get("maxPriorityFeePerGas") is None or call.get("maxFeePerGas") is None
        ):
            raise RpcError(RpcError.SERVER, "missing gasPrice or maxFeePerGas/maxPriorityFeePerGas")
        if call.get("nonce") is None:
            raise RpcError(RpcError.SERVER, "nonce not specified")
        raise RpcError(RpcError.SERVER, "unknown account")

    def _rpc_eth__sendTransaction(self, params: Any) -> None:
        (call,) = params_of(params, ["transaction"], 1)
        if not isinstance(call, dict):
            raise invalid("transaction object expected")
        raise RpcError(RpcError.SERVER, "unknown account")

    # debug_getRaw*: consensus encodings, as geth's debug namespace serves them. A number
    # past the head gives empty data (null for receipts), an unknown hash an error.

    def _raw_block_header(self, tag: Any) -> BlockHeaderAPI | None:
        if isinstance(tag, str) and len(tag) == 66:
            header = self.store.header_by_hash(parse_hash(tag, "block"))
            if header is None:
                raise RpcError(RpcError.SERVER, f"header {tag} not found")
            return header
        return self._header_or_none(tag, allow_hash=True)

    def _rpc_debug__getRawHeader(self, params: Any) -> str:
        (tag,) = params_of(params, ["block"], 1)
        header = self._raw_block_header(tag)
        return enc.data(rlp.encode(header) if header is not None else b"")

    def _rpc_debug__getRawBlock(self, params: Any) -> str:
        (tag,) = params_of(params, ["block"], 1)
        header = self._raw_block_header(tag)
        return enc.data(rlp.encode(self.store.block_by_header(header)) if header else b"")

    def _rpc_debug__getRawReceipts(self, params: Any) -> list[str] | None:
        (tag,) = params_of(params, ["block"], 1)
        header = self._raw_block_header(tag)
        if header is None:
            return None
        return [enc.data(raw_receipt(r)) for r in self.store.receipts(header)]

    def _rpc_debug__getRawTransaction(self, params: Any) -> str:
        (tx_hash,) = params_of(params, ["transactionHash"], 1)
        wanted = parse_hash(tx_hash, "transactionHash")
        mined = self._mined_transaction(wanted)
        if mined is not None:
            return enc.data(raw_transaction(mined[0]))
        pooled = self.pool.get(wanted)
        return enc.data(pooled.raw if pooled is not None else b"")

    def _rpc_eth__capabilities(self, params: Any) -> dict[str, Any]:
        """Everything from genesis on: the node never prunes (an archive)."""
        head = self.store.head()
        kept = {"disabled": False, "oldestBlock": enc.quantity(0)}
        return {
            "head": {"number": enc.quantity(head.block_number), "hash": enc.data(head.hash)},
            **{
                resource: dict(kept)
                for resource in ("state", "tx", "logs", "receipts", "blocks", "stateproofs")
            },
        }

    # ------------------------------------------------------------------ eth: state

    def _rpc_eth__getBalance(self, params: Any) -> str:
        who, tag = params_of(params, ["address", "block"], 1)
        return enc.quantity(self.state_at(tag).get_balance(parse_address(who, "address")))

    def _rpc_eth__getCode(self, params: Any) -> str:
        who, tag = params_of(params, ["address", "block"], 1)
        return enc.data(self.state_at(tag).get_code(parse_address(who, "address")))

    def _rpc_eth__getStorageAt(self, params: Any) -> str:
        who, slot, tag = params_of(params, ["address", "position", "block"], 2)
        # geth's decodeHash: at most 32 bytes (a larger quantity is no storage slot)
        value = self.state_at(tag).get_storage(
            parse_address(who, "address"), parse_storage_key(slot)
        )
        return enc.data(value.to_bytes(32, "big"))

    def _rpc_eth__getTransactionCount(self, params: Any) -> str:
        who, tag = params_of(params, ["address", "block"], 1)
        sender = parse_address(who, "address")
        nonce = self.state_at(tag).get_nonce(sender)
        if tag == "pending":
            nonce = self.pool.pending_nonce(sender, nonce)
        return enc.quantity(nonce)

    def _rpc_eth__getStorageValues(self, params: Any) -> dict[str, list[str]]:
        requests, tag = params_of(params, ["requests", "block"], 1)
        if not isinstance(requests, dict) or not all(
            isinstance(keys, list) for keys in requests.values()
        ):
            raise invalid("requests: an object of address -> list of storage keys")
        slots = sum(len(keys) for keys in requests.values())
        if slots > MAX_STORAGE_SLOTS:
            raise RpcError(RpcError.LIMIT, f"too many slots (max {MAX_STORAGE_SLOTS})")
        if slots == 0:
            raise invalid("empty request")
        parsed = {
            who: (parse_address(who, "address"), [parse_storage_key(k) for k in keys])
            for who, keys in requests.items()
        }
        state = self.state_at(tag)
        return {
            who: [enc.data(state.get_storage(address, key).to_bytes(32, "big")) for key in keys]
            for who, (address, keys) in parsed.items()
        }

    def _rpc_eth__getProof(self, params: Any) -> dict[str, Any]:
        """EIP-1186 proofs from the state trie at any block (nodes keep every state). An
        absent account reads as an empty one (keccak("") code, the empty storage root), as
        anvil and reth answer (geth answers zero hashes), with an exclusion proof."""
        who, keys, tag = params_of(params, ["address", "storageKeys", "block"], 2)
        address = parse_address(who, "address")
        if not isinstance(keys, list):
            raise invalid(f"storageKeys: expected an array of storage keys, got {keys!r:.80}")
        if len(keys) > MAX_STORAGE_SLOTS:
            raise invalid(
                f"storageKeys: too many storage keys requested "
                f"(max {MAX_STORAGE_SLOTS}, got {len(keys)})"
            )
        slots = [(_proof_storage_key(key, i), _proof_key(key)) for i, key in enumerate(keys)]
        header = self.resolve_block(tag, allow_hash=True)
        with self.store.locked() as chain:
            db = chain.chaindb.db
        # Trie nodes are content-addressed and never deleted: a fixed root reads the same
        # outside the chain lock (see devnet/execution.py), as eth_call's state does.
        accounts = HexaryTrie(db, header.state_root)
        account_key = keccak(address)
        raw_account = accounts.get(account_key)
        account = rlp.decode(raw_account, sedes=Account) if raw_account else Account()
        storage = HexaryTrie(db, account.storage_root)
        storage_proof = []
        for slot, shown in slots:
            slot_key = keccak(slot.to_bytes(32, "big"))
            raw_value = storage.get(slot_key)
            value = rlp.decode(raw_value, sedes=big_endian_int) if raw_value else 0
            storage_proof.append(
                {
                    "key": shown,
                    "value": enc.quantity(value),
                    "proof": _trie_proof(storage, slot_key),
                }
            )
        return {
            "address": enc.data(address),  # lower case, as geth and anvil write it
            "accountProof": _trie_proof(accounts, account_key),
            "balance": enc.quantity(account.balance),
            "codeHash": enc.data(account.code_hash),
            "nonce": enc.quantity(account.nonce),
            "storageHash": enc.data(account.storage_root),
            "storageProof": storage_proof,
        }

    # ------------------------------------------------------------------ eth: fees

    def next_base_fee(self) -> int:
        return self.store.head_view().next_base_fee

    def _rpc_eth__gasPrice(self, params: Any) -> str:
        return enc.quantity(self.next_base_fee() + DEFAULT_PRIORITY_FEE)

    def _rpc_eth__maxPriorityFeePerGas(self, params: Any) -> str:
        return enc.quantity(DEFAULT_PRIORITY_FEE)

    def _rpc_eth__baseFee(self, params: Any) -> str:
        return enc.quantity(self.next_base_fee())

    def _rpc_eth__feeHistory(self, params: Any) -> Any:
        """geth's fee history: up to 1,024 blocks ending at `newestBlock`, the base fees
        (with the next block's), gas used ratios, and per block the effective tips at the
        requested percentiles of its gas used. London has no blobs: their fields are zeros."""
        count_param, newest, percentiles = params_of(
            params, ["blockCount", "newestBlock", "rewardPercentiles"], 2
        )
        count = (
            count_param
            if isinstance(count_param, int) and not isinstance(count_param, bool)
            else parse_quantity(count_param, "blockCount")
        )
        empty = {"oldestBlock": enc.quantity(0), "baseFeePerGas": [], "gasUsedRatio": []}
        if count < 1:
            return empty  # geth: no blocks asked, none returned
        count = min(count, MAX_FEE_HISTORY)
        _check_percentiles(percentiles)
        head = self.store.head().block_number
        if newest == "pending":  # no pending block here: geth then stops at the head
            count -= 1
            if count == 0:
                return empty
        if isinstance(newest, str) and newest.startswith("0x"):
            requested = parse_block_number(newest, "newestBlock")
            if requested > head:
                raise RpcError(
                    RpcError.SERVER,
                    f"request beyond head block: requested {requested}, head {head}",
                )
        last = self.resolve_block(newest, "newestBlock").block_number
        oldest = max(0, last - count + 1)
        base_fees, ratios, rewards = [], [], []
        for number in range(oldest, last + 1):
            header = self.store.header_by_number(number)
            assert header is not None
            base_fees.append(enc.quantity(enc.base_fee(header)))
            ratios.append(header.gas_used / header.gas_limit)
            if percentiles:
                rewards.append(self._rewards(header, percentiles))
        if last == self.store.head().block_number:
            base_fees.append(enc.quantity(self.next_base_fee()))
        else:
            following = self.store.header_by_number(last + 1)
            assert following is not None
            base_fees.append(enc.quantity(enc.base_fee(following)))
        result: dict[str, Any] = {
            "oldestBlock": enc.quantity(oldest),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
            "baseFeePerBlobGas": [enc.quantity(0)] * len(base_fees),
            "blobGasUsedRatio": [0.0] * len(ratios),
        }
        if percentiles:
            result["reward"] = rewards
        return result

    def _rewards(self, header: BlockHeaderAPI, percentiles: list[float]) -> list[str]:
        """geth's rule: sort the block's transactions by effective tip; the reward at
        percentile p is the tip of the transaction at which the gas used, summed in that
        order, reaches p % of the block's gas used."""
        txs = self.store.block_by_header(header).transactions
        if not txs:
            return [enc.quantity(0) for _ in percentiles]
        receipts = self.store.receipts(header)
        base_fee = enc.base_fee(header)
        used, previous = [], 0
        for receipt in receipts:
            used.append(receipt.gas_used - previous)
            previous = receipt.gas_used
        tips = [enc.effective_gas_price(tx, base_fee) - base_fee for tx in txs]
        # sorted() is stable, as geth's SortStableFunc
        ranked = sorted(zip(tips, used, strict=True), key=lambda pair: pair[0])
        rewards, index, total = [], 0, ranked[0][1]
        for p in percentiles:
            threshold = int(header.gas_used * p / 100)
            while total < threshold and index < len(ranked) - 1:
                index += 1
                total += ranked[index][1]
            rewards.append(enc.quantity(ranked[index][0]))
        return rewards

    # ------------------------------------------------------------------ eth: execution

    def _call_transaction(self, call: Any, header: BlockHeaderAPI, estimate: bool) -> CallPlan:
        if not isinstance(call, dict):
            raise invalid("transaction call object expected")
        sender = parse_address(call["from"], "from") if call.get("from") else Address(b"\0" * 20)
        to = parse_address(call["to"], "to") if call.get("to") else Address(b"")
        if (
            call.get("input") is not None
            and call.get("data") is not None
            and parse_data(call["input"], "input") != parse_data(call["data"], "data")
        ):
            raise RpcError(
                RpcError.SERVER,
                'both "data" and "input" are set and not equal. '
                'Please use "input" to pass transaction call data',
            )
        payload = call.get("input", call.get("data")) or "0x"
        requested_gas = parse_quantity(call["gas"], "gas") if call.get("gas") else None
        if estimate and requested_gas is not None and requested_gas < TX_GAS:
            requested_gas = None  # geth's estimator searches up to the block gas limit then
        if call.get("gasPrice") is not None and (
            call.get("maxFeePerGas") is not None or call.get("maxPriorityFeePerGas") is not None
        ):
            raise RpcError(
                RpcError.SERVER,
                "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified",
            )
        fee_cap = next(
            (parse_quantity(call[k], k) for k in ("maxFeePerGas", "gasPrice") if call.get(k)), 0
        )
        value = parse_quantity(call["value"], "value") if call.get("value") else 0
        gas = cap_gas(requested_gas, header.gas_limit)
        with self.store.locked() as chain:
            vm = chain.get_vm(header)
            nonce = vm.state.get_nonce(sender)
            balance = vm.state.get_balance(sender)
            unsigned = vm.create_unsigned_transaction(
                nonce=nonce, gas_price=0, gas=gas, to=to, value=value,
                data=parse_data(payload, "input"),
            )  # fmt: skip
        spoofed: SignedTransactionAPI = SpoofTransaction(unsigned, from_=sender)  # type: ignore[assignment]
        return CallPlan(spoofed, sender, nonce, gas, value, fee_cap, balance)

    def _prepare_call(
        self, params: Any, estimate: bool = False, build: Callable[[Any], Any] = costless_state
    ) -> tuple[Any, CallPlan]:
        """A private state at the requested block, built under the chain lock; the EVM then
        runs on it outside the lock, so a slow call never stalls sealing or imports."""
        call, tag = params_of(params, ["transaction", "block"], 1)
        header = self.resolve_block(tag, allow_hash=True)
        plan = self._call_transaction(call, header, estimate)
        with self.store.locked() as chain:
            return build(chain.get_vm(header)), plan

    def _rpc_eth__call(self, params: Any) -> str:
        state, plan = self._prepare_call(params)
        if plan.shortfall():  # geth: ApplyMessage's error, wrapped by eth_call
            raise RpcError(RpcError.SERVER, f"err: {plan.shortfall()} (supplied gas {plan.gas})")
        intrinsic = plan.tx.intrinsic_gas
        if plan.gas < intrinsic:
            raise RpcError(
                RpcError.SERVER,
                f"err: intrinsic gas too low: have {plan.gas}, want {intrinsic} "
                f"(supplied gas {plan.gas})",
            )
        with _call_deadline():
            computation = execute_call(state, plan.tx, CALL_SECONDS)
        return enc.data(self._output_or_raise(computation))

    @staticmethod
    def _output_or_raise(computation: Any) -> bytes:
        if computation.is_error:
            if isinstance(computation.error, Revert):
                output = bytes(computation.output)
                raise RpcError(RpcError.EXECUTION_REVERTED, "execution reverted", enc.data(output))
            raise RpcError(RpcError.SERVER, f"execution failed: {type(computation.error).__name__}")
        return bytes(computation.output)

    def _rpc_eth__estimateGas(self, params: Any) -> str:
        state, plan = self._prepare_call(params, estimate=True)
        tx = plan.tx
        if plan.fee_cap and plan.value >= plan.balance:
            raise RpcError(RpcError.SERVER, "insufficient funds for transfer")
        if not plan.fee_cap and plan.shortfall():
            raise RpcError(RpcError.SERVER, f"failed with {plan.gas} gas: {plan.shortfall()}")
        deadline = time.monotonic() + CALL_SECONDS
        with _call_deadline():
            self._output_or_raise(execute_call(state, tx, CALL_SECONDS))
            try:
                return enc.quantity(estimate_gas(state, tx, deadline - time.monotonic()))
            except CallTimeoutError:
                raise
            except Exception as error:
                raise RpcError(
                    RpcError.SERVER, f"gas required exceeds allowance: {error}"
                ) from None

    def _rpc_eth__createAccessList(self, params: Any) -> dict[str, Any]:
        """geth's access list (see devnet/accesslist.py), under eth_call's gas cap and
        deadline; `accessList` in the call object seeds it."""
        call = params[0] if isinstance(params, list) and params else None
        start: dict[Address, set[int]] = {}
        if isinstance(call, dict) and call.get("accessList") is not None:
            start = _parse_access_list(call["accessList"])
            params = [{k: v for k, v in call.items() if k != "accessList"}, *params[1:]]
        state, plan = self._prepare_call(params, build=recording_state)
        if plan.shortfall():
            raise RpcError(RpcError.SERVER, f"failed to apply transaction: err: {plan.shortfall()}")
        tx = plan.tx
        target = tx.to or generate_contract_address(plan.sender, plan.nonce)
        with _call_deadline():
            access, gas_used, error = create_access_list(
                state, tx, {plan.sender, Address(target)}, start, CALL_SECONDS
            )
        result: dict[str, Any] = {
            "accessList": [
                {
                    "address": enc.address(address),
                    "storageKeys": [
                        enc.data(key.to_bytes(32, "big")) for key in sorted(access[address])
                    ],
                }
                for address in sorted(access)
            ],
            "gasUsed": enc.quantity(gas_used),
        }
        if error is not None:
            result["error"] = error
        return result

    def _rpc_eth__sendRawTransaction(self, params: Any) -> str:
        (raw_hex,) = params_of(params, ["data"], 1)
        raw = parse_data(raw_hex, "data")
        tx_hash = self.add_transaction(raw)
        self.filters.on_pending_transaction(tx_hash)
        if self.peers is not None:
            self.peers.broadcast_transactions([raw])
        return enc.data(tx_hash)

    def on_canonical_change(self, change: CanonicalChange) -> None:
        """Keep the pool in step with the head: drop what got mined, and put back the
        transactions of blocks a reorg dropped, so none is lost."""
        state = self.store.head_view().state
        self.pool.remove_included(lambda sender: int(state.get_nonce(sender)))
        for block in change.removed:
            for tx in block.transactions:
                # Mined again on the new branch, or no longer valid: nothing to put back.
                with contextlib.suppress(RpcError):
                    self.add_transaction(raw_transaction(tx))

    def add_transaction(self, raw: bytes) -> Hash32:
        try:
            tx = self.store.decode_transaction(raw)
        except Exception:
            raise RpcError(RpcError.SERVER, "invalid transaction: rlp decoding failed") from None
        with self.store.locked():
            view = self.store.head_view()
            try:
                return self.pool.add(tx, raw, view.state, view.next_base_fee, view.header.gas_limit)
            except TxRejectedError as error:
                raise RpcError(RpcError.SERVER, str(error)) from None

    # ------------------------------------------------------------------ eth: logs

    def _rpc_eth__getLogs(self, params: Any) -> list[dict[str, Any]]:
        (query,) = params_of(params, ["filter"], 1)
        return self._logs(self._log_criteria(query))

    def _log_criteria(self, query: Any) -> LogCriteria:
        """A log filter, checked as geth checks one (texts from geth's FilterCriteria)."""
        if not isinstance(query, dict):
            raise invalid("filter object expected")
        block_hash = query.get("blockHash")
        from_block, to_block = query.get("fromBlock"), query.get("toBlock")
        if block_hash is not None and (from_block is not None or to_block is not None):
            raise invalid(
                "invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, "
                "choose one or the other"
            )
        addresses = query.get("address")
        if isinstance(addresses, str):
            addresses = [addresses]
        if addresses is not None and not isinstance(addresses, list):
            raise invalid("invalid addresses in query")
        return LogCriteria(
            addresses=frozenset(parse_address(a, "address") for a in addresses or []),
            topics=tuple(self._topic_filters(query.get("topics") or [])),
            from_block=self._range_bound(from_block, "fromBlock"),
            to_block=self._range_bound(to_block, "toBlock"),
            block_hash=parse_hash(block_hash, "blockHash") if block_hash is not None else None,
        )

    @staticmethod
    def _range_bound(value: Any, name: str) -> int | str:
        """A block number, or a tag resolved when the query runs (default `latest`)."""
        if value is None:
            return "latest"
        if value == "pending":
            raise invalid("pending logs are not supported")
        if value == "earliest":
            return 0  # nothing is pruned
        if value in ("latest", "safe", "finalized"):
            return str(value)
        return parse_block_number(value, name)

    def _bound_number(self, bound: int | str, head: BlockHeaderAPI) -> int:
        if isinstance(bound, int):
            return bound
        if bound == "latest":
            return head.block_number
        return max(0, head.block_number - self.finality_depth(head))  # safe, finalized

    def _logs(self, criteria: LogCriteria) -> list[dict[str, Any]]:
        if criteria.block_hash is not None:
            header = self.store.header_by_hash(criteria.block_hash)
            if header is None:
                raise RpcError(RpcError.SERVER, "unknown block")
            headers: Iterable[BlockHeaderAPI] = [header]
        else:
            head = self.store.head()
            first = self._bound_number(criteria.from_block, head)
            last = self._bound_number(criteria.to_block, head)
            if first > last:
                raise invalid("invalid block range params")
            if last - first + 1 > MAX_LOG_BLOCK_RANGE:
                raise RpcError(
                    RpcError.LIMIT, f"query exceeds max block range {MAX_LOG_BLOCK_RANGE}"
                )
            if last > head.block_number:
                raise invalid("block range extends beyond current head block")
            headers = (
                h
                for n in range(first, last + 1)
                if (h := self.store.header_by_number(n)) is not None
            )
        results: list[dict[str, Any]] = []
        for header in headers:
            results.extend(self._block_logs(header, criteria))
            if len(results) > MAX_LOGS:
                raise RpcError(RpcError.LIMIT, f"query returned more than {MAX_LOGS} results")
        return results

    def _block_logs(
        self, header: BlockHeaderAPI, criteria: LogCriteria, removed: bool = False
    ) -> list[dict[str, Any]]:
        addresses, topics = set(criteria.addresses), list(criteria.topics)
        if not self._bloom_may_match(header, addresses, topics):
            return []
        block = self.store.block_by_header(header)
        results, log_index = [], 0
        for tx_index, receipt in enumerate(self.store.receipts(header)):
            for entry in enc.logs_json(
                receipt, block.transactions[tx_index], header, tx_index, log_index
            ):
                if self._log_matches(entry, addresses, topics):
                    entry["removed"] = removed
                    results.append(entry)
            log_index += len(receipt.logs)
        return results

    @staticmethod
    def _topic_filters(topics: Any) -> list[frozenset[bytes] | None]:
        if not isinstance(topics, list) or len(topics) > 4:
            raise invalid("topics must be an array of at most 4 entries")
        filters: list[frozenset[bytes] | None] = []
        for position, entry in enumerate(topics):
            name = f"topics[{position}]"
            if entry is None or (isinstance(entry, list) and (not entry or None in entry)):
                filters.append(None)  # any topic (geth: a null alternative matches all)
            elif isinstance(entry, list):
                filters.append(frozenset(parse_data(t, name, 32) for t in entry))
            else:
                filters.append(frozenset({parse_data(entry, name, 32)}))
        return filters

    # ------------------------------------------------------------------ eth: filters

    def _rpc_eth__newFilter(self, params: Any) -> str:
        (query,) = params_of(params, ["filter"], 1)
        criteria = self._log_criteria(query)
        first, last = criteria.from_block, criteria.to_block
        # geth's SubscribeLogs: numbers in order, or a number up to latest, or latest only
        if not (
            (first == "latest" and last == "latest")
            or (
                isinstance(first, int)
                and (last == "latest" or (isinstance(last, int) and last >= first))
            )
            or criteria.block_hash is not None
        ):
            raise invalid("invalid block range params")
        return self._install(LOGS, criteria)

    def _rpc_eth__newBlockFilter(self, params: Any) -> str:
        return self._install(BLOCKS)

    def _rpc_eth__newPendingTransactionFilter(self, params: Any) -> str:
        (full,) = params_of(params, ["fullTransactions"], 0)
        if full is not None and not isinstance(full, bool):
            raise invalid("fullTransactions must be true or false")
        return self._install(PENDING, full_transactions=bool(full))

    def _install(self, kind: str, criteria: LogCriteria | None = None, **options: Any) -> str:
        try:
            return self.filters.install(kind, criteria, **options)
        except TooManyFiltersError as error:
            raise RpcError(RpcError.LIMIT, str(error)) from None

    def _rpc_eth__uninstallFilter(self, params: Any) -> bool:
        (filter_id,) = params_of(params, ["filterId"], 1)
        return self.filters.uninstall(_filter_id(filter_id))

    def _rpc_eth__getFilterChanges(self, params: Any) -> list[Any]:
        (filter_id,) = params_of(params, ["filterId"], 1)
        try:
            found, entries = self.filters.changes(_filter_id(filter_id))
        except FilterNotFoundError as error:
            raise RpcError(RpcError.SERVER, str(error)) from None
        if found.kind == BLOCKS:
            return [enc.data(e.block_hash) for e in entries if not e.removed]
        if found.kind == PENDING:
            if not found.full_transactions:
                return [enc.data(h) for h in entries]
            return [tx for h in entries if (tx := self._known_transaction(h)) is not None]
        assert found.criteria is not None
        return self._logs_of_events(found.criteria, entries)

    def _logs_of_events(
        self, criteria: LogCriteria, events: list[BlockEvent]
    ) -> list[dict[str, Any]]:
        """Logs of the blocks that joined the canonical chain since the last poll, and of
        those a reorg took out (`removed: true`), matched as geth matches new logs: only
        explicit block numbers bound them."""
        results: list[dict[str, Any]] = []
        for event in events:
            header = self.store.header_by_hash(event.block_hash)
            if header is None:
                continue
            number = header.block_number
            if criteria.block_hash is not None and header.hash != criteria.block_hash:
                continue
            if isinstance(criteria.from_block, int) and number < criteria.from_block:
                continue
            if isinstance(criteria.to_block, int) and number > criteria.to_block:
                continue
            results.extend(self._block_logs(header, criteria, removed=event.removed))
        return results

    def _known_transaction(self, tx_hash: Hash32) -> dict[str, Any] | None:
        pooled = self.pool.get(tx_hash)
        if pooled is not None:
            return enc.transaction_json(pooled.tx, None, None)
        located = self.store.transaction_location(tx_hash)
        if located is None:
            return None
        header, index = located
        return enc.transaction_json(
            self.store.block_by_header(header).transactions[index], header, index
        )

    def _rpc_eth__getFilterLogs(self, params: Any) -> list[dict[str, Any]]:
        (filter_id,) = params_of(params, ["filterId"], 1)
        try:
            found = self.filters.get(_filter_id(filter_id))
        except FilterNotFoundError as error:
            raise RpcError(RpcError.SERVER, str(error)) from None
        if found.kind != LOGS or found.criteria is None:
            raise RpcError(RpcError.SERVER, "filter not found")
        return self._logs(found.criteria)

    @staticmethod
    def _bloom_may_match(
        header: BlockHeaderAPI, addresses: set[Address], topics: list[frozenset[bytes] | None]
    ) -> bool:
        bloom = BloomFilter(header.bloom)
        if addresses and not any(a in bloom for a in addresses):
            return False
        return all(options is None or any(t in bloom for t in options) for options in topics)

    @staticmethod
    def _log_matches(
        entry: dict[str, Any], addresses: set[Address], topics: list[frozenset[bytes] | None]
    ) -> bool:
        if addresses and to_canonical_address(entry["address"]) not in addresses:
            return False
        if len(topics) > len(entry["topics"]):
            return False
        return all(
            options is None or bytes.fromhex(entry["topics"][i][2:]) in options
            for i, options in enumerate(topics)
        )

    # ------------------------------------------------------------------ clique

    def _rpc_clique__getSigners(self, params: Any) -> list[str]:
        (tag,) = params_of(params, ["block"], 0)
        return [enc.address(s) for s in self.store.signers(self.resolve_block(tag))]

    def _rpc_clique__getSnapshot(self, params: Any) -> dict[str, Any]:
        (tag,) = params_of(params, ["block"], 0)
        header = self.resolve_block(tag)
        snapshot = self.store.snapshot(header)
        signers = snapshot.get_sorted_signers()
        limit = len(signers) // 2 + 1
        recents: dict[str, str] = {}
        current: BlockHeaderAPI | None = header
        while current is not None and current.block_number > 0 and len(recents) < limit:
            recents[str(current.block_number)] = enc.address(self.store.signer_of(current))
            current = self.store.header_by_hash(current.parent_hash)
        return {
            "number": header.block_number,
            "hash": enc.data(header.hash),
            "signers": {enc.address(s): {} for s in signers},
            "recents": recents,
            "votes": [
                {
                    "signer": enc.address(v.signer),
                    "block": v.block_number,
                    "address": enc.address(v.subject),
                    "authorize": v.action.value == b"\xff" * 8,
                }
                for v in snapshot.votes
            ],
            "tally": {
                enc.address(subject): {"authorize": t.action.value == b"\xff" * 8, "votes": t.votes}
                for subject, t in snapshot.tallies.items()
            },
        }

    def _rpc_clique__propose(self, params: Any) -> None:
        who, auth = params_of(params, ["address", "auth"], 2)
        if not isinstance(auth, bool):
            raise invalid("auth must be true or false")
        self._sealer().proposals[parse_address(who, "address")] = Vote(
            parse_address(who, "address"), auth
        )

    def _rpc_clique__discard(self, params: Any) -> None:
        (who,) = params_of(params, ["address"], 1)
        self._sealer().proposals.pop(parse_address(who, "address"), None)

    def _rpc_clique__proposals(self, params: Any) -> dict[str, bool]:
        return {enc.address(a): v.authorize for a, v in self._sealer().proposals.items()}

    def _rpc_clique__status(self, params: Any) -> dict[str, Any]:
        head = self.store.head()
        sealer_counts: dict[str, int] = {}
        first = max(1, head.block_number - 63)
        in_turn = 0
        for number in range(first, head.block_number + 1):
            header = self.store.header_by_number(number)
            assert header is not None
            key = enc.address(self.store.signer_of(header))
            sealer_counts[key] = sealer_counts.get(key, 0) + 1
            in_turn += header.difficulty == 2
        blocks = head.block_number - first + 1 if head.block_number else 0
        return {
            "inturnPercent": 100 * in_turn / blocks if blocks else 0.0,
            "sealerActivity": sealer_counts,
            "numBlocks": blocks,
        }

    def _sealer(self) -> Sealer:
        if self.sealer is None:
            raise RpcError(RpcError.SERVER, "this node does not seal (no validator key)")
        return self.sealer

    # ------------------------------------------------------------------ devnet: peers

    def _rpc_devnet__head(self, params: Any) -> dict[str, Any]:
        head = self.store.head()
        return {
            "number": head.block_number,
            "hash": enc.data(head.hash),
            "totalDifficulty": self.store.total_difficulty(head.hash),
            "timestamp": head.timestamp,
        }

    def _rpc_devnet__canonicalHashes(self, params: Any) -> list[str]:
        start, count = params_of(params, ["start", "count"], 2)
        if (
            not isinstance(start, int)
            or not isinstance(count, int)
            or start < 0
            or not 0 < count <= 1024
        ):
            raise invalid("start must be >= 0 and count 1..1024")
        hashes = []
        for number in range(start, start + count):
            header = self.store.header_by_number(number)
            if header is None:
                break
            hashes.append(enc.data(header.hash))
        return hashes

    def _rpc_devnet__getBlocks(self, params: Any) -> list[str]:
        start, count = params_of(params, ["start", "count"], 2)
        if (
            not isinstance(start, int)
            or not isinstance(count, int)
            or start < 0
            or not 0 < count <= MAX_SYNC_BLOCKS
        ):
            raise invalid(f"start must be >= 0 and count 1..{MAX_SYNC_BLOCKS}")
        blocks = []
        for number in range(start, start + count):
            header = self.store.header_by_number(number)
            if header is None:
                break
            blocks.append(enc.data(rlp.encode(self.store.block_by_header(header))))
        return blocks

    def _rpc_devnet__newBlock(self, params: Any) -> str:
        raw, sender_url = params_of(params, ["block", "from"], 1)
        block = self.decode_block(parse_data(raw, "block"))
        try:
            new = self.store.import_block(block)
        except UnknownParentError:
            if self.peers is not None and isinstance(sender_url, str):
                self.peers.request_sync(sender_url)
            return "unknown-parent"
        except BlockRejectedError as error:
            log.warning("rejected block from %s: %s", sender_url or "RPC", error)
            raise RpcError(RpcError.SERVER, f"block rejected: {error}") from None
        if new and self.peers is not None:
            self.peers.broadcast_block(block, exclude=sender_url)
        return "imported" if new else "known"

    def decode_block(self, raw: bytes) -> Any:
        block_class = self.store.chain_cls.get_vm_class_for_block_number(
            BlockNumber(1)
        ).get_block_class()
        try:
            return rlp.decode(raw, sedes=block_class)
        except Exception:
            raise invalid("block: not a valid RLP-encoded block") from None

    def _rpc_devnet__newTransactions(self, params: Any) -> int:
        (raws,) = params_of(params, ["transactions"], 1)
        if not isinstance(raws, list) or len(raws) > 4096:
            raise invalid("transactions: a list of at most 4096 raw transactions")
        accepted = 0
        for raw in raws:
            try:
                tx_hash = self.add_transaction(parse_data(raw, "transaction"))
                accepted += 1
            except RpcError:
                continue  # already known, or stale by now: gossip is best effort
            self.filters.on_pending_transaction(tx_hash)
        return accepted

    # ------------------------------------------------------------------ admin

    def _peers(self) -> Peers:
        if self.peers is None:
            raise RpcError(RpcError.SERVER, "this node has no peer plane")
        return self.peers

    def _rpc_admin__peers(self, params: Any) -> list[dict[str, Any]]:
        return self._peers().status()

    def _rpc_admin__nodeInfo(self, params: Any) -> dict[str, Any]:
        peers = self._peers()
        return {
            "address": enc.address(peers.identity.address),
            "peerUrl": peers.identity.url,
            "signer": enc.address(self.sealer.address) if self.sealer else None,
            "genesis": enc.data(peers.identity.genesis_hash),
        }

    def _rpc_admin__addPeer(self, params: Any) -> bool:
        (url,) = params_of(params, ["url"], 1)
        return self._peers().add_url(_peer_url(url), save=True)

    def _rpc_admin__removePeer(self, params: Any) -> bool:
        (url,) = params_of(params, ["url"], 1)
        return self._peers().remove_url(_peer_url(url))

    def _rpc_admin__allowPeer(self, params: Any) -> bool:
        """Let a node that is not (yet) a signer use the peer plane: a full node, or a
        candidate that must sync before the signers vote it in."""
        (who,) = params_of(params, ["address"], 1)
        return self._peers().allow(parse_address(who, "address"))

    def _rpc_admin__disallowPeer(self, params: Any) -> bool:
        (who,) = params_of(params, ["address"], 1)
        return self._peers().allow(parse_address(who, "address"), allowed=False)

    def _rpc_devnet__status(self, params: Any) -> dict[str, Any]:
        head = self.store.head()
        return {
            "head": {
                "number": head.block_number,
                "hash": enc.data(head.hash),
                "age": time.time() - head.timestamp,
            },
            "signer": enc.address(self.sealer.address) if self.sealer else None,
            "signers": [enc.address(s) for s in self.store.signers(head)],
            "peers": self.peers.status() if self.peers else [],
            "syncing": self.sync.syncing,
            "pending_transactions": len(self.pool),
        }
