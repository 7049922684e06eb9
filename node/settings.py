"""The node's configuration: one typed object, read from a TOML file and NOTARY_* environment
variables (environment wins), with defaults that run on a laptop."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

from eth_utils.address import is_address, to_checksum_address
from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from anchor import is_valid_lg_code
from node.issuance_policy import parse_policy

CONFIG_FILE_ENV = "NOTARY_CONFIG"


class NodeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTARY_", extra="forbid")

    data_dir: Path = Field(
        Path("data"), description="LevelDB log store, keys, and (in --dev) the chain."
    )
    host: str = Field(
        "127.0.0.1",
        description="Interface of the LGWAN listener: the whole API, for the issuing system.",
    )
    port: int = Field(8080, ge=0, le=65535, description="HTTP port (0: any free port).")
    public_host: str = Field(
        "127.0.0.1",
        description="Interface of the public listener (internet side, behind a reverse proxy).",
    )
    public_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description=(
            "Port of the public listener, which serves only public reads (log, revocation "
            "buckets, /verify, health); unset: none (--dev: port + 1)."
        ),
    )

    lg_code: int = Field(131016, description="This municipality's 6-digit local-government code.")
    name: str = Field("demo municipality", min_length=1, max_length=128)

    # NoDecode: the environment value is one URL, a JSON list or comma-separated URLs (below).
    rpc_url: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Ethereum JSON-RPC endpoint(s) of the shared chain, preferred first: with several, "
            "the node fails over to the next when one is down."
        ),
    )
    public_rpc_url: str | None = Field(
        None,
        description=(
            "JSON-RPC URL that clerks' browsers use on the /verify page (it must allow CORS); "
            "default: the first rpc_url."
        ),
    )
    registry: str | None = Field(None, description="NotaryRegistry address.")
    chain_id: int | None = Field(None, description="Refuse an endpoint serving another chain.")
    key_file: Path | None = Field(
        None, description="Anchoring key: encrypted keystore (or dev hex key)."
    )
    password_file: Path | None = None
    finality_depth: int | None = Field(
        None,
        ge=0,
        description="Blocks on top before an anchor is final; default floor(signers/2)+1.",
    )

    batch_max_entries: int = Field(
        10_000, ge=1, description="Seal a head after this many entries..."
    )
    batch_interval: float = Field(
        1.0, gt=0, description="...or this many seconds, whichever first."
    )
    max_anchors_in_flight: int = Field(8, ge=1)
    anchor_max_fee_gwei: float = Field(
        1000.0,
        gt=0,
        description=(
            "Never offer more than this max fee per gas; while the chain's base fee plus tip "
            "is above it, anchoring waits (and /readyz says why) instead of draining the key."
        ),
    )
    anchor_receipt_timeout: float = Field(60.0, gt=0)

    # Relaying (docs/REGISTRY.md, "Relayed anchoring"); neither set: the node anchors alone.
    relay_url: str | None = Field(
        None,
        description=(
            "Base URL of a relayer node's API: hand this node's signed heads to it instead of "
            "sending transactions (the anchoring key then needs no ether)."
        ),
    )
    relay_token_file: Path | None = Field(
        None, description="File holding the relayer's API token (scope `relay`)."
    )
    relay_timeout: float = Field(
        30.0, gt=0, description="Hand a head over again if not anchored after this many seconds."
    )
    relay_for: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Act as relayer for these node addresses (and this node's own heads): accept their "
            "signed heads on POST /v1/relay/heads and send them in one anchorMany."
        ),
    )
    relay_interval: float = Field(2.0, gt=0, description="Seconds between relayed batches.")
    relay_max_heads: int = Field(
        100,
        ge=1,
        le=400,  # the fixed gas limit of 400 heads (28M) still fits a 30M block
        description="Heads per anchorMany at most.",
    )

    trust_dir: Path | None = Field(None, description="JPKI trust anchors (PEM/DER files).")
    crl_files: list[Path] = Field(
        default_factory=list,
        description=(
            "CRLs for signer checks (DER or PEM), one per CA generation and distribution point; "
            "replace a file (write, then rename) to refresh it: the node rereads changed files."
        ),
    )
    crl_stale_grace: float = Field(
        0.0,
        ge=0,
        description=(
            "Seconds past a CRL's nextUpdate before /readyz and notary_crl_stale report it "
            "stale. Signers are refused from nextUpdate on regardless: a grace only delays the "
            "alarm (e.g. for a refresh job that lands a few minutes late)."
        ),
    )
    seal_trust_dir: Path | None = Field(
        None,
        description=(
            "LGPKI organisational CA certificates (PEM/DER files) that vouch for the "
            "municipality's seal; kept apart from the J-LIS anchors (neither vouches for the "
            "other's certificates). Unset: the node accepts no seal, so no registered "
            "certificate type."
        ),
    )
    seal_crl_files: list[Path] = Field(
        default_factory=list,
        description="CRLs of the seal CAs (DER or PEM), refreshed like crl_files.",
    )
    issuance_policy: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            'Signer kinds accepted per document type (key: the type code, e.g. "1" or '
            '"0x8001"; value: kinds such as "lgpki-seal", "jpki-card-signature"); types '
            "not named follow the protocol's table. A policy may only narrow that table."
        ),
    )
    application_max_age: float = Field(
        30 * 86400.0,
        gt=0,
        description=(
            "Refuse a resident's application signed more than this many seconds before the "
            "node receives its document (the card is judged at that signing time)."
        ),
    )
    ocsp_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "OCSP responders (J-LIS, for registered parties) asked about every new signer, "
            "tried in order; with CRLs too, either one vouching suffices and a revocation in "
            "either counts. Needed when no CRL is configured."
        ),
    )
    revocation_evidence_grace: float = Field(
        0.0,
        ge=0,
        description=(
            "Re-check each entry's signer at its signing time, and keep the deciding CRL or OCSP "
            "response for its bundles, with evidence issued at least this many seconds after "
            "the signing time; 0: the first CRL (or OCSP response) issued after it."
        ),
    )
    ocsp_from_certificate: bool = Field(
        False, description="Also ask the OCSP responder a signer certificate names (AIA)."
    )
    ocsp_require_nonce: bool = Field(
        True,
        description="Refuse online OCSP answers that do not echo the request's nonce (replays).",
    )
    ocsp_timeout: float = Field(5.0, gt=0, description="Seconds to wait for an OCSP responder.")
    require_revocation_info: bool = Field(True, description="Refuse signers no CRL/OCSP covers.")
    signing_time_max_age: float = Field(
        600.0,
        gt=0,
        description=(
            "Refuse a signing time more than this many seconds before the node receives the "
            "entry (the signer is judged at that time: a revoked signer could backdate)."
        ),
    )
    signing_time_max_ahead: float = Field(
        120.0,
        ge=0,
        description="Refuse a signing time more than this many seconds after receipt (skew).",
    )

    # RFC 3161 timestamps over anchored heads (docs/OPERATOR.md, "A TSA per node"); unset: off.
    tsa_url: str | None = Field(
        None,
        description=(
            "RFC 3161 time-stamping authority (HTTP POST application/timestamp-query): every "
            "anchored head gets a token from it; unset: no timestamps."
        ),
    )
    tsa_trust_anchors: Path | None = Field(
        None,
        description="PEM file of the certificates a TSA token must chain to (needed with tsa_url).",
    )
    trust_root_file: Path | None = Field(
        None,
        description=(
            "The consortium's trust-root.json (`notary trust-root export`, signed by governance): "
            "given to the /verify page, which then also checks a bundle's chain evidence and "
            "can verify offline."
        ),
    )
    tsa_policy: str | None = Field(
        None, description="Refuse tokens issued under another TSA policy OID (dotted)."
    )
    tsa_timeout: float = Field(
        10.0, gt=0, description="Seconds a whole TSA request may take, answer included."
    )
    tsa_max_backoff: float = Field(
        300.0, gt=0, description="Longest wait between attempts while the TSA fails."
    )

    # The log as static C2SP tiles and a signed checkpoint (docs/OPERATOR.md, "Serving the log
    # as static tiles").
    tiles: bool = Field(
        True, description="Write the log as tiles and a checkpoint as heads anchor."
    )
    tiles_dir: Path | None = Field(
        None, description="Where the tiles and the checkpoint go; default DATA_DIR/tiles."
    )
    checkpoint_origin: str | None = Field(
        None,
        pattern=r"^[^\s+]+$",
        max_length=255,
        description=(
            "The checkpoint's origin line and its key's name; default "
            "notary.example/<lg_code>. Changing it later needs a new checkpoint key."
        ),
    )
    seal_key_file: Path | None = Field(
        None,
        description=(
            "The municipality's seal key (unencrypted PEM/DER RSA, mode 0600): with "
            "seal_cert_file, the node seals PDFs posted to /v1/sealed-pdfs."
        ),
    )
    seal_cert_file: Path | None = Field(
        None, description="The seal certificate (PEM, may go on with its CA certificates)."
    )
    seal_chain_files: list[Path] = Field(
        default_factory=list, description="CA certificates embedded with the seal."
    )
    seal_label: str | None = Field(
        None,
        max_length=80,
        description="ASCII name of the municipality on the seal's stamp (default: the code).",
    )
    seal_verify_url: str | None = Field(
        None,
        description=(
            "The public /verify page the stamp and its QR code name (default: this node's "
            "public listener's /verify)."
        ),
    )
    max_pdf_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest PDF POST /v1/sealed-pdfs accepts."
    )

    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_bulk_entries: int = Field(10_000, ge=1)
    intake_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=0,
        description=(
            "Worker processes that check a bulk request's signatures and signers in parallel "
            "(default: one per core); 0 checks everything in the node's own process."
        ),
    )
    intake_pool_min_entries: int = Field(
        256,
        ge=1,
        description="Bulk requests with fewer entries are checked in-process (no hand-over cost).",
    )

    @field_validator("lg_code")
    @classmethod
    def _lg_code(cls, value: int) -> int:
        if not is_valid_lg_code(value):
            raise ValueError(f"{value:06d} is not a local-government code with a valid check digit")
        return value

    @field_validator("issuance_policy")
    @classmethod
    def _issuance_policy(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        parse_policy(value)  # refuses a policy that widens the protocol's table
        return value

    @field_validator("rpc_url", "ocsp_urls", mode="before")
    @classmethod
    def _url_list(cls, value: Any) -> Any:
        """One URL, a list, or (from the environment) a JSON list or comma-separated URLs."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [url.strip() for url in text.split(",") if url.strip()]
        return value

    @field_validator("rpc_url", "ocsp_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} must start with http:// or https://")
        return urls

    @field_validator("tsa_url")
    @classmethod
    def _tsa_url_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} must start with http:// or https://")
        return url

    @field_validator("tsa_policy")
    @classmethod
    def _tsa_policy(cls, oid: str | None) -> str | None:
        if oid is not None and not re.fullmatch(r"[0-2](\.(0|[1-9][0-9]*))+", oid):
            raise ValueError(f"{oid!r} is not a dotted object identifier")
        return oid

    @field_validator("relay_for", mode="before")
    @classmethod
    def _relay_for(cls, value: Any) -> Any:
        """A list, or (from the environment) a JSON list or comma-separated addresses."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [a.strip() for a in text.split(",") if a.strip()]
        return value

    @field_validator("relay_for")
    @classmethod
    def _relay_for_addresses(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            if not is_address(address):
                raise ValueError(f"{address!r} is not an address")
        return [to_checksum_address(a) for a in addresses]

    @property
    def page_rpc_url(self) -> str | None:
        """What the /verify page and bundles name: public_rpc_url, else the first rpc_url."""
        return self.public_rpc_url or (self.rpc_url[0] if self.rpc_url else None)

    @property
    def origin(self) -> str:
        """The log's checkpoint origin: names this municipality's log."""
        return self.checkpoint_origin or f"notary.example/{self.lg_code:06d}"

    @property
    def tile_dir(self) -> Path:
        return self.tiles_dir or self.data_dir / "tiles"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "log"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_FILE_ENV)
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> NodeSettings:
    """Settings from `config_file` (TOML), the environment, and explicit overrides."""
    if config_file is not None:
        os.environ[CONFIG_FILE_ENV] = str(config_file)
    return NodeSettings(**{k: v for k, v in overrides.items() if v is not None})
