"""Debian's nginx serving static tiles from a directory, for tests and benchmarks: its own
config, pid, logs and temp paths in a scratch dir, an ephemeral port, `daemon off`.

The config is the one docs/OPERATOR.md ("Serving the log as static tiles") gives operators,
with paths filled in: full tiles and bundles are immutable, partial tiles and the checkpoint
may be cached only briefly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from devnet.ports import free_port

CHECKPOINT_MAX_AGE: Final = 2
"""Seconds a client or cache may keep the checkpoint (and a partial tile)."""

LOCATIONS: Final = """\
        # Any prefix may hold a log (e.g. /131016/): match on the end of the path.
        location ~ /checkpoint$ {{
            default_type "text/plain; charset=utf-8";
            add_header Cache-Control "public, max-age={max_age}" always;
            add_header Access-Control-Allow-Origin "*" always;
        }}
        location ~ /tile/.+\\.p/[0-9]+$ {{
            default_type application/octet-stream;
            add_header Cache-Control "public, max-age={max_age}" always;
            add_header Access-Control-Allow-Origin "*" always;
        }}
        location ~ /tile/ {{
            default_type application/octet-stream;
            add_header Cache-Control "public, max-age=31536000, immutable" always;
            add_header Access-Control-Allow-Origin "*" always;
        }}
"""


def nginx_config(root: Path, port: int, scratch: Path, workers: int = 1) -> str:
    """nginx.conf serving `root` on 127.0.0.1:`port`; pid, logs, temp files in `scratch`."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers read the test's private dirs
    temps = "\n".join(
        f"    {kind}_temp_path {scratch / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes {workers};
pid {scratch / "nginx.pid"};
error_log {scratch / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types {{ }}
{temps}
    server {{
        listen 127.0.0.1:{port} reuseport;
        root {root};
        location / {{ return 404; }}
{LOCATIONS.format(max_age=CHECKPOINT_MAX_AGE)}    }}
}}
"""


@contextmanager
def serve_tiles(root: Path, scratch: Path, workers: int = 1) -> Iterator[str]:
    """nginx serving `root` until the block ends; yields its base URL."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    scratch.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = scratch / "nginx.conf"
    config.write_text(nginx_config(root.resolve(), port, scratch.resolve(), workers))
    args = [nginx, "-p", str(scratch), "-c", str(config), "-e", str(scratch / "error.log")]
    process = subprocess.Popen([*args, "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                log = (scratch / "error.log").read_text(errors="replace")
                raise RuntimeError(f"nginx exited with {process.returncode}: {log}")
            try:
                urllib.request.urlopen(url + "/", timeout=1)  # noqa: S310 - our own server
            except urllib.error.HTTPError:
                break  # it answers (404 at /)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not answer within 10 s") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
