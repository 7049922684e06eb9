"""The card CMS profile read in one DER walk: the common case of `verify_cms_digest`, fast.

asn1crypto builds an object per element and parses lazily, level by level: ~250 µs per
card-style CMS, ten times the RSA verification. A card signature has one fixed shape
(`devtools.cms_sign` writes it, card middleware writes it), so this module walks the bytes
once, accepting only that shape in strict DER:

    ContentInfo { signedData, [0] SignedData { version, digestAlgorithms,
        EncapsulatedContentInfo { data } (detached), [0] certificates (plain ones),
        SignerInfos { one SignerInfo { version, IssuerAndSerialNumber, sha256,
            [0] signedAttrs { contentType data, messageDigest, signingTime (UTCTime, Z) },
            rsaEncryption or sha256WithRSAEncryption, signature } } } }

It never refuses anything. `verify_detached` returns a `SignedContent` only when every
check of the full path (`verifier.digest_signature.verify_cms_digest` on asn1crypto) passes
on the same reading, the RSA signature included; anything else, unusual or wrong, gives
None, and the caller runs the full path, which then accepts or refuses it with its own
error. So the fast path accepts a subset of what the full path accepts, with the same
result, and every refusal and its message stay the full path's.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from verifier.jpki.certificates import MIN_RSA_BITS, JPKICertificate
from verifier.jpki.errors import JPKIError
from verifier.jpki.signatures import SignedContent

_OID_PREFIX: Final = b"\x2a\x86\x48\x86\xf7\x0d\x01"  # 1.2.840.113549.1
SIGNED_DATA: Final = b"\x06\x09" + _OID_PREFIX + b"\x07\x02"
DATA: Final = b"\x06\x09" + _OID_PREFIX + b"\x07\x01"
SHA256: Final = b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01"
RSA_ALGORITHMS: Final = frozenset(
    {
        b"\x06\x09" + _OID_PREFIX + b"\x01\x01",  # rsaEncryption
        b"\x06\x09" + _OID_PREFIX + b"\x01\x0b",  # sha256WithRSAEncryption
    }
)
CONTENT_TYPE: Final = b"\x06\x09" + _OID_PREFIX + b"\x09\x03"
MESSAGE_DIGEST: Final = b"\x06\x09" + _OID_PREFIX + b"\x09\x04"
SIGNING_TIME: Final = b"\x06\x09" + _OID_PREFIX + b"\x09\x05"
_NULL: Final = b"\x05\x00"

_SEQUENCE, _SET, _INTEGER, _OCTETS, _OID, _UTC_TIME = 0x30, 0x31, 0x02, 0x04, 0x06, 0x17
_CTX0, _CTX1 = 0xA0, 0xA1


class _UnusualError(Exception):
    """Not the plain card profile in strict DER: the full path decides."""


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at `pos`, which must end by `end`.

    Low tag numbers and definite minimal lengths of up to 4 bytes only (strict DER)."""
    if pos + 2 > end:
        raise _UnusualError
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise _UnusualError
    if first < 0x80:
        start, length = pos + 2, first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or data[pos + 2] == 0:
            raise _UnusualError  # indefinite, too long, or a leading zero byte
        start = pos + 2 + count
        length = int.from_bytes(data[pos + 2 : start], "big")
        if length < 0x80 or length.bit_length() <= 8 * (count - 1):
            raise _UnusualError  # not the shortest length form
    stop = start + length
    if stop > end:
        raise _UnusualError
    return tag, start, stop


