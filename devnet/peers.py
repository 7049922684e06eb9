"""Block and transaction gossip to the other validators, and catch-up sync from them, over
their JSON-RPC endpoints (`devnet_*` methods). The network is a small full mesh of known
municipal validators, so HTTP to each peer is simple and enough."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import rlp
from eth.abc import BlockAPI

from devnet.chain import BlockRejectedError, ChainStore

if TYPE_CHECKING:
    from devnet.rpc import Api

log = logging.getLogger("devnet.peers")
RPC_TIMEOUT = 5.0
SYNC_INTERVAL = 1.0
ANCESTOR_WINDOW = 128
SYNC_BATCH = 128
TX_GOSSIP_INTERVAL = 0.05
MAX_TX_GOSSIP = 4096  # what devnet_newTransactions accepts in one call


class PeerError(Exception):
    """A peer did not answer, or answered with an error."""


@dataclass
class PeerState:
    url: str
    reachable: bool = False
    head_number: int = -1
    total_difficulty: int = 0
    last_seen: float = 0.0
    errors: int = 0
    rejected_blocks: int = 0


@dataclass
class Peers:
    store: ChainStore
    own_url: str
    urls: list[str]
    api: Api | None = None
    states: dict[str, PeerState] = field(default_factory=dict)
    initial_sync_done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.urls = [u for u in self.urls if u != self.own_url]
        self.states = {u: PeerState(u) for u in self.urls}
        self._gossip = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gossip")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._sync_lock = threading.Lock()
        self._thread = threading.Thread(target=self._sync_loop, name="sync", daemon=True)
        self._tx_lock = threading.Lock()
        self._tx_queue: list[str] = []
        self._tx_thread = threading.Thread(
            target=self._flush_transactions, name="tx-gossip", daemon=True
        )
        if not self.urls:
            self.initial_sync_done.set()

    def start(self) -> None:
        self._thread.start()
        self._tx_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._gossip.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ gossip

    def broadcast_block(self, block: BlockAPI, exclude: str | None = None) -> None:
        raw = "0x" + rlp.encode(block).hex()
        for url in self.urls:
            if url != exclude:
                self._gossip.submit(self._send, url, "devnet_newBlock", [raw, self.own_url])

    def broadcast_transactions(self, raws: list[bytes]) -> None:
        """Queue transactions for the peers; they leave in one request per peer every
        TX_GOSSIP_INTERVAL, not one request per transaction."""
        with self._tx_lock:
            self._tx_queue.extend("0x" + raw.hex() for raw in raws)

    def _flush_transactions(self) -> None:
        while not self._stop.wait(TX_GOSSIP_INTERVAL):
            with self._tx_lock:
                payload, self._tx_queue = (
                    self._tx_queue[:MAX_TX_GOSSIP],
                    self._tx_queue[MAX_TX_GOSSIP:],
                )
            if payload:
                for url in self.urls:
                    self._gossip.submit(self._send, url, "devnet_newTransactions", [payload])

    def _send(self, url: str, method: str, params: list[Any]) -> None:
        try:
            self.call(url, method, params)
        except PeerError as error:
            log.debug("gossip %s to %s failed: %s", method, url, error)

    def request_sync(self, url: str) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ sync

    def _sync_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception:
                log.exception("sync round failed")
            self.initial_sync_done.set()
            self._wake.wait(SYNC_INTERVAL)
            self._wake.clear()

    def sync_once(self) -> None:
        """Ask every peer for its head; import from the heaviest one heavier than ours."""
        with self._sync_lock:
            for url in self.urls:
                self._refresh(url)
            ours = self.store.total_difficulty(self.store.head().hash)
            candidates = [
                s for s in self.states.values() if s.reachable and s.total_difficulty > ours
            ]
            if not candidates:
                return
            best = max(candidates, key=lambda s: s.total_difficulty)
            self._sync_from(best)

    def _refresh(self, url: str) -> None:
        state = self.states[url]
        try:
            head = self.call(url, "devnet_head", [])
        except PeerError:
            state.reachable = False
            state.errors += 1
            return
        state.reachable, state.last_seen = True, time.time()
        state.head_number, state.total_difficulty = (
            int(head["number"]),
            int(head["totalDifficulty"]),
        )

    def _sync_from(self, peer: PeerState) -> None:
        start_number = self.store.head().block_number
        if self.api is not None:
            self.api.sync.starting, self.api.sync.highest = start_number, peer.head_number
            self.api.sync.syncing = peer.head_number - start_number > 2
        try:
            ancestor = self._common_ancestor(peer)
            number = ancestor + 1
            while number <= peer.head_number and not self._stop.is_set():
                raws = self.call(peer.url, "devnet_getBlocks", [number, SYNC_BATCH])
                if not raws:
                    break
                for raw in raws:
                    block = self._decode(raw)
                    try:
                        self.store.import_block(block)
                    except BlockRejectedError as error:
                        peer.rejected_blocks += 1
                        log.warning("sync from %s stopped: %s", peer.url, error)
                        return
                number += len(raws)
            if self.store.head().block_number > start_number:
                log.info(
                    "synced %d -> %d from %s",
                    start_number,
                    self.store.head().block_number,
                    peer.url,
                )
        except PeerError as error:
            log.info("sync from %s interrupted: %s", peer.url, error)
        finally:
            if self.api is not None:
                self.api.sync.syncing = False

    def _common_ancestor(self, peer: PeerState) -> int:
        top = min(self.store.head().block_number, peer.head_number)
        while top > 0:
            first = max(0, top - ANCESTOR_WINDOW + 1)
            hashes = self.call(peer.url, "devnet_canonicalHashes", [first, top - first + 1])
            for offset in range(len(hashes) - 1, -1, -1):
                ours = self.store.header_by_number(first + offset)
                if ours is not None and "0x" + ours.hash.hex() == hashes[offset]:
                    return first + offset
            top = first - 1
        return 0

    def _decode(self, raw: str) -> BlockAPI:
        assert self.api is not None
        return self.api.decode_block(bytes.fromhex(raw[2:]))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ plumbing

    def call(self, url: str, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        # Peer URLs come from the operator's network file, never from requests.
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=RPC_TIMEOUT) as response:  # noqa: S310
                answer = json.loads(response.read())
        except (OSError, ValueError) as error:
            raise PeerError(f"{url}: {error}") from None
        if "error" in answer:
            raise PeerError(f"{url}: {answer['error'].get('message')}")
        return answer.get("result")

    def reachable(self) -> list[str]:
        return [s.url for s in self.states.values() if s.reachable]

    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "url": s.url,
                "reachable": s.reachable,
                "head": s.head_number,
                "last_seen_seconds_ago": round(time.time() - s.last_seen, 1)
                if s.last_seen
                else None,
                "rejected_blocks": s.rejected_blocks,
            }
            for s in self.states.values()
        ]
