"""The proof bundle: the JSON document a citizen holds next to the notarised document.

One format for both sides: the node builds bundles with `make_document_entry` and
`build_bundle`, a verifier reads them with `load_bundle`. Reading is strict (docs/PROTOCOL.md,
"Proof bundle"; JSON Schema in docs/bundle.schema.json): unknown or duplicate fields, a wrong
version, bad hex or base64, wrong lengths, out-of-range numbers and oversized arrays are all
refused with a `BundleFormatError` naming the field, e.g. ``inclusion.path[3]``. Nothing in
a parsed bundle is trusted yet: that is `verifier.verify`'s job.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import json
import re
import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal

import msgspec
from eth_utils.address import to_checksum_address

from protocol import bundle_fast
from protocol.errors import BundleFormatError, LeafEncodingError
from protocol.evidence import EvidenceSection, evidence_to_json, parse_evidence
from protocol.json_fields import json_int, json_object, json_type, only_fields, required
from protocol.leaf import (
    COMMITTED_SIGNER_VERSION,
    ENCODING_VERSION,
    LEGACY_ENCODING_VERSION,
    MAX_UINT16,
    MAX_UINT64,
    NO_REQUESTER,
    SALT_SIZE,
    DocumentEntry,
    EntryKind,
    RevocationEntry,
    SignatureFormat,
    encode_document,
    is_valid_lg_code,
    salted_digest,
    signer_commitment,
)
from protocol.merkle import hash_leaf

BUNDLE_VERSIONS: Final = (LEGACY_ENCODING_VERSION, COMMITTED_SIGNER_VERSION)
"""Versions 1 and 2: the bundle's version is its document leaf's encoding version, 2 (the
leaf commits to the signer with `signer_commitment`) or 1 (the leaf holds `signer_sha256`
itself; bundles of the first logs, still read). The JSON fields are the same in both."""
EVIDENCE_VERSION: Final = 3
"""An anchored bundle of a version-2 leaf that carries chain evidence (`evidence`, PROTOCOL
section 10) for offline verification. Versions 1 and 2 are read and verified as before."""
SEALED_VERSION: Final = 4
"""A bundle of a version-3 leaf (document or event, with the requester commitment): the leaf
section adds `kind` and `requester_commitment`; `evidence` once the node captured it."""
BUNDLE_VERSION: Final = SEALED_VERSION
"""What producers write."""
READABLE_VERSIONS: Final = (*BUNDLE_VERSIONS, EVIDENCE_VERSION, SEALED_VERSION)
LEAF_VERSION_OF_BUNDLE: Final = {
    LEGACY_ENCODING_VERSION: LEGACY_ENCODING_VERSION,
    COMMITTED_SIGNER_VERSION: COMMITTED_SIGNER_VERSION,
    EVIDENCE_VERSION: COMMITTED_SIGNER_VERSION,
    SEALED_VERSION: ENCODING_VERSION,
}
ENTRY_KIND_LABELS: Final = {EntryKind.DOCUMENT: "document", EntryKind.EVENT: "event"}
"""`leaf.kind` of a version-4 bundle."""
MAX_BUNDLE_BYTES: Final = 1024 * 1024
MAX_PATH_LENGTH: Final = 64
"""An RFC 6962 inclusion path in a tree of at most 2**64 leaves has at most 64 hashes."""
MAX_CERTIFICATES: Final = 8
MAX_BLOB_BYTES: Final = 256 * 1024
"""Upper bound for one certificate or signature (a JPKI CMS is a few kilobytes)."""
MAX_NESTING: Final = 32
"""JSON nesting depth limit; a bundle needs 4."""
MAX_CHAIN_INT: Final = 2**63 - 1
"""Chain ids and block numbers: JSON-RPC quantities every engine handles."""

BundleStatus = Literal["anchored", "pending"]

TOP_LEVEL_FIELDS: Final = (
    "version",
    "status",
    "leaf",
    "signature",
    "inclusion",
    "head",
    "anchor",
    "revocation",
)
"""Every top-level field a version-1 or -2 bundle may have, in the order producers write them."""
EVIDENCE_TOP_LEVEL_FIELDS: Final = (*TOP_LEVEL_FIELDS[:-1], "evidence", "revocation")
"""Those of a version-3 bundle: `evidence` after the anchor it proves."""
LEAF_FIELDS: Final = (
    "leaf_hash",
    "salt",
    "lg_code",
    "document_type",
    "issued_at",
    "signing_time",
    "signer_sha256",
    "signature_sha256",
)
SEALED_LEAF_FIELDS: Final = (
    LEAF_FIELDS[0],
    "kind",
    *LEAF_FIELDS[1:],
    "requester_commitment",
)
"""The leaf fields of a version-4 bundle."""
SIGNATURE_FIELDS: Final = ("format", "value", "certificates")
INCLUSION_FIELDS: Final = ("leaf_index", "tree_size", "path")
HEAD_FIELDS: Final = ("seq", "tree_size", "root")
ANCHOR_FIELDS: Final = (
    "chain_id",
    "registry",
    "node",
    "lg_code",
    "tx_hash",
    "block_number",
    "block_hash",
)
REVOCATION_FIELDS: Final = ("status", "entry", "inclusion", "head", "anchor")
REVOCATION_ENTRY_FIELDS: Final = (
    "leaf_hash",
    "revoked_leaf_hash",
    "lg_code",
    "reason",
    "revoked_at",
)
SECTION_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "leaf": LEAF_FIELDS,
    "leaf_v4": SEALED_LEAF_FIELDS,
    "signature": SIGNATURE_FIELDS,
    "inclusion": INCLUSION_FIELDS,
    "head": HEAD_FIELDS,
    "anchor": ANCHOR_FIELDS,
    "revocation": REVOCATION_FIELDS,
    "revocation.entry": REVOCATION_ENTRY_FIELDS,
}
"""The fields of each object, for the schema-consistency test and for producers."""
_ANCHORED_NEEDS: Final = ' (an "anchored" bundle needs it)'
_HEX32: Final = re.compile(r"[0-9a-f]{64}")
_HEX32_0X: Final = re.compile(r"0x[0-9a-f]{64}")
_HEX_RUN: Final = re.compile(r"[0-9a-f]*")
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_LG_CODE: Final = re.compile(r"[0-9]{6}")
# A JSON string, or the unterminated rest of the text after a quote: possessive, so every
# quote outside a string starts exactly one match and no character is looked at twice (the
# old `"(?:[^"\\]|\\.)*"` re-scanned the rest of an unterminated string from every escaped
# quote in it: quadratic, about 50 minutes for a crafted 1 MiB text).
_STRINGS: Final = re.compile(r'"(?:[^"\\]++|\\(?:.|\Z))*+(?:"|\Z)', re.DOTALL)
_BRACKETS: Final = re.compile(r"[\[\]{}]")
_BASE64_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


# --------------------------------------------------------------------------- the model
# Frozen msgspec Structs: built on every verification, an order of magnitude faster than frozen
# dataclasses; not tracked by the garbage collector (gc=False), as immutable objects made from
# their parts cannot be in a reference cycle.


class LeafSection(msgspec.Struct, frozen=True, gc=False):
    """The document entry's fields as the bundle states them, plus the salt.

    The salted digest is not stated: the verifier computes it from the document and `salt`
    and compares the resulting leaf hash with `leaf_hash`.
    """

    leaf_hash: bytes
    salt: bytes
    lg_code: int
    document_type: int
    issued_at: int
    signing_time: int
    signer_sha256: bytes
    signature_sha256: bytes
    version: int = LEGACY_ENCODING_VERSION
    """The leaf's encoding version (1, 2 or 3; `LEAF_VERSION_OF_BUNDLE`)."""
    kind: EntryKind = EntryKind.DOCUMENT
    requester_commitment: bytes = NO_REQUESTER

    @property
    def signer_ref(self) -> bytes:
        """What the leaf holds for the signer: the commitment (version 2, 3) or the SHA-256."""
        if self.version == LEGACY_ENCODING_VERSION:
            return self.signer_sha256
        return signer_commitment(self.salt, self.signer_sha256)

    def leaf_hash_for(self, document_sha256: bytes, signature_format: SignatureFormat) -> bytes:
        """The leaf hash these fields give for a document with this SHA-256.

        Same bytes as ``entry(...).leaf_hash()``, without re-validating fields the parser
        already checked (this is on every verification's path).
        """
        return hash_leaf(
            encode_document(
                salted_digest(self.salt, document_sha256),
                self.lg_code,
                self.document_type,
                self.issued_at,
                self.signing_time,
                signature_format,
                self.signer_ref,
                self.signature_sha256,
                version=self.version,
                requester_ref=self.requester_commitment,
                kind=self.kind,
            )
        )

    def entry(self, document_sha256: bytes, signature_format: SignatureFormat) -> DocumentEntry:
        """The document entry these fields describe for a document with this SHA-256."""
        return DocumentEntry(
            salted_digest=salted_digest(self.salt, document_sha256),
            lg_code=self.lg_code,
            document_type=self.document_type,
            issued_at=self.issued_at,
            signing_time=self.signing_time,
            signature_format=signature_format,
            signer_ref=self.signer_ref,
            signature_sha256=self.signature_sha256,
            version=self.version,
            requester_ref=self.requester_commitment,
            kind=self.kind,
        )


