"""Free TCP ports for the processes a devnet, a test or a benchmark starts.

Binding port 0 yields a port from the kernel's ephemeral range, and between that choice and
the server's own bind any outgoing connection on the machine may take the same port as its
local end (seen in CI: a devnet node's RPC port taken by its peers dialling each other).
Ports are therefore chosen below that range, where the kernel never assigns one by itself.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Below the range and above the ports of common services a test machine may run.
PORT_FLOOR = 20000
_DEFAULT_EPHEMERAL_LOW = 32768
_ATTEMPTS = 200

# Ports this process handed out: not handed out twice, though their server may not have bound yet.
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_LOW


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` now, outside the ephemeral range when the kernel leaves room."""
    ceiling = _ephemeral_low()
    if ceiling - PORT_FLOOR >= 1000:
        for _ in range(_ATTEMPTS):
            port = PORT_FLOOR + secrets.randbelow(ceiling - PORT_FLOOR)
            if port not in _handed_out and _bindable(host, port):
                _handed_out.add(port)
                return port
    # No room below the range (or all tried ports taken): the kernel's choice.
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = int(sock.getsockname()[1])
    _handed_out.add(port)
    return port
