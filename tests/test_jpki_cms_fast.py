"""The one-walk CMS reader against the asn1crypto path: it never accepts what that refuses,
gives the same result when it accepts, and every refusal's message is the full path's."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import cms, core

from devtools.cms_sign import sign_cms, sign_raw
from devtools.testca import TestHierarchy
from tests.jpki_fixtures import cert, key, x509_cert
from verifier.digest_signature import (
    certificate_from_der,
    verify_cms_digest,
    verify_cms_digest_full,
)
from verifier.jpki import JPKIError, SignedContent
from verifier.jpki.cms_fast import verify_detached

pytest_plugins = ["tests.jpki_fixtures"]

DOCUMENT = b"municipal-notary fast-path test document"
DIGEST = hashlib.sha256(DOCUMENT).digest()


def _sign(h: TestHierarchy, **options: Any) -> bytes:
    return sign_cms(
        DOCUMENT,
        key=key(h.ee_valid_gen02),
        cert=x509_cert(h.ee_valid_gen02),
        chain=[x509_cert(h.sign_ca_gen02)],
        signing_time=h.now - timedelta(hours=1),
        **options,
    )


def _facts(signed: SignedContent) -> tuple[Any, ...]:
    return (
        signed.signer_cert.der,
        tuple(c.der for c in signed.embedded_certs),
        signed.signing_time,
        signed.content_sha256,
        signed.content_attached,
    )


def _outcome(check: Callable[[], SignedContent]) -> tuple[Any, ...]:
    try:
        return ("accepted", *_facts(check()))
    except JPKIError as error:
        return ("refused", type(error).__name__, str(error))


def _agree(der: bytes, digest: bytes = DIGEST, extra: tuple[Any, ...] = ()) -> SignedContent | None:
    """Both paths on `der`: returns the fast path's answer after checking the rule."""
    full = _outcome(lambda: verify_cms_digest_full(der, digest, extra_certificates=extra))
    fast = verify_detached(der, digest, certificate_from_der, extra)
    if fast is not None:
        assert full == ("accepted", *_facts(fast)), "the fast path accepted differently"
    assert _outcome(lambda: verify_cms_digest(der, digest, extra_certificates=extra)) == full
    return fast


def _mutate(
    der: bytes, change: Callable[[Any], None], resign: TestHierarchy | None = None
) -> bytes:
    info = cms.ContentInfo.load(der)
    change(info["content"])
    out = bytes(info.dump(force=True))
    if resign is None:
        return out
    info = cms.ContentInfo.load(out)
    signer_info = info["content"]["signer_infos"][0]
    signed = signer_info["signed_attrs"].untag().dump()
    signer_info["signature"] = sign_raw(signed, key(resign.ee_valid_gen02))
    return bytes(info.dump(force=True))


def test_the_card_profile_takes_the_fast_path_with_the_full_paths_result(
    jpki_hierarchy: TestHierarchy,
) -> None:
    der = _sign(jpki_hierarchy)
    fast = _agree(der)
    assert fast is not None
    assert fast.signer_cert == cert(jpki_hierarchy.ee_valid_gen02)
    assert fast.signing_time == (jpki_hierarchy.now - timedelta(hours=1)).replace(microsecond=0)
    # The signer supplied instead of embedded: still fast, as the full path finds it.
    bare = _mutate(der, lambda sd: sd.__setitem__("certificates", cms.CertificateSet([])))
    assert _agree(bare) is None
    assert _agree(bare, extra=(cert(jpki_hierarchy.ee_valid_gen02),)) is not None


def _set_attr(name: str, values: list[Any]) -> Callable[[Any], None]:
    def change(signed_data: Any) -> None:
        attrs = signed_data["signer_infos"][0]["signed_attrs"]
        kept = [a for a in attrs if a["type"].native != name]
        if values:
            kept.append(cms.CMSAttribute({"type": name, "values": values}))
        signed_data["signer_infos"][0]["signed_attrs"] = cms.CMSAttributes(kept)

    return change


def _add_attr(name: str, values: list[Any]) -> Callable[[Any], None]:
    def change(signed_data: Any) -> None:
        attrs = list(signed_data["signer_infos"][0]["signed_attrs"])
        attrs.append(cms.CMSAttribute({"type": name, "values": values}))
        signed_data["signer_infos"][0]["signed_attrs"] = cms.CMSAttributes(attrs)

    return change


def _algorithm(field: str, name: str) -> Callable[[Any], None]:
    def change(signed_data: Any) -> None:
        signed_data["signer_infos"][0][field] = {"algorithm": name}

    return change


