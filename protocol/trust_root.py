"""The consortium's trust root: what an offline verifier trusts instead of a chain endpoint.

`trust-root.json` names the chain (id, genesis hash), the registry (address, runtime code
hash), the signer-set history (who may seal which blocks) and the TSA and JPKI trust anchors.
With it, a bundle's chain evidence (headers, receipt and storage proofs, docs/PROTOCOL.md
section 10) can be checked with no network at all. How a trust root is exported from a chain,
signed by governance and checked by the audit is docs/PROTOCOL.md's "Trust root" section.

The format here is version 1; its JSON is canonical (`dump_trust_root`) so that its SHA-256
(`trust_root_digest`, taken without the `signatures` field) names one trust root exactly.

Governance signs a trust root as EIP-712 typed data, `TrustRoot(bytes32 digest)` in the domain
{name `TRUST_ROOT_DOMAIN_NAME`, version "1", chainId}: the typed-data prefix keeps the
signature from meaning anything else a member's key signs (transactions, personal_sign
messages, the registry's signed heads), and wallets show what is signed. Which members and
threshold count is TUF-like chaining (`accept_update`): the first trust root is pinned by its
digest out of band; a newer one is accepted when signed by the threshold of the members the
older one names (and of those it names itself).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from protocol.clique import CliqueError, SignerHistory, SignerSet
from protocol.errors import EvidenceError

TRUST_ROOT_VERSION: Final = 1
MAX_TRUST_ROOT_BYTES: Final = 4 * 1024 * 1024
"""A trust root holds certificates and the signer history: megabytes at most."""


TRUST_ROOT_DOMAIN_NAME: Final = "municipal-notary trust root"
TRUST_ROOT_DOMAIN_VERSION: Final = "1"
TRUST_ROOT_TYPE: Final = "TrustRoot(bytes32 digest)"
_DOMAIN_TYPE: Final = "EIP712Domain(string name,string version,uint256 chainId)"
HALF_CURVE_ORDER: Final = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
"""EIP-2: a signature with a higher `s` is the mirror of a valid one, so it is refused."""


class TrustRootError(EvidenceError):
    """A trust root is malformed; `field` names the offending field."""


class TrustRootSignatureError(TrustRootError):
    """A trust root's signatures do not make it trusted: one is bad, repeated, by a
    non-member, or too few members signed. `field` names the signature (``signatures[2]``)
    or ``signatures`` as a whole."""


class TrustRootUpdateError(TrustRootError):
    """A newer trust root may not replace the one trusted: another chain, not newer, a
    rewritten signer history, or not signed by the trusted governance."""


@dataclass(frozen=True)
class GovernanceFacts:
    """The registry's governance set when the trust root was exported: the members whose
    signatures count, and how many must sign (`governanceMembers()`, `threshold()`)."""

    members: tuple[str, ...]
    """Checksummed, sorted."""
    threshold: int

    def __post_init__(self) -> None:
        if not self.members or len(set(self.members)) != len(self.members):
            raise TrustRootError("governance.members", "a non-empty list of distinct addresses")
        if not 1 <= self.threshold <= len(self.members):
            raise TrustRootError(
                "governance.threshold", f"must be 1 to {len(self.members)} (the members)"
            )


@dataclass(frozen=True)
class MemberSignature:
    member: str
    """Checksummed address of the governance member who signed."""
    signature: bytes
    """65 bytes r ‖ s ‖ v (v 27 or 28, low s) over `signing_hash(root)`."""


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
    seal_anchors: tuple[bytes, ...] = ()
    """DER certificates of the LGPKI organisational CAs that vouch for municipal seals
    (docs/PROTOCOL.md section 14.4). Written only when there are some, so a trust root
    without them keeps the JSON, and the digest, it had before the field existed."""
    issued_at: int = 0
    """Unix seconds: when it was exported."""
    extensions: Mapping[str, Any] = field(default_factory=dict)
    """Fields a later version adds, kept as read."""
    governance: GovernanceFacts | None = None
    """Whose signatures make the *next* trust root trusted (and this one, once pinned)."""
    as_of_block: int | None = None
    """The chain head it was exported at: the signer history and governance are complete
    up to this block."""
    signatures: tuple[MemberSignature, ...] = ()
    """Governance members' EIP-712 signatures over the digest; not part of the digest."""

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
             "jpki_anchors", "seal_anchors", "issued_at", "governance", "as_of_block",
             "signatures"}  # fmt: skip
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
        seal_anchors=_seal_anchors(top),
        issued_at=_int(top.get("issued_at", 0), "issued_at"),
        extensions={k: v for k, v in top.items() if k not in known},
        governance=_governance(top["governance"]) if "governance" in top else None,
        as_of_block=_int(top["as_of_block"], "as_of_block") if "as_of_block" in top else None,
        signatures=_signatures(top.get("signatures", [])),
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
        **_optional_json(root),
        "signatures": [
            {"member": to_checksum_address(s.member), "signature": "0x" + s.signature.hex()}
            for s in sorted(root.signatures, key=lambda s: (s.member.lower(), s.signature))
        ],
    }


