"""Connecting to any standard Ethereum JSON-RPC engine (devnet, anvil, Besu, geth...)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests
from web3 import Web3
from web3.exceptions import ProviderConnectionError, Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware

from anchor.errors import ChainRPCError, ChainUnavailableError, WrongChainError

DEFAULT_TIMEOUT = 10.0


def connect(rpc_url: str, *, chain_id: int | None = None, timeout: float = DEFAULT_TIMEOUT) -> Web3:
    """A Web3 for `rpc_url`, checked to answer and, if given, to serve `chain_id`."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    # Clique keeps the seal in extraData (97 bytes); web3 rejects that without this.
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    with translate_transport_errors(rpc_url):
        actual = w3.eth.chain_id
    if chain_id is not None and actual != chain_id:
        raise WrongChainError(chain_id, actual)
    return w3


@contextmanager
def translate_transport_errors(what: str) -> Iterator[None]:
    """Turn transport failures into `ChainUnavailableError` naming the endpoint, and JSON-RPC
    error answers no caller handled into `ChainRPCError`."""
    try:
        yield
    except (requests.RequestException, ProviderConnectionError, OSError) as error:
        raise ChainUnavailableError(
            f"cannot reach {what}: {type(error).__name__}: {error}"
        ) from None
    except Web3RPCError as error:
        raise ChainRPCError(f"{what} answered with an error: {rpc_message(error)}") from None


def rpc_message(error: Web3RPCError) -> str:
    """The JSON-RPC error message, without web3's wrapping."""
    response = error.rpc_response or {}
    body = response.get("error") if isinstance(response, dict) else None
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(error)
