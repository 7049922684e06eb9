"""The operator's side of a node's admin plane: JSON-RPC over the unix socket in the node's
data folder, which only the node's own user can open and no browser can reach."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

ADMIN_SOCKET = "admin.sock"


class AdminError(Exception):
    """The admin socket is not there, or the node refused the call."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.path))
        self.sock = sock


def admin_socket(data: Path) -> Path:
    return data / ADMIN_SOCKET


def admin_call(data: Path, method: str, *params: Any, timeout: float = 10.0) -> Any:
    """Call `method` on the node whose data folder is `data`."""
    path = admin_socket(data)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    connection = _UnixConnection(path, timeout)
    try:
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        answer = json.loads(connection.getresponse().read())
    except (FileNotFoundError, ConnectionRefusedError):
        raise AdminError(f"no node is running with data folder {data} (no {path})") from None
    except PermissionError:
        raise AdminError(f"{path}: permission denied (run as the node's user)") from None
    except (OSError, ValueError) as error:
        raise AdminError(f"{path}: {error}") from None
    finally:
        connection.close()
    if "error" in answer:
        raise AdminError(f"{method}: {answer['error'].get('message')}")
    return answer.get("result")
