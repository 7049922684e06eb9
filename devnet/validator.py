"""One devnet process: a sealing validator (with a key) or a full node (without)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from eth_keys import keys

from devnet.chain import ChainStore
from devnet.genesis import Genesis
from devnet.network import NetworkLayout
from devnet.peers import Peers
from devnet.rpc import Api
from devnet.sealer import Sealer
from devnet.server import RpcServer
from devnet.txpool import TxPool

log = logging.getLogger("devnet")


# py-evm (through py_ecc) raises the recursion limit to 100,000 and the EVM's call depth
# needs deep recursion, so request threads get a stack that a deeply nested JSON body
# cannot overflow before Python raises RecursionError (virtual memory, mostly untouched).
REQUEST_THREAD_STACK = 512 * 1024 * 1024


def run_node(root: Path, index: int) -> None:
    """Run node `index` of the devnet in `root` until SIGINT or SIGTERM."""
    threading.stack_size(REQUEST_THREAD_STACK)
    layout = NetworkLayout.load(root)
    entry = layout.node(index)
    genesis = Genesis.load(layout.genesis_path)
    store = ChainStore(genesis, layout.node_dir(index) / "chaindata")
    pool = TxPool(genesis.chain_id)
    peers = Peers(store, entry.rpc_url, [n.rpc_url for n in layout.nodes])
    sealer = None
    if entry.address is not None:
        key = keys.PrivateKey(bytes(layout.validator_key(index).key))
        sealer = Sealer(
            store,
            pool,
            key,
            on_sealed=peers.broadcast_block,
            is_syncing=lambda: api.sync.syncing or not peers.initial_sync_done.is_set(),
        )
    api = Api(store, pool, sealer, peers)
    peers.api = api
    store.listeners.append(api.on_canonical_change)
    try:
        server = RpcServer(("127.0.0.1", entry.rpc_port), api)
    except OSError as error:
        store.close()
        raise OSError(f"cannot listen on 127.0.0.1:{entry.rpc_port}: {error.strerror}") from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    threading.Thread(target=server.serve_forever, name="rpc", daemon=True).start()
    peers.start()
    if sealer is not None:
        sealer.start()
    head = store.head()
    role = f"validator {entry.address}" if sealer else "full node"
    log.info("node %d (%s) serving %s at block %d", index, role, entry.rpc_url, head.block_number)
    stop.wait()
    log.info("stopping node %d", index)
    if sealer is not None:
        sealer.stop()
    peers.stop()
    server.shutdown()
    server.server_close()
    store.close()
