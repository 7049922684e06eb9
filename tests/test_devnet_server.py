"""The devnet's HTTP listeners, below the JSON-RPC: socket options that decide latency."""

from __future__ import annotations

import asyncio
import socket

from devnet.server import host_name, tcp_listener


def test_accepted_connections_have_nagle_off() -> None:
    """asyncio sets TCP_NODELAY only on sockets created with IPPROTO_TCP; without it every
    keep-alive request waited ~40 ms for a delayed ACK (22 requests/s on one connection)."""
    listener = tcp_listener("127.0.0.1", 0)
    port = listener.getsockname()[1]
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(accept_one())
    assert seen == [1]


def test_host_names_without_port_or_brackets() -> None:
    assert host_name("LocalHost:8545") == "localhost"
    assert host_name("[::1]:8545") == "::1"
    assert host_name("10.0.0.5") == "10.0.0.5"
    assert host_name("::1") == "::1"
    assert host_name(None) == ""
