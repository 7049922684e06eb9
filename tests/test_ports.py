"""Ports for test and devnet processes: outside the ephemeral range, and a taken one is named."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devnet.anvil import EngineStartError
from devnet.network import NetworkProcesses, init_network
from devnet.ports import PORT_FLOOR, _ephemeral_low, free_port


def test_ports_are_below_the_ephemeral_range_bindable_and_never_handed_out_twice() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(PORT_FLOOR <= port < _ephemeral_low() for port in ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))


@pytest.mark.chain
def test_a_node_that_cannot_bind_its_port_fails_the_start_with_its_log(tmp_path: Path) -> None:
    layout = init_network(tmp_path / "net", validators=1)
    processes = NetworkProcesses(layout)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", layout.node(0).rpc_port))
        taken.listen()
        with pytest.raises(EngineStartError, match=r"node 0: process exited .* log ends: .*in use"):
            processes.start_node(0, timeout=30)
    processes.stop_all()
