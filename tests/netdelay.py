"""A TCP relay that delays every chunk: the latency stand-in on a kernel without ``netem``.

    python -m tests.netdelay --listen 10.47.3.1:18545 --to 10.47.3.1:8545 --delay 0.05 --jitter 0.02

Each accepted connection is forwarded to ``--to``; bytes flow both ways, and each chunk read
from one side is written to the other side no earlier than ``arrival + sample`` where
``sample`` is uniform in ``[delay - jitter, delay + jitter]`` (clamped at 0). Order within a
connection is kept: a chunk is released at ``max(previous release, arrival + sample)``, so
the jitter never reorders bytes. The delay applies in *both* directions, so a client that
talks to a service through the relay sees a one-way latency of ``delay ± jitter`` and a
round trip of about ``2 * delay``. The TCP handshake with the relay itself is not delayed.

End-of-stream travels in order behind the data: a half-close (FIN) from one side becomes a
``shutdown(SHUT_WR)`` towards the other after the data before it has been released, and
the other direction keeps flowing. A reset from one side (or a failure to reach ``--to``)
resets the other side (SO_LINGER 0 + close). On SIGTERM or SIGINT the relay stops
listening, drops its connections and exits 0.

Once listening it prints one line, ``READY <ip>:<port>``, on stdout (``--listen IP:0``
picks a free port), so a parent can wait for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import socket
import struct
import sys

CHUNK = 64 * 1024
# Chunks in flight per direction before the relay stops reading from the sender: with 64 KiB
# chunks this is up to 16 MiB per direction, far above 50 ms worth of loopback traffic.
MAX_QUEUED_CHUNKS = 256

_EOF = b""  # queue marker: the sender half-closed
_RESET = None  # queue marker: the sender reset (or failed)


def parse_addr(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected IP:PORT, got {text!r}")
    try:
        return host.strip("[]"), int(port)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}") from exc


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``'s socket with an RST rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Relay:
    def __init__(
        self, target: tuple[str, int], delay: float, jitter: float, rng: random.Random
    ) -> None:
        self.target = target
        self.delay = delay
        self.jitter = jitter
        self.rng = rng
        self.connections: set[asyncio.Task[None]] = set()

    def sample(self) -> float:
        return max(0.0, self.rng.uniform(self.delay - self.jitter, self.delay + self.jitter))

    async def handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            try:
                s_reader, s_writer = await asyncio.open_connection(*self.target)
            except OSError as exc:
                print(f"netdelay: cannot reach {self.target}: {exc}", file=sys.stderr)
                _reset(c_writer)
                return
            await self._pipe_both(c_reader, c_writer, s_reader, s_writer)
        except asyncio.CancelledError:
            # Shutting down. Ending normally keeps asyncio (3.11) from logging the
            # cancelled connection handler as an error.
            return
        finally:
            self.connections.discard(task)

    async def _pipe_both(
        self,
        c_reader: asyncio.StreamReader,
        c_writer: asyncio.StreamWriter,
        s_reader: asyncio.StreamReader,
        s_writer: asyncio.StreamWriter,
    ) -> None:
        up = asyncio.create_task(self._direction(c_reader, s_writer))
        down = asyncio.create_task(self._direction(s_reader, c_writer))
        try:
            done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            first = done.pop()
            if first.result() is _RESET:
                # One side reset: reset the other side now, whatever is still in flight.
                for writer in (c_writer, s_writer):
                    _reset(writer)
            await asyncio.gather(up, down, return_exceptions=True)
        finally:
            for task in (up, down):
                task.cancel()
            for writer in (c_writer, s_writer):
                writer.close()

    async def _direction(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes | None:
        """Copy reader → writer with delay; returns _EOF or _RESET (how the reader ended)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue(MAX_QUEUED_CHUNKS)
        sender = asyncio.create_task(self._release(queue, writer))
        last_release = 0.0
        end: bytes | None = _EOF
        try:
            while True:
                try:
                    data = await reader.read(CHUNK)
                except OSError:
                    data, end = b"", _RESET
                last_release = max(last_release, loop.time() + self.sample())
                if not data:
                    await queue.put((last_release, end))
                    break
                await queue.put((last_release, data))
            await sender
        finally:
            sender.cancel()
        return end

    @staticmethod
    async def _release(
        queue: asyncio.Queue[tuple[float, bytes | None]], writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            release_at, data = await queue.get()
            wait = release_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                if data is _RESET:
                    _reset(writer)
                    return
                if data == _EOF:
                    if writer.can_write_eof() and not writer.transport.is_closing():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
            except OSError:
                # The receiving side is gone (reset): nothing more can be delivered to it.
                # Keep draining the queue so the reading side is never blocked on put().
                while True:
                    _, data = await queue.get()
                    if data is _RESET or data == _EOF:
                        return


async def serve(
    listen: tuple[str, int],
    target: tuple[str, int],
    delay: float,
    jitter: float,
    seed: int | None = None,
) -> None:
    relay = Relay(target, delay, jitter, random.Random(seed))
    server = await asyncio.start_server(relay.handle, listen[0], listen[1], backlog=1024)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"READY {host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
        server.close()
        for task in list(relay.connections):
            task.cancel()
        await asyncio.gather(*relay.connections, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=parse_addr, required=True, metavar="IP:PORT")
    parser.add_argument("--to", type=parse_addr, required=True, metavar="IP:PORT")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds, each direction")
    parser.add_argument("--jitter", type=float, default=0.02, help="± seconds, uniform")
    parser.add_argument("--seed", type=int, default=None, help="seed for the jitter samples")
    args = parser.parse_args(argv)
    if args.delay < 0 or args.jitter < 0:
        parser.error("--delay and --jitter must be >= 0")
    asyncio.run(serve(args.listen, args.to, args.delay, args.jitter, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
