"""The one chain client of the verifier and the audit: read-only Ethereum JSON-RPC over HTTP.

Standard `eth_*` methods only, so any engine serves (the devnet, anvil, Besu, geth); calls are
sent in JSON-RPC batches (one round trip for a verdict's reads, a few hundred for a
10,000-block audit). It holds no key and sends no transaction: the write side is `anchor/`.
Every failure, whether the endpoint is unreachable, too slow, too talkative, on another chain
or answering with an error, is a `ChainReadError`, which a verdict reports as ``unknown``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from verifier.errors import EvidenceUnavailableError
from verifier.policy import DEFAULT_RPC_TIMEOUT

DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
"""A larger answer is refused: an endpoint cannot make the reader hold unbounded data."""
BLOCK_BATCH: Final = 200
"""Blocks asked for in one batch."""
DEFAULT_LOG_PAGE: Final = 5_000
MIN_LOG_PAGE: Final = 16

Call = tuple[str, Sequence[Any]]


class ChainReadError(EvidenceUnavailableError):
    """The chain endpoint could not be read: unreachable, malformed answer, or an error."""


class WrongChainError(ChainReadError):
    """The endpoint serves another chain than the one trusted."""

    def __init__(self, url: str, expected: int, actual: int) -> None:
        super().__init__(f"{url} serves chain id {actual}, expected {expected}")
        self.url = url
        self.expected = expected
        self.actual = actual


class JsonRpcError(ChainReadError):
    """The endpoint answered a call with a JSON-RPC error (`code`, `message`)."""

    def __init__(self, method: str, code: int | None, message: str) -> None:
        super().__init__(f"{method} failed: {message}")
        self.method = method
        self.code = code
        self.message = message


class ResponseTooLargeError(ChainReadError):
    """The answer exceeded the client's size bound."""


