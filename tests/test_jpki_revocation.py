"""Revocation sources: CRL files, DirName mapping, CRLs over HTTP and OCSP, all at signing time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from devtools.testca import (
    IIZUKA,
    SIGN_OU,
    Issued,
    TestHierarchy,
    crl_distribution_point_name,
    make_crl,
    make_user_auth_ee,
    new_key,
)
from tests.jpki_fixtures import (
    LocalRevocationServer,
    anchors,
    cert,
    key,
    ocsp_responder,
    x509_cert,
)
from verifier.jpki import (
    CertificateKind,
    ConfigurationError,
    RevocationSourceError,
    RevocationSources,
    SignerCheck,
    SignerPolicy,
    check_signer,
    collect_evidence,
    parse_certificate,
)
from verifier.jpki.revocation import crl_locations_for, load_crl_file, parse_dirname

pytest_plugins = ["tests.jpki_fixtures"]

HOUR = timedelta(hours=1)
AUTH_ONLY = SignerPolicy(allowed_kinds=frozenset({CertificateKind.USER_AUTHENTICATION}))
TSUKUBA_SIGN_DP = (
    "C=JP,O=JPKI-TEST,OU=JPKI for digital signature,OU=CRL Distribution Points,"
    "OU=Ibaraki-ken,CN=Tsukuba-shi CRLDP"
)


def _check(
    h: TestHierarchy,
    issued: Issued,
    revocation: RevocationSources,
    policy: SignerPolicy | None = None,
    ee: x509.Certificate | None = None,
) -> SignerCheck:
    return check_signer(
        parse_certificate(ee) if ee is not None else cert(issued),
        signing_time=h.now - HOUR,
        trust_anchors=anchors(h),
        revocation=revocation,
        policy=policy,
    )


@pytest.mark.parametrize(
    "spelling",
    [
        TSUKUBA_SIGN_DP,
        TSUKUBA_SIGN_DP.replace(",", ", "),
        TSUKUBA_SIGN_DP.upper(),
        "CN=Tsukuba-shi CRLDP,OU=Ibaraki-ken,OU=CRL Distribution Points,"
        "OU=JPKI for digital signature,O=JPKI-TEST,C=JP",
    ],
)
def test_dirname_spellings_are_equivalent(spelling: str) -> None:
    assert parse_dirname(spelling) == parse_dirname(TSUKUBA_SIGN_DP)


def test_dirname_of_another_city_differs() -> None:
    assert parse_dirname(TSUKUBA_SIGN_DP) != parse_dirname(
        TSUKUBA_SIGN_DP.replace("Tsukuba", "Tsuchiura")
    )
    with pytest.raises(ConfigurationError, match="not a distinguished name"):
        parse_dirname("this is not a DN")


def test_dirname_mapping_loads_only_the_matching_crls(jpki_hierarchy: TestHierarchy) -> None:
    iizuka = TSUKUBA_SIGN_DP.replace("Ibaraki-ken", "Fukuoka-ken").replace("Tsukuba", "Iizuka")
    mapping: dict[str, str | list[str]] = {
        TSUKUBA_SIGN_DP: [
            str(jpki_hierarchy.crl_gen01_tsukuba.path),
            str(jpki_hierarchy.crl_gen02_tsukuba.path),
        ],
        iizuka: str(jpki_hierarchy.crl_gen02_iizuka.path),
    }
    assert crl_locations_for(cert(jpki_hierarchy.ee_revoked), mapping) == mapping[TSUKUBA_SIGN_DP]
    assert crl_locations_for(cert(jpki_hierarchy.ee_valid_gen02), mapping) == [mapping[iizuka]]
    assert crl_locations_for(cert(jpki_hierarchy.ee_user_auth), mapping) == []

    sources = RevocationSources(crl_by_distribution_point=mapping)
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_revoked, sources).status == "revoked"
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_valid_gen01, sources).status == "valid"
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_valid_gen02, sources).status == "valid"


def test_dirname_mapped_to_a_missing_file_is_unknown_with_the_reason(
    jpki_hierarchy: TestHierarchy, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.crl"
    sources = RevocationSources(crl_by_distribution_point={TSUKUBA_SIGN_DP: str(missing)})
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_valid_gen01, sources)
    assert result.status == "unknown"
    assert "gone.crl" in result.reason and "cannot read CRL file" in result.reason
    assert len(result.revocation_problems) == 1


def test_pem_crl_files_are_accepted(jpki_hierarchy: TestHierarchy, tmp_path: Path) -> None:
    der = jpki_hierarchy.crl_gen02_tsukuba.path.read_bytes()
    pem = x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)
    path = tmp_path / "gen02.pem"
    path.write_bytes(pem)
    assert load_crl_file(path) == der
    sources = RevocationSources(crl_files=[path])
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_revoked, sources).status == "revoked"


def test_garbage_crl_is_reported_not_fatal(jpki_hierarchy: TestHierarchy, tmp_path: Path) -> None:
    junk = tmp_path / "junk.crl"
    junk.write_bytes(b"definitely not a CRL")
    evidence = collect_evidence(
        cert(jpki_hierarchy.ee_valid_gen01),
        anchors(jpki_hierarchy),
        RevocationSources(crl_files=[junk, jpki_hierarchy.crl_gen01_tsukuba.path]),
    )
    assert len(evidence.crls) == 1
    assert evidence.problems == (f"CRL file {junk}: not a DER or PEM certificate revocation list",)
    with pytest.raises(RevocationSourceError):
        load_crl_file(junk)


def test_changed_crl_file_is_reloaded(jpki_hierarchy: TestHierarchy, tmp_path: Path) -> None:
    path = tmp_path / "tsukuba.crl"
    path.write_bytes(jpki_hierarchy.crl_gen01_tsukuba.path.read_bytes())
    first = load_crl_file(path)
    path.write_bytes(jpki_hierarchy.crl_gen02_tsukuba.path.read_bytes())
    assert load_crl_file(path) != first
    assert load_crl_file(path) == jpki_hierarchy.crl_gen02_tsukuba.path.read_bytes()


def test_crl_fetched_by_url(
    jpki_hierarchy: TestHierarchy, jpki_revocation_server: LocalRevocationServer
) -> None:
    jpki_revocation_server.crls["/tsukuba.crl"] = jpki_hierarchy.crl_gen02_tsukuba.path.read_bytes()
    sources = RevocationSources(crl_urls=[f"{jpki_revocation_server.url}/tsukuba.crl"])
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_revoked, sources).status == "revoked"
    assert jpki_revocation_server.requests == ["GET /tsukuba.crl"]


def test_dirname_mapped_to_a_url(
    jpki_hierarchy: TestHierarchy, jpki_revocation_server: LocalRevocationServer
) -> None:
    jpki_revocation_server.crls["/gen01.crl"] = jpki_hierarchy.crl_gen01_tsukuba.path.read_bytes()
    sources = RevocationSources(
        crl_by_distribution_point={TSUKUBA_SIGN_DP: f"{jpki_revocation_server.url}/gen01.crl"}
    )
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_valid_gen01, sources).status == "valid"
    # A certificate from another municipality does not trigger the fetch.
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_valid_gen02, sources).status == "unknown"
    assert jpki_revocation_server.requests == ["GET /gen01.crl"]


def test_crl_url_failure_is_unknown_with_the_http_status(
    jpki_hierarchy: TestHierarchy, jpki_revocation_server: LocalRevocationServer
) -> None:
    sources = RevocationSources(crl_urls=[f"{jpki_revocation_server.url}/missing.crl"])
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_valid_gen01, sources)
    assert result.status == "unknown"
    assert "HTTP 404" in result.reason


def test_ocsp_good_answer_validates_user_auth_certificate(
    jpki_hierarchy: TestHierarchy, jpki_revocation_server: LocalRevocationServer
) -> None:
    jpki_revocation_server.ocsp_answer = ocsp_responder(
        jpki_hierarchy, issuer=jpki_hierarchy.auth_ca, subjects=[jpki_hierarchy.ee_user_auth]
    )
    sources = RevocationSources(ocsp_urls=[f"{jpki_revocation_server.url}/ocsp"])
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_user_auth, sources, AUTH_ONLY)
    assert result.status == "valid", result.reason
    assert jpki_revocation_server.requests == ["POST /ocsp"]


def test_ocsp_revoked_answer_is_revoked(
    jpki_hierarchy: TestHierarchy, jpki_revocation_server: LocalRevocationServer
) -> None:
    jpki_revocation_server.ocsp_answer = ocsp_responder(
        jpki_hierarchy,
        issuer=jpki_hierarchy.auth_ca,
        subjects=[jpki_hierarchy.ee_user_auth],
        revoked={jpki_hierarchy.ee_user_auth.serial: x509.ReasonFlags.key_compromise},
    )
    sources = RevocationSources(ocsp_urls=[f"{jpki_revocation_server.url}/ocsp"])
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_user_auth, sources, AUTH_ONLY)
    assert result.status == "revoked"
    assert result.revoked_at == jpki_hierarchy.revoked_at


def test_ocsp_error_status_is_unknown(
    jpki_hierarchy: TestHierarchy, jpki_revocation_server: LocalRevocationServer
) -> None:
    jpki_revocation_server.ocsp_answer = ocsp_responder(
        jpki_hierarchy, issuer=jpki_hierarchy.auth_ca, subjects=[]
    )
    sources = RevocationSources(ocsp_urls=[f"{jpki_revocation_server.url}/ocsp"])
    result = _check(jpki_hierarchy, jpki_hierarchy.ee_user_auth, sources, AUTH_ONLY)
    assert result.status == "unknown"
    assert "OCSP responder answered 'unauthorized'" in result.reason


def test_ocsp_url_from_the_certificate_only_when_enabled(
    jpki_hierarchy: TestHierarchy, jpki_revocation_server: LocalRevocationServer, tmp_path: Path
) -> None:
    ee = make_user_auth_ee(
        issuer_cert=x509_cert(jpki_hierarchy.auth_ca),
        issuer_key=key(jpki_hierarchy.auth_ca),
        key=new_key(),
        place=IIZUKA,
        not_before=jpki_hierarchy.now - timedelta(days=10),
        not_after=jpki_hierarchy.now + timedelta(days=100),
        ocsp_url=f"{jpki_revocation_server.url}/aia",
    )
    path = tmp_path / "ee-aia.pem"
    path.write_bytes(ee.public_bytes(serialization.Encoding.PEM))
    issued = Issued(
        "auth-ee-aia",
        path,
        jpki_hierarchy.ee_user_auth.key,
        ee.serial_number,
        ee.not_valid_before_utc,
        ee.not_valid_after_utc,
        "auth-ca",
    )
    jpki_revocation_server.ocsp_answer = ocsp_responder(
        jpki_hierarchy, issuer=jpki_hierarchy.auth_ca, subjects=[issued]
    )
    off = _check(jpki_hierarchy, issued, RevocationSources(), AUTH_ONLY, ee)
    assert off.status == "unknown" and jpki_revocation_server.requests == []
    on = _check(
        jpki_hierarchy, issued, RevocationSources(use_certificate_ocsp_urls=True), AUTH_ONLY, ee
    )
    assert on.status == "valid", on.reason
    assert jpki_revocation_server.requests == ["POST /aia"]


def test_ocsp_responses_can_be_supplied_as_bytes(
    jpki_hierarchy: TestHierarchy,
) -> None:
    answer = ocsp_responder(
        jpki_hierarchy, issuer=jpki_hierarchy.auth_ca, subjects=[jpki_hierarchy.ee_user_auth]
    )
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(
            x509_cert(jpki_hierarchy.ee_user_auth),
            x509_cert(jpki_hierarchy.auth_ca),
            hashes.SHA1(),  # noqa: S303
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    sources = RevocationSources(ocsp_responses=[answer(request)])
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_user_auth, sources, AUTH_ONLY).status == "valid"


def test_crl_partition_of_another_city_does_not_apply(jpki_hierarchy: TestHierarchy) -> None:
    # A genuine gen01 CRL for Iizuka that (wrongly) lists a Tsukuba holder's serial.
    iizuka = make_crl(
        issuer_cert=x509_cert(jpki_hierarchy.sign_ca_gen01),
        issuer_key=key(jpki_hierarchy.sign_ca_gen01),
        distribution_point=crl_distribution_point_name(SIGN_OU, IIZUKA),
        revoked=[(jpki_hierarchy.ee_valid_gen01.serial, jpki_hierarchy.revoked_at)],
        this_update=jpki_hierarchy.now,
        next_update=jpki_hierarchy.now + timedelta(days=1),
    )
    in_memory = iizuka.public_bytes(serialization.Encoding.DER)
    alone = RevocationSources(crls=[in_memory])
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_valid_gen01, alone).status == "unknown"
    with_own = RevocationSources(
        crls=[in_memory, jpki_hierarchy.crl_gen01_tsukuba.path.read_bytes()]
    )
    assert _check(jpki_hierarchy, jpki_hierarchy.ee_valid_gen01, with_own).status == "valid"


@pytest.mark.parametrize(
    "sources",
    [
        {"crl_urls": ["file:///etc/passwd"]},
        {"ocsp_urls": ["ftp://example.invalid/ocsp"]},
        {"ocsp_urls": "http://example.invalid/ocsp"},
        {"crl_by_distribution_point": {TSUKUBA_SIGN_DP: "ldap://x.invalid/crl"}},
        {"crl_by_distribution_point": {"not a dn": "x.crl"}},
        {"fetch_timeout": 0},
    ],
)
def test_bad_source_configuration_is_refused(sources: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RevocationSources(**sources)  # type: ignore[arg-type]


def test_empty_sources_are_empty() -> None:
    assert RevocationSources().is_empty
    assert not RevocationSources(crls=[b"x"]).is_empty
