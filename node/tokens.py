"""API tokens of issuing systems: random, shown once, stored only as SHA-256 hashes.

They live in `tokens.json` beside the log store, not inside it, so an operator can create
or revoke one while the node runs (LevelDB admits one process); the node re-reads the
file when it changes."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
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
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
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
        with self._lock:
            records = self._load()
            records[_digest(token)] = {
                "name": name,
                "scopes": sorted(set(scopes)),
                "created_at": int(time.time()),
            }
            self._save(records)
        return token

    def resolve(self, token: str) -> Client | None:
        with self._lock:
            record = self._load().get(_digest(token))
        if record is None or record.get("revoked_at"):
            return None
        return Client(record["name"], frozenset(record["scopes"]))

    def revoke(self, name: str) -> int:
        with self._lock:
            records = self._load()
            hits = [r for r in records.values() if r["name"] == name and not r.get("revoked_at")]
            for record in hits:
                record["revoked_at"] = int(time.time())
            self._save(records)
        return len(hits)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._load().values()]

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if mtime != self._mtime:
            self._records = json.loads(self.path.read_text())
            self._mtime = mtime
        return self._records

    def _save(self, records: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_suffix(".tmp")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(records, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, self.path)
        self._records, self._mtime = records, self.path.stat().st_mtime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
