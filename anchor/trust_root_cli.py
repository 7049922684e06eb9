"""`notary trust-root sign FILE`: a governance member adds their signature to a trust root.

The write side (it needs a member's key), offline: the member signs the EIP-712 message
`protocol.trust_root.trust_root_typed_data` names (the trust root's digest, so the other
members' signatures are unaffected), and only as a member of the governance the file itself
names. Exit 0 signed, 1 refused, 2 bad arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address

from anchor.keys import KeyFileError, load_account
from protocol.trust_root import (
    TrustRootError,
    add_signature,
    dump_trust_root,
    load_trust_root,
    trust_root_digest,
    trust_root_typed_data,
)

NAME = "notary trust-root sign"


@click.command("sign")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    envvar="NOTARY_KEY_FILE",
    help="The member's encrypted keystore (or, for development, a hex key).",
)
@click.option(
    "--password-file", type=click.Path(dir_okay=False, path_type=Path), help="Keystore password."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the signed trust root (default: FILE, in place).",
)
def sign(file: Path, key_file: Path, password_file: Path | None, out: Path | None) -> None:
    """Add this governance member's signature to the trust root in FILE."""
    try:
        root = load_trust_root(file.read_bytes())
    except OSError as error:
        _fail(f"cannot read {file}: {error.strerror}", 2)
    except TrustRootError as error:
        _fail(f"{file} is not a trust root: {error}", 2)
    try:
        account = load_account(key_file, password_file)
    except KeyFileError as error:
        _fail(str(error), 2)
    member = to_checksum_address(account.address)
    governance = root.governance
    if governance is None:
        _fail(f"{file} names no governance members; export it again", 1)
    if member not in governance.members:
        _fail(f"{member} is not a governance member named in {file}", 1)
    signed = account.sign_message(encode_typed_data(full_message=trust_root_typed_data(root)))
    try:
        root = add_signature(root, member, bytes(signed.signature))
    except TrustRootError as error:
        _fail(str(error), 1)
    target = out or file
    try:
        target.write_text(dump_trust_root(root) + "\n", encoding="utf-8")
    except OSError as error:
        _fail(f"cannot write {target}: {error.strerror}", 2)
    click.echo(
        f"{member} signed trust root 0x{trust_root_digest(root).hex()}: "
        f"{len(root.signatures)} of {len(governance.members)} members have signed "
        f"(threshold {governance.threshold})",
        err=True,
    )


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"{NAME}: {message}", err=True)
    raise click.exceptions.Exit(code)
