"""One devnet process: a sealing validator (with a key) or a full node (without), serving
its three planes: public JSON-RPC, the peer plane and the admin socket."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_canonical_address, to_checksum_address

from devnet.admin import admin_socket
from devnet.chain import ChainStore
from devnet.genesis import Genesis
from devnet.keys import load_key_dir, node_key
from devnet.peerauth import PeerIdentity
from devnet.peers import Peers
from devnet.rpc import PEER_METHODS, Api
from devnet.sealer import Sealer
from devnet.server import (
    JsonRpcApp,
    Plane,
    PlaneServers,
    tcp_listener,
    unix_listener,
)
from devnet.txpool import TxPool

log = logging.getLogger("devnet")

# py-evm (through py_ecc) raises the recursion limit to 100,000 and the EVM's call depth
# needs deep recursion, so request threads get a stack that a deeply nested JSON body
# cannot overflow before Python raises RecursionError (virtual memory, mostly untouched).
REQUEST_THREAD_STACK = 512 * 1024 * 1024
PUBLIC_BODY_BYTES = 5 * 1024 * 1024
PEER_BODY_BYTES = 16 * 1024 * 1024  # a full block, or 4,096 gossiped transactions
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class NodeConfigError(ValueError):
    """The node's command line cannot work as given."""


@dataclass
class NodeConfig:
    """Everything `notary devnet node` takes."""

    genesis: Path
    data: Path
    rpc: tuple[str, int]
    peer_listen: tuple[str, int]
    key_dir: Path | None = None
    peers: list[str] = field(default_factory=list)
    peer_url: str | None = None  # how others reach our peer plane; default from peer_listen
    allow_peers: list[str] = field(default_factory=list)
    rpc_hosts: list[str] = field(default_factory=list)  # Host names the public RPC answers

    @property
    def advertised_peer_url(self) -> str:
        host, port = self.peer_listen
        if self.peer_url:
            return self.peer_url
        if host in ("0.0.0.0", "::"):  # noqa: S104 (a check, not a bind)
            raise NodeConfigError(
                f"--peer-listen {host}:{port} listens on every address: say with --peer-url "
                "how the other nodes reach this one"
            )
        return f"http://{_url_host(host)}:{port}"

    @property
    def rpc_url(self) -> str:
        host, port = self.rpc
        return f"http://{_url_host(host)}:{port}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run_node(config: NodeConfig) -> None:
    """Run one node until SIGINT or SIGTERM."""
    threading.stack_size(REQUEST_THREAD_STACK)
    genesis = Genesis.load(config.genesis)
    config.data.mkdir(parents=True, exist_ok=True, mode=0o700)
    validator_key = load_key_dir(config.key_dir) if config.key_dir else None
    identity_key = validator_key or node_key(config.data)
    store = ChainStore(genesis, config.data / "chaindata")
    pool = TxPool(genesis.chain_id)
    identity = PeerIdentity(
        PrivateKey(identity_key), store.genesis_hash, config.advertised_peer_url
    )
    allowed = frozenset(to_canonical_address(a) for a in config.allow_peers)
    peers = Peers(store, identity, config.peers, allowed, config.data)
    sealer = None
    if validator_key is not None:
        sealer = Sealer(
            store,
            pool,
            PrivateKey(validator_key),
            on_sealed=peers.broadcast_block,
            is_syncing=lambda: api.sync.syncing or not peers.initial_sync_done.is_set(),
        )
    api = Api(store, pool, sealer, peers)
    peers.api = api
    store.listeners.append(api.on_canonical_change)
    try:
        servers = PlaneServers(_listeners(config, api, peers))
    except OSError:
        store.close()
        raise
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    servers.start()
    peers.start()
    if sealer is not None:
        sealer.start()
    head = store.head()
    log.info(
        "%s %s at block %d: rpc %s, peers %s, admin %s",
        "validator" if sealer else "full node (peer identity)",
        to_checksum_address(identity.address), head.block_number, config.rpc_url, identity.url,
        admin_socket(config.data),
    )  # fmt: skip
    stop.wait()
    log.info("stopping")
    if sealer is not None:
        sealer.stop()
    peers.stop()
    servers.stop()
    store.close()


def _listeners(
    config: NodeConfig, api: Api, peers: Peers
) -> list[tuple[JsonRpcApp, socket.socket]]:
    rpc_host = config.rpc[0]
    public = Plane(
        "public",
        api.public_methods(),
        workers=8,
        max_body_bytes=PUBLIC_BODY_BYTES,
        cors=True,
        allowed_hosts=frozenset({*LOOPBACK_NAMES, rpc_host.lower(), *config.rpc_hosts}),
    )
    peer = Plane(
        "peer", PEER_METHODS, workers=4, max_body_bytes=PEER_BODY_BYTES,
        authenticate=peers.authenticate,
    )  # fmt: skip
    admin = Plane("admin", api.admin_methods(), workers=2, max_body_bytes=PUBLIC_BODY_BYTES)
    sockets: list[socket.socket] = []
    try:
        sockets.append(tcp_listener(*config.rpc))
        sockets.append(tcp_listener(*config.peer_listen))
        sockets.append(unix_listener(admin_socket(config.data)))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return [
        (JsonRpcApp(api, plane), sock)
        for plane, sock in zip((public, peer, admin), sockets, strict=True)
    ]