GENERALIZED = cms.Time({"generalized_time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})


@pytest.mark.parametrize(
    ("label", "change", "resign", "full_accepts"),
    [
        ("signing time as GeneralizedTime", _set_attr("signing_time", [GENERALIZED]), True, True),
        ("no signing time", _set_attr("signing_time", []), True, True),
        ("an extra signed attribute", _add_attr("1.2.3.4", [core.Null()]), True, True),
        ("messageDigest twice", _add_attr("message_digest", [DIGEST]), True, False),
        ("two messageDigest values", _set_attr("message_digest", [DIGEST, DIGEST]), True, False),
        ("another document's digest", _set_attr("message_digest", [b"\x00" * 32]), True, False),
        ("no contentType", _set_attr("content_type", []), True, False),
        ("contentType signed_data", _set_attr("content_type", ["signed_data"]), True, False),
        ("sha1", _algorithm("digest_algorithm", "sha1"), False, False),
        ("sha512", _algorithm("digest_algorithm", "sha512"), False, False),
        ("rsassa_pss", _algorithm("signature_algorithm", "rsassa_pss"), False, False),
        ("sha256_ecdsa", _algorithm("signature_algorithm", "sha256_ecdsa"), False, False),
        ("sha256_rsa", _algorithm("signature_algorithm", "sha256_rsa"), False, True),
        ("backdated, not re-signed", _set_attr("signing_time", [GENERALIZED]), False, False),
        ("no signed attributes",
         lambda sd: sd["signer_infos"][0].__setitem__("signed_attrs", cms.CMSAttributes([])),
         False, False),
        ("two signers",
         lambda sd: sd.__setitem__("signer_infos", [sd["signer_infos"][0],
                                                   sd["signer_infos"][0].copy()]),
         False, False),
        ("content type of encapsulated content",
         lambda sd: sd["encap_content_info"].__setitem__("content_type", "signed_data"),
         False, False),
    ],
)  # fmt: skip
def test_every_variant_gets_the_full_paths_answer(
    jpki_hierarchy: TestHierarchy,
    label: str,
    change: Callable[[Any], None],
    resign: bool,
    full_accepts: bool,
) -> None:
    der = _mutate(_sign(jpki_hierarchy), change, jpki_hierarchy if resign else None)
    fast = _agree(der)
    full = _outcome(lambda: verify_cms_digest_full(der, DIGEST))
    assert (full[0] == "accepted") is full_accepts, label
    if label in ("sha256_rsa", "no signing time"):
        assert fast is not None  # still the plain profile (signingTime is the caller's matter)
    elif full_accepts:
        assert fast is None  # outside the plain profile: the full path accepted it


def test_other_shapes_get_the_full_paths_answer(jpki_hierarchy: TestHierarchy) -> None:
    der = _sign(jpki_hierarchy)
    attached = _sign(jpki_hierarchy, attach=True)
    by_key_id = _sign(jpki_hierarchy, identify_by="key_id")
    forged = sign_cms(
        DOCUMENT,
        key=key(jpki_hierarchy.ee_valid_gen02),
        cert=x509_cert(jpki_hierarchy.ee_valid_gen01),
        signing_time=jpki_hierarchy.now,
    )
    cases = [
        attached, forged, base64.b64encode(der), der + b"\x00", der[:-1], der[: len(der) // 2],
        b"", b"garbage", b"\x30\x03\x02\x01\x01",
        cms.ContentInfo({"content_type": "data", "content": b"hello"}).dump(),
        # BER: the outer length in a longer form than needed
        b"\x30\x84" + len(der[4:]).to_bytes(4, "big") + der[4:],
    ]  # fmt: skip
    for case in cases:
        assert _agree(case) is None
    assert _agree(by_key_id) is None
    assert _outcome(lambda: verify_cms_digest(by_key_id, DIGEST))[0] == "accepted"
    assert _agree(der, digest=hashlib.sha256(b"another").digest()) is None


def test_no_single_byte_change_is_accepted_differently(jpki_hierarchy: TestHierarchy) -> None:
    der = _sign(jpki_hierarchy)
    rng = random.Random(16)
    positions = sorted(rng.sample(range(len(der)), 400))
    accepted = 0
    for position in positions:
        for value in (der[position] ^ (1 << rng.randrange(8)), rng.randrange(256)):
            changed = der[:position] + bytes((value,)) + der[position + 1 :]
            if changed != der and _agree(changed) is not None:
                accepted += 1
    for length in rng.sample(range(len(der)), 40):
        assert _agree(der[:length]) is None
    # Changes inside the unsigned parts (the CA certificate's signature, say) may still
    # verify; the rule above held for each of them.
    assert accepted < len(positions)