class SignatureSection(msgspec.Struct, frozen=True, gc=False):
    """The JPKI signature over the document; `certificates[0]` is the signer's (DER).

    The blobs are kept as the validated base64 text of the bundle and decoded on use: a
    verifier that does not check signatures (anchoring only) never pays for decoding them.
    Validation guarantees that decoding cannot fail. Build one from bytes with `of`.
    """

    format: SignatureFormat
    value_base64: str
    certificates_base64: tuple[str, ...]

    @classmethod
    def of(
        cls, format: SignatureFormat, value: bytes, certificates: Sequence[bytes]
    ) -> SignatureSection:
        return cls(format, _b64(value), tuple(_b64(der) for der in certificates))

    @property
    def value(self) -> bytes:
        """The signature: CMS DER, or the raw PKCS#1 v1.5 signature."""
        return binascii.a2b_base64(self.value_base64, strict_mode=True)

    @property
    def certificates(self) -> tuple[bytes, ...]:
        """DER certificates, the signer's first."""
        return tuple(binascii.a2b_base64(c, strict_mode=True) for c in self.certificates_base64)

    @property
    def signer_certificate(self) -> bytes:
        return binascii.a2b_base64(self.certificates_base64[0], strict_mode=True)


class InclusionSection(msgspec.Struct, frozen=True, gc=False):
    leaf_index: int
    tree_size: int
    path: tuple[bytes, ...]


