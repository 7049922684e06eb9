"""The node's HTTP API (/v1), with RFC 9457 problem+json for every error.

A node serves two listeners from one process, for the municipal network's split
(docs/OPERATOR.md, "Two listeners"): the LGWAN listener serves the whole API, the internet
listener only what may be public (`create_app(service, "public")`, PUBLIC_ROUTES). Nothing that
writes, and nothing that needs a token, is ever served on the public one.

Public endpoints (log, revocation buckets, health) carry no personal data; bundles carry the
signer's certificate, so they need a token with the `read` scope; submitting needs `submit`,
revoking needs `admin`. GET /verify serves the clerk's verification page (verifier/web),
configured with this node's chain, registry and JPKI trust; /docs its API description, with
Swagger UI served from the node itself (no CDN: an LGWAN host has no internet).
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import pathlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from anchor import SignedHead
from node.intake import ApplicationInput, SignatureInput, Submission, SubmissionRejectedError
from node.models import Head
from node.proof_path import PATH as PROOF_PATH
from node.proof_path import InclusionFastPath
from node.sealed_pdfs import PdfSealer
from node.sealing import SealingError
from node.service import NodeService
from node.tokens import Client
from protocol.bundle import bundle_to_json
from protocol.leaf import MAX_UINT64, EntryKind, EventType, RevocationReason, SignatureFormat
from protocol.merkle import hash_leaf
from protocol.trust_root import TrustRootError, load_trust_root, trust_root_to_json
from verifier.chain import PREFIX_PATTERN, REVOCATIONS_PATH
from verifier.jpki.errors import RevocationSourceError
from verifier.jpki.revocation import load_crl_file
from verifier.web import (
    PageConfig,
    content_security_policy,
    inline_hashes,
    page_template,
    render_page,
)

log = logging.getLogger("node.api")
PROBLEM_BASE = "https://municipal-notary.jp/problems/"
HEX32_PATTERN: Final = r"^[0-9a-fA-F]{64}$"
"""A leaf hash or a SHA-256 digest, as the OpenAPI description states it (ECMA-262 `$`: the
end of the string; checked with `fullmatch`, so a trailing newline does not pass either)."""
HEX32 = re.compile(HEX32_PATTERN)
PREFIX_SCHEMA_PATTERN: Final = f"^{PREFIX_PATTERN.pattern}$"
BASE64_PATTERN: Final = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
"""Standard base64 with its padding, nothing else (no whitespace, no URL-safe alphabet)."""
BASE64 = re.compile(BASE64_PATTERN)
_BASE64_CHARACTERS = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def is_base64(value: str) -> bool:
    """`BASE64.fullmatch(value)`, the same language checked ~10 x faster on a 3 kB signature:
    alphabet characters then at most two `=`, in all a multiple of 4 long."""
    return len(value) % 4 == 0 and _BASE64_CHARACTERS.fullmatch(value) is not None


REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9._:-]+$"
MAX_LEAVES_PAGE = 1000
MAX_HEADS_PAGE = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ENTRY_BODY_BYTES = 256 * 1024
"""Most a single-entry body may have: the CMS (64 KiB of base64) and the certificate
(16 KiB) with room to spare; a bulk body may have this much per entry."""
SMALL_BODY_BYTES = 4 * 1024
"""Most a revocation body ({"reason": ...}) may have."""


# ---------------------------------------------------------------------- problems


class ProblemError(Exception):
    def __init__(
        self,
        status: int,
        problem: str,
        title: str,
        detail: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.headers = headers
        self.status, self.problem, self.title, self.detail, self.field, self.extra = (
            status,
            problem,
            title,
            detail,
            field,
            extra,
        )


def problem_response(
    status: int,
    problem: str,
    title: str,
    detail: str,
    instance: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + problem,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body |= {k: v for k, v in extra.items() if v is not None}
    response_headers = dict(headers or {})
    if status == 401:
        response_headers["WWW-Authenticate"] = 'Bearer realm="municipal-notary"'
    return JSONResponse(
        body,
        status_code=status,
        media_type="application/problem+json",
        headers=response_headers or None,
    )


class FieldProblem(BaseModel):
    field: str = Field(description="The field, e.g. `entries[3].signature.value`")
    detail: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: the body of every error answer of this API."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description=f"The problem type, a URI under {PROBLEM_BASE}")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str = Field(description="The request path")
    field: str | None = Field(None, description="The offending field or parameter, if one")
    errors: list[FieldProblem] | None = Field(
        None, description="Every invalid field of an `invalid-request` problem"
    )


PROBLEM_WHEN: Final = {
    400: "The request is malformed (for its route's own reasons, named in `detail`)",
    401: "No token, or an unknown or revoked one",
    403: "The token lacks the scope this route needs",
    404: "No such resource",
    409: "Conflicts with what the log holds",
    413: "The body is over this route's limit",
    422: "The request is well formed but invalid: a parameter or field, or what it names",
    503: "Not ready",
}


def problems(*statuses: int, when: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of the given error statuses, each problem+json (ProblemDetails);
    `when` says, by status, when this route answers it (else PROBLEM_WHEN)."""
    answers: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        answer: dict[str, Any] = {
            "description": (when or {}).get(status, PROBLEM_WHEN[status]),
            "content": {
                "application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/ProblemDetails"}
                }
            },
        }
        if status == 401:
            answer["headers"] = {
                "WWW-Authenticate": {
                    "description": '`Bearer realm="municipal-notary"`',
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
        answers[status] = answer
    return answers


def _problem_schemas() -> dict[str, Any]:
    """ProblemDetails and what it refers to, as OpenAPI components."""
    schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    defined = schema.pop("$defs", {})
    return {**defined, "ProblemDetails": schema}


# ---------------------------------------------------------------------- request bodies


MAX_SIGNATURE_CHARS: Final = 64 * 1024
"""The longest base64 signature value an entry (`SignatureIn`, `fast_bulk`) or its
application may carry."""


class SignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["cms", "pkcs1"] = Field(
        description="cms: detached CMS SignedData; pkcs1: raw RSA PKCS#1 v1.5"
    )
    value: str = Field(
        description="Base64 of the CMS (DER) or of the raw signature",
        max_length=MAX_SIGNATURE_CHARS,
        json_schema_extra={"pattern": BASE64_PATTERN},
    )
    certificate: str | None = Field(
        None,
        description="Base64 DER signer certificate (pkcs1 only)",
        max_length=16 * 1024,
        json_schema_extra={"pattern": BASE64_PATTERN},
    )
    signing_time: datetime | None = Field(
        None, description="When the card signed (pkcs1 only), RFC 3339"
    )

    @field_validator("value", "certificate")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if not is_base64(value):
                    raise ValueError
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("not valid base64") from None
        return value

    @field_validator("signing_time")
    @classmethod
    def _signed_after_epoch(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            _not_before_epoch(value)
        return value


def _not_before_epoch(value: datetime) -> None:
    """The leaf stores times as unsigned seconds since 1970 (docs/PROTOCOL.md)."""
    if value < EPOCH:
        raise ValueError("must not be before 1970-01-01T00:00:00Z")


class ApplicationIn(BaseModel):
    """The resident's JPKI signature over their application: the node keeps it privately
    and puts only a salted commitment to it (with the card's serial number) in the leaf."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["cms"] = Field(
        description="Detached CMS SignedData made with the resident's JPKI signature "
        "certificate (card or smartphone), signingTime included"
    )
    value: str = Field(
        description="Base64 of the CMS (DER)",
        max_length=MAX_SIGNATURE_CHARS,
        json_schema_extra={"pattern": BASE64_PATTERN},
    )
    application_sha256: str = Field(
        description="SHA-256 of the application the resident signed, 64 hex digits (the "
        "node never needs the application itself: the CMS messageDigest binds it)",
        json_schema_extra={"pattern": HEX32_PATTERN},
    )

    @field_validator("value")
    @classmethod
    def _base64(cls, value: str) -> str:
        return _checked_base64(value)

    @field_validator("application_sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        return _checked_digest(value)

    def application(self) -> ApplicationInput:
        return ApplicationInput(
            base64.b64decode(self.value), bytes.fromhex(self.application_sha256)
        )


def _checked_base64(value: str) -> str:
    try:
        if not BASE64.fullmatch(value):
            raise ValueError
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    return value


def _aware_time(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a UTC offset, e.g. 2026-11-23T10:00:00+09:00")
    _not_before_epoch(value)
    return value


def _checked_digest(value: str) -> str:
    if not HEX32.fullmatch(value):
        raise ValueError("must be 64 hexadecimal digits (a SHA-256 digest)")
    return value.lower()


def _signature_input(sig: SignatureIn) -> SignatureInput:
    if sig.format == "pkcs1" and sig.signing_time is not None and sig.signing_time.tzinfo is None:
        raise ProblemError(
            422,
            "invalid-entry",
            "Invalid entry",
            "signing_time must carry a UTC offset",
            "signature.signing_time",
        )
    return SignatureInput(
        format=SignatureFormat.from_label(sig.format),
        value=base64.b64decode(sig.value),
        certificate=base64.b64decode(sig.certificate) if sig.certificate else None,
        signing_time=int(sig.signing_time.timestamp()) if sig.signing_time else None,
    )


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str | None = Field(
        None, max_length=128, pattern=REQUEST_ID_PATTERN, description="Idempotency key"
    )
    document_sha256: str = Field(
        description="SHA-256 of the document, 64 hex digits",
        json_schema_extra={"pattern": HEX32_PATTERN},
    )
    document_type: int = Field(
        ge=1,
        le=65534,
        description=(
            "Registered type code (docs/PROTOCOL.md), signed with the municipality's seal, or "
            "a municipality-defined type (0x8000-0xFFFE), also signed with a JPKI signature "
            "certificate; the node's issuance_policy may narrow this"
        ),
    )
    issued_at: datetime = Field(description="Issue time, RFC 3339 with offset")
    signature: SignatureIn
    application: ApplicationIn | None = Field(
        None,
        description=(
            "The resident's signed application, if the document was requested: the answer "
            "then carries the requester disclosure to hand to the resident"
        ),
    )

    @field_validator("document_sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        return _checked_digest(value)

    @field_validator("issued_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _aware_time(value)

    def submission(self) -> Submission:
        return Submission(
            document_sha256=bytes.fromhex(self.document_sha256),
            document_type=self.document_type,
            issued_at=int(self.issued_at.timestamp()),
            signature=_signature_input(self.signature),
            request_id=self.request_id,
            application=None if self.application is None else self.application.application(),
        )


class EventIn(BaseModel):
    """A login or signature event: the holder's app builds a small statement (service,
    event, time, nonce), signs it with the JPKI certificate and keeps it; the node logs its
    digest and signature, nothing personal."""

    model_config = ConfigDict(extra="forbid")
    request_id: str | None = Field(
        None, max_length=128, pattern=REQUEST_ID_PATTERN, description="Idempotency key"
    )
    event_type: Literal["login", "signature"] = Field(
        description=(
            "login: signed with a user-authentication certificate; signature: with a "
            "signature certificate (card or smartphone)"
        )
    )
    statement_sha256: str = Field(
        description="SHA-256 of the statement the holder signed, 64 hex digits",
        json_schema_extra={"pattern": HEX32_PATTERN},
    )
    event_time: datetime = Field(description="When the event happened, RFC 3339 with offset")
    signature: SignatureIn

    @field_validator("statement_sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        return _checked_digest(value)

    @field_validator("event_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _aware_time(value)

    def submission(self) -> Submission:
        return Submission(
            document_sha256=bytes.fromhex(self.statement_sha256),
            document_type=int(EventType[self.event_type.upper()]),
            issued_at=int(self.event_time.timestamp()),
            signature=_signature_input(self.signature),
            request_id=self.request_id,
            kind=EntryKind.EVENT,
        )


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str | None = Field(None, max_length=128, pattern=REQUEST_ID_PATTERN)
    entries: list[EntryIn] = Field(
        min_length=1, description="Up to max_bulk_entries entries, all or none stored"
    )


BULK_BODY: Final = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkIn"}}},
}
"""The bulk route's request body in OpenAPI: the route reads the bytes itself (`parse_bulk`),
so FastAPI does not describe it; `_describe_problems` adds BulkIn to the components."""


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def parse_bulk(raw: bytes) -> BulkIn:
    """A bulk body validated by pydantic-core straight from its bytes: ~4 x faster on 10,000
    entries than FastAPI's json.loads followed by validation of the Python objects, with
    the same model, so the same rules; a refusal is FastAPI's (`RequestValidationError`,
    located in the body), answered as every other invalid request is."""
    try:
        return BulkIn.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


def bulk_submissions(raw: bytes) -> tuple[list[Submission], str | None, Any]:
    """The bulk route's body as (submissions, request_id, the body's JSON dump when it has a
    request_id, for its fingerprint): `fast_bulk`, else `parse_bulk`, which raises the
    refusal."""
    submissions = fast_bulk(raw)
    if submissions is not None:
        return submissions, None, None
    body = parse_bulk(raw)
    # The body's fingerprint tells a retry from a reused id: only needed with an id.
    dumped = None if body.request_id is None else body.model_dump(mode="json")
    return [e.submission() for e in body.entries], body.request_id, dumped


def bulk_answer(service: NodeService, receipts: list[dict[str, Any]]) -> bytes:
    """The bulk route's answer body: its receipts, each with the requester disclosure if
    any, encoded by msgspec (the bytes Starlette's JSONResponse would send, ~10 x faster)."""
    return msgspec.json.encode({"receipts": [service.with_disclosure(r) for r in receipts]})


class _FastSignature(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    value: bytes
    """Decoded by msgspec from base64, which takes exactly `is_base64`'s texts (standard
    alphabet, padded) with b64decode's bytes: tests/test_node_bulk_parse.py compares them on
    every short text, JSON escapes included. ~4 x faster than binascii on a 3 kB signature."""
    certificate: Any = msgspec.UNSET
    signing_time: Any = msgspec.UNSET


class _FastEntry(msgspec.Struct, forbid_unknown_fields=True):
    document_sha256: str
    document_type: int
    issued_at: str
    signature: _FastSignature
    request_id: Any = msgspec.UNSET
    application: Any = msgspec.UNSET


class _FastBulk(msgspec.Struct, forbid_unknown_fields=True):
    entries: list[_FastEntry]
    request_id: Any = msgspec.UNSET


_FAST_BULK = msgspec.json.Decoder(_FastBulk)
_PLAIN_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_MAX_SIGNATURE_BYTES: Final = MAX_SIGNATURE_CHARS // 4 * 3
"""The most bytes base64 of at most MAX_SIGNATURE_CHARS characters holds (a padded text of n
bytes has 4 x ceil(n / 3) characters)."""


def fast_bulk(raw: bytes) -> list[Submission] | None:
    """The submissions of the commonest bulk body, decoded by msgspec: no request ids, no
    applications, CMS signatures only, whole-second RFC 3339 times with an offset. None for
    anything else, valid or not, and for anything `parse_bulk` might judge otherwise: the
    route then parses it with `parse_bulk`, which alone answers refusals (so their fields and
    wording stay pydantic's). tests/test_node_bulk_parse.py holds the two to the same
    submissions on what this accepts."""
    try:
        body = _FAST_BULK.decode(raw)
    except msgspec.DecodeError:  # also msgspec.ValidationError
        return None
    if body.request_id is not msgspec.UNSET or not body.entries:
        return None
    submissions = []
    for entry in body.entries:
        signature = entry.signature
        if (
            entry.request_id is not msgspec.UNSET
            or entry.application is not msgspec.UNSET
            or signature.certificate is not msgspec.UNSET
            or signature.signing_time is not msgspec.UNSET
            or signature.format != "cms"
            or len(signature.value) > _MAX_SIGNATURE_BYTES
            or not 1 <= entry.document_type <= 65534
            or not HEX32.fullmatch(entry.document_sha256)
            or not _PLAIN_TIME.fullmatch(entry.issued_at)
        ):
            return None
        try:
            issued = datetime.fromisoformat(entry.issued_at)
        except ValueError:
            return None
        if issued.tzinfo is None or issued < EPOCH:
            return None
        submissions.append(
            Submission(
                document_sha256=bytes.fromhex(entry.document_sha256),
                document_type=entry.document_type,
                issued_at=int(issued.timestamp()),
                signature=SignatureInput(SignatureFormat.CMS, signature.value, None, None),
            )
        )
    return submissions


class RevocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Literal[
        "unspecified",
        "issued_in_error",
        "superseded",
        "withdrawn_by_issuer",
        "signer_key_compromise",
    ]


# ---------------------------------------------------------------------- the app


Plane = Literal["lgwan", "public"]
"""Which listener an app serves: the LGWAN side (the whole API, for the issuing system and the
operator) or the internet side (public reads only)."""

PUBLIC_ROUTES: Final = frozenset(
    {
        "/v1/log/head",
        "/v1/log/heads",
        "/v1/log/consistency",
        "/v1/log/inclusion",
        "/v1/log/leaves",
        REVOCATIONS_PATH,
        "/verify",
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/docs",
        "/docs/assets/{name}",
    }
)
"""The paths the public listener serves (GET only); every other route is LGWAN-only, so a
route added later stays off the internet until someone decides otherwise here."""

SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


def create_app(service: NodeService, plane: Plane = "lgwan") -> FastAPI:
    app = FastAPI(
        title="municipal-notary node" + (" (public)" if plane == "public" else ""),
        version="1",
        description=(
            "Notarization node of one municipality: an append-only RFC 6962 log whose tree "
            "heads are anchored on the shared chain. Errors are RFC 9457 problem+json."
        ),
        # Served below from the node's own files: the defaults load Swagger UI and ReDoc
        # from CDNs, without integrity checks, and an LGWAN host cannot reach them anyway.
        docs_url=None,
        redoc_url=None,
    )
    guards = _guards(service)
    app.add_middleware(  # innermost: inside the request metrics and the body limit
        InclusionFastPath,
        index_of=service.index_of,
        log_size=lambda: service.log_size,
        inclusion_proof=service.inclusion_proof,
        route=functools.cache(lambda: _route(app, PROOF_PATH)),
    )
    app.add_middleware(
        BodyLimit,
        limit=service.settings.max_body_bytes,
        router=app.router,
        guards=guards,
        authorize=lambda authorization, scope: _authorize(service, authorization, scope),
    )
    metrics = service.metrics

    app.add_middleware(RequestTiming, metrics=metrics)
    app.add_middleware(PublicReadCors)
    _install_error_handlers(app)
    _add_entry_routes(app, service)
    _add_event_routes(app, service)
    _add_log_routes(app, service)
    _add_operation_routes(app, service, plane)
    _add_tile_routes(app, service)
    _add_relay_routes(app, service)
    sealer = PdfSealer.from_settings(service) if plane == "lgwan" else None
    _add_sealed_pdf_routes(app, service, sealer)
    _add_page_routes(app, service)
    _add_docs_routes(app)
    _describe_problems(app, service)
    # Every route that takes a body changes state and needs a token checked before the body
    # is read: a route added or renamed without its guard stops the node at start.
    unguarded = {
        ("POST", route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.methods is not None and "POST" in route.methods
    } - set(guards)
    if unguarded:
        raise RuntimeError(f"POST routes without a guard in node/api.py _guards: {unguarded}")
    if plane == "public":
        app.router.routes[:] = [r for r in app.router.routes if _path(r) in PUBLIC_ROUTES]
        exposed = {
            _path(route)
            for route in app.router.routes
            if not set(getattr(route, "methods", None) or ()) <= SAFE_METHODS
            or (isinstance(route, APIRoute) and token_scopes(route))
        }
        if exposed:
            raise RuntimeError(f"public routes that write or need a token: {exposed}")
    return app


def _describe_problems(app: FastAPI, service: NodeService) -> None:
    """The OpenAPI description with what the routes cannot say through FastAPI: the
    ProblemDetails schema of every error answer (also FastAPI's own 422 of any route with
    parameters), the relay body, the configured bulk limit."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.pop("HTTPValidationError", None)  # answers are problems instead
            components.pop("ValidationError", None)
            components.update(_problem_schemas())
            if "/v1/entries/bulk" in schema["paths"]:
                bulk = BulkIn.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in bulk.pop("$defs", {}).items():
                    components.setdefault(name, definition)
                components["BulkIn"] = bulk
            if "BulkIn" in components:
                entries = components["BulkIn"]["properties"]["entries"]
                entries["maxItems"] = service.settings.max_bulk_entries
            relay = schema["paths"].get("/v1/relay/heads")
            if relay is not None:  # its handler takes any JSON object and checks it itself
                components["RelayHeadsIn"] = RELAY_BODY
                relay["post"]["requestBody"]["content"]["application/json"]["schema"] = {
                    "$ref": "#/components/schemas/RelayHeadsIn"
                }
            invalid = problems(422)[422]
            for operations in schema["paths"].values():
                for operation in operations.values():
                    answers = operation.get("responses", {})
                    if "application/json" in answers.get("422", {}).get("content", {}):
                        answers["422"] = invalid
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def token_scopes(route: APIRoute) -> set[str]:
    """The token scopes a route asks for (none: the route is public)."""
    scopes: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        scope = getattr(dependant.call, "token_scope", None)
        if scope is not None:
            scopes.add(scope)
        pending.extend(dependant.dependencies)
    return scopes


def _route(app: FastAPI, path: str) -> BaseRoute | None:
    return next((r for r in app.router.routes if _path(r) == path), None)


def _path(route: BaseRoute) -> str | None:
    return getattr(route, "path", None)


def _install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as RFC 9457 problem+json naming the field where there is one."""

    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(
            error.status,
            error.problem,
            error.title,
            error.detail,
            request.url.path,
            headers=error.headers,
            field=error.field,
            **error.extra,
        )

    @app.exception_handler(SubmissionRejectedError)
    async def on_rejected(request: Request, error: SubmissionRejectedError) -> JSONResponse:
        title = {404: "Not found", 409: "Conflict", 503: "Not ready"}.get(
            error.status, "Entry refused"
        )
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
        return problem_response(
            error.status,
            error.problem,
            title,
            error.detail,
            request.url.path,
            headers=headers,
            field=error.field,
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field_path(e["loc"]), "detail": e["msg"]} for e in error.errors()]
        first = errors[0] if errors else {"field": None, "detail": "invalid request"}
        detail = f"{first['field']}: {first['detail']}" if first["field"] else str(first["detail"])
        return problem_response(
            422,
            "invalid-request",
            "Invalid request",
            detail,
            request.url.path,
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == UNPARSABLE_BODY:
            # FastAPI's answer to a body that is not UTF-8, or nested too deep to parse: as
            # malformed JSON (its JSONDecodeError), that is 422, like every invalid request.
            return problem_response(
                422,
                "invalid-request",
                "Invalid request",
                "the body is not JSON (UTF-8)",
                request.url.path,
                field="body",
            )
        problem = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        return problem_response(
            error.status_code,
            problem,
            str(error.detail),
            str(error.detail),
            request.url.path,
            headers=error.headers,  # 405 carries Allow (RFC 9110), from the route
        )

    @app.exception_handler(Exception)
    async def on_crash(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(
            500,
            "internal-error",
            "Internal error",
            "the node failed to handle this request; see its log",
            request.url.path,
        )


UNPARSABLE_BODY: Final = "There was an error parsing the body"
"""FastAPI's HTTPException detail when reading a JSON body fails other than by a syntax error
(fastapi.routing): tests/test_fuzz_api.py sees a 400 if a FastAPI release changes it."""


def _authorize(service: NodeService, authorization: str | None, scope: str) -> Client:
    """The caller named by the Authorization header, who must hold `scope`."""
    if not authorization or not authorization.startswith("Bearer "):
        raise ProblemError(
            401,
            "unauthorized",
            "Unauthorized",
            "send Authorization: Bearer <token>",
            "Authorization",
        )
    client = service.tokens.resolve(authorization[7:].strip())
    if client is None:
        raise ProblemError(
            401, "unauthorized", "Unauthorized", "unknown or revoked token", "Authorization"
        )
    if scope not in client.scopes:
        raise ProblemError(
            403,
            "forbidden",
            "Forbidden",
            f"this token lacks the {scope!r} scope",
            "Authorization",
        )
    return client


BEARER: Final = HTTPBearer(
    scheme_name="token",
    description="A node token (`ntk_...`), created by the operator with its scopes",
    auto_error=False,  # _authorize answers, as problem+json
)
"""Declares the bearer token in the OpenAPI description; _authorize reads the header itself."""


def _client_dependency(service: NodeService, scope: str) -> Callable[..., Client]:
    """The authenticated caller, who must hold `scope`. Routes with a body are also in
    `_guards`, so that BodyLimit asks for the token before a byte of the body is read."""

    def dependency(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> Client:
        return _authorize(service, request.headers.get("authorization"), scope)

    dependency.token_scope = scope  # type: ignore[attr-defined]  # for token_scopes()
    return dependency


@dataclass(frozen=True)
class Guard:
    """What a route with a body needs before its body is read: a token with `scope`, and a
    body of at most `limit` bytes."""

    scope: str
    limit: int


def _guards(service: NodeService) -> dict[tuple[str, str], Guard]:
    """The routes that take a body and need a token, by (method, route path)."""
    settings = service.settings
    whole = settings.max_body_bytes
    return {
        ("POST", "/v1/entries"): Guard("submit", min(whole, ENTRY_BODY_BYTES)),
        ("POST", "/v1/entries/bulk"): Guard(
            "submit", min(whole, settings.max_bulk_entries * ENTRY_BODY_BYTES)
        ),
        ("POST", "/v1/entries/{leaf_hash}/revocation"): Guard(
            "admin", min(whole, SMALL_BODY_BYTES)
        ),
        ("POST", "/v1/relay/heads"): Guard("relay", whole),
        ("POST", "/v1/sealed-pdfs"): Guard("submit", min(whole, settings.max_pdf_bytes)),
        ("POST", "/v1/events"): Guard("submit", min(whole, ENTRY_BODY_BYTES)),
    }


LeafHashPath = Annotated[
    str,
    Path(
        description="The entry's leaf hash, 64 hex digits",
        json_schema_extra={"pattern": HEX32_PATTERN},
    ),
]
"""A leaf hash in a path; _leaf_hash checks it (naming the parameter in its own words)."""

SUBMIT_WHEN: Final = {
    409: "`request-id-reused`: this request id was used with another body",
    422: (
        "`invalid-request`: a field is invalid; `invalid-entry`, `signer-...`: the signature "
        "does not verify over this digest, or its signer certificate is not valid at the "
        "signing time; `signer-not-accepted`: the issuance policy does not accept this kind "
        "of signer for the `document_type` (a registered type needs this municipality's "
        "seal), or the seal is another local government's"
    ),
    503: (
        "`revocation-data-stale`, `revocation-source-unavailable`: the node cannot tell whether "
        "the signer was revoked (its CRL is past nextUpdate, or its OCSP responder failed); "
        "the node's fault, so retry the same entry after `Retry-After` seconds; "
        "`receipts-unavailable`: the entries were stored but their receipts could not be "
        "made, so send the same request with the same request_id again to get them"
    ),
}
BUNDLE_ANSWER: Final = {
    "description": "The proof bundle (docs/PROTOCOL.md)",
    "headers": {
        "Notary-Bundle-State": {
            "required": True,
            "description": "How far the entry is: `pending`, `anchored` or `final`",
            "schema": {"type": "string", "enum": ["pending", "anchored", "final"]},
        }
    },
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
}
RECEIPT_ANSWER: Final = {
    "description": "The same request again (same request id and body): the first receipt",
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
}


def _add_entry_routes(app: FastAPI, service: NodeService) -> None:
    submitter = Depends(_client_dependency(service, "submit"))
    reader = Depends(_client_dependency(service, "read"))
    admin = Depends(_client_dependency(service, "admin"))
    max_bulk = service.settings.max_bulk_entries

    @app.post(
        "/v1/entries",
        status_code=201,
        tags=["entries"],
        summary="Notarize one document digest",
        responses={
            200: RECEIPT_ANSWER,
            **problems(401, 403, 409, 413, 422, 503, when=SUBMIT_WHEN),
        },
    )
    def submit_one(
        body: EntryIn,
        response: Response,
        client: Client = submitter,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> dict[str, Any]:
        request_id = body.request_id or idempotency_key
        # The body's fingerprint tells a retry from a reused id: only needed with an id.
        dumped = None if request_id is None else body.model_dump(mode="json")
        result = service.submit([body.submission()], client, request_id, dumped)
        response.status_code = 200 if result.replayed else 201
        return service.with_disclosure(result.receipts[0])

    @app.post(
        "/v1/entries/bulk",
        status_code=201,
        tags=["entries"],
        summary="Notarize many digests, all or none",
        description=f"At most {max_bulk} entries (`max_bulk_entries`); more is 413.",
        responses={
            200: RECEIPT_ANSWER,
            **problems(
                401,
                403,
                409,
                413,
                422,
                503,
                when={
                    **SUBMIT_WHEN,
                    413: f"The body is over its limit, or has more than {max_bulk} entries",
                },
            ),
        },
        openapi_extra={"requestBody": BULK_BODY},
    )
    def submit_bulk(
        raw: Annotated[bytes, Depends(_raw_body)], client: Client = submitter
    ) -> dict[str, Any]:
        submissions, request_id, dumped = bulk_submissions(raw)
        if len(submissions) > service.settings.max_bulk_entries:
            raise ProblemError(
                413,
                "too-many-entries",
                "Too many entries",
                f"at most {service.settings.max_bulk_entries} entries per request",
                "entries",
            )
        result = service.submit(submissions, client, request_id, dumped, bulk=True)
        # Receipts are plain JSON already: sent as they are, without FastAPI's per-value
        # encoding and return-type validation of 10,000 objects (the annotation documents it).
        return Response(  # type: ignore[return-value]
            bulk_answer(service, result.receipts),
            status_code=200 if result.replayed else 201,
            media_type="application/json",
        )

    @app.get(
        "/v1/entries/{leaf_hash}/bundle",
        tags=["bundles"],
        summary="Proof bundle of an entry",
        responses={200: BUNDLE_ANSWER, **problems(401, 403, 404, 422)},
    )
    def bundle_by_leaf(leaf_hash: LeafHashPath, client: Client = reader) -> JSONResponse:
        return _bundle_response(service.bundle_by_leaf_hash(_leaf_hash(leaf_hash)))

    @app.get(
        "/v1/receipts/{receipt_id}/bundle",
        tags=["bundles"],
        summary="Proof bundle by receipt id",
        responses={200: BUNDLE_ANSWER, **problems(401, 403, 404)},
    )
    def bundle_by_receipt(receipt_id: str, client: Client = reader) -> JSONResponse:
        return _bundle_response(service.bundle_by_receipt(receipt_id))

    @app.get(
        "/v1/receipts/{receipt_id}",
        tags=["entries"],
        summary="The signed receipt again",
        responses=problems(401, 403, 404),
    )
    def receipt(receipt_id: str, client: Client = reader) -> dict[str, Any]:
        stored = service.entry_by_receipt(receipt_id)
        if stored is None:
            raise ProblemError(
                404, "not-found", "Not found", "no receipt with this id", "receipt_id"
            )
        return service.receipt(stored)

    @app.post(
        "/v1/entries/{leaf_hash}/revocation",
        status_code=201,
        tags=["entries"],
        summary="Revoke an issued document",
        responses=problems(
            401,
            403,
            404,
            409,
            413,
            422,
            when={
                404: "No entry with this leaf hash",
                409: "`already-revoked`: the entry is revoked already",
                422: "An invalid leaf hash or reason, or the entry is not a document entry",
            },
        ),
    )
    def revoke(
        leaf_hash: LeafHashPath, body: RevocationIn, client: Client = admin
    ) -> dict[str, Any]:
        return service.revoke(_leaf_hash(leaf_hash), RevocationReason[body.reason.upper()], client)

    @app.get(
        REVOCATIONS_PATH,
        tags=["public"],
        summary="Revocations of every entry whose leaf hash starts with a prefix (public)",
        description=(
            "A verifier names only the first hex digits of the leaf hash (1 to 4; verifiers "
            "send 2) and finds its document in the answer, so the node never learns which "
            "document is being checked. Each revocation carries its inclusion proof and anchor "
            "once anchored (docs/PROTOCOL.md, section 6)."
        ),
        responses={
            200: {"headers": BUCKET_HEADERS},
            304: {"description": "Not modified (`If-None-Match`)", "headers": BUCKET_HEADERS},
            **problems(422),
        },
    )
    def revocations(
        prefix: Annotated[
            str,
            Path(
                description="The first 1 to 4 lowercase hex digits of a leaf hash",
                json_schema_extra={"pattern": PREFIX_SCHEMA_PATTERN},
            ),
        ],
        if_none_match: Annotated[str | None, Header(max_length=256)] = None,
    ) -> Response:
        if not PREFIX_PATTERN.fullmatch(prefix):
            raise ProblemError(
                422,
                "invalid-request",
                "Invalid request",
                "prefix must be 1 to 4 lowercase hexadecimal digits",
                "prefix",
            )
        answer = service.revocation_bucket(prefix)
        # Shared caches may keep it briefly (it is the same for everyone, and a cache in
        # front hides even the prefix from the node); a revocation shows within seconds.
        headers = {"Cache-Control": REVOCATIONS_CACHE_CONTROL, "ETag": answer.etag}
        if if_none_match is not None and answer.etag in _etags(if_none_match):
            return Response(status_code=304, headers=headers)
        return Response(answer.body, media_type="application/json", headers=headers)


def _add_event_routes(app: FastAPI, service: NodeService) -> None:
    """Login and signature events (LGWAN side), and the requester kept with a document."""
    submitter = Depends(_client_dependency(service, "submit"))
    reader = Depends(_client_dependency(service, "read"))

    @app.post(
        "/v1/events",
        status_code=201,
        tags=["events"],
        summary="Log a login or signature event (no personal data in the log)",
        description=(
            "The leaf holds the statement's salted digest and a commitment to the signer: the "
            "holder fetches the bundle (`/v1/receipts/{receipt_id}/bundle`) and verifies the "
            "statement with it like a document."
        ),
        responses={
            200: RECEIPT_ANSWER,
            **problems(
                401,
                403,
                409,
                413,
                422,
                503,
                when={
                    **SUBMIT_WHEN,
                    422: (
                        SUBMIT_WHEN[422] + "; `signer-not-accepted`: the certificate is not "
                        "one this event type accepts (`event_type`)"
                    ),
                },
            ),
        },
    )
    def submit_event(
        body: EventIn,
        response: Response,
        client: Client = submitter,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> dict[str, Any]:
        request_id = body.request_id or idempotency_key
        result = service.submit(
            [body.submission()], client, request_id, body.model_dump(mode="json")
        )
        response.status_code = 200 if result.replayed else 201
        return result.receipts[0]

    @app.get(
        "/v1/receipts/{receipt_id}/requester",
        tags=["entries"],
        summary="The requester kept with a document (personal data: LGWAN only)",
        description=(
            "The requester disclosure the resident was handed, and the resident's signed "
            "application (its CMS embeds the card certificate), for the municipality's records."
        ),
        responses=problems(
            401, 403, 404, when={404: "No receipt with this id, or its entry has no requester"}
        ),
    )
    def requester(receipt_id: str, client: Client = reader) -> dict[str, Any]:
        record = service.requester(receipt_id)
        if record is None:
            raise ProblemError(
                404,
                "not-found",
                "Not found",
                "no entry with a requester has this receipt id",
                "receipt_id",
            )
        return record.public_answer()


REVOCATIONS_CACHE_CONTROL: Final = "public, max-age=10"
BUCKET_HEADERS: Final = {
    name: {"required": True, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("ETag", "The bucket's version, for `If-None-Match`"),
        ("Cache-Control", f"`{REVOCATIONS_CACHE_CONTROL}`"),
    )
}


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _add_log_routes(app: FastAPI, service: NodeService) -> None:
    """Public, for auditors: heads, proofs and leaves carry no personal data.

    Proof handlers are `async`: their O(log n) LevelDB reads take microseconds, and the
    thread-pool hop of a sync handler costs more than the proof (bench/RESULTS.md)."""

    @app.get(
        "/v1/log/head",
        tags=["log"],
        summary="Current tree size and root, latest sealed and final heads",
    )
    def log_head() -> dict[str, Any]:
        size = service.log_size
        latest = service.latest_head()
        final = service.latest_final_head()
        return {
            "tree_size": size,
            "root": service.root(size).hex(),
            "latest_head": _head_json(latest, service),
            "latest_final_head": _head_json(final, service),
            "node": service.key.address,
            "lg_code": f"{service.settings.lg_code:06d}",
        }

    @app.get(
        "/v1/log/heads",
        tags=["log"],
        summary="Sealed heads with their anchoring state",
        responses=problems(422),
    )
    def log_heads(
        start: Annotated[int, Query(ge=0, le=MAX_UINT64)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_HEADS_PAGE)] = 100,
    ) -> dict[str, Any]:
        return {
            "heads": [_head_json(h, service) for h in service.heads(start, limit)],
            "count": service.head_count,
        }

    @app.get(
        "/v1/log/consistency",
        tags=["log"],
        summary="Consistency proof between two tree sizes",
        description="Needs `first <= second <= ` the current tree size; else 422 naming `second`.",
        responses=problems(422, when={422: "A size out of range, or `first > second`"}),
    )
    async def consistency(
        first: Annotated[int, Query(ge=0, le=MAX_UINT64)],
        second: Annotated[int, Query(ge=0, le=MAX_UINT64)],
    ) -> dict[str, Any]:
        size = service.log_size
        if first > second or second > size:
            raise ProblemError(
                422,
                "invalid-request",
                "Invalid request",
                f"need 0 <= first <= second <= {size}",
                "second",
            )
        proof = service.consistency_proof(first, second)
        return {"first": first, "second": second, "proof": [p.hex() for p in proof]}

    @app.get(
        "/v1/log/inclusion",
        tags=["log"],
        summary="Inclusion proof of a leaf hash",
        description=(
            "Needs the leaf's index `< tree_size <= ` the current tree size; else 422 naming "
            "`tree_size`."
        ),
        responses=problems(
            404,
            422,
            when={
                404: "No entry with this leaf hash",
                422: "An invalid leaf hash, or a tree size out of range or without the leaf",
            },
        ),
    )
    async def inclusion(
        leaf_hash: Annotated[
            str,
            Query(
                description="The entry's leaf hash, 64 hex digits",
                json_schema_extra={"pattern": HEX32_PATTERN},
            ),
        ],
        tree_size: Annotated[int, Query(ge=1, le=MAX_UINT64)],
    ) -> dict[str, Any]:
        index = service.index_of(_leaf_hash(leaf_hash))
        if index is None:
            raise ProblemError(
                404, "not-found", "Not found", "no entry with this leaf hash", "leaf_hash"
            )
        size = service.log_size
        if not index < tree_size <= size:
            raise ProblemError(
                422,
                "invalid-request",
                "Invalid request",
                f"tree_size must be in ({index}, {size}]",
                "tree_size",
            )
        return {
            "leaf_index": index,
            "tree_size": tree_size,
            "path": [p.hex() for p in service.inclusion_proof(index, tree_size)],
        }

    @app.get(
        "/v1/log/leaves",
        tags=["log"],
        summary="Leaf data by index range (no personal data)",
        description=(
            f"Leaves `start` to `end - 1`, those the log has; needs `start < end <= start + "
            f"{MAX_LEAVES_PAGE}`, else 422 naming `end`."
        ),
        responses=problems(
            422,
            when={422: f"A bound out of range, or not `start < end <= start + {MAX_LEAVES_PAGE}`"},
        ),
    )
    def leaves(
        start: Annotated[int, Query(ge=0, le=MAX_UINT64)],
        end: Annotated[int, Query(ge=1, le=MAX_UINT64)],
    ) -> dict[str, Any]:
        if end <= start or end - start > MAX_LEAVES_PAGE:
            raise ProblemError(
                422,
                "invalid-request",
                "Invalid request",
                f"need start < end <= start + {MAX_LEAVES_PAGE}",
                "end",
            )
        return {
            "leaves": [
                {
                    "index": i,
                    "leaf_hash": hash_leaf(data).hex(),
                    "leaf": base64.b64encode(data).decode(),
                }
                for i, data in service.leaves(start, end)
            ]
        }


def _add_operation_routes(app: FastAPI, service: NodeService, plane: Plane) -> None:
    metrics = service.metrics

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if plane == "public":

        @app.get(
            "/readyz",
            tags=["operations"],
            summary="Ready or not (the reason: LGWAN side)",
            responses=problems(503, when={503: "`not-ready`, without the reason"}),
        )
        def public_readyz(request: Request) -> JSONResponse:
            # The reason names the chain endpoint and repeats its errors: the operator reads it
            # on the LGWAN listener; the internet learns only ready or not.
            ready, _ = service.readiness()
            if not ready:
                return problem_response(
                    503,
                    "not-ready",
                    "Not ready",
                    "the node is not ready; its operator can see why",
                    request.url.path,
                )
            return JSONResponse({"status": "ready"})

    else:

        @app.get(
            "/readyz",
            tags=["operations"],
            summary="Ready to accept and anchor entries",
            responses=problems(
                503,
                when={
                    503: "`not-ready`: the chain is unreachable, anchoring halted, or a CRL is "
                    "past its nextUpdate with no OCSP responder configured"
                },
            ),
        )
        def readyz(request: Request) -> JSONResponse:
            ready, detail = service.readiness()
            endpoint = service.chain_endpoint()
            crls = service.revocation_summary()
            if not ready:
                return problem_response(
                    503,
                    "not-ready",
                    "Not ready",
                    detail,
                    request.url.path,
                    chain_endpoint=endpoint,
                    crls=crls,
                )
            return JSONResponse(
                {"status": "ready", "detail": detail, "chain_endpoint": endpoint, "crls": crls}
            )

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
    )
    def metrics_endpoint() -> Response:
        latest_final = service.latest_final_head()
        service.export_revocation_metrics()
        metrics.unanchored_entries.set(
            service.log_size - (latest_final.tree_size if latest_final else 0)
        )
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")


RELAY_BODY: Final = {
    "type": "object",
    "required": ["heads"],
    "additionalProperties": False,
    "properties": {
        "heads": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["node", "seq", "tree_size", "root", "signature"],
                "additionalProperties": False,
                "properties": {
                    "node": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"},
                    "seq": {"type": "integer", "minimum": 0, "maximum": MAX_UINT64},
                    "tree_size": {"type": "integer", "minimum": 0, "maximum": MAX_UINT64},
                    "root": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"},
                    "signature": {
                        "type": "string",
                        "pattern": "^0x[0-9a-fA-F]{130}$",
                        "description": "65 bytes: r ‖ s ‖ v",
                    },
                },
            },
        }
    },
}
"""What POST /v1/relay/heads takes (anchor.SignedHead.from_json checks each head), added to
the description after FastAPI made it (its models would turn 2**64 - 1 into a float)."""


PDF_BODY: Final = {
    "required": True,
    "description": "The PDF's bytes (any Content-Type; `application/pdf` is customary)",
    # octet-stream rather than application/pdf: what OpenAPI tools (schemathesis) can send
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
SEALED_PDF_ANSWER: Final = {
    "description": "The sealed PDF: the signed revision with the final bundle appended",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
}
NO_SEAL: Final = "This node has no seal configured (`seal_key_file`), or no such sealed PDF"


def _add_sealed_pdf_routes(app: FastAPI, service: NodeService, sealer: PdfSealer | None) -> None:
    """The issuing system's one-file path (docs/API.md, "Sealed PDFs")."""
    submitter = Depends(_client_dependency(service, "submit"))
    reader = Depends(_client_dependency(service, "read"))

    def configured() -> PdfSealer:
        if sealer is None:
            raise ProblemError(
                404, "sealing-not-configured", "Not found", "this node seals no PDFs", None
            )
        return sealer

    @app.post(
        "/v1/sealed-pdfs",
        status_code=201,
        tags=["sealed PDFs"],
        summary="Seal a PDF with the municipality's seal and log it",
        description=(
            "The body is the PDF (`application/pdf`, at most `max_pdf_bytes`). The node signs "
            "it (PAdES), logs the signed bytes, keeps the signed PDF and answers the receipt; "
            "GET `/v1/sealed-pdfs/{receipt_id}` gives the sealed PDF once its bundle is final."
        ),
        openapi_extra={"requestBody": PDF_BODY},
        responses={
            200: RECEIPT_ANSWER,
            **problems(
                401,
                403,
                404,
                409,
                413,
                422,
                503,
                when={
                    **SUBMIT_WHEN,
                    404: NO_SEAL,
                    422: "`unsealable-pdf`: not a PDF, or one that cannot be sealed (encrypted, "
                    "signed already, with attachments); `invalid-request`: a parameter",
                },
            ),
        },
    )
    async def seal_pdf(
        request: Request,
        response: Response,
        document_type: Annotated[
            int, Query(ge=1, le=65534, description="Registered type code (docs/PROTOCOL.md)")
        ],
        client: Client = submitter,
        issued_at: Annotated[
            datetime | None, Query(description="Issue time, RFC 3339 with offset (default: now)")
        ] = None,
        idempotency_key: Annotated[
            str | None, Header(max_length=128, pattern=REQUEST_ID_PATTERN)
        ] = None,
    ) -> dict[str, Any]:
        active = configured()
        if issued_at is not None and (issued_at.tzinfo is None or issued_at < EPOCH):
            raise ProblemError(
                422,
                "invalid-request",
                "Invalid request",
                "issued_at must carry a UTC offset and not be before 1970",
                "issued_at",
            )
        pdf = await request.body()
        try:
            receipt, replayed = await run_in_threadpool(
                active.seal, pdf, document_type, issued_at, client, idempotency_key
            )
        except SealingError as exc:
            raise ProblemError(
                422, "unsealable-pdf", "Cannot seal this PDF", str(exc), "body"
            ) from None
        response.status_code = 200 if replayed else 201
        response.headers["Location"] = f"/v1/sealed-pdfs/{receipt['receipt_id']}"
        return receipt

    @app.get(
        "/v1/sealed-pdfs/{receipt_id}",
        tags=["sealed PDFs"],
        summary="The sealed PDF, once its bundle is final",
        response_class=Response,
        responses={
            200: SEALED_PDF_ANSWER,
            **problems(
                401,
                403,
                404,
                409,
                when={
                    404: NO_SEAL,
                    409: "`not-final`: the bundle is not final yet (`state`: pending or "
                    "anchored); ask again after `Retry-After` seconds",
                },
            ),
        },
    )
    def sealed_pdf(receipt_id: str, client: Client = reader) -> Response:
        answer = configured().sealed(receipt_id)
        if answer is None:
            raise ProblemError(
                404, "not-found", "Not found", "no sealed PDF with this receipt id", "receipt_id"
            )
        if answer.pdf is None:
            raise ProblemError(
                409,
                "not-final",
                "Not final yet",
                f"the bundle is {answer.state}, not final yet",
                "receipt_id",
                headers={"Retry-After": "2"},
                state=answer.state,
            )
        return Response(answer.pdf, media_type="application/pdf")


def _add_relay_routes(app: FastAPI, service: NodeService) -> None:
    relayer = Depends(_client_dependency(service, "relay"))

    @app.post(
        "/v1/relay/heads",
        status_code=202,
        tags=["relay"],
        summary="Hand signed tree heads to this node for its next anchorMany",
        description=(
            "Each head signed by its node (EIP-712) and from a node this one relays for "
            "(`relay_for`); one head refused refuses the request (400 `invalid-heads`)."
        ),
        responses=problems(
            400,
            401,
            403,
            404,
            413,
            422,
            when={
                400: "`invalid-heads`: a head is malformed or refused (`detail` says why)",
                404: "`not-a-relayer`: this node relays for no one",
                422: "The body is not a JSON object",
            },
        ),
    )
    def relay_heads(body: dict[str, Any], client: Client = relayer) -> dict[str, Any]:
        queue = service.relay_queue
        if queue is None:
            raise ProblemError(
                404, "not-a-relayer", "Not a relayer", "this node relays for no one (relay_for)"
            )
        raw = body.get("heads")
        if not isinstance(raw, list) or not raw or set(body) != {"heads"}:
            raise ProblemError(
                400, "invalid-heads", "Invalid heads", 'expected {"heads": [...]}', "heads"
            )
        try:
            heads = [SignedHead.from_json(item) for item in raw]
            accepted = queue.accept(heads)
        except ValueError as error:
            raise ProblemError(400, "invalid-heads", "Head refused", str(error), "heads") from None
        return {"accepted": accepted, "queued": len(queue)}


def _add_page_routes(app: FastAPI, service: NodeService) -> None:
    """The clerk's verification page; every check runs in the browser (docs/VERIFY_PAGE.md)."""
    settings = service.settings
    public_rpc = settings.page_rpc_url
    # The page may talk to its own origin (the status endpoint) and to the chain, nothing
    # else; its inline script and style run by hash (verifier.web.content_security_policy).
    policy = content_security_policy(page_template(), [public_rpc] if public_rpc else [])

    @app.get("/verify", include_in_schema=False, response_class=HTMLResponse)
    def verify_page() -> HTMLResponse:
        return HTMLResponse(
            render_page(_page_config(service, public_rpc)),
            headers={
                "Content-Security-Policy": policy,
                # CRLs and the configuration change; a stale page would judge with old ones.
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )


DOCS_ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
"""The Swagger UI files /docs needs, served from the installed swagger-ui-bundle package."""


def _add_docs_routes(app: FastAPI) -> None:
    """/docs: Swagger UI over /openapi.json, every file from this node (nothing from a CDN)."""
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{app.title} — API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
        # Swagger UI would otherwise send the description's URL to validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    ).body
    html = bytes(page).decode()
    scripts, _ = inline_hashes(html)
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self' " + " ".join(scripts),
            "style-src 'self' 'unsafe-inline'",  # Swagger UI styles its elements inline
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    assets: dict[str, bytes] = {}

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": policy,
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if name not in DOCS_ASSETS:
            raise ProblemError(404, "not-found", "Not found", "no such file", None)
        if name not in assets:  # read on first use: 2 MB that most nodes never serve
            assets[name] = (swagger_ui_path / name).read_bytes()
        return Response(
            assets[name],
            media_type=DOCS_ASSETS[name],
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )


def _page_config(service: NodeService, public_rpc: str | None) -> PageConfig:
    settings, identity = service.settings, service.identity
    crls: list[bytes] = []
    for path in [*settings.crl_files, *settings.seal_crl_files]:
        try:
            crls.append(load_crl_file(path))  # parsed once per file version
        except RevocationSourceError as exc:
            log.warning("verification page: CRL %s left out: %s", path, exc)
    return PageConfig(
        rpc_urls=[public_rpc] if public_rpc else [],
        chain_id=identity.chain_id if identity is not None else settings.chain_id,
        registry=identity.registry if identity is not None else settings.registry,
        node_url="",  # this node, at the page's own origin
        trust_anchors=[cert.der for cert in service.gate.trust_anchors if cert.is_ca],
        seal_trust_anchors=[cert.der for cert in service.intake.seal_anchors if cert.is_ca],
        crls=crls,
        finality_depth=settings.finality_depth,
        trust_root=_page_trust_root(settings.trust_root_file),
    )


def _page_trust_root(path: pathlib.Path | None) -> dict[str, Any] | None:
    """The trust root for the page, checked as a verifier would read it; a bad file is left out
    (and logged) rather than taking the page down. Parsed once per file version: the page is
    served to anyone, so a request must not cost a read and a parse."""
    if path is None:
        return None
    try:
        stat = path.stat()
        return _trust_root_json(str(path), stat.st_mtime_ns, stat.st_size)
    except (OSError, TrustRootError) as exc:
        log.warning("verification page: trust root %s left out: %s", path, exc)
        return None


@functools.lru_cache(maxsize=4)
def _trust_root_json(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    del mtime_ns, size  # only part of the cache key
    return trust_root_to_json(load_trust_root(pathlib.Path(path).read_bytes()))


def _bundle_response(answer: Any) -> JSONResponse:
    if answer is None:
        raise ProblemError(
            404, "not-found", "Not found", "no document entry with this id in this log", None
        )
    return JSONResponse(
        bundle_to_json(answer.bundle), headers={"Notary-Bundle-State": answer.state}
    )


def _leaf_hash(value: str) -> bytes:
    if not HEX32.fullmatch(value):
        raise ProblemError(
            422,
            "invalid-request",
            "Invalid request",
            "leaf_hash must be 64 hexadecimal digits",
            "leaf_hash",
        )
    return bytes.fromhex(value)


def _head_json(head: Head | None, service: NodeService) -> dict[str, Any] | None:
    if head is None:
        return None
    stamp = service.head_timestamp(head.seq)
    return {
        "seq": head.seq,
        "tree_size": head.tree_size,
        "root": head.root.hex(),
        "sealed_at": head.sealed_at,
        "state": head.state.value,
        "tx_hash": head.tx_hash,
        "block_number": head.block_number,
        "block_hash": head.block_hash,
        # The RFC 3161 token over the head (docs/PROTOCOL.md, "Timestamps"), base64 DER.
        "timestamp": None
        if stamp is None
        else {
            "token": base64.b64encode(stamp.token).decode(),
            "gen_time": stamp.gen_time,
            "tsa": stamp.tsa,
        },
    }


def _field_path(loc: Any) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class RequestTiming:
    """Request latency per route into the metrics: plain ASGI, because Starlette's
    BaseHTTPMiddleware costs more than a proof does on the hot path."""

    def __init__(self, app: ASGIApp, metrics: Any) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request_seconds.labels(path, scope["method"], str(status)).observe(
                time.perf_counter() - started
            )


_PUBLIC_READ_ROUTE = re.compile("^" + REVOCATIONS_PATH.replace("{prefix}", "[^/]+") + "$")


class PublicReadCors:
    """Lets any web page read the public revocation buckets (the verification page used as a
    static file, on another origin): they carry no personal data and need no credentials.
    The header goes on error answers too, so a page can tell 422 from a network failure."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _PUBLIC_READ_ROUTE.match(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-expose-headers", b"etag"),
                ]
            await send(message)

        await self.app(scope, receive, with_cors)


class BodyLimit:
    """Refuses bodies over `limit` bytes with 413, whether or not Content-Length says so.

    A route in `guards` first has its token checked (401/403 without reading the body: an
    anonymous caller must not make the node read and parse megabytes), then its own, lower
    limit applies."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        router: Router | None = None,
        guards: dict[tuple[str, str], Guard] | None = None,
        authorize: Callable[[str | None, str], Client] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.router = router
        self.guards = guards or {}
        self.guarded_methods = {method for method, _ in self.guards}
        self.authorize = authorize

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit = self.limit
        guard, route = self._guard(scope)
        if guard is not None:
            if self.authorize is not None:
                authorization = headers.get(b"authorization")
                try:
                    await run_in_threadpool(
                        self.authorize,
                        None if authorization is None else authorization.decode("latin-1"),
                        guard.scope,
                    )
                except ProblemError as error:
                    scope["route"] = route  # for the request metrics, as the router would
                    response = problem_response(
                        error.status,
                        error.problem,
                        error.title,
                        error.detail,
                        scope.get("path", ""),
                        field=error.field,
                    )
                    await response({"type": "http"}, _no_receive, send)
                    return
            limit = min(limit, guard.limit)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLargeError
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLargeError:
            await _too_large(scope, send, limit)

    def _guard(self, scope: Scope) -> tuple[Guard | None, BaseRoute | None]:
        """The guard of the route the router will pick for this request, if any, and that
        route. Proof requests (GET) skip the route matching: they are the hot path."""
        if self.router is None or scope["method"] not in self.guarded_methods:
            return None, None
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                path = getattr(route, "path", None)
                return (self.guards.get((scope["method"], path)) if path else None), route
        return None, None


class _BodyTooLargeError(Exception):
    pass


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    response = problem_response(
        413,
        "body-too-large",
        "Request body too large",
        f"the limit is {limit} bytes",
        scope.get("path", ""),
    )
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _add_tile_routes(app: FastAPI, service: NodeService) -> None:
    """LGWAN side: the checkpoint key for the operator to hand to verifiers and auditors through
    a channel they trust (the tiles themselves are static files, served by a web server)."""

    @app.get("/v1/tiles/key", tags=["operations"], summary="The log's checkpoint verifier key")
    def tiles_key() -> dict[str, Any]:
        published = service.tiles.writer.published if service.tiles is not None else None
        return {
            "origin": service.note_key.name,
            "verifier_key": str(service.note_key.verifier),
            "checkpoint_size": published,
        }
