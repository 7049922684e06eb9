"""Keys of a devnet node, generated and kept on the node's own host: the validator key
(an encrypted Web3 Secret Storage keystore with its password file) and, for nodes without
one, a node key that identifies the node on the peer plane."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from eth_account import Account
from eth_utils.address import to_checksum_address

KEYSTORE = "keystore.json"
PASSWORD = "password"  # noqa: S105 (the file name, not a secret)
NODE_KEY = "nodekey"


class KeyFileError(Exception):
    """A key folder or key file is missing, unreadable or cannot be decrypted."""


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read (mode 0600, also when it existed)."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def generate_key_dir(out: Path) -> str:
    """A new validator key in `out` (keystore.json and password, both 0600); its address."""
    if (out / KEYSTORE).exists():
        raise KeyFileError(f"{out / KEYSTORE} exists already; keygen never overwrites a key")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    account = Account.create()
    password = secrets.token_urlsafe(24)
    write_private(out / PASSWORD, password + "\n")
    write_private(out / KEYSTORE, json.dumps(Account.encrypt(account.key, password)))
    return str(account.address)


def load_key_dir(directory: Path) -> bytes:
    """The private key in a folder written by `generate_key_dir`."""
    try:
        password = (directory / PASSWORD).read_text().rstrip("\n")
        return bytes(Account.decrypt(json.loads((directory / KEYSTORE).read_text()), password))
    except OSError as error:
        raise KeyFileError(f"cannot read the key in {directory}: {error.strerror}") from None
    except ValueError as error:
        raise KeyFileError(f"cannot decrypt the key in {directory}: {error}") from None


def key_dir_address(directory: Path) -> str:
    """The address of a key folder, read from its keystore without decrypting it."""
    try:
        return str(
            to_checksum_address("0x" + json.loads((directory / KEYSTORE).read_text())["address"])
        )
    except (OSError, ValueError, KeyError) as error:
        raise KeyFileError(f"cannot read {directory / KEYSTORE}: {error}") from None


def node_key_address(data: Path) -> str:
    return str(Account.from_key(node_key(data)).address)


def node_key(data: Path) -> bytes:
    """The node key in `data` (hex, 0600), created on first use like geth's nodekey."""
    path = data / NODE_KEY
    if not path.exists():
        write_private(path, secrets.token_bytes(32).hex() + "\n")
    try:
        return bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise KeyFileError(f"{path} is not a hex private key") from None