class HeadSection(msgspec.Struct, frozen=True, gc=False):
    """The anchored tree head: the node's `seq`-th anchor, over `tree_size` leaves."""

    seq: int
    tree_size: int
    root: bytes


class AnchorSection(msgspec.Struct, frozen=True, gc=False):
    """Where the head was anchored. Addresses are EIP-55 checksummed strings."""

    chain_id: int
    registry: str
    node: str
    lg_code: int
    tx_hash: bytes
    block_number: int
    block_hash: bytes


class RevocationSection(msgspec.Struct, frozen=True, gc=False):
    """A revocation entry of the issuing municipality, with its own proof when anchored."""

    status: BundleStatus
    entry: RevocationEntry
    leaf_hash: bytes
    inclusion: InclusionSection | None = None
    head: HeadSection | None = None
    anchor: AnchorSection | None = None


class ProofBundle(msgspec.Struct, frozen=True, gc=False):
    """A parsed proof bundle (version 1 to 4). `status` is "pending" until the node anchored
    the entry; a pending bundle has no inclusion, head or anchor. A version-3 bundle is anchored
    and carries `evidence`; a version-4 one may (once the node captured it)."""

    version: int
    status: BundleStatus
    leaf: LeafSection
    signature: SignatureSection
    inclusion: InclusionSection | None = None
    head: HeadSection | None = None
    anchor: AnchorSection | None = None
    revocation: RevocationSection | None = None
    evidence: EvidenceSection | None = None


# --------------------------------------------------------------------------- reading


def load_bundle(data: bytes | str) -> ProofBundle:
    """Parse a bundle from its JSON text (UTF-8), strictly; raises BundleFormatError."""
    common = bundle_fast.read(data)  # a few times faster, for what it fully checks
    if common is not None:
        return _from_fast(common)
    return parse_bundle(load_json(data))


@functools.cache
def _split_hashes(count: int) -> struct.Struct:
    """Cuts `count` 32-byte hashes apart in one C call (for an inclusion path)."""
    return struct.Struct(f"{'32s' * count}")


_KINDS: Final = {label: kind for kind, label in ENTRY_KIND_LABELS.items()}


def _from_fast(read: bundle_fast.Read) -> ProofBundle:
    """The model of a bundle `bundle_fast` accepted: the values `parse_bundle` would give."""
    raw, hashes = read.raw, read.hashes
    leaf, signature = raw.leaf, raw.signature
    kind, requester = EntryKind.DOCUMENT, NO_REQUESTER
    if raw.version == SEALED_VERSION:  # bundle_fast: then both are there
        assert leaf.kind is not msgspec.UNSET
        kind = _KINDS[leaf.kind]
        if leaf.requester_commitment is not None:
            requester = hashes[-32:]
    section = LeafSection(  # positional: LeafSection's field order, faster than keywords
        hashes[:32],
        hashes[32:64],
        read.lg_code,
        leaf.document_type,
        read.issued_at,
        read.signing_time,
        hashes[64:96],
        hashes[96:128],
        LEAF_VERSION_OF_BUNDLE[raw.version],
        kind,
        requester,
    )
    signed = SignatureSection(
        _FORMATS[signature.format],
        signature.value,
        tuple(signature.certificates),
    )
    inclusion, head, anchor = raw.inclusion, raw.head, raw.anchor
    if raw.status == "pending":
        return ProofBundle(raw.version, "pending", section, signed)
    assert isinstance(inclusion, bundle_fast.Inclusion)  # bundle_fast: all three when anchored
    assert isinstance(head, bundle_fast.Head) and isinstance(anchor, bundle_fast.Anchor)
    # Bundles of one head share its head and anchor sections (equal values, immutable): made
    # once, and every later comparison of them (the chain cache, per-head checks) is identity.
    key = (
        hashes[128:224],
        head.seq,
        head.tree_size,
        anchor.chain_id,
        read.registry,
        read.node,
        read.anchor_lg_code,
        anchor.block_number,
    )
    shared = _SHARED_HEADS.get(key)
    if shared is None:
        shared = (
            HeadSection(head.seq, head.tree_size, hashes[128:160]),
            AnchorSection(
                chain_id=anchor.chain_id,
                registry=read.registry,
                node=read.node,
                lg_code=read.anchor_lg_code,
                tx_hash=hashes[160:192],
                block_number=anchor.block_number,
                block_hash=hashes[192:224],
            ),
        )
        if len(_SHARED_HEADS) >= _MAX_SHARED_HEADS:
            _SHARED_HEADS.clear()
        _SHARED_HEADS[key] = shared
    return ProofBundle(
        raw.version,
        "anchored",
        section,
        signed,
        InclusionSection(
            inclusion.leaf_index,
            inclusion.tree_size,
            _split_hashes(len(inclusion.path)).unpack_from(hashes, 224),
        ),
        *shared,
    )


