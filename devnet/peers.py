"""Block and transaction gossip to the other nodes, and catch-up sync from them, over their
peer planes (`devnet_*` methods). Every request is signed with this node's key
(`devnet.peerauth`); every request received is checked against the nodes allowed here: the
signers, and the full nodes and candidates the operator allowed (`admin_allowPeer`).

A node also learns peers from authenticated callers (their advertised peer URL), so a new
node needs only one `--peer` to be gossiped to by the others."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import rlp
from eth.abc import BlockAPI
from eth_typing import Address
from eth_utils.address import to_canonical_address, to_checksum_address

from devnet.chain import BlockRejectedError, ChainStore
from devnet.peerauth import PeerAuthError, PeerIdentity, authenticate

if TYPE_CHECKING:
    from devnet.rpc import Api

log = logging.getLogger("devnet.peers")
RPC_TIMEOUT = 5.0
SYNC_INTERVAL = 1.0
ANCESTOR_WINDOW = 128
SYNC_BATCH = 128
TX_GOSSIP_INTERVAL = 0.05
MAX_TX_GOSSIP = 4096  # what devnet_newTransactions accepts in one call
MAX_PEERS = 64


class PeerError(Exception):
    """A peer did not answer, or answered with an error."""


@dataclass
class PeerState:
    url: str
    reachable: bool = False
    head_number: int = -1
    head_hash: str = ""
    total_difficulty: int = 0
    last_seen: float = 0.0
    errors: int = 0
    rejected_blocks: int = 0


class SavedSet:
    """A set of strings the operator changed on the admin socket, kept in a JSON file so a
    restart remembers it (written atomically: a crash leaves the old or the new file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.items: frozenset[str] = frozenset()
        if path.exists():
            self.items = frozenset(json.loads(path.read_text()))

    def change(self, item: str, present: bool) -> bool:
        """Add or remove `item`; False if that changed nothing."""
        with self._lock:
            if (item in self.items) == present:
                return False
            self.items = self.items | {item} if present else self.items - {item}
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(sorted(self.items), indent=2) + "\n")
            temporary.replace(self.path)
            return True


@dataclass
class Peers:
    """`urls` and `allowed` come from the command line; what the operator adds or removes
    on the admin socket is kept in `data` (peers.json, allowed-peers.json)."""

    store: ChainStore
    identity: PeerIdentity
    urls: list[str]
    allowed: frozenset[Address]
    data: Path
    api: Api | None = None
    states: dict[str, PeerState] = field(default_factory=dict)
    initial_sync_done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.own_url = self.identity.url
        self.saved_urls = SavedSet(self.data / "peers.json")
        self.saved_allowed = SavedSet(self.data / "allowed-peers.json")
        urls = [*self.urls, *sorted(self.saved_urls.items)]
        self.urls = list(dict.fromkeys(u for u in urls if u != self.own_url))
        self.states = {u: PeerState(u) for u in self.urls}
        self._urls_lock = threading.Lock()
        self._sessions = threading.local()
        self._allowed_cache: tuple[bytes, frozenset[Address]] = (b"", frozenset())
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

    # ------------------------------------------------------------------ who may talk to us

    def authenticate(self, headers: dict[str, str], body: bytes) -> str:
        """The caller's peer URL (or address) if it is an allowed node; raises otherwise."""
        address, url = authenticate(self.identity.genesis_hash, headers, body)
        if address not in self.allowed_addresses():
            raise PeerAuthError(f"{to_checksum_address(address)} is not an allowed peer")
        if url.startswith(("http://", "https://")) and url not in self.states:
            self.add_url(url)
        return url or to_checksum_address(address)

    def allowed_addresses(self) -> frozenset[Address]:
        """Signers at the head (cached per head), candidates this validator votes in, and
        the addresses allowed on the command line or the admin socket."""
        head = self.store.head()
        if self._allowed_cache[0] != head.hash:
            self._allowed_cache = (head.hash, frozenset(self.store.signers(head)))
        sealer = self.api.sealer if self.api is not None else None
        candidates = (
            {v.subject for v in list(sealer.proposals.values()) if v.authorize} if sealer else set()
        )
        saved = {to_canonical_address(a) for a in self.saved_allowed.items}
        return self._allowed_cache[1] | self.allowed | saved | candidates

    def allow(self, address: Address, allowed: bool = True) -> bool:
        changed = self.saved_allowed.change(to_checksum_address(address), allowed)
        if changed:
            what = "allowed" if allowed else "no longer allowed"
            log.info("peer %s %s by the operator", to_checksum_address(address), what)
        return changed

    def add_url(self, url: str, save: bool = False) -> bool:
        """Gossip to and sync from `url`; `save` keeps it across restarts (admin socket)."""
        if save:
            self.saved_urls.change(url, True)
        with self._urls_lock:
            if url in self.states or url == self.own_url or len(self.urls) >= MAX_PEERS:
                return False
            self.states[url] = PeerState(url)
            self.urls = [*self.urls, url]
        log.info("added peer %s", url)
        self._wake.set()
        return True

    def remove_url(self, url: str) -> bool:
        saved = self.saved_urls.change(url, False)
        with self._urls_lock:
            if url not in self.states:
                return saved
            del self.states[url]
            self.urls = [u for u in self.urls if u != url]
        log.info("removed peer %s", url)
        return True

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
            for url in list(self.urls):
                self._refresh(url)
            head = self.store.head()
            ours = (self.store.total_difficulty(head.hash), _tie_break(head.hash.hex()))
            candidates = [
                s for s in list(self.states.values())
                if s.reachable and (s.total_difficulty, _tie_break(s.head_hash)) > ours
            ]  # fmt: skip
            if not candidates:
                return
            best = max(candidates, key=lambda s: (s.total_difficulty, _tie_break(s.head_hash)))
            self._sync_from(best)

    def _refresh(self, url: str) -> None:
        state = self.states.get(url)
        if state is None:
            return  # removed by the operator meanwhile
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
        state.head_hash = str(head["hash"]).removeprefix("0x")

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
        headers = {"Content-Type": "application/json", **self.identity.sign(body)}
        try:
            # Peer URLs come from the operator or from authenticated peers, never from
            # the public plane.
            response = self._session().post(url, data=body, headers=headers, timeout=RPC_TIMEOUT)
            answer = response.json()
        except (requests.RequestException, ValueError) as error:
            raise PeerError(f"{url}: {error}") from None
        if not isinstance(answer, dict):
            raise PeerError(f"{url}: not a JSON-RPC answer")
        if "error" in answer:
            raise PeerError(f"{url}: {answer['error'].get('message')}")
        return answer.get("result")

    def _session(self) -> requests.Session:
        """One keep-alive session per thread (gossip, sync): no new connection per call."""
        session: requests.Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        return session

    def reachable(self) -> list[str]:
        return [s.url for s in list(self.states.values()) if s.reachable]

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
            for s in list(self.states.values())
        ]


def _tie_break(head_hash: str) -> int:
    """Between heads of equal total difficulty the lower hash wins, on every node alike:
    otherwise the two halves of a healed even split would each keep their own branch, and
    with every signer blocked by the recent-signer rule, neither would ever seal again."""
    return -int(head_hash, 16) if head_hash else -(1 << 256)
