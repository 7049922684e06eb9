"""The network-namespace harness (tests/netns.py) and the delay relay (tests/netdelay.py).

The namespace tests need root and iproute2/nftables (`make netns-tools`); they skip without
them, except under CI where they fail. The relay tests on 127.0.0.1 run anywhere.
"""

from __future__ import annotations

import os
import secrets
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import netns
from tests.netns import Host, Network, list_namespaces, network_of_hosts

REPO_ROOT = Path(__file__).resolve().parents[1]
ECHO_PORT = 7000  # every host has its own IP: the same constant port works on each


# -- helpers -------------------------------------------------------------------------------


class _EchoHandler(socketserver.BaseRequestHandler):
    """Echo every chunk; on EOF from the client, half-close back and finish."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_echo(host: Host | None, addr: tuple[str, int]) -> _Server:
    """An echo server on ``addr``: bound inside ``host`` (None: this namespace)."""
    server = _Server(addr, _EchoHandler) if host is None else host.call(_Server, addr, _EchoHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_all(sock: socket.socket) -> bytes:
    buf = bytearray()
    while chunk := sock.recv(65536):
        buf += chunk
    return bytes(buf)


def echo_once(addr: tuple[str, int], payload: bytes = b"ping", timeout: float = 2.0) -> bytes:
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(payload)
        return recv_exactly(s, len(payload))


def round_trips(addr: tuple[str, int], count: int = 20) -> list[float]:
    """RTTs (seconds) of ``count`` small ping-pongs on one connection."""
    rtts = []
    with socket.create_connection(addr, timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(count):
            msg = f"{i:08d}".encode() * 4
            start = time.perf_counter()
            s.sendall(msg)
            assert recv_exactly(s, len(msg)) == msg
            rtts.append(time.perf_counter() - start)
    return rtts


def stream_through(addr: tuple[str, int], payload: bytes) -> bytes:
    """Send ``payload``, half-close, and return everything echoed back until EOF."""
    with socket.create_connection(addr, timeout=10) as s:

        def send() -> None:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        got = recv_all(s)
        sender.join(10)
        return got


def reachable(src: Host, dst: Host, port: int = ECHO_PORT, timeout: float = 1.5) -> bool:
    try:
        return src.call(echo_once, dst.addr(port), b"ping", timeout) == b"ping"
    except OSError:
        return False


def reach_map(pairs: list[tuple[Host, Host]]) -> dict[tuple[int, int], bool]:
    """Check all pairs concurrently (each failing check costs its connect timeout)."""
    with ThreadPoolExecutor(len(pairs)) as pool:
        futures = {(a.index, b.index): pool.submit(reachable, a, b) for a, b in pairs}
        return {key: f.result() for key, f in futures.items()}


@pytest.fixture
def net() -> Iterator[Network]:
    with network_of_hosts(4) as network:
        yield network


@pytest.fixture
def echo_servers(net: Network) -> Iterator[list[_Server]]:
    servers = [start_echo(h, h.addr(ECHO_PORT)) for h in net.hosts]
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


# -- the namespaces ------------------------------------------------------------------------


def test_hosts_are_isolated_namespaces_and_root_is_untouched() -> None:
    root_before = subprocess.run(
        ["ip", "-o", "addr"], check=False, capture_output=True, text=True
    ).stdout
    root_routes = subprocess.run(
        ["ip", "route"], check=False, capture_output=True, text=True
    ).stdout
    with network_of_hosts(4) as net:
        assert len(net.hosts) == 4
        assert len({h.ip for h in net.hosts}) == 4
        assert all(h.ip.startswith(f"10.47.{net.k}.") for h in net.hosts)
        assert all(h.name.startswith(f"mn-{os.getpid()}-") for h in net.hosts)
        for host in net.hosts:
            addrs = host.run(["ip", "-o", "-4", "addr"]).stdout
            assert f"{host.ip}/24" in addrs and "127.0.0.1/8" in addrs
            routes = host.run(["ip", "route"]).stdout
            assert "default" not in routes, routes
            assert "LOOPBACK,UP" in host.run(["ip", "link", "show", "lo"]).stdout
        # Nothing of the harness shows in the root namespace.
        assert subprocess.run(
            ["ip", "-o", "addr"], check=False, capture_output=True, text=True
        ).stdout == (root_before)
        assert subprocess.run(
            ["ip", "route"], check=False, capture_output=True, text=True
        ).stdout == (root_routes)
        # From a host nothing but the harness subnet is routable (`ip route get` sends nothing).
        off_net = net.hosts[0].run(["ip", "route", "get", "10.46.0.1"], check=False)
        assert off_net.returncode != 0 and "unreachable" in off_net.stderr, off_net


def test_call_enters_the_namespace_in_that_thread_only(net: Network) -> None:
    def ns_inode() -> int:
        return os.stat("/proc/thread-self/ns/net").st_ino

    main_before = ns_inode()
    inodes = [h.call(ns_inode) for h in net.hosts]
    assert inodes == [os.stat(h.netns_path).st_ino for h in net.hosts]
    assert len(set(inodes)) == 4 and main_before not in inodes
    assert ns_inode() == main_before  # the test's own thread never moved

    def child_thread_inode() -> int:
        out: list[int] = []
        t = threading.Thread(target=lambda: out.append(ns_inode()))
        t.start()
        t.join()
        return out[0]

    assert net.hosts[2].call(child_thread_inode) == inodes[2]  # threads inherit the host

    def boom(x: int) -> None:
        raise ValueError(f"bad {x}")

    with pytest.raises(ValueError, match="bad 7"):
        net.hosts[1].call(boom, 7)
    assert net.hosts[1].call(lambda a, b=0: a + b, 2, b=3) == 5


def test_tcp_echo_across_hosts(net: Network) -> None:
    """(a) a server in host 0, reached from host 1."""
    h0, h1 = net.hosts[:2]
    server = start_echo(h0, h0.addr(ECHO_PORT))
    try:
        assert h1.call(echo_once, h0.addr(ECHO_PORT), b"hello from h1") == b"hello from h1"
        # A socket made inside h1 can be used from the test thread.
        with h1.call(socket.create_connection, h0.addr(ECHO_PORT), 2) as s:
            s.sendall(b"x")
            assert s.recv(1) == b"x"
            assert s.getsockname()[0] == h1.ip
        # A process in host 1 reaches it too.
        code = (
            "import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 2);"
            "s.sendall(b'proc'); print(s.recv(4).decode())"
        )
        proc = h1.run([sys.executable, "-c", code, h0.ip, str(ECHO_PORT)])
        assert proc.stdout.strip() == "proc"
        port = h0.free_port()
        assert 0 < port < 65536
    finally:
        server.shutdown()
        server.server_close()


def test_delay_relay_latency_and_integrity(net: Network) -> None:
    """(b) ~50 ms one-way through the relay; 1 MB arrives intact and in order."""
    h0, h1 = net.hosts[:2]
    server = start_echo(h0, h0.addr(ECHO_PORT))
    try:
        direct = h1.call(round_trips, h0.addr(ECHO_PORT), 5)
        assert statistics.mean(direct) / 2 < 0.010, direct

        relay = h0.delayed_port(17000, ECHO_PORT, delay=0.05, jitter=0.02)
        assert relay.addr == (h0.ip, 17000)
        one_way = [rtt / 2 for rtt in h1.call(round_trips, relay.addr, 20)]
        mean = statistics.mean(one_way)
        print(
            f"one-way via relay: mean {mean * 1000:.1f} ms, min {min(one_way) * 1000:.1f}, "
            f"max {max(one_way) * 1000:.1f}, stdev {statistics.stdev(one_way) * 1000:.1f}"
        )
        assert 0.030 <= mean <= 0.070, one_way
        assert min(one_way) >= 0.029, one_way  # every chunk waits at least delay - jitter
        assert max(one_way) <= 0.100, one_way
        assert max(one_way) - min(one_way) > 0.003, one_way  # the jitter is there

        payload = secrets.token_bytes(1 << 20)
        start = time.perf_counter()
        got = h1.call(stream_through, relay.addr, payload)
        elapsed = time.perf_counter() - start
        print(f"1 MiB echoed through the relay in {elapsed * 1000:.0f} ms")
        assert len(got) == len(payload)
        assert got == payload
        assert elapsed >= 0.06  # out and back, each at least delay - jitter

        assert relay.stop() == 0  # SIGTERM: clean exit
    finally:
        server.shutdown()
        server.server_close()


def test_partition_isolate_and_heal(net: Network, echo_servers: list[_Server]) -> None:
    """(c) cut {0,1} from {2,3}: established flows stop too; heal restores everything."""
    h0, h1, h2, h3 = net.hosts
    every_pair = [(a, b) for a in net.hosts for b in net.hosts if a is not b]
    assert all(reach_map(every_pair).values())

    established = h0.call(socket.create_connection, h2.addr(ECHO_PORT), 2)
    try:
        established.sendall(b"before")
        assert recv_exactly(established, 6) == b"before"

        net.partition([h0, h1], [h2, h3])
        assert net.blocked(h0) == {h2.ip, h3.ip}
        start = time.monotonic()
        reach = reach_map(every_pair)
        assert time.monotonic() - start < 5
        same_side = {(0, 1), (1, 0), (2, 3), (3, 2)}
        assert reach == {k: k in same_side for k in reach}, reach

        established.settimeout(1.0)
        established.sendall(b"during")
        with pytest.raises(TimeoutError):
            established.recv(6)

        net.heal()
        assert net.blocked(h0) == frozenset()
        # The held-back bytes get through by TCP retransmission once healed.
        established.settimeout(15)
        assert recv_exactly(established, 6) == b"during"
        assert all(reach_map(every_pair).values())

        net.isolate(h3)
        reach = reach_map(every_pair)
        assert reach == {(a, b): 3 not in (a, b) for a, b in reach}, reach
        net.heal()
        assert reachable(h3, h0) and reachable(h0, h3)
    finally:
        established.close()


def test_partition_rejects_bad_groups(net: Network) -> None:
    h0, h1 = net.hosts[:2]
    with pytest.raises(ValueError, match="two groups"):
        net.partition([h0, h1], [h1])
    with pytest.raises(ValueError, match="at least two"):
        net.partition([h0])


def test_teardown_removes_everything_even_on_failure() -> None:
    """(d) relays, processes and namespaces are gone after the context exits."""
    mine = f"mn-{os.getpid()}-"
    before = list_namespaces(mine)
    with pytest.raises(RuntimeError, match="test body failed"), network_of_hosts(3) as net:
        prefix = net.prefix
        assert len(list_namespaces(prefix)) == 4  # 3 hosts + the switch
        h0 = net.hosts[0]
        relay = h0.delayed_port(0, ECHO_PORT)
        sleeper = h0.popen(["sleep", "600"])
        # A process started some other way in the namespace is killed as well.
        stray = subprocess.Popen(h0.exec_argv(["sleep", "600"]))
        net.partition([h0], [net.hosts[1]])
        raise RuntimeError("test body failed")
    assert list_namespaces(prefix) == []
    assert list_namespaces(mine) == before
    assert not any(n.startswith(prefix) for n in os.listdir(netns.NETNS_DIR))
    assert relay.process.poll() is not None
    assert sleeper.poll() is not None
    assert stray.wait(5) is not None
    net.close()  # idempotent


def test_stale_namespaces_of_dead_runs_are_removed() -> None:
    netns.require_netns()
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"mn-{dead.pid}-1-h0"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert name in netns.cleanup_stale()
        assert name not in list_namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def test_concurrent_networks_get_distinct_subnets_and_names() -> None:
    with network_of_hosts(1) as a, network_of_hosts(1) as b:
        assert a.k != b.k
        assert a.prefix != b.prefix
        assert a.table != b.table


def test_unavailable_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="root"), network_of_hosts(2):
        pass
    monkeypatch.setenv("CI", "true")
    with pytest.raises(netns.NetnsUnavailableError, match="must not skip"), network_of_hosts(2):
        pass


# -- the relay on loopback (no namespaces needed) ------------------------------------------


def start_relay(target_port: int, delay: float, jitter: float) -> tuple[subprocess.Popen[str], int]:
    argv = [sys.executable, "-m", "tests.netdelay", "--listen", "127.0.0.1:0"]
    argv += ["--to", f"127.0.0.1:{target_port}", "--delay", str(delay), "--jitter", str(jitter)]
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line[:1] == ["READY"], line
    return proc, int(line[1].rpartition(":")[2])


@pytest.fixture
def loopback_relay() -> Iterator[Callable[..., int]]:
    """Start relays on 127.0.0.1; each must exit 0 on SIGTERM at teardown."""
    procs: list[subprocess.Popen[str]] = []

    def start(target_port: int, delay: float = 0.01, jitter: float = 0.005) -> int:
        proc, port = start_relay(target_port, delay, jitter)
        procs.append(proc)
        return port

    yield start
    for proc in procs:
        proc.terminate()
        assert proc.wait(5) == 0
        assert proc.stdout is not None
        proc.stdout.close()


def test_relay_many_concurrent_connections(loopback_relay: Callable[..., int]) -> None:
    server = start_echo(None, ("127.0.0.1", 0))
    try:
        port = loopback_relay(server.server_address[1], 0.02, 0.02)
        payloads = [secrets.token_bytes(20_000 + i) for i in range(64)]
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(lambda p: stream_through(("127.0.0.1", port), p), payloads))
        assert results == payloads
    finally:
        server.shutdown()
        server.server_close()


def test_relay_half_close_keeps_other_direction(loopback_relay: Callable[..., int]) -> None:
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"hello")
            conn.shutdown(socket.SHUT_WR)  # server is done talking, still listening
            received.append(recv_all(conn))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        port = loopback_relay(listener.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            assert recv_all(s) == b"hello"  # EOF from the server came through
            s.sendall(b"still here")
            s.shutdown(socket.SHUT_WR)
            t.join(5)
        assert received == [b"still here"]
    finally:
        listener.close()


def test_relay_propagates_reset(loopback_relay: Callable[..., int]) -> None:
    outcome: list[object] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        with conn:
            try:
                outcome.append(recv_exactly(conn, 3))
                outcome.append(conn.recv(10))
            except OSError as exc:
                outcome.append(type(exc))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        port = loopback_relay(listener.getsockname()[1])
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"abc")
        time.sleep(0.1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
        t.join(5)
        assert outcome == [b"abc", ConnectionResetError]
    finally:
        listener.close()


def test_relay_unreachable_target_resets_client(loopback_relay: Callable[..., int]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    port = loopback_relay(closed_port)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as s,
        pytest.raises(ConnectionResetError),
    ):
        s.recv(1)