_MAX_SHARED_HEADS: Final = 256
_SHARED_HEADS: dict[tuple[Any, ...], tuple[HeadSection, AnchorSection]] = {}
"""The head and anchor sections of the last few heads `_from_fast` read, by their values."""
_FORMATS: Final = {f.label: f for f in SignatureFormat}


def load_json(data: bytes | str) -> Any:
    """Strict JSON: UTF-8, at most MAX_BUNDLE_BYTES, no duplicate keys, no NaN/Infinity."""
    if isinstance(data, str):
        size = len(data.encode("utf-8", "surrogatepass"))
        text = data
    elif isinstance(data, bytes | bytearray):
        size = len(data)
        if size <= MAX_BUNDLE_BYTES:
            try:
                text = bytes(data).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BundleFormatError(
                    "bundle", f"not UTF-8 text (byte {exc.start} is invalid)"
                ) from None
    else:
        raise BundleFormatError("bundle", f"expected JSON text, got {type(data).__name__}")
    if size > MAX_BUNDLE_BYTES:
        raise BundleFormatError(
            "bundle", f"{size} bytes is more than the {MAX_BUNDLE_BYTES} a bundle may have"
        )
    _check_nesting(text)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except BundleFormatError:
        raise
    except json.JSONDecodeError as exc:
        raise BundleFormatError(
            "bundle", f"not JSON ({exc.msg}: line {exc.lineno} column {exc.colno})"
        ) from None
    except ValueError:
        # Python refuses to convert integers of more than 4,300 digits (CVE-2020-10735);
        # no bundle field has a tenth of that.
        raise BundleFormatError(
            "bundle", "a number with thousands of digits (no bundle has one)"
        ) from None
    except RecursionError:
        raise BundleFormatError(
            "bundle", "not JSON a verifier accepts (nested too deeply)"
        ) from None


def _check_nesting(text: str) -> None:
    """Refuse JSON nested deeper than any bundle can be, before the parser recurses into it.

    Libraries loaded beside the verifier (py_ecc, via web3, in the node) raise the interpreter's
    recursion limit to 100,000, so a megabyte of ``[[[[...`` would overflow the C stack inside
    `json.loads` and kill the process instead of raising. A real bundle has a dozen brackets,
    so counting them (C speed) clears it; only text with many brackets is scanned properly,
    skipping brackets inside strings.
    """
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return
    # Linear: one pass drops the strings (JSON ends parsing where an unterminated one
    # starts, so what follows it is never nested into), one pass counts the brackets.
    depth = 0
    for char in _BRACKETS.findall(_STRINGS.sub("", text)):
        depth = depth + 1 if char in "[{" else depth - 1
        if depth > MAX_NESTING:
            raise BundleFormatError(
                "bundle", f"nested more than {MAX_NESTING} levels deep (no bundle is)"
            )


def parse_bundle(obj: object) -> ProofBundle:
    """Validate already-decoded JSON (e.g. from an HTTP body) as a proof bundle."""
    top = json_object(obj, "bundle")
    version = _check_version(top)
    with_evidence = version == EVIDENCE_VERSION
    may_have_evidence = version >= EVIDENCE_VERSION
    only_fields(top, EVIDENCE_TOP_LEVEL_FIELDS if may_have_evidence else TOP_LEVEL_FIELDS, "")
    status = _status(required(top, "status", ""), "status")
    if with_evidence and status != "anchored":
        raise BundleFormatError(
            "status", 'a version-3 bundle is "anchored" (it carries the anchor\'s evidence)'
        )
    if "evidence" in top and status != "anchored":
        raise BundleFormatError("evidence", 'only an "anchored" bundle carries evidence')
    leaf = _leaf(required(top, "leaf", ""), LEAF_VERSION_OF_BUNDLE[version])
    signature = _signature(required(top, "signature", ""))
    inclusion, head, anchor = _anchoring(top, status, "")
    evidence = None
    if with_evidence or "evidence" in top:
        evidence = parse_evidence(required(top, "evidence", ""), "evidence")
    revocation = None
    if "revocation" in top:
        revocation = parse_revocation_section(top["revocation"], "revocation")
    return ProofBundle(
        version=version,
        status=status,
        leaf=leaf,
        signature=signature,
        inclusion=inclusion,
        head=head,
        anchor=anchor,
        revocation=revocation,
        evidence=evidence,
    )


def parse_revocation_section(obj: object, path: str = "revocation") -> RevocationSection:
    """A revocation section, from a bundle or from a node's status answer."""
    section = json_object(obj, path)
    only_fields(section, REVOCATION_FIELDS, path + ".")
    status = _status(required(section, "status", path + "."), path + ".status")
    entry_path = path + ".entry"
    raw_entry = json_object(required(section, "entry", path + "."), entry_path)
    only_fields(raw_entry, REVOCATION_ENTRY_FIELDS, entry_path + ".")
    prefix = entry_path + "."
    leaf_hash = _hex32(required(raw_entry, "leaf_hash", prefix), prefix + "leaf_hash")
    entry = RevocationEntry(
        revoked_leaf_hash=_hex32(
            required(raw_entry, "revoked_leaf_hash", prefix), prefix + "revoked_leaf_hash"
        ),
        lg_code=_lg_code(required(raw_entry, "lg_code", prefix), prefix + "lg_code"),
        reason=json_int(
            required(raw_entry, "reason", prefix), prefix + "reason", 1, MAX_UINT16 - 1
        ),
        revoked_at=_time(required(raw_entry, "revoked_at", prefix), prefix + "revoked_at"),
    )
    inclusion, head, anchor = _anchoring(section, status, path + ".")
    return RevocationSection(status, entry, leaf_hash, inclusion, head, anchor)