class JsonRpcClient:
    """Read-only JSON-RPC to one endpoint. Safe to share between threads."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_RPC_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"JSON-RPC URL {url!r} must start with http:// or https://")
        self.url = url
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._chain_id: int | None = None

    # ------------------------------------------------------------------ transport

    def answers(self, calls: Sequence[Call]) -> list[Any]:
        """One batch; each item is the call's result, or the `JsonRpcError` it answered.

        Transport failures and malformed answers raise `ChainReadError` for the whole batch.
        """
        if not calls:
            return []
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": list(params)}
            for i, (method, params) in enumerate(calls)
        ]
        body = self._post(json.dumps(payload).encode())
        try:
            answers = json.loads(body)
        except ValueError:
            raise ChainReadError(f"{self.url} answered something that is not JSON") from None
        if isinstance(answers, dict):  # an engine refusing the batch as a whole
            raise ChainReadError(f"{self.url} refused the batch: {_error_text(answers)}")
        if not isinstance(answers, list):
            raise ChainReadError(f"{self.url} answered a malformed batch")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results: list[Any] = []
        for i, (method, _) in enumerate(calls):
            answer = by_id.get(i)
            if answer is None:
                raise ChainReadError(f"{self.url} did not answer {method}")
            if "error" in answer or "result" not in answer:
                error = answer.get("error")
                code = error.get("code") if isinstance(error, dict) else None
                results.append(
                    JsonRpcError(
                        method, code if isinstance(code, int) else None, _error_text(answer)
                    )
                )
            else:
                results.append(answer["result"])
        return results

    def batch(self, calls: Sequence[Call]) -> list[Any]:
        """Results in call order; any error answer fails the whole batch."""
        results = self.answers(calls)
        for result in results:
            if isinstance(result, JsonRpcError):
                raise result
        return results

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, params)])[0]

    def _post(self, data: bytes) -> bytes:
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            self.url,
            data=data,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return self._read(response)
        except urllib.error.HTTPError as error:
            # Some engines send JSON-RPC errors with an HTTP error status.
            body = self._read(error) if error.fp is not None else b""
            if body.lstrip().startswith((b"[", b"{")):
                return body
            raise ChainReadError(f"{self.url} answered HTTP {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise ChainReadError(
                f"cannot reach {self.url}: endpoint unreachable ({reason})"
            ) from None

    def _read(self, response: Any) -> bytes:
        body: bytes = response.read(self.max_response_bytes + 1)
        if len(body) > self.max_response_bytes:
            raise ResponseTooLargeError(
                f"{self.url} answered more than {self.max_response_bytes} bytes"
            )
        return body

    # ------------------------------------------------------------------ eth_*

    def chain_id(self) -> int:
        """`eth_chainId`, asked once."""
        if self._chain_id is None:
            self._chain_id = _quantity(self.call("eth_chainId"), "eth_chainId")
        return self._chain_id

    def check_chain_id(self, expected: int) -> None:
        actual = self.chain_id()
        if actual != expected:
            raise WrongChainError(self.url, expected, actual)

    def block_number(self) -> int:
        return _quantity(self.call("eth_blockNumber"), "eth_blockNumber")

    def get_block(self, number: int | str, *, full_transactions: bool = False) -> Any:
        """The block, or None if the endpoint has none at `number`."""
        return self.call("eth_getBlockByNumber", _block_id(number), full_transactions)

    def blocks(
        self, start: int, end: int, *, full_transactions: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Blocks start..end inclusive, in order, `BLOCK_BATCH` to a round trip."""
        for first in range(start, end + 1, BLOCK_BATCH):
            last = min(first + BLOCK_BATCH - 1, end)
            calls = [
                ("eth_getBlockByNumber", [hex(n), full_transactions])
                for n in range(first, last + 1)
            ]
            for number, block in zip(range(first, last + 1), self.batch(calls), strict=True):
                if not isinstance(block, dict):
                    raise ChainReadError(f"block {number} is missing on {self.url}")
                yield block

    def get_transaction_receipt(self, tx_hash: bytes | str) -> Any:
        """The receipt, or None for a transaction the endpoint does not know (or not yet)."""
        return self.call("eth_getTransactionReceipt", _hex_data(tx_hash))

    def get_code(self, address: str, block: int | str = "latest") -> bytes:
        return hex_bytes(self.call("eth_getCode", address, _block_id(block)))

    def eth_call(self, to: str, data: bytes, block: int | str = "latest") -> bytes:
        answer = self.call("eth_call", call_params(to, data), _block_id(block))
        return hex_bytes(answer)

    def get_logs(
        self,
        address: str,
        topics: Sequence[Any],
        from_block: int,
        to_block: int,
        *,
        page_size: int = DEFAULT_LOG_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Logs in block pages; a page the engine refuses (a range or result cap) or that is
        too large to accept is halved and asked again, so long histories stream in bounded
        memory."""
        start, page = from_block, max(page_size, 1)
        while start <= to_block:
            end = min(start + page - 1, to_block)
            params = {
                "address": address,
                "fromBlock": hex(start),
                "toBlock": hex(end),
                "topics": list(topics),
            }
            try:
                logs = self.call("eth_getLogs", params)
            except (JsonRpcError, ResponseTooLargeError) as error:
                if page > MIN_LOG_PAGE:
                    page //= 2
                    continue
                raise ChainReadError(f"eth_getLogs {start}-{end} failed: {error}") from None
            if not isinstance(logs, list):
                raise ChainReadError(f"eth_getLogs {start}-{end}: malformed answer")
            yield from logs
            start = end + 1


def call_params(to: str, data: bytes) -> dict[str, str]:
    return {"to": to, "data": "0x" + bytes(data).hex()}


def hex_bytes(value: object) -> bytes:
    """Bytes of a JSON-RPC DATA string (ValueError if it is not one)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"expected hex data, got {str(value)[:80]!r}")
    return bytes.fromhex(value[2:])


def quantity(value: object, what: str = "value") -> int:
    return _quantity(value, what)


def _quantity(value: object, what: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{what}: expected a hex quantity, got {str(value)[:80]!r}")
    return int(value, 16)


def _block_id(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


def _hex_data(value: bytes | str) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def _error_text(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return str(answer["error"].get("message", answer["error"]))
    return "no answer" if answer is None else "malformed answer"


__all__ = [
    "BLOCK_BATCH",
    "ChainReadError",
    "JsonRpcClient",
    "JsonRpcError",
    "ResponseTooLargeError",
    "WrongChainError",
    "hex_bytes",
    "quantity",
]