def _expect(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    found, start, stop = _tlv(data, pos, end)
    if found != tag:
        raise _UnusualError
    return start, stop


def _children(data: bytes, start: int, stop: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, content end) of each element in [start, stop)."""
    result = []
    pos = start
    while pos < stop:
        tag, content, end = _tlv(data, pos, stop)
        result.append((tag, pos, content, end))
        pos = end
    return result


def _algorithm(data: bytes, start: int, stop: int) -> bytes:
    """The OID element of an AlgorithmIdentifier whose parameters are absent or NULL."""
    _, oid_stop = _expect(data, start, stop, _OID)
    rest = data[oid_stop:stop]
    if rest not in (b"", _NULL):
        raise _UnusualError
    return data[start:oid_stop]


def _utc_time(value: bytes) -> datetime:
    """A UTCTime of the form YYMMDDHHMMSSZ (the century as asn1crypto reads it)."""
    if len(value) != 13 or value[12:] != b"Z" or not value[:12].isdigit():
        raise _UnusualError
    year = int(value[0:2])
    return datetime(
        year + (2000 if year < 50 else 1900),
        int(value[2:4]),
        int(value[4:6]),
        int(value[6:8]),
        int(value[8:10]),
        int(value[10:12]),
        tzinfo=UTC,
    )


def _length_header(tag: int, length: int) -> bytes:
    if length < 0x80:
        return bytes((tag, length))
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big")


def _attributes(data: bytes, start: int, stop: int) -> tuple[bytes, datetime | None]:
    """(messageDigest, signingTime) of the signed attributes: contentType data, messageDigest
    and at most signingTime, each once, each with one value."""
    found: dict[bytes, bytes | datetime] = {}
    for tag, _, content, end in _children(data, start, stop):
        if tag != _SEQUENCE:
            raise _UnusualError
        _, oid_stop = _expect(data, content, end, _OID)
        kind = data[content:oid_stop]
        values_start, values_stop = _expect(data, oid_stop, end, _SET)
        if values_stop != end or kind in found:
            raise _UnusualError
        values = _children(data, values_start, values_stop)
        if len(values) != 1:
            raise _UnusualError
        value_tag, value_pos, value_start, value_stop = values[0]
        if kind == CONTENT_TYPE and value_tag == _OID:
            if data[value_pos:value_stop] != DATA:
                raise _UnusualError
            found[kind] = DATA
        elif kind == MESSAGE_DIGEST and value_tag == _OCTETS:
            found[kind] = data[value_start:value_stop]
        elif kind == SIGNING_TIME and value_tag == _UTC_TIME:
            found[kind] = _utc_time(data[value_start:value_stop])
        else:
            raise _UnusualError
    digest = found.get(MESSAGE_DIGEST)
    signing_time = found.get(SIGNING_TIME)
    if CONTENT_TYPE not in found or not isinstance(digest, bytes):
        raise _UnusualError
    assert signing_time is None or isinstance(signing_time, datetime)
    return digest, signing_time


@functools.lru_cache(maxsize=512)
def _signer_facts(cert: JPKICertificate) -> tuple[bytes, rsa.RSAPublicKey | None]:
    """The certificate's issuer name as encoded, and its RSA key if JPKI could sign with it.

    Keyed by the object: `certificate_from_der` hands out one object per distinct DER."""
    key = cert.x509.public_key()
    issuer = bytes(cert.asn1.issuer.dump())
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        return issuer, key
    return issuer, None


def verify_detached(
    cms_der: bytes,
    document_sha256: bytes,
    parse_certificate: Callable[[bytes], JPKICertificate],
    extra_certificates: Sequence[JPKICertificate] = (),
) -> SignedContent | None:
    """The full path's result for a plain card CMS that verifies; None for anything else."""
    try:
        return _verify(cms_der, document_sha256, parse_certificate, extra_certificates)
    except (_UnusualError, JPKIError, ValueError, TypeError, IndexError, InvalidSignature):
        return None


_Element = tuple[int, int, int, int]


def _verify(
    der: bytes,
    document_sha256: bytes,
    parse_certificate: Callable[[bytes], JPKICertificate],
    extra_certificates: Sequence[JPKICertificate],
) -> SignedContent:
    certificates, signer_info = _signed_data(der)
    embedded = [parse_certificate(der[pos:end]) for pos, end in certificates]
    fields = _children(der, signer_info[2], signer_info[3])
    if [f[0] for f in fields] != [_INTEGER, _SEQUENCE, _SEQUENCE, _CTX0, _SEQUENCE, _OCTETS]:
        raise _UnusualError  # a key-identifier sid, unsigned attributes, no signed attributes
    sid, digest_algorithm, attrs, signature_algorithm, signature = fields[1:]
    if _algorithm(der, digest_algorithm[2], digest_algorithm[3]) != SHA256:
        raise _UnusualError
    if _algorithm(der, signature_algorithm[2], signature_algorithm[3]) not in RSA_ALGORITHMS:
        raise _UnusualError
    message_digest, signing_time = _attributes(der, attrs[2], attrs[3])
    if not hmac.compare_digest(message_digest, document_sha256):
        raise _UnusualError
    signer = _signer(der, sid, [*embedded, *extra_certificates])
    key = _signer_facts(signer)[1]
    if key is None:
        raise _UnusualError
    contents = der[attrs[2] : attrs[3]]
    signed_bytes = _length_header(_SET, len(contents)) + contents
    key.verify(der[signature[2] : signature[3]], signed_bytes, padding.PKCS1v15(), hashes.SHA256())
    return SignedContent(
        signer_cert=signer,
        embedded_certs=tuple(embedded),
        signing_time=signing_time,
        content_sha256=document_sha256.hex(),
        content_attached=False,
    )


def _signed_data(der: bytes) -> tuple[list[tuple[int, int]], _Element]:
    """The embedded certificates' (start, end) and the one SignerInfo of a detached
    ContentInfo(SignedData) filling `der` exactly."""
    total = len(der)
    start, stop = _expect(der, 0, total, _SEQUENCE)
    if stop != total or der[start : start + len(SIGNED_DATA)] != SIGNED_DATA:
        raise _UnusualError
    wrapper_start, wrapper_stop = _expect(der, start + len(SIGNED_DATA), stop, _CTX0)
    signed_start, signed_stop = _expect(der, wrapper_start, wrapper_stop, _SEQUENCE)
    if wrapper_stop != stop or signed_stop != wrapper_stop:
        raise _UnusualError
    parts = _children(der, signed_start, signed_stop)
    tags = [part[0] for part in parts]
    if tags == [_INTEGER, _SET, _SEQUENCE, _CTX0, _SET]:
        certificates = _children(der, parts[3][2], parts[3][3])
    elif tags == [_INTEGER, _SET, _SEQUENCE, _SET]:
        certificates = []
    else:
        raise _UnusualError  # CRLs, no signer infos, another order
    _, encap_pos, _, encap_stop = parts[2]
    if der[encap_pos:encap_stop] != b"\x30" + bytes((len(DATA),)) + DATA:
        raise _UnusualError  # not detached data
    if any(tag != _SEQUENCE for tag, *_ in certificates):
        raise _UnusualError  # attribute certificates and the like: the full path skips them
    signer_infos = _children(der, parts[-1][2], parts[-1][3])
    if len(signer_infos) != 1 or signer_infos[0][0] != _SEQUENCE:
        raise _UnusualError
    return [(pos, end) for _, pos, _, end in certificates], signer_infos[0]


def _signer(der: bytes, sid: _Element, candidates: Sequence[JPKICertificate]) -> JPKICertificate:
    """The first candidate with the IssuerAndSerialNumber's serial and issuer name bytes."""
    name_pos = sid[2]
    name_tag, _, name_stop = _tlv(der, name_pos, sid[3])
    serial_start, serial_stop = _expect(der, name_stop, sid[3], _INTEGER)
    if name_tag != _SEQUENCE or serial_stop != sid[3] or serial_start == serial_stop:
        raise _UnusualError
    issuer = der[name_pos:name_stop]
    serial = int.from_bytes(der[serial_start:serial_stop], "big", signed=True)
    for cert in candidates:
        if cert.serial_number == serial and _signer_facts(cert)[0] == issuer:
            return cert
    raise _UnusualError  # the full path also compares names after string preparation