def _optional_json(root: TrustRoot) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if root.governance is not None:
        found["governance"] = {
            "members": sorted(to_checksum_address(m) for m in root.governance.members),
            "threshold": root.governance.threshold,
        }
    if root.as_of_block is not None:
        found["as_of_block"] = root.as_of_block
    if root.seal_anchors:
        found["seal_anchors"] = [base64.b64encode(der).decode("ascii") for der in root.seal_anchors]
    return found


def dump_trust_root(root: TrustRoot) -> str:
    """Canonical JSON: sorted keys, no insignificant whitespace, UTF-8."""
    return _canonical(trust_root_to_json(root))


def trust_root_digest(root: TrustRoot) -> bytes:
    """SHA-256 of the canonical JSON without `signatures`: the name a relying party pins or
    compares, the same however many members have signed."""
    unsigned = trust_root_to_json(root)
    del unsigned["signatures"]
    return hashlib.sha256(_canonical(unsigned).encode("utf-8")).digest()


def _canonical(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------- governance signatures


def trust_root_typed_data(root: TrustRoot) -> dict[str, Any]:
    """The full EIP-712 message a member signs (what `eth_signTypedData_v4` takes)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "TrustRoot": [{"name": "digest", "type": "bytes32"}],
        },
        "primaryType": "TrustRoot",
        "domain": {
            "name": TRUST_ROOT_DOMAIN_NAME,
            "version": TRUST_ROOT_DOMAIN_VERSION,
            "chainId": root.chain_id,
        },
        "message": {"digest": trust_root_digest(root)},
    }


def signing_hash(root: TrustRoot) -> bytes:
    """keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(TrustRoot)): what a member's key
    signs."""
    domain = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256"],
            [
                keccak(text=_DOMAIN_TYPE),
                keccak(text=TRUST_ROOT_DOMAIN_NAME),
                keccak(text=TRUST_ROOT_DOMAIN_VERSION),
                root.chain_id,
            ],
        )
    )
    struct = keccak(
        abi_encode(["bytes32", "bytes32"], [keccak(text=TRUST_ROOT_TYPE), trust_root_digest(root)])
    )
    return keccak(b"\x19\x01" + domain + struct)


def recover_member(root: TrustRoot, signature: bytes, field: str = "signature") -> str:
    """The checksummed address whose key made `signature` over `root`; TrustRootSignatureError
    if it is not a strict (v 27/28, low s) secp256k1 signature that recovers."""
    if len(signature) != 65:
        raise TrustRootSignatureError(field, f"{len(signature)} bytes, not 65 (r, s, v)")
    r, s, v = (int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"),
               signature[64])  # fmt: skip
    if v not in (27, 28) or s > HALF_CURVE_ORDER:
        raise TrustRootSignatureError(field, "not a canonical signature (v 27/28, low s)")
    try:
        public = Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(signing_hash(root))
    except (BadSignature, ValidationError, ValueError) as error:
        raise TrustRootSignatureError(field, f"does not recover a key: {error}") from None
    return public.to_checksum_address()


def add_signature(root: TrustRoot, member: str, signature: bytes) -> TrustRoot:
    """`root` with `member`'s signature added; TrustRootSignatureError if it is not
    `member`'s signature over this trust root or `member` signed already."""
    member = to_checksum_address(member)
    signer = recover_member(root, signature)
    if signer != member:
        raise TrustRootSignatureError("signature", f"made by {signer}, not by {member}")
    if any(to_checksum_address(s.member) == member for s in root.signatures):
        raise TrustRootSignatureError("signatures", f"{member} has signed already")
    return replace(root, signatures=(*root.signatures, MemberSignature(member, signature)))


