"""Loading an anchoring or governance key from disk: an encrypted keystore (with a password
file) or, for development only, a file holding a hex private key."""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from anchor.errors import AnchorError


class KeyFileError(AnchorError):
    """The key file is missing, unreadable, or its password is wrong."""


def load_account(key_file: Path, password_file: Path | None = None) -> LocalAccount:
    try:
        text = key_file.read_text().strip()
    except OSError as error:
        raise KeyFileError(f"cannot read key file {key_file}: {error.strerror}") from None
    if text.startswith("{"):
        if password_file is None:
            raise KeyFileError(f"{key_file} is an encrypted keystore; give its password file")
        try:
            password = password_file.read_text().rstrip("\n")
            key = Account.decrypt(json.loads(text), password)
        except OSError as error:
            raise KeyFileError(
                f"cannot read password file {password_file}: {error.strerror}"
            ) from None
        except ValueError as error:
            raise KeyFileError(f"cannot decrypt {key_file}: {error}") from None
        account: LocalAccount = Account.from_key(key)
        return account
    try:
        account = Account.from_key(text.removeprefix("0x"))
    except (ValueError, TypeError):
        raise KeyFileError(f"{key_file} holds neither a keystore nor a 32-byte hex key") from None
    return account


def write_keystore(account: LocalAccount, key_file: Path, password: str) -> None:
    """Encrypt `account` into `key_file` (mode 0600)."""
    keystore = Account.encrypt(account.key, password)
    key_file.touch(mode=0o600, exist_ok=True)
    key_file.chmod(0o600)  # touch() leaves an existing file's mode alone
    key_file.write_text(json.dumps(keystore))
