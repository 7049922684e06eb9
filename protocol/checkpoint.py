"""C2SP checkpoints (https://c2sp.org/tlog-checkpoint) as signed notes
(https://c2sp.org/signed-note) with Ed25519 keys. Pure format code: no files, no clock.

A checkpoint's text is `<origin>\\n<tree size>\\n<base64 root>\\n`; the note appends a blank
line and one `— <key name> <base64(key hash ‖ signature)>` line per signature. The key hash is
the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key); a verifier key is written
`<name>+<hex key hash>+<base64(0x01 ‖ public key)>`, a signer key
`PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 ‖ seed)>` (as golang.org/x/mod/sumdb/note).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.merkle import HASH_SIZE

ALG_ED25519: Final = 0x01
EM_DASH: Final = "\u2014"
SIGNATURE_PREFIX: Final = EM_DASH + " "
MAX_NOTE_BYTES: Final = 1 << 16
MAX_SIGNATURES: Final = 100
_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class CheckpointError(ValueError):
    """A malformed key, note or checkpoint, or a signature that does not verify."""


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key hash that names a key in signature lines."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise CheckpointError(f"key name {name!r} is empty or has a space or '+'")
    return name


def _b64(text: str, what: str) -> bytes:
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        decoded = None
    # Canonical only: one encoding per value (Python accepts surplus padding).
    if decoded is None or base64.b64encode(decoded).decode() != text:
        raise CheckpointError(f"{what} is not standard base64")
    return decoded


@dataclass(frozen=True)
class NoteVerifier:
    """A named Ed25519 public key, as in a verifier key string."""

    name: str
    public_key: bytes

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key)

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_verifier_key(text: str) -> NoteVerifier:
    """`<name>+<hex key hash>+<base64(0x01 ‖ key)>`; its key hash must match."""
    parts = text.strip().split("+", 2)  # base64 may hold '+' too
    if len(parts) != 3:
        raise CheckpointError("a verifier key is <name>+<key hash>+<base64 key>")
    name, hash_hex, encoded = parts
    key = _b64(encoded, "the verifier key")
    if len(key) != 33 or key[0] != ALG_ED25519:
        raise CheckpointError("the verifier key is not an Ed25519 key (0x01 and 32 bytes)")
    verifier = NoteVerifier(_check_name(name), key[1:])
    if not re.fullmatch(r"[0-9a-f]{8}", hash_hex) or verifier.key_hash.hex() != hash_hex:
        raise CheckpointError(f"the verifier key's hash {hash_hex!r} does not match its key")
    return verifier


@dataclass(frozen=True)
class NoteSigner:
    """A named Ed25519 private key (its 32-byte seed)."""

    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        key = Ed25519PrivateKey.generate()
        return cls(_check_name(name), key.private_bytes_raw())

    @property
    def verifier(self) -> NoteVerifier:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()
        return NoteVerifier(self.name, public)

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_hash.hex()}+{encoded}"

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def parse_signer_key(text: str) -> NoteSigner:
    """`PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 ‖ seed)>`; its key hash must match."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise CheckpointError("a signer key is PRIVATE+KEY+<name>+<key hash>+<base64 key>")
    seed = _b64(parts[4], "the signer key")
    if len(seed) != 33 or seed[0] != ALG_ED25519:
        raise CheckpointError("the signer key is not an Ed25519 key (0x01 and 32 bytes)")
    signer = NoteSigner(_check_name(parts[2]), seed[1:])
    if signer.verifier.key_hash.hex() != parts[3]:
        raise CheckpointError("the signer key's hash does not match its key")
    return signer


# ------------------------------------------------------------------ notes


def sign_note(text: str, signer: NoteSigner) -> bytes:
    """The signed note: `text` (ending in a newline), a blank line, one signature line."""
    _check_text(text)
    signature = signer.sign(text.encode())
    line = base64.b64encode(signer.verifier.key_hash + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{signer.name} {line}\n".encode()


def open_note(note: bytes, verifier: NoteVerifier) -> str:
    """The text of `note` if `verifier` signed it; CheckpointError otherwise. Signatures by
    other keys are ignored (witness cosignatures may sit beside the log's)."""
    if len(note) > MAX_NOTE_BYTES:
        raise CheckpointError(f"the note exceeds {MAX_NOTE_BYTES} bytes")
    try:
        decoded = note.decode()
    except UnicodeDecodeError:
        raise CheckpointError("the note is not UTF-8") from None
    split = decoded.rfind("\n\n")
    if split < 0 or not decoded.endswith("\n"):
        raise CheckpointError("the note has no signature block after a blank line")
    text, block = decoded[: split + 1], decoded[split + 2 : -1]
    _check_text(text)
    lines = block.split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"the note has more than {MAX_SIGNATURES} signatures")
    found_name = False
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError("a signature line does not start with '— '")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        raw = _b64(encoded, "a note signature")
        if len(raw) < 5:
            raise CheckpointError("a note signature is shorter than its key hash")
        if name != verifier.name or raw[:4] != verifier.key_hash:
            continue
        found_name = True
        if verifier.verify(text.encode(), raw[4:]):
            return text
    if found_name:
        raise CheckpointError(f"the signature of {verifier.name} does not verify")
    raise CheckpointError(f"the note is not signed by {verifier.name}+{verifier.key_hash.hex()}")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise CheckpointError("a note's text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise CheckpointError("a note's text has a control character")


# ------------------------------------------------------------------ checkpoints


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        if "\n" in self.origin or not self.origin:
            raise CheckpointError("a checkpoint's origin is one non-empty line")
        lines = [self.origin, str(self.tree_size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """A checkpoint from a note's (verified) text."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("a checkpoint has an origin, a size and a root, one per line")
    origin, size, root_b64, *extensions = lines[:-1]
    if not origin:
        raise CheckpointError("the checkpoint's origin is empty")
    if not _SIZE.fullmatch(size):
        raise CheckpointError(f"the checkpoint's tree size {size!r} is not a decimal number")
    root = _b64(root_b64, "the checkpoint's root")
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"the checkpoint's root has {len(root)} bytes, not {HASH_SIZE}")
    return Checkpoint(origin, int(size), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> bytes:
    return sign_note(checkpoint.body(), signer)


def open_checkpoint(note: bytes, verifier: NoteVerifier, origin: str | None = None) -> Checkpoint:
    """The checkpoint a note carries, once `verifier`'s signature on it checks out and its origin
    is the expected one (default: the key's name, as tlog-checkpoint recommends)."""
    checkpoint = parse_checkpoint(open_note(note, verifier))
    expected = verifier.name if origin is None else origin
    if checkpoint.origin != expected:
        raise CheckpointError(
            f"the checkpoint is for origin {checkpoint.origin!r}, not {expected!r}"
        )
    return checkpoint