def _check_version(top: Mapping[str, Any]) -> int:
    if "version" not in top:
        raise BundleFormatError("version", "missing (a proof bundle starts with its version)")
    version = top["version"]
    if type(version) is not int:
        raise BundleFormatError("version", f"must be the integer {BUNDLE_VERSION}")
    if version not in READABLE_VERSIONS:
        raise BundleFormatError(
            "version",
            f"version {version} is not supported (this verifier reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; update it or ask the issuer for a "
            f"version-{BUNDLE_VERSION} bundle)",
        )
    return int(version)


def _anchoring(
    obj: Mapping[str, Any], status: BundleStatus, prefix: str
) -> tuple[InclusionSection | None, HeadSection | None, AnchorSection | None]:
    if status == "pending":
        for name in ("inclusion", "head", "anchor"):
            if name in obj:
                raise BundleFormatError(
                    prefix + name, 'not allowed while status is "pending" (nothing is anchored)'
                )
        return None, None, None
    raw_inclusion = required(obj, "inclusion", prefix, _ANCHORED_NEEDS)
    inclusion = _inclusion(raw_inclusion, prefix + "inclusion")
    head = _head(required(obj, "head", prefix, _ANCHORED_NEEDS), prefix + "head")
    anchor = _anchor(required(obj, "anchor", prefix, _ANCHORED_NEEDS), prefix + "anchor")
    return inclusion, head, anchor


def _leaf(obj: object, version: int) -> LeafSection:
    leaf = json_object(obj, "leaf")
    sealed = version == ENCODING_VERSION
    only_fields(leaf, SEALED_LEAF_FIELDS if sealed else LEAF_FIELDS, "leaf.")
    kind, requester = EntryKind.DOCUMENT, NO_REQUESTER
    if sealed:
        kind = _entry_kind(required(leaf, "kind", "leaf."), "leaf.kind")
        value = required(leaf, "requester_commitment", "leaf.")
        if value is not None:
            requester = _hex32(value, "leaf.requester_commitment")
            if requester == NO_REQUESTER:
                raise BundleFormatError(
                    "leaf.requester_commitment", "no requester is written null, not zeros"
                )
    return LeafSection(
        kind=kind,
        requester_commitment=requester,
        leaf_hash=_hex32(required(leaf, "leaf_hash", "leaf."), "leaf.leaf_hash"),
        salt=_hex32(required(leaf, "salt", "leaf."), "leaf.salt"),
        lg_code=_lg_code(required(leaf, "lg_code", "leaf."), "leaf.lg_code"),
        document_type=json_int(
            required(leaf, "document_type", "leaf."), "leaf.document_type", 1, MAX_UINT16 - 1
        ),
        issued_at=_time(required(leaf, "issued_at", "leaf."), "leaf.issued_at"),
        signing_time=_time(required(leaf, "signing_time", "leaf."), "leaf.signing_time"),
        signer_sha256=_hex32(required(leaf, "signer_sha256", "leaf."), "leaf.signer_sha256"),
        version=version,
        signature_sha256=_hex32(
            required(leaf, "signature_sha256", "leaf."), "leaf.signature_sha256"
        ),
    )


def _entry_kind(value: object, path: str) -> EntryKind:
    for kind, label in ENTRY_KIND_LABELS.items():
        if value == label:
            return kind
    raise BundleFormatError(path, 'must be "document" or "event"')


def _signature(obj: object) -> SignatureSection:
    section = json_object(obj, "signature")
    only_fields(section, SIGNATURE_FIELDS, "signature.")
    label = required(section, "format", "signature.")
    if label not in ("cms", "pkcs1"):
        raise BundleFormatError("signature.format", 'must be "cms" or "pkcs1"')
    value = _base64(required(section, "value", "signature."), "signature.value")
    raw_certificates = required(section, "certificates", "signature.")
    if type(raw_certificates) is not list:
        raise BundleFormatError("signature.certificates", "must be an array of base64 DER")
    if not 1 <= len(raw_certificates) <= MAX_CERTIFICATES:
        raise BundleFormatError(
            "signature.certificates",
            f"has {len(raw_certificates)} entries; 1 to {MAX_CERTIFICATES} allowed "
            "(the signer's certificate first)",
        )
    certificates = tuple(
        _base64(item, f"signature.certificates[{i}]") for i, item in enumerate(raw_certificates)
    )
    return SignatureSection(SignatureFormat.from_label(label), value, certificates)


