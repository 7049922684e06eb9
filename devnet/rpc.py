"""The JSON-RPC methods a validator serves: the `eth_` subset web3.py and tools written
against geth or anvil use, `clique_` signer voting, and `devnet_` methods peers use to
gossip and sync. Errors use JSON-RPC codes; a revert is code 3 with its data, as in geth."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import rlp
from eth.abc import BlockHeaderAPI, SignedTransactionAPI
from eth.exceptions import Revert
from eth.vm.spoof import SpoofTransaction
from eth_bloom import BloomFilter
from eth_typing import Address, Hash32
from eth_utils import is_hex, to_canonical_address

from devnet import encoding as enc
from devnet.chain import BlockRejectedError, CanonicalChange, ChainStore, UnknownParentError, Vote
from devnet.execution import CallTimeoutError, cap_gas, costless_state, estimate_gas, execute_call
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


class RpcError(Exception):
    PARSE = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL = -32603
    SERVER = -32000
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


# ---------------------------------------------------------------------- parameter parsing


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
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise invalid(f"{name}: not valid hex") from None
    if length is not None and len(raw) != length:
        raise invalid(f"{name}: expected {length} bytes, got {len(raw)}")
    return raw


def parse_address(value: Any, name: str) -> Address:
    return Address(parse_data(value, name, 20))


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


def raw_transaction(tx: SignedTransactionAPI) -> bytes:
    """The bytes eth_sendRawTransaction takes: typed envelope, or RLP for legacy."""
    encode = getattr(tx, "encode", None)
    return bytes(encode()) if callable(encode) else rlp.encode(tx)


WITHOUT_PARAMS = {
    "web3_clientVersion", "net_version", "net_listening", "net_peerCount", "eth_chainId",
    "eth_blockNumber", "eth_syncing", "eth_gasPrice", "eth_maxPriorityFeePerGas",
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
        return self.methods[method](params)

    # ------------------------------------------------------------------ block tags

    def finality_depth(self, head: BlockHeaderAPI) -> int:
        return len(self.store.signers(head)) // 2 + 1

    def resolve_block(self, tag: Any, name: str = "block") -> BlockHeaderAPI:
        head = self.store.head()
        if tag is None or tag in ("latest", "pending"):
            return head
        if tag == "earliest":
            number = 0
        elif tag in ("safe", "finalized"):
            number = max(0, head.block_number - self.finality_depth(head))
        elif isinstance(tag, dict):  # EIP-1898
            if "blockHash" in tag:
                header = self.store.header_by_hash(parse_hash(tag["blockHash"], "blockHash"))
                if header is None:
                    raise RpcError(RpcError.SERVER, "header not found")
                return header
            return self.resolve_block(tag.get("blockNumber"), name)
        else:
            number = parse_quantity(tag, name)
        header = self.store.header_by_number(number)
        if header is None:
            raise RpcError(RpcError.SERVER, "header not found")
        return header

    def state_at(self, tag: Any) -> Any:
        header = self.resolve_block(tag)
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

    def _rpc_eth__getTransactionByHash(self, params: Any) -> Any:
        (tx_hash,) = params_of(params, ["transactionHash"], 1)
        wanted = parse_hash(tx_hash, "transactionHash")
        located = self.store.transaction_location(wanted)
        if located is not None:
            header, index = located
            tx = self.store.block_by_header(header).transactions[index]
            return enc.transaction_json(tx, header, index)
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

    # ------------------------------------------------------------------ eth: state

    def _rpc_eth__getBalance(self, params: Any) -> str:
        who, tag = params_of(params, ["address", "block"], 1)
        return enc.quantity(self.state_at(tag).get_balance(parse_address(who, "address")))

    def _rpc_eth__getCode(self, params: Any) -> str:
        who, tag = params_of(params, ["address", "block"], 1)
        return enc.data(self.state_at(tag).get_code(parse_address(who, "address")))

    def _rpc_eth__getStorageAt(self, params: Any) -> str:
        who, slot, tag = params_of(params, ["address", "position", "block"], 2)
        value = self.state_at(tag).get_storage(
            parse_address(who, "address"), parse_quantity(slot, "position")
        )
        return enc.data(value.to_bytes(32, "big"))

    def _rpc_eth__getTransactionCount(self, params: Any) -> str:
        who, tag = params_of(params, ["address", "block"], 1)
        sender = parse_address(who, "address")
        nonce = self.state_at(tag).get_nonce(sender)
        if tag == "pending":
            nonce = self.pool.pending_nonce(sender, nonce)
        return enc.quantity(nonce)

    # ------------------------------------------------------------------ eth: fees

    def next_base_fee(self) -> int:
        return self.store.head_view().next_base_fee

    def _rpc_eth__gasPrice(self, params: Any) -> str:
        return enc.quantity(self.next_base_fee() + DEFAULT_PRIORITY_FEE)

    def _rpc_eth__maxPriorityFeePerGas(self, params: Any) -> str:
        return enc.quantity(DEFAULT_PRIORITY_FEE)

    def _rpc_eth__feeHistory(self, params: Any) -> Any:
        count_param, newest, percentiles = params_of(
            params, ["blockCount", "newestBlock", "rewardPercentiles"], 2
        )
        count = (
            count_param
            if isinstance(count_param, int)
            else parse_quantity(count_param, "blockCount")
        )
        count = max(1, min(count, 1024))
        newest_header = self.resolve_block(newest, "newestBlock")
        if percentiles is not None and (
            not isinstance(percentiles, list)
            or not all(isinstance(p, int | float) and 0 <= p <= 100 for p in percentiles)
            or percentiles != sorted(percentiles)
        ):
            raise invalid("rewardPercentiles must be an ascending list of numbers from 0 to 100")
        oldest = max(0, newest_header.block_number - count + 1)
        base_fees, ratios, rewards = [], [], []
        for number in range(oldest, newest_header.block_number + 1):
            header = self.store.header_by_number(number)
            assert header is not None
            base_fees.append(enc.quantity(header.base_fee_per_gas))
            ratios.append(header.gas_used / header.gas_limit)
            if percentiles is not None:
                rewards.append(self._rewards(header, percentiles))
        if newest_header.block_number == self.store.head().block_number:
            base_fees.append(enc.quantity(self.next_base_fee()))
        else:
            following = self.store.header_by_number(newest_header.block_number + 1)
            assert following is not None
            base_fees.append(enc.quantity(following.base_fee_per_gas))
        result: dict[str, Any] = {
            "oldestBlock": enc.quantity(oldest),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
        }
        if percentiles is not None:
            result["reward"] = rewards
        return result

    def _rewards(self, header: BlockHeaderAPI, percentiles: list[float]) -> list[str]:
        txs = self.store.block_by_header(header).transactions
        if not txs:
            return [enc.quantity(0) for _ in percentiles]
        tips = sorted(
            enc.effective_gas_price(tx, header.base_fee_per_gas) - header.base_fee_per_gas
            for tx in txs
        )
        return [
            enc.quantity(tips[min(len(tips) - 1, int(len(tips) * p / 100))]) for p in percentiles
        ]

    # ------------------------------------------------------------------ eth: execution

    def _call_transaction(self, call: Any, header: BlockHeaderAPI) -> SignedTransactionAPI:
        if not isinstance(call, dict):
            raise invalid("transaction call object expected")
        sender = parse_address(call["from"], "from") if call.get("from") else Address(b"\0" * 20)
        to = parse_address(call["to"], "to") if call.get("to") else b""
        payload = call.get("input", call.get("data")) or "0x"
        requested_gas = parse_quantity(call["gas"], "gas") if call.get("gas") else None
        with self.store.locked() as chain:
            vm = chain.get_vm(header)
            nonce = vm.state.get_nonce(sender)
            unsigned = vm.create_unsigned_transaction(
                nonce=nonce,
                gas_price=0,
                gas=cap_gas(requested_gas, header.gas_limit),
                to=to,
                value=parse_quantity(call["value"], "value") if call.get("value") else 0,
                data=parse_data(payload, "input"),
            )
        spoofed: SignedTransactionAPI = SpoofTransaction(unsigned, from_=sender)  # type: ignore[assignment]
        return spoofed

    def _prepare_call(self, params: Any) -> tuple[Any, SignedTransactionAPI]:
        """A private state at the requested block, built under the chain lock; the EVM then
        runs on it outside the lock, so a slow call never stalls sealing or imports."""
        call, tag = params_of(params, ["transaction", "block"], 1)
        header = self.resolve_block(tag)
        tx = self._call_transaction(call, header)
        with self.store.locked() as chain:
            return costless_state(chain.get_vm(header)), tx

    def _rpc_eth__call(self, params: Any) -> str:
        state, tx = self._prepare_call(params)
        with _call_deadline():
            computation = execute_call(state, tx, CALL_SECONDS)
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
        state, tx = self._prepare_call(params)
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

    def _rpc_eth__sendRawTransaction(self, params: Any) -> str:
        (raw_hex,) = params_of(params, ["data"], 1)
        raw = parse_data(raw_hex, "data")
        tx_hash = self.add_transaction(raw)
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

    def _rpc_eth__getLogs(self, params: Any) -> list[dict[str, Any]]:  # noqa: PLR0912
        (query,) = params_of(params, ["filter"], 1)
        if not isinstance(query, dict):
            raise invalid("filter object expected")
        addresses = query.get("address")
        if isinstance(addresses, str):
            addresses = [addresses]
        wanted_addresses = {parse_address(a, "address") for a in addresses or []}
        topic_filters = self._topic_filters(query.get("topics") or [])
        if "blockHash" in query:
            header = self.store.header_by_hash(parse_hash(query["blockHash"], "blockHash"))
            if header is None:
                raise RpcError(RpcError.SERVER, "unknown block")
            headers = [header]
        else:
            first = self.resolve_block(query.get("fromBlock", "latest"), "fromBlock").block_number
            last = self.resolve_block(query.get("toBlock", "latest"), "toBlock").block_number
            if first > last:
                raise invalid("fromBlock is after toBlock")
            if last - first + 1 > MAX_LOG_BLOCK_RANGE:
                raise RpcError(
                    RpcError.LIMIT, f"query exceeds max block range {MAX_LOG_BLOCK_RANGE}"
                )
            headers = [
                h
                for n in range(first, last + 1)
                if (h := self.store.header_by_number(n)) is not None
            ]
        results: list[dict[str, Any]] = []
        for header in headers:
            if not self._bloom_may_match(header, wanted_addresses, topic_filters):
                continue
            block = self.store.block_by_header(header)
            log_index = 0
            for tx_index, receipt in enumerate(self.store.receipts(header)):
                for entry in enc.logs_json(
                    receipt, block.transactions[tx_index], header, tx_index, log_index
                ):
                    if self._log_matches(entry, wanted_addresses, topic_filters):
                        results.append(entry)
                log_index += len(receipt.logs)
            if len(results) > MAX_LOGS:
                raise RpcError(RpcError.LIMIT, f"query returned more than {MAX_LOGS} results")
        return results

    @staticmethod
    def _topic_filters(topics: Any) -> list[set[bytes] | None]:
        if not isinstance(topics, list) or len(topics) > 4:
            raise invalid("topics must be an array of at most 4 entries")
        filters: list[set[bytes] | None] = []
        for position, entry in enumerate(topics):
            if entry is None:
                filters.append(None)
            elif isinstance(entry, list):
                filters.append({parse_data(t, f"topics[{position}]", 32) for t in entry} or None)
            else:
                filters.append({parse_data(entry, f"topics[{position}]", 32)})
        return filters

    @staticmethod
    def _bloom_may_match(
        header: BlockHeaderAPI, addresses: set[Address], topics: list[set[bytes] | None]
    ) -> bool:
        bloom = BloomFilter(header.bloom)
        if addresses and not any(a in bloom for a in addresses):
            return False
        return all(options is None or any(t in bloom for t in options) for options in topics)

    @staticmethod
    def _log_matches(
        entry: dict[str, Any], addresses: set[Address], topics: list[set[bytes] | None]
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
        block_class = self.store.chain_cls.get_vm_class_for_block_number(1).get_block_class()
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
                self.add_transaction(parse_data(raw, "transaction"))
                accepted += 1
            except RpcError:
                pass  # already known, or stale by now: gossip is best effort
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
