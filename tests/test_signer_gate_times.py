"""The signer gate's verdict for a new signing time equals the full pyhanko judgement.

`SignerGate.check` collects a certificate's revocation evidence once and reuses a verdict
across the signing times between two boundary seconds (`verifier.jpki.signing_moments`).
For every fixture kind (valid, revoked at T, key compromise, invalidityDate, expired, not
yet valid, CA generations and an expired CA, fake CA, smartphone, seal, OCSP) and many
signing times on and around every boundary, the gate's answer must be the very `SignerCheck`
that `check_signer` gives with its own evidence collection.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

import node.intake
from devtools.testca import (
    SIGN_OU,
    SYNTHETIC_PEOPLE,
    TSUKUBA,
    CRLEntry,
    TestHierarchy,
    crl_distribution_point_name,
    make_crl,
    make_root,
    make_signature_ee,
    new_key,
    sign_ca_name,
)
from node.intake import SignerGate
from tests.jpki_fixtures import anchors, cert, key, ocsp_responder, x509_cert
from verifier.jpki import (
    CertificateKind,
    JPKICertificate,
    RevocationSources,
    SignerPolicy,
    check_signer,
)
from verifier.jpki.certificates import load_certificates, parse_certificate
from verifier.jpki.revocation import RevocationEvidence
from verifier.jpki.signing_moments import at_signing_time, boundary_seconds, run_index

pytest_plugins = ["tests.jpki_fixtures"]

DAY = timedelta(days=1)
ANY_KIND = SignerPolicy(allowed_kinds=frozenset(CertificateKind))


@dataclass(frozen=True)
class Case:
    signer: JPKICertificate
    anchors: tuple[JPKICertificate, ...]
    sources: RevocationSources
    policy: SignerPolicy
    instants: tuple[datetime, ...]
    """Where the verdict changes (or could): each is probed second by second."""


def _crl(h: TestHierarchy, entries: list[CRLEntry], place: Any = TSUKUBA) -> bytes:
    issuer = h.sign_ca_gen02
    crl = make_crl(
        issuer_cert=x509_cert(issuer),
        issuer_key=key(issuer),
        distribution_point=crl_distribution_point_name(SIGN_OU, place),
        revoked=entries,
        this_update=h.now,
        next_update=h.now + DAY,
        number=7,
    )
    return crl.public_bytes(serialization.Encoding.DER)


def _ocsp_answer(h: TestHierarchy, revoked: bool) -> bytes:
    subject = h.ee_user_auth
    answer = ocsp_responder(
        h,
        issuer=h.auth_ca,
        subjects=[subject],
        revoked={subject.serial: x509.ReasonFlags.key_compromise} if revoked else None,
    )
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(x509_cert(subject), x509_cert(h.auth_ca), hashes.SHA1())  # noqa: S303
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    return answer(request)


def _expired_ca_case() -> Case:
    now = datetime.now(UTC).replace(microsecond=0)
    root_key = new_key()
    root = make_root(sign_ca_name(), root_key, now - 900 * DAY, now - 10 * DAY)
    ee = make_signature_ee(
        issuer_cert=root,
        issuer_key=root_key,
        key=new_key(),
        place=TSUKUBA,
        person=SYNTHETIC_PEOPLE["sign-ee-valid-gen01"],
        not_before=now - 100 * DAY,
        not_after=now + 100 * DAY,
    )
    return Case(
        parse_certificate(ee),
        (parse_certificate(root),),
        RevocationSources(),
        SignerPolicy(require_revocation_info=False),
        (now - 10 * DAY, now - 100 * DAY),
    )


def _cases(h: TestHierarchy) -> dict[str, Case]:
    jpki = tuple(anchors(h))
    crls = RevocationSources(crl_files=h.crl_files)
    revoked_at = h.revoked_at
    serial = h.ee_revoked.serial
    seal_anchors = tuple(load_certificates(h.seal_trust_anchors))
    seal_crls = RevocationSources(crl_files=h.seal_crl_files)
    seal_policy = SignerPolicy(allowed_kinds=frozenset({CertificateKind.SEAL}))
    crl_times = (h.now, h.now + DAY)

    def own_crl(entry: CRLEntry) -> RevocationSources:
        return RevocationSources(crls=[_crl(h, [entry])])

    def at(issued: Any) -> tuple[datetime, datetime]:
        return issued.not_before, issued.not_after

    return {
        "valid gen01": Case(
            cert(h.ee_valid_gen01), jpki, crls, ANY_KIND, (*at(h.ee_valid_gen01), *crl_times)
        ),
        "valid gen02": Case(cert(h.ee_valid_gen02), jpki, crls, ANY_KIND, crl_times),
        "revoked at T": Case(
            cert(h.ee_revoked), jpki, crls, ANY_KIND, (revoked_at, *at(h.ee_revoked))
        ),
        "key compromise": Case(
            cert(h.ee_revoked),
            jpki,
            own_crl(CRLEntry(serial, revoked_at, x509.ReasonFlags.key_compromise)),
            ANY_KIND,
            (revoked_at, h.now),
        ),
        "compromise with a later invalidityDate": Case(
            cert(h.ee_revoked),
            jpki,
            own_crl(
                CRLEntry(serial, revoked_at, x509.ReasonFlags.key_compromise, revoked_at - DAY)
            ),
            ANY_KIND,
            (revoked_at - DAY, revoked_at),
        ),
        "invalidityDate, affiliation change": Case(
            cert(h.ee_revoked),
            jpki,
            own_crl(
                CRLEntry(
                    serial, revoked_at, x509.ReasonFlags.affiliation_changed, revoked_at - 9 * DAY
                )
            ),
            ANY_KIND,
            (revoked_at - 9 * DAY, revoked_at),
        ),
        "certificate hold": Case(
            cert(h.ee_revoked),
            jpki,
            own_crl(CRLEntry(serial, revoked_at, x509.ReasonFlags.certificate_hold)),
            ANY_KIND,
            (revoked_at,),
        ),
        "expired": Case(cert(h.ee_expired), jpki, crls, ANY_KIND, at(h.ee_expired)),
        "not yet valid": Case(
            cert(h.ee_not_yet_valid), jpki, crls, ANY_KIND, (*at(h.ee_not_yet_valid), *crl_times)
        ),
        "fake CA, forged AKI": Case(cert(h.ee_fake_forged_aki), jpki, crls, ANY_KIND, crl_times),
        "CA expired before signing": _expired_ca_case(),
        "smartphone": Case(cert(h.ee_smartphone_sign), jpki, crls, ANY_KIND, crl_times),
        "seal": Case(cert(h.seal), seal_anchors, seal_crls, seal_policy, crl_times),
        "seal revoked for key compromise": Case(
            cert(h.seal_revoked), seal_anchors, seal_crls, seal_policy, (revoked_at, h.now)
        ),
        "OCSP good": Case(
            cert(h.ee_user_auth),
            jpki,
            RevocationSources(ocsp_responses=[_ocsp_answer(h, revoked=False)]),
            ANY_KIND,
            crl_times,
        ),
        "OCSP revoked for key compromise": Case(
            cert(h.ee_user_auth),
            jpki,
            RevocationSources(ocsp_responses=[_ocsp_answer(h, revoked=True)]),
            ANY_KIND,
            (revoked_at, *crl_times),
        ),
        "no revocation info": Case(
            cert(h.ee_valid_gen02), jpki, RevocationSources(), ANY_KIND, (h.now,)
        ),
    }


def _seconds(case: Case, seed: str) -> list[int]:
    """Every second within 6 of each instant, and seeded ones between and beyond them."""
    stamps = sorted({int(instant.timestamp()) for instant in case.instants})
    seconds = {s + d for s in stamps for d in range(-6, 7)}
    rng = random.Random(seed)
    edges = [stamps[0] - 30 * 86400, *stamps, stamps[-1] + 30 * 86400]
    for low, high in itertools.pairwise(edges):
        if high - low > 20:
            seconds.update(rng.randrange(low + 7, high - 7) for _ in range(4))
    ordered = sorted(seconds)
    rng.shuffle(ordered)
    return ordered


@pytest.fixture(scope="module")
def cases(jpki_hierarchy: TestHierarchy) -> dict[str, Case]:
    return _cases(jpki_hierarchy)


@pytest.mark.parametrize(
    "name",
    [
        "valid gen01",
        "valid gen02",
        "revoked at T",
        "key compromise",
        "compromise with a later invalidityDate",
        "invalidityDate, affiliation change",
        "certificate hold",
        "expired",
        "not yet valid",
        "fake CA, forged AKI",
        "CA expired before signing",
        "smartphone",
        "seal",
        "seal revoked for key compromise",
        "OCSP good",
        "OCSP revoked for key compromise",
        "no revocation info",
    ],
)
def test_gate_equals_the_full_judgement_at_every_signing_time(
    cases: dict[str, Case], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = cases[name]
    full_checks: list[int] = []
    judged = check_signer

    def counting(*args: Any, **kwargs: Any) -> Any:
        full_checks.append(1)
        return judged(*args, **kwargs)

    monkeypatch.setattr(node.intake, "check_signer", counting)
    gate = SignerGate(
        trust_anchors=case.anchors,
        revocation=case.sources,
        policy=case.policy,
        clock=lambda: 0.0,
    )
    seconds = _seconds(case, name)
    statuses = set()
    for second in seconds:
        fast = gate.check(case.signer, [], second)
        full = check_signer(
            case.signer,
            signing_time=datetime.fromtimestamp(second, UTC),
            trust_anchors=case.anchors,
            revocation=case.sources,
            policy=case.policy,
        )
        assert fast == full, (second, fast, full)
        statuses.add(full.status)
    if statuses == {"unknown"}:  # never cached: asked again each time
        assert len(full_checks) == len(seconds)
    else:  # the runs' verdicts were reused
        assert len(full_checks) < len(seconds) * 3 // 4


def test_the_cases_cover_every_verdict(cases: dict[str, Case]) -> None:
    """The differential cases reach each status the gate caches, and reasons quoting times."""
    seen = set()
    for name, case in cases.items():
        for second in _seconds(case, name)[:40]:
            seen.add(
                check_signer(
                    case.signer,
                    signing_time=datetime.fromtimestamp(second, UTC),
                    trust_anchors=case.anchors,
                    revocation=case.sources,
                    policy=case.policy,
                ).status
            )
    assert {"valid", "revoked", "expired", "not_yet_valid", "untrusted", "unknown"} <= seen


def test_boundaries_cover_certificate_and_revocation_instants(
    jpki_hierarchy: TestHierarchy,
) -> None:
    h = jpki_hierarchy
    signer = cert(h.ee_revoked)
    invalid_since = h.revoked_at - 9 * DAY
    crl = _crl(
        h,
        [CRLEntry(h.ee_revoked.serial, h.revoked_at, x509.ReasonFlags.superseded, invalid_since)],
    )
    bounds = boundary_seconds([signer, *anchors(h)], RevocationEvidence(crls=(crl,)))
    for instant in (
        h.ee_revoked.not_before,
        h.ee_revoked.not_after,
        h.revoked_at,
        invalid_since,
        h.now,
        h.now + DAY,
    ):
        second = int(instant.timestamp())
        for near in range(second - 2, second + 3):
            assert run_index(bounds, near) is None
    assert run_index(bounds, int((h.revoked_at - DAY).timestamp())) is not None
    # Another certificate's entry in the same CRL is not a boundary of this one.
    other = bounds == boundary_seconds(
        [signer, *anchors(h)],
        RevocationEvidence(
            crls=(
                _crl(
                    h,
                    [
                        CRLEntry(
                            h.ee_revoked.serial,
                            h.revoked_at,
                            x509.ReasonFlags.superseded,
                            invalid_since,
                        ),
                        CRLEntry(12345, h.revoked_at - 3 * DAY),
                    ],
                ),
            )
        ),
    )
    assert other


def test_a_verdict_is_restated_only_when_it_quotes_its_time_once(
    jpki_hierarchy: TestHierarchy,
) -> None:
    h = jpki_hierarchy
    when = h.revoked_at + DAY
    revoked = check_signer(
        cert(h.ee_revoked),
        signing_time=when,
        trust_anchors=anchors(h),
        revocation=RevocationSources(crl_files=h.crl_files),
    )
    assert revoked.status == "revoked"
    later = when + timedelta(seconds=5)
    moved = at_signing_time(revoked, later)
    assert moved is not None
    assert moved.signing_time == later
    assert later.isoformat() in moved.reason
    assert when.isoformat() not in moved.reason
    twice = replace(revoked, reason=revoked.reason + " " + when.isoformat())
    assert at_signing_time(twice, later) is None


def _gate_over_replaceable_crl(h: TestHierarchy, path: Any) -> SignerGate:
    """A gate whose one CRL file, at `path`, lists nothing yet (`_revoke_in` replaces it)."""
    path.write_bytes(_crl(h, []))
    return SignerGate(
        trust_anchors=tuple(anchors(h)),
        revocation=RevocationSources(crl_files=[path]),
        policy=ANY_KIND,
        clock=lambda: 0.0,
    )


def _revoke_in(h: TestHierarchy, path: Any) -> None:
    """Replace the CRL at `path` with one revoking ee_revoked for key compromise."""
    path.write_bytes(
        _crl(h, [CRLEntry(h.ee_revoked.serial, h.revoked_at, x509.ReasonFlags.key_compromise)])
    )
    os.utime(path, ns=(1, 1))  # a different mtime even within one clock tick


def test_a_replaced_crl_drops_the_collected_evidence(
    jpki_hierarchy: TestHierarchy, tmp_path: Any
) -> None:
    h = jpki_hierarchy
    path = tmp_path / "gen02-tsukuba.crl"
    gate = _gate_over_replaceable_crl(h, path)
    signer = cert(h.ee_revoked)
    before = int((h.revoked_at + DAY).timestamp())
    assert gate.check(signer, [], before).status == "valid"
    _revoke_in(h, path)
    assert gate.check(signer, [], before + 1).status == "revoked"
    assert gate.check(signer, [], before - 86400 * 5).status == "revoked"


def test_crl_files_stated_once_sees_a_replaced_crl_from_the_next_block_only(
    jpki_hierarchy: TestHierarchy, tmp_path: Any
) -> None:
    """An intake worker reads the CRL files' state once per chunk of a bulk request
    (`SignerGate.crl_files_stated_once`): a CRL replaced meanwhile counts from its next
    chunk on, and never in another thread's checks."""
    h = jpki_hierarchy
    path = tmp_path / "gen02-tsukuba.crl"
    gate = _gate_over_replaceable_crl(h, path)
    signer = cert(h.ee_revoked)
    before = int((h.revoked_at + DAY).timestamp())
    with gate.crl_files_stated_once():
        assert gate.check(signer, [], before).status == "valid"
        _revoke_in(h, path)
        assert gate.check(signer, [], before).status == "valid"  # the block's state
        other: list[str] = []
        thread = threading.Thread(
            target=lambda: other.append(gate.check(signer, [], before).status)
        )
        thread.start()
        thread.join()
        assert other == ["revoked"]  # another thread reads the files itself
    assert gate.check(signer, [], before).status == "revoked"
    with gate.crl_files_stated_once():
        assert gate.check(signer, [], before + 1).status == "revoked"