def _inclusion(obj: object, path: str) -> InclusionSection:
    section = json_object(obj, path)
    prefix = path + "."
    only_fields(section, INCLUSION_FIELDS, prefix)
    tree_size = json_int(
        required(section, "tree_size", prefix), prefix + "tree_size", 1, MAX_UINT64
    )
    leaf_index = json_int(
        required(section, "leaf_index", prefix), prefix + "leaf_index", 0, MAX_UINT64
    )
    if leaf_index >= tree_size:
        raise BundleFormatError(
            prefix + "leaf_index", f"{leaf_index} is not below tree_size {tree_size}"
        )
    raw_path = required(section, "path", prefix)
    if type(raw_path) is not list:
        raise BundleFormatError(prefix + "path", "must be an array of hex hashes")
    if len(raw_path) > MAX_PATH_LENGTH:
        raise BundleFormatError(
            prefix + "path",
            f"has {len(raw_path)} hashes; an inclusion path has at most {MAX_PATH_LENGTH}",
        )
    hashes = _hex32_list(raw_path, prefix + "path")
    return InclusionSection(leaf_index, tree_size, hashes)


def _head(obj: object, path: str) -> HeadSection:
    section = json_object(obj, path)
    prefix = path + "."
    only_fields(section, HEAD_FIELDS, prefix)
    return HeadSection(
        seq=json_int(required(section, "seq", prefix), prefix + "seq", 0, MAX_UINT64),
        tree_size=json_int(
            required(section, "tree_size", prefix), prefix + "tree_size", 1, MAX_UINT64
        ),
        root=_hex32(required(section, "root", prefix), prefix + "root"),
    )


def _anchor(obj: object, path: str) -> AnchorSection:
    section = json_object(obj, path)
    prefix = path + "."
    only_fields(section, ANCHOR_FIELDS, prefix)
    return AnchorSection(
        chain_id=json_int(
            required(section, "chain_id", prefix), prefix + "chain_id", 1, MAX_CHAIN_INT
        ),
        registry=_address(required(section, "registry", prefix), prefix + "registry"),
        node=_address(required(section, "node", prefix), prefix + "node"),
        lg_code=_lg_code(required(section, "lg_code", prefix), prefix + "lg_code"),
        tx_hash=_hex32_0x(required(section, "tx_hash", prefix), prefix + "tx_hash"),
        block_number=json_int(
            required(section, "block_number", prefix), prefix + "block_number", 1, MAX_CHAIN_INT
        ),
        block_hash=_hex32_0x(required(section, "block_hash", prefix), prefix + "block_hash"),
    )


# --------------------------------------------------------------------------- field readers


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BundleFormatError("bundle", f"field {key!r} appears twice in one object")
            seen.add(key)
    return result


def _no_constants(name: str) -> Any:
    raise BundleFormatError("bundle", f"{name} is not a JSON number")


def _status(value: object, path: str) -> BundleStatus:
    if value == "anchored":
        return "anchored"
    if value == "pending":
        return "pending"
    raise BundleFormatError(path, 'must be "anchored" or "pending"')


def _hex32(value: object, path: str) -> bytes:
    if type(value) is not str or _HEX32.fullmatch(value) is None:
        raise BundleFormatError(path, "not 64 lowercase hex characters (a SHA-256 hash)")
    return bytes.fromhex(value)


def _hex32_list(items: list[Any], path: str) -> tuple[bytes, ...]:
    """A list of SHA-256 hex strings, checked in one pass (the path is the hot part of a bundle)."""
    try:
        joined = "".join(items)
    except TypeError:
        joined = ""
    # Each item 64 long, not just all of them together: ["0" * 63, "0" * 65] is malformed.
    if (
        len(joined) == 64 * len(items)
        and all(len(item) == 64 for item in items)
        and _HEX_RUN.fullmatch(joined) is not None
    ):
        raw = bytes.fromhex(joined)
        return tuple(raw[i : i + 32] for i in range(0, len(raw), 32))
    for i, item in enumerate(items):  # find the culprit for the error message
        _hex32(item, f"{path}[{i}]")
    raise AssertionError("unreachable: some path item must be malformed")  # pragma: no cover


def _hex32_0x(value: object, path: str) -> bytes:
    if type(value) is not str or _HEX32_0X.fullmatch(value) is None:
        raise BundleFormatError(path, 'not "0x" and 64 lowercase hex characters')
    return bytes.fromhex(value[2:])


def _address(value: object, path: str) -> str:
    if type(value) is not str or _ADDRESS.fullmatch(value) is None:
        raise BundleFormatError(path, 'not an address ("0x" and 40 hex characters)')
    checksummed = _checksummed(value)
    if value != checksummed and value != value.lower():
        raise BundleFormatError(path, "mixed-case address with a wrong EIP-55 checksum (a typo?)")
    return checksummed


@functools.lru_cache(maxsize=1024)
def _checksummed(address: str) -> str:
    return str(to_checksum_address(address))


def _lg_code(value: object, path: str) -> int:
    if type(value) is not str or _LG_CODE.fullmatch(value) is None:
        raise BundleFormatError(path, 'must be a 6-digit string such as "131016"')
    code = int(value)
    if not is_valid_lg_code(code):
        raise BundleFormatError(
            path, f"{value} is not a local-government code (prefecture or check digit wrong)"
        )
    return code


def _time(value: object, path: str) -> int:
    if type(value) is not str or _TIME.fullmatch(value) is None:
        raise BundleFormatError(path, 'must be a UTC time like "2026-01-15T09:00:00Z"')
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BundleFormatError(path, f"{value} is not a real date and time") from None
    seconds = int(moment.timestamp())
    if seconds < 0:
        raise BundleFormatError(path, "must not be before 1970")
    return seconds


