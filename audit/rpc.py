"""Plain JSON-RPC for the audit: standard `eth_*` methods only, in batches.

The audit must not trust the chain's own tooling, so it reads raw headers with the methods
every engine serves and does its own consensus maths (`audit.clique`). Batching
makes a 10,000-block replay a few hundred round trips.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

import requests

from verifier.errors import EvidenceUnavailableError

BLOCK_BATCH: Final = 200
DEFAULT_TIMEOUT: Final = 30.0


class AuditRpcError(EvidenceUnavailableError):
    """The chain endpoint failed or answered something that is not JSON-RPC."""


class JsonRpc:
    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout
        self._session = requests.Session()
        self._next_id = 0

    def close(self) -> None:
        self._session.close()

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Results in call order; any error fails the whole batch (the audit cannot skip)."""
        if not calls:
            return []
        first = self._next_id
        self._next_id += len(calls)
        payload: Any = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        try:
            response = self._session.post(self.url, json=payload, timeout=self.timeout)
            answers = response.json()
        except requests.RequestException as error:
            raise AuditRpcError(f"chain endpoint {self.url} unreachable: {error}") from None
        except ValueError:
            raise AuditRpcError(
                f"chain endpoint {self.url} answered HTTP {response.status_code} without JSON"
            ) from None
        if not isinstance(answers, list):
            raise AuditRpcError(f"chain endpoint {self.url}: {_error_text(answers)}")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results = []
        for i, (method, _) in enumerate(calls):
            answer = by_id.get(first + i)
            if answer is None or "error" in answer or "result" not in answer:
                raise AuditRpcError(f"{method} failed: {_error_text(answer)}")
            results.append(answer["result"])
        return results

    def blocks(
        self, start: int, end: int, *, full_transactions: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Blocks start..end inclusive, in order."""
        for first in range(start, end + 1, BLOCK_BATCH):
            last = min(first + BLOCK_BATCH - 1, end)
            calls = [
                ("eth_getBlockByNumber", [hex(n), full_transactions])
                for n in range(first, last + 1)
            ]
            for number, block in zip(range(first, last + 1), self.batch(calls), strict=True):
                if not isinstance(block, dict):
                    raise AuditRpcError(f"block {number} is missing on the chain endpoint")
                yield block


def _error_text(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return str(answer["error"].get("message", answer["error"]))
    return "no answer" if answer is None else "malformed answer"
