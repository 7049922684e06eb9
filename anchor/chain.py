"""Connecting to any standard Ethereum JSON-RPC engine (devnet, anvil, Besu, geth...), over
one endpoint or several with failover."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import ProviderConnectionError, Web3Exception, Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from anchor.errors import ChainRPCError, ChainUnavailableError, WrongChainError

DEFAULT_TIMEOUT = 10.0
# With several endpoints a silent one (packets dropped) must not hold a request for the whole
# read timeout before the next endpoint is tried; a reachable validator connects in far less.
FAILOVER_CONNECT_TIMEOUT = 3.0
RETRY_PREFERRED_AFTER = 30.0

log = logging.getLogger("anchor.chain")
T = TypeVar("T")


def connect(
    rpc_url: str | Sequence[str],
    *,
    chain_id: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retry_preferred_after: float = RETRY_PREFERRED_AFTER,
) -> Web3:
    """A Web3 for `rpc_url`, checked to answer and, if given, to serve `chain_id`.

    `rpc_url` may be a list of URLs in order of preference: the Web3 then sends through a
    `FailoverHTTPProvider`. Every endpoint that answers now must serve the same chain (the
    first answering one's, or `chain_id`); one that does not answer yet is checked before its
    first use, and at least one must answer."""
    urls = [rpc_url] if isinstance(rpc_url, str) else list(rpc_url)
    if not urls:
        raise ValueError("connect needs at least one JSON-RPC URL")
    if len(urls) > 1:
        provider = FailoverHTTPProvider(
            urls, chain_id=chain_id, timeout=timeout, retry_preferred_after=retry_preferred_after
        )
        provider.check_endpoints()
        return _web3(provider)
    w3 = _web3(HTTPProvider(urls[0], request_kwargs={"timeout": timeout}))
    with translate_transport_errors(urls[0]):
        actual = w3.eth.chain_id
    if chain_id is not None and actual != chain_id:
        raise WrongChainError(chain_id, actual, endpoint=redact_url(urls[0]))
    return w3


def _web3(provider: JSONBaseProvider) -> Web3:
    w3 = Web3(provider)
    # Clique keeps the seal in extraData (97 bytes); web3 rejects that without this.
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


class FailoverHTTPProvider(JSONBaseProvider):
    """JSON-RPC over HTTP to several endpoints of one chain, in order of preference.

    A request goes to the current endpoint. A transport failure there (connection refused or
    reset, timeout, HTTP 5xx or 429) moves on to the next endpoint and sends the request again
    there, reads and `eth_sendRawTransaction` alike: a signed transaction sent twice is the
    same transaction. A JSON-RPC error answer (a revert, invalid params) is the engine's answer
    and is returned as it is. The provider stays on the endpoint that works and, while away
    from the first (preferred) one, tries that one again every `retry_preferred_after`
    seconds. An endpoint is used only after it was seen to serve the chain (`chain_id`, or
    else the first answering endpoint's); one serving another chain is never used. When no
    endpoint answers, a request raises `ChainUnavailableError` naming each.

    Log lines and `endpoint_label` show URLs without user info, path or query, where
    credentials and API keys live.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        chain_id: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry_preferred_after: float = RETRY_PREFERRED_AFTER,
    ) -> None:
        super().__init__()
        if not urls:
            raise ValueError("FailoverHTTPProvider needs at least one URL")
        for url in urls:
            if urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"JSON-RPC URL {redact_url(url)} must start with http(s)://")
        self.urls = tuple(urls)
        self.chain_id = chain_id
        self.retry_preferred_after = retry_preferred_after
        kwargs = {"timeout": (min(FAILOVER_CONNECT_TIMEOUT, timeout), timeout)}
        # No retries inside an endpoint: the next endpoint is the retry.
        self._endpoints = [
            HTTPProvider(url, request_kwargs=kwargs, exception_retry_configuration=None)
            for url in self.urls
        ]
        self._lock = threading.Lock()
        self._current = 0
        self._preferred_due = 0.0  # monotonic time of the next try of urls[0]
        self._checked: set[int] = set()  # seen serving `chain_id`
        self._wrong_chain: set[int] = set()  # seen serving another chain: never used

    @property
    def endpoint_uri(self) -> str:
        """The endpoint requests go to now (web3 and error messages read this name)."""
        return self.urls[self._current]

    @property
    def endpoint_index(self) -> int:
        return self._current

    @property
    def endpoint_label(self) -> str:
        return redact_url(self.endpoint_uri)

    def __str__(self) -> str:
        return f"RPC connection {self.endpoint_label} (failover over {len(self.urls)})"

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return self._send(lambda endpoint: endpoint.make_request(method, params))

    def make_batch_request(
        self, batch_requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        return self._send(lambda endpoint: endpoint.make_batch_request(batch_requests))

    def check_endpoints(self) -> None:
        """Check every endpoint's chain id now: a wrong chain is an error naming the URL; an
        endpoint that does not answer is skipped (and checked before its first use), but one
        must answer. Requests then start on the first endpoint that answered."""
        failures: list[str] = []
        for index, url in enumerate(self.urls):
            try:
                self._check_chain(index)
            except (ChainUnavailableError, ChainRPCError) as error:
                failures.append(f"{redact_url(url)}: {error}")
                log.warning(
                    "JSON-RPC endpoint %s does not answer at start (%s); it is checked again "
                    "before its first use",
                    redact_url(url),
                    error,
                )
        answering = [i for i in range(len(self.urls)) if i in self._checked]
        if not answering:
            raise ChainUnavailableError(
                "cannot reach any JSON-RPC endpoint (" + "; ".join(failures) + ")"
            )
        with self._lock:
            self._current = answering[0]
            self._preferred_due = time.monotonic() + self.retry_preferred_after

    # ------------------------------------------------------------------ internals

    def _send(self, request: Callable[[HTTPProvider], T]) -> T:
        failures: list[tuple[int, str]] = []
        for index in self._order():
            try:
                self._check_chain(index)
                result = request(self._endpoints[index])
            except (ChainUnavailableError, ChainRPCError, WrongChainError) as error:
                failures.append((index, str(error)))
                continue
            except Exception as error:
                if not is_transport_failure(error):
                    raise
                failures.append((index, describe_transport_failure(error)))
                continue
            self._settle(index, failures)
            return result
        raise ChainUnavailableError(
            "no JSON-RPC endpoint answered ("
            + "; ".join(f"{redact_url(self.urls[i])}: {why}" for i, why in failures)
            + ")"
        )

    def _order(self) -> list[int]:
        """Endpoints to try, in order: the current one and those after it, wrapping round;
        the preferred one first when it is due for another try."""
        count = len(self.urls)
        with self._lock:
            order = [(self._current + k) % count for k in range(count)]
            if self._current != 0 and time.monotonic() >= self._preferred_due:
                self._preferred_due = time.monotonic() + self.retry_preferred_after
                order.remove(0)
                order.insert(0, 0)
        return [i for i in order if i not in self._wrong_chain]

    def _settle(self, index: int, failures: list[tuple[int, str]]) -> None:
        with self._lock:
            old = self._current
            if index == old:
                return
            self._current = index
            if old == 0:
                self._preferred_due = time.monotonic() + self.retry_preferred_after
        why = next((w for i, w in failures if i == old), None)
        if why is None and index == 0:  # the preferred endpoint answers again
            log.warning(
                "JSON-RPC: back on preferred endpoint %s (from %s)",
                redact_url(self.urls[index]),
                redact_url(self.urls[old]),
            )
        else:
            log.warning(
                "JSON-RPC endpoint %s failed (%s); failing over to %s",
                redact_url(self.urls[old]),
                why or "not tried",
                redact_url(self.urls[index]),
            )

    def _check_chain(self, index: int) -> None:
        """Raise unless endpoint `index` serves this provider's chain (asked once)."""
        if index in self._checked:
            return
        url = self.urls[index]
        try:
            response = self._endpoints[index].make_request(RPCEndpoint("eth_chainId"), [])
        except Exception as error:
            if not is_transport_failure(error):
                raise
            raise ChainUnavailableError(describe_transport_failure(error)) from None
        result = response.get("result")
        if not isinstance(result, str):
            raise ChainRPCError(f"eth_chainId answered {response.get('error')!r}")
        actual = int(result, 16)
        with self._lock:
            if self.chain_id is None:
                self.chain_id = actual
            expected = self.chain_id
            if actual == expected:
                self._checked.add(index)
                return
            self._wrong_chain.add(index)
        log.error(
            "JSON-RPC endpoint %s serves chain id %d, not %d: never used",
            redact_url(url),
            actual,
            expected,
        )
        raise WrongChainError(expected, actual, endpoint=redact_url(url))


def is_transport_failure(error: BaseException) -> bool:
    """Whether `error` means the endpoint did not answer, rather than answered "no"."""
    if isinstance(error, requests.HTTPError):
        status = error.response.status_code if error.response is not None else None
        return status is None or status >= 500 or status == 429
    return isinstance(error, requests.RequestException | ProviderConnectionError | OSError)


def describe_transport_failure(error: BaseException) -> str:
    """A short reason, without the URL or any request data."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code}"
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return "connection failed"
    return type(error).__name__


def redact_url(url: str) -> str:
    """`scheme://host:port` of `url`, with "/..." for a path or query: what may be shown in
    logs and status answers (user info, path and query can hold credentials or API keys)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "(malformed URL)"
    if ":" in host:
        host = f"[{host}]"
    tail = "/..." if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{tail}"


def endpoint_in_use(w3: Web3) -> dict[str, Any]:
    """Which JSON-RPC endpoint `w3` sends to now, safe to show: URL label, position, count."""
    provider: Any = w3.provider
    if isinstance(provider, FailoverHTTPProvider):
        return {
            "url": provider.endpoint_label,
            "index": provider.endpoint_index,
            "configured": len(provider.urls),
        }
    return {
        "url": redact_url(str(getattr(provider, "endpoint_uri", ""))),
        "index": 0,
        "configured": 1,
    }


@contextmanager
def translate_transport_errors(what: str) -> Iterator[None]:
    """Turn transport failures into `ChainUnavailableError` naming the endpoint, and JSON-RPC
    error answers and answers web3 cannot use (malformed, undecodable) that no caller handled
    into `ChainRPCError`: callers of `anchor/` catch `AnchorError` only."""
    try:
        yield
    except (requests.RequestException, ProviderConnectionError, OSError) as error:
        raise ChainUnavailableError(
            f"cannot reach {what}: {type(error).__name__}: {error}"
        ) from None
    except Web3RPCError as error:
        raise ChainRPCError(f"{what} answered with an error: {rpc_message(error)}") from None
    except Web3Exception as error:
        raise ChainRPCError(
            f"{what} gave an unusable answer: {type(error).__name__}: {error}"
        ) from None


def rpc_message(error: Web3RPCError) -> str:
    """The JSON-RPC error message, without web3's wrapping."""
    response = error.rpc_response or {}
    body = response.get("error") if isinstance(response, dict) else None
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(error)