def _base64(value: object, path: str) -> str:
    """Validate canonical padded standard base64 without decoding it (decoding is 10x dearer).

    Length a multiple of 4, only the standard alphabet, at most two "=" at the very end, and
    zero bits where the last character has more bits than the data needs: exactly the strings
    that `binascii.b2a_base64` produces, all of which decode.
    """
    if type(value) is not str:
        raise BundleFormatError(path, f"must be a base64 string, not {json_type(value)}")
    size = len(value)
    if not size:
        raise BundleFormatError(path, "is empty")
    if size > MAX_BLOB_BYTES * 4 // 3 + 4:
        raise BundleFormatError(path, f"more than {MAX_BLOB_BYTES} bytes")
    if size % 4:
        raise BundleFormatError(
            path, f"not valid base64 ({size} characters is not a multiple of 4: truncated?)"
        )
    if not value.isascii():
        raise BundleFormatError(path, "not valid base64 (a character outside the alphabet)")
    raw = value.encode("ascii")
    body = raw.rstrip(b"=")
    if size - len(body) > 2 or body.translate(None, _BASE64_ALPHABET):
        raise BundleFormatError(
            path, "not valid base64 (a character outside the standard alphabet, or misplaced =)"
        )
    last = raw[-4:]
    if binascii.b2a_base64(binascii.a2b_base64(last), newline=False) != last:
        raise BundleFormatError(path, "base64 is not in canonical form (non-zero padding bits)")
    return value


# --------------------------------------------------------------------------- producing


def make_document_entry(
    *,
    document_sha256: bytes,
    salt: bytes,
    lg_code: int,
    document_type: int,
    issued_at: datetime | int,
    signing_time: datetime | int,
    signature_format: SignatureFormat,
    signature: bytes,
    signer_certificate: bytes,
    requester_ref: bytes = NO_REQUESTER,
    kind: EntryKind = EntryKind.DOCUMENT,
) -> DocumentEntry:
    """The document (or event) entry a node appends to its log (`encode()` is the leaf data).

    The current encoding (version 3): the signer is committed with the document's salt, so
    the public log does not link the documents one card signed; `requester_ref` is the
    requester commitment of the resident's signed application (`NO_REQUESTER` if none).
    """
    return DocumentEntry(
        salted_digest=salted_digest(salt, document_sha256),
        lg_code=lg_code,
        document_type=document_type,
        issued_at=_seconds(issued_at),
        signing_time=_seconds(signing_time),
        signature_format=signature_format,
        signer_ref=signer_commitment(salt, hashlib.sha256(signer_certificate).digest()),
        signature_sha256=hashlib.sha256(signature).digest(),
        version=ENCODING_VERSION,
        requester_ref=requester_ref,
        kind=kind,
    )


def build_bundle(
    *,
    entry: DocumentEntry,
    salt: bytes,
    signature: bytes,
    certificates: Sequence[bytes],
    inclusion: InclusionSection | None = None,
    head: HeadSection | None = None,
    anchor: AnchorSection | None = None,
    revocation: RevocationSection | None = None,
    evidence: EvidenceSection | None = None,
) -> ProofBundle:
    """A bundle for `entry`: "pending" without inclusion/head/anchor, "anchored" with all three;
    `evidence` only when anchored and the leaf commits to its signer (version 2 or 3). The
    version follows the leaf: 1, 2 (3 with evidence), or 4 for a version-3 leaf.

    The result went through `bundle_to_json` and `parse_bundle`, so a producer can only
    hand out what every verifier accepts.
    """
    if hashlib.sha256(signature).digest() != entry.signature_sha256:
        raise LeafEncodingError("the signature is not the one the entry commits to")
    if not isinstance(salt, bytes) or len(salt) != SALT_SIZE:
        raise LeafEncodingError(f"salt must be {SALT_SIZE} bytes")
    if not certificates:
        raise LeafEncodingError("give the signer certificate (certificates[0])")
    signer_sha256 = hashlib.sha256(certificates[0]).digest()
    legacy = entry.version == LEGACY_ENCODING_VERSION
    if (signer_sha256 if legacy else signer_commitment(salt, signer_sha256)) != entry.signer_ref:
        raise LeafEncodingError("certificates[0] is not the signer certificate the entry names")
    parts = (inclusion, head, anchor)
    if any(part is None for part in parts) and any(part is not None for part in parts):
        raise LeafEncodingError("give inclusion, head and anchor together, or none of them")
    if evidence is not None and (inclusion is None or entry.version == LEGACY_ENCODING_VERSION):
        raise LeafEncodingError(
            "evidence goes only into an anchored bundle of a version-2 or -3 leaf"
        )
    bundle = ProofBundle(
        version=_bundle_version(entry.version, with_evidence=evidence is not None),
        status="pending" if inclusion is None else "anchored",
        leaf=LeafSection(
            leaf_hash=entry.leaf_hash(),
            salt=salt,
            lg_code=entry.lg_code,
            document_type=entry.document_type,
            issued_at=entry.issued_at,
            signing_time=entry.signing_time,
            signer_sha256=signer_sha256,
            signature_sha256=entry.signature_sha256,
            version=entry.version,
            kind=entry.kind,
            requester_commitment=entry.requester_ref,
        ),
        signature=SignatureSection.of(entry.signature_format, signature, certificates),
        inclusion=inclusion,
        head=head,
        anchor=anchor,
        revocation=revocation,
        evidence=evidence,
    )
    return _checked(bundle)


