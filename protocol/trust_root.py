"""The consortium's trust root: what an offline verifier trusts instead of a chain endpoint.

`trust-root.json` names the chain (id, genesis hash), the registry (address, runtime code
hash), the signer-set history (who may seal which blocks) and the TSA and JPKI trust anchors.
With it, a bundle's chain evidence (headers, receipt and storage proofs, docs/PROTOCOL.md
section 10) can be checked with no network at all. How a trust root is exported from a chain,
signed by governance and checked by the audit is docs/PROTOCOL.md's "Trust root" section.

The format here is version 1; its JSON is canonical (`dump_trust_root`) so that its SHA-256
(`trust_root_digest`) names one trust root exactly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from eth_utils.address import is_address, to_checksum_address

from protocol.clique import CliqueError, SignerHistory, SignerSet
from protocol.errors import EvidenceError

TRUST_ROOT_VERSION: Final = 1
MAX_TRUST_ROOT_BYTES: Final = 4 * 1024 * 1024
"""A trust root holds certificates and the signer history: megabytes at most."""


class TrustRootError(EvidenceError):
    """A trust root is malformed; `field` names the offending field."""


@dataclass(frozen=True)
class RegistryFacts:
    address: str
    """Checksummed."""
    code_hash: bytes
    """keccak256 of the registry's runtime code (what `contracts/artifacts.lock.json` pins)."""


@dataclass(frozen=True)
class TrustRoot:
    chain_id: int
    genesis_hash: bytes
    registry: RegistryFacts
    signer_sets: tuple[SignerSet, ...]
    """Every Clique signer set from genesis on, each with the block it took effect as of."""
    tsa_anchors: tuple[bytes, ...] = ()
    """DER certificates of the TSAs whose tokens count."""
    jpki_anchors: tuple[bytes, ...] = ()
    """DER certificates of the J-LIS CAs (every generation)."""
    issued_at: int = 0
    """Unix seconds: when it was exported."""
    extensions: Mapping[str, Any] = field(default_factory=dict)
    """Fields a later version adds (e.g. governance signatures), kept as read."""

    def signer_history(self) -> SignerHistory:
        return SignerHistory(self.signer_sets)


def load_trust_root(data: bytes | str) -> TrustRoot:
    """Parse `trust-root.json`; TrustRootError naming the field if anything is wrong."""
    if len(data) > MAX_TRUST_ROOT_BYTES:
        raise TrustRootError("trust_root", f"larger than {MAX_TRUST_ROOT_BYTES} bytes")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise TrustRootError("trust_root", f"not JSON: {error}") from None
    return parse_trust_root(obj)


def parse_trust_root(obj: object) -> TrustRoot:
    top = _object(obj, "trust_root")
    known = {"version", "chain_id", "genesis_hash", "registry", "signer_sets", "tsa_anchors",
             "jpki_anchors", "issued_at"}  # fmt: skip
    if top.get("version") != TRUST_ROOT_VERSION:
        raise TrustRootError("version", f"must be {TRUST_ROOT_VERSION}")
    registry = _object(top.get("registry"), "registry")
    return TrustRoot(
        chain_id=_int(top.get("chain_id"), "chain_id"),
        genesis_hash=_hex32(top.get("genesis_hash"), "genesis_hash"),
        registry=RegistryFacts(
            address=_address(registry.get("address"), "registry.address"),
            code_hash=_hex32(registry.get("code_hash"), "registry.code_hash"),
        ),
        signer_sets=_signer_sets(top.get("signer_sets")),
        tsa_anchors=_der_list(top.get("tsa_anchors", []), "tsa_anchors"),
        jpki_anchors=_der_list(top.get("jpki_anchors", []), "jpki_anchors"),
        issued_at=_int(top.get("issued_at", 0), "issued_at"),
        extensions={k: v for k, v in top.items() if k not in known},
    )


def trust_root_to_json(root: TrustRoot) -> dict[str, Any]:
    return {
        "version": TRUST_ROOT_VERSION,
        "chain_id": root.chain_id,
        "genesis_hash": "0x" + root.genesis_hash.hex(),
        "registry": {
            "address": to_checksum_address(root.registry.address),
            "code_hash": "0x" + root.registry.code_hash.hex(),
        },
        "signer_sets": [
            {
                "block": entry.block,
                "signers": sorted(to_checksum_address(s) for s in entry.signers),
            }
            for entry in root.signer_sets
        ],
        "tsa_anchors": [base64.b64encode(der).decode("ascii") for der in root.tsa_anchors],
        "jpki_anchors": [base64.b64encode(der).decode("ascii") for der in root.jpki_anchors],
        "issued_at": root.issued_at,
        **root.extensions,
    }


def dump_trust_root(root: TrustRoot) -> str:
    """Canonical JSON: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(
        trust_root_to_json(root), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def trust_root_digest(root: TrustRoot) -> bytes:
    """SHA-256 of the canonical JSON: the name a relying party pins or compares."""
    return hashlib.sha256(dump_trust_root(root).encode("utf-8")).digest()


def _signer_sets(value: object) -> tuple[SignerSet, ...]:
    if type(value) is not list or not value:
        raise TrustRootError("signer_sets", "must be a non-empty list")
    sets = []
    for i, item in enumerate(value):
        entry = _object(item, f"signer_sets[{i}]")
        signers = entry.get("signers")
        if type(signers) is not list or not signers:
            raise TrustRootError(f"signer_sets[{i}].signers", "must be a non-empty list")
        addresses = [
            bytes.fromhex(_address(s, f"signer_sets[{i}].signers[{j}]")[2:])
            for j, s in enumerate(signers)
        ]
        if len(set(addresses)) != len(addresses):
            raise TrustRootError(f"signer_sets[{i}].signers", "lists a signer twice")
        sets.append(SignerSet(_int(entry.get("block"), f"signer_sets[{i}].block"),
                              frozenset(addresses)))  # fmt: skip
    try:
        SignerHistory(sets)  # in block order
    except CliqueError as error:
        raise TrustRootError("signer_sets", error.problem) from None
    return tuple(sets)


def _object(value: object, path: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise TrustRootError(path, "must be a JSON object")
    return value


def _int(value: object, path: str) -> int:
    if type(value) is not int or value < 0:
        raise TrustRootError(path, "must be a non-negative integer")
    return value


def _hex32(value: object, path: str) -> bytes:
    if type(value) is not str or not value.startswith("0x") or len(value) != 66:
        raise TrustRootError(path, 'must be "0x" and 64 hex characters')
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise TrustRootError(path, 'must be "0x" and 64 hex characters') from None


def _address(value: object, path: str) -> str:
    if type(value) is not str or not is_address(value):
        raise TrustRootError(path, "must be a 20-byte hex address with a valid checksum")
    return to_checksum_address(value)


def _der_list(value: object, path: str) -> tuple[bytes, ...]:
    if type(value) is not list:
        raise TrustRootError(path, "must be a list of base64 DER certificates")
    found = []
    for i, item in enumerate(value):
        if type(item) is not str:
            raise TrustRootError(f"{path}[{i}]", "must be base64 text")
        try:
            found.append(base64.b64decode(item, validate=True))
        except binascii.Error:
            raise TrustRootError(f"{path}[{i}]", "is not valid base64") from None
    return tuple(found)


__all__ = [
    "MAX_TRUST_ROOT_BYTES",
    "TRUST_ROOT_VERSION",
    "RegistryFacts",
    "TrustRoot",
    "TrustRootError",
    "dump_trust_root",
    "load_trust_root",
    "parse_trust_root",
    "trust_root_digest",
    "trust_root_to_json",
]