def valid_signers(root: TrustRoot) -> frozenset[str]:
    """The members whose signatures are in `root`, each checked; TrustRootSignatureError on a
    signature that is not its member's or a member who signed twice."""
    seen: set[str] = set()
    for i, entry in enumerate(root.signatures):
        member = to_checksum_address(entry.member)
        signer = recover_member(root, entry.signature, f"signatures[{i}]")
        if signer != member:
            raise TrustRootSignatureError(
                f"signatures[{i}]", f"claims {member} but was made by {signer}"
            )
        if member in seen:
            raise TrustRootSignatureError(f"signatures[{i}]", f"{member} signed twice")
        seen.add(member)
    return frozenset(seen)


def verify_trust_root_signatures(
    root: TrustRoot, members: Collection[str], threshold: int
) -> frozenset[str]:
    """The members who signed `root`, if at least `threshold` of `members` did and nobody
    else; TrustRootSignatureError otherwise (bad, repeated or non-member signature, too few)."""
    trusted = {to_checksum_address(m) for m in members}
    signers = valid_signers(root)
    outsiders = sorted(signers - trusted)
    if outsiders:
        raise TrustRootSignatureError(
            "signatures", f"signed by {', '.join(outsiders)}, not a governance member"
        )
    _require_threshold(signers, trusted, threshold, "governance")
    return signers


def verify_self_signed(root: TrustRoot) -> frozenset[str]:
    """Signatures checked against the governance the trust root names itself: what a pinned
    trust root (trusted by its digest) must carry."""
    governance = _governance_of(root)
    return verify_trust_root_signatures(root, governance.members, governance.threshold)


def accept_update(old: TrustRoot, new: TrustRoot) -> frozenset[str]:
    """Accept `new` in place of the trusted `old`, TUF-style, or raise TrustRootUpdateError
    (TrustRootSignatureError for signatures). `new` must be on the same chain (id, genesis),
    issued later, keep `old`'s signer history as its start (history is never rewritten), and
    be signed by the threshold of `old`'s members (authority) and of its own (the new set
    holds its keys). Returns the members who signed."""
    before, after = _governance_of(old), _governance_of(new)
    if (new.chain_id, new.genesis_hash) != (old.chain_id, old.genesis_hash):
        raise TrustRootUpdateError("chain_id", "the newer trust root names another chain")
    if new.issued_at <= old.issued_at:
        raise TrustRootUpdateError(
            "issued_at", f"{new.issued_at} is not after the trusted one's {old.issued_at}"
        )
    if new.signer_sets[: len(old.signer_sets)] != old.signer_sets:
        raise TrustRootUpdateError(
            "signer_sets", "does not extend the trusted trust root's signer history"
        )
    signers = valid_signers(new)
    outsiders = sorted(signers - set(before.members) - set(after.members))
    if outsiders:
        raise TrustRootSignatureError(
            "signatures", f"signed by {', '.join(outsiders)}, a member of neither governance"
        )
    _require_threshold(signers, set(before.members), before.threshold, "the trusted governance")
    _require_threshold(signers, set(after.members), after.threshold, "its own governance")
    return signers