def _bundle_version(leaf_version: int, *, with_evidence: bool) -> int:
    if leaf_version == ENCODING_VERSION:
        return SEALED_VERSION
    return EVIDENCE_VERSION if with_evidence else leaf_version


def build_revocation_section(
    entry: RevocationEntry,
    *,
    inclusion: InclusionSection | None = None,
    head: HeadSection | None = None,
    anchor: AnchorSection | None = None,
) -> RevocationSection:
    """The section a node adds to a bundle (or returns from its status endpoint)."""
    parts = (inclusion, head, anchor)
    if any(part is None for part in parts) and any(part is not None for part in parts):
        raise LeafEncodingError("give inclusion, head and anchor together, or none of them")
    section = RevocationSection(
        "pending" if inclusion is None else "anchored",
        entry,
        entry.leaf_hash(),
        inclusion,
        head,
        anchor,
    )
    try:
        return parse_revocation_section(json.loads(json.dumps(revocation_to_json(section))))
    except BundleFormatError as exc:
        raise LeafEncodingError(f"the revocation section would not parse: {exc}") from None


def _checked(bundle: ProofBundle) -> ProofBundle:
    try:
        return load_bundle(dump_bundle(bundle))
    except BundleFormatError as exc:
        raise LeafEncodingError(f"the bundle would not parse: {exc}") from None


def dump_bundle(bundle: ProofBundle) -> str:
    """The bundle as JSON text, fields in protocol order, two-space indent, final newline."""
    return json.dumps(bundle_to_json(bundle), indent=2, ensure_ascii=False) + "\n"


def bundle_to_json(bundle: ProofBundle) -> dict[str, Any]:
    """The bundle as JSON-ready data (the inverse of `parse_bundle`)."""
    leaf = bundle.leaf
    leaf_json: dict[str, Any] = {"leaf_hash": leaf.leaf_hash.hex()}
    if leaf.version == ENCODING_VERSION:
        leaf_json["kind"] = ENTRY_KIND_LABELS[leaf.kind]
    result: dict[str, Any] = {
        "version": bundle.version,
        "status": bundle.status,
        "leaf": {
            **leaf_json,
            "salt": leaf.salt.hex(),
            "lg_code": format_lg_code(leaf.lg_code),
            "document_type": leaf.document_type,
            "issued_at": format_time(leaf.issued_at),
            "signing_time": format_time(leaf.signing_time),
            "signer_sha256": leaf.signer_sha256.hex(),
            "signature_sha256": leaf.signature_sha256.hex(),
        },
        "signature": {
            "format": bundle.signature.format.label,
            "value": bundle.signature.value_base64,
            "certificates": list(bundle.signature.certificates_base64),
        },
    }
    if leaf.version == ENCODING_VERSION:
        requester = leaf.requester_commitment
        result["leaf"]["requester_commitment"] = (
            None if requester == NO_REQUESTER else requester.hex()
        )
    result.update(_anchoring_to_json(bundle.inclusion, bundle.head, bundle.anchor))
    if bundle.evidence is not None:
        result["evidence"] = evidence_to_json(bundle.evidence)
    if bundle.revocation is not None:
        result["revocation"] = revocation_to_json(bundle.revocation)
    return result


def revocation_to_json(section: RevocationSection) -> dict[str, Any]:
    entry = section.entry
    result: dict[str, Any] = {
        "status": section.status,
        "entry": {
            "leaf_hash": section.leaf_hash.hex(),
            "revoked_leaf_hash": entry.revoked_leaf_hash.hex(),
            "lg_code": format_lg_code(entry.lg_code),
            "reason": entry.reason,
            "revoked_at": format_time(entry.revoked_at),
        },
    }
    result.update(_anchoring_to_json(section.inclusion, section.head, section.anchor))
    return result


def _anchoring_to_json(
    inclusion: InclusionSection | None, head: HeadSection | None, anchor: AnchorSection | None
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if inclusion is not None:
        result["inclusion"] = {
            "leaf_index": inclusion.leaf_index,
            "tree_size": inclusion.tree_size,
            "path": [node.hex() for node in inclusion.path],
        }
    if head is not None:
        result["head"] = {"seq": head.seq, "tree_size": head.tree_size, "root": head.root.hex()}
    if anchor is not None:
        result["anchor"] = {
            "chain_id": anchor.chain_id,
            "registry": anchor.registry,
            "node": anchor.node,
            "lg_code": format_lg_code(anchor.lg_code),
            "tx_hash": "0x" + anchor.tx_hash.hex(),
            "block_number": anchor.block_number,
            "block_hash": "0x" + anchor.block_hash.hex(),
        }
    return result


@functools.lru_cache(maxsize=4096)
def format_time(seconds: int) -> str:
    """Unix seconds as the bundle writes times: ``2026-01-15T09:00:00Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_lg_code(code: int) -> str:
    return f"{code:06d}"


def _seconds(value: datetime | int) -> int:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise LeafEncodingError("a time must carry a time zone (e.g. UTC)")
        return int(value.timestamp())
    return value


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")
