"""API tokens of issuing systems: random, shown once, stored only as SHA-256 hashes.

They live in `tokens.json` beside the log store, not inside it, so an operator can create
or revoke one while the node runs (LevelDB admits one process); the node re-reads the
file when it changes, and every change is made under a file lock (`TokenStore`)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCOPES = ("submit", "read", "admin", "relay")
TOKEN_PREFIX = "ntk_"  # noqa: S105 (a marker that makes leaked tokens greppable, not a secret)


class TokenError(ValueError):
    """A token request the store refuses (unknown scope, empty name)."""


@dataclass(frozen=True)
class Client:
    """The authenticated caller: the token's name (e.g. the issuing system) and scopes."""

    name: str
    scopes: frozenset[str]


class TokenStore:
    """`tokens.json` shared by the running node and `notary node token ...` commands.

    Every change (create, revoke) runs under an exclusive lock on `tokens.json.lock`, held
    across re-reading the file, changing it and replacing it (written in full, synced, then
    renamed), so two processes never lose each other's changes. Lookups re-read the file
    when its identity (inode, size, modification and change times) differs from the one
    read; a file modified within the last two seconds, where coarse timestamps cannot tell
    two versions apart, is compared by content."""

    RACY_SECONDS = 2.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int, int] | None = None
        self._content_sha256: bytes | None = None
        self._records: dict[str, dict[str, Any]] = {}

    def create(self, name: str, scopes: list[str]) -> str:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise TokenError(
                f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}"
            )
        if not name.strip():
            raise TokenError("a token needs a name (the issuing system it belongs to)")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._update() as records:
            records[_digest(token)] = {
                "name": name,
                "scopes": sorted(set(scopes)),
                "created_at": int(time.time()),
            }
        return token

    def resolve(self, token: str) -> Client | None:
        with self._lock:
            record = self._load().get(_digest(token))
        if record is None or record.get("revoked_at"):
            return None
        return Client(record["name"], frozenset(record["scopes"]))

    def revoke(self, name: str) -> int:
        with self._update() as records:
            hits = [r for r in records.values() if r["name"] == name and not r.get("revoked_at")]
            for record in hits:
                record["revoked_at"] = int(time.time())
        return len(hits)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._load().values()]

    @contextmanager
    def _update(self) -> Iterator[dict[str, dict[str, Any]]]:
        """The records as on disk now, for changing; saved when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, _file_lock(self.path.with_name(self.path.name + ".lock")):
            self._stamp = None  # never trust the cache for a read-modify-write
            records = {key: dict(value) for key, value in self._load().items()}
            yield records
            self._save(records)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._content_sha256, self._records = None, None, {}
            return self._records
        stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        racy = time.time() - stat.st_mtime < self.RACY_SECONDS
        if stamp == self._stamp and not racy:
            return self._records
        raw = self.path.read_bytes()
        digest = hashlib.sha256(raw).digest()
        if digest != self._content_sha256:
            self._records = json.loads(raw) if raw.strip() else {}
            self._content_sha256 = digest
        self._stamp = stamp
        return self._records

    def _save(self, records: dict[str, dict[str, Any]]) -> None:
        raw = json.dumps(records, indent=2).encode()
        scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(scratch, self.path)
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)
        self._records, self._content_sha256 = records, hashlib.sha256(raw).digest()
        self._stamp = None  # the next lookup stats the new file (and compares its content)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (the node and token commands), held while open."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