def accept_chain(pinned_digest: bytes, roots: Sequence[TrustRoot]) -> TrustRoot:
    """Walk from the pinned trust root (`roots[0]`, whose digest must be `pinned_digest` and
    whose own governance must have signed it) through each update in order; the last one."""
    if not roots:
        raise TrustRootUpdateError("trust_root", "no trust root given")
    first = roots[0]
    if trust_root_digest(first) != pinned_digest:
        raise TrustRootUpdateError(
            "trust_root",
            f"digest {trust_root_digest(first).hex()} is not the pinned {pinned_digest.hex()}",
        )
    verify_self_signed(first)
    for older, newer in pairwise(roots):
        accept_update(older, newer)
    return roots[-1]


def _governance_of(root: TrustRoot) -> GovernanceFacts:
    if root.governance is None:
        raise TrustRootSignatureError("governance", "the trust root names no governance")
    return root.governance


def _require_threshold(
    signers: frozenset[str], members: Collection[str], threshold: int, whose: str
) -> None:
    counted = len(signers & {to_checksum_address(m) for m in members})
    if counted < threshold:
        raise TrustRootSignatureError(
            "signatures",
            f"{counted} of {len(members)} members of {whose} signed; {threshold} must",
        )


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


def _governance(value: object) -> GovernanceFacts:
    obj = _object(value, "governance")
    members = obj.get("members")
    if type(members) is not list:
        raise TrustRootError("governance.members", "must be a list of addresses")
    addresses = [_address(m, f"governance.members[{i}]") for i, m in enumerate(members)]
    return GovernanceFacts(tuple(sorted(addresses)),
                           _int(obj.get("threshold"), "governance.threshold"))  # fmt: skip


def _signatures(value: object) -> tuple[MemberSignature, ...]:
    if type(value) is not list:
        raise TrustRootError("signatures", "must be a list")
    found = []
    for i, item in enumerate(value):
        entry = _object(item, f"signatures[{i}]")
        signature = entry.get("signature")
        if type(signature) is not str or not signature.startswith("0x") or len(signature) != 132:
            raise TrustRootError(f"signatures[{i}].signature", '"0x" and 130 hex characters')
        try:
            raw = bytes.fromhex(signature[2:])
        except ValueError:
            raise TrustRootError(
                f"signatures[{i}].signature", '"0x" and 130 hex characters'
            ) from None
        found.append(MemberSignature(_address(entry.get("member"), f"signatures[{i}].member"), raw))
    return tuple(found)


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


def _seal_anchors(top: Mapping[str, Any]) -> tuple[bytes, ...]:
    """Absent (a trust root from before the field, or without seals) means none; present, it
    lists at least one, so that one trust root has one canonical form and one digest."""
    if "seal_anchors" not in top:
        return ()
    found = _der_list(top["seal_anchors"], "seal_anchors")
    if not found:
        raise TrustRootError("seal_anchors", "omit the field when there are no seal anchors")
    return found


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
    "TRUST_ROOT_DOMAIN_NAME",
    "TRUST_ROOT_VERSION",
    "GovernanceFacts",
    "MemberSignature",
    "RegistryFacts",
    "TrustRoot",
    "TrustRootError",
    "TrustRootSignatureError",
    "TrustRootUpdateError",
    "accept_chain",
    "accept_update",
    "add_signature",
    "dump_trust_root",
    "load_trust_root",
    "parse_trust_root",
    "recover_member",
    "signing_hash",
    "trust_root_digest",
    "trust_root_to_json",
    "trust_root_typed_data",
    "valid_signers",
    "verify_self_signed",
    "verify_trust_root_signatures",
]
