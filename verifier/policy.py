"""What a relying party trusts: which chain and registry, which CAs, which revocation data.

A production verifier pins every field here from its own configuration. The CLI may fill
the chain id and registry from the bundle for a first look, but then says so: a bundle can
name any chain and any registry, including one its forger deployed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from eth_utils.address import is_address, to_checksum_address

from protocol.trust_root import TrustRoot
from verifier.errors import PolicyError
from verifier.jpki import (
    CertificateKind,
    JPKICertificate,
    RevocationSources,
    SignerPolicy,
    parse_certificate,
)

DEFAULT_RPC_TIMEOUT: Final = 10.0
DEFAULT_CLOCK_SKEW: Final = timedelta(minutes=5)


@dataclass(frozen=True)
class VerificationPolicy:
    """Everything `verify` needs besides the document and the bundle.

    - `rpc_urls`: Ethereum JSON-RPC endpoints, tried in order until one answers for
      `chain_id`. With none, every chain check is ``unknown``.
    - `registry`, `chain_id`: the NotaryRegistry the consortium runs; a bundle anchored
      anywhere else is invalid.
    - `trust_anchors`: the J-LIS CA certificates (every generation). With none while
      `require_signature` is on, a JPKI signer's check is ``unknown``.
    - `seal_trust_anchors`: the LGPKI organisational CA certificates that vouch for municipal
      seals; only they do (a J-LIS CA never makes a seal valid, nor these a JPKI certificate).
    - `require_municipal_seal`: on (the default), a registered certificate type must carry its
      municipality's seal. Off accepts a pre-seal bundle (a version-1 or -2 leaf) signed with
      a JPKI signature certificate, and the check says so (`notary verify --accept-unsealed`);
      a version-3 leaf was issued under the seal rule and gets no such exception.
    - `revocation`: CRL files, URLs, OCSP (`verifier.jpki.RevocationSources`).
    - `finality_depth`: blocks required on top of the anchor block. None asks the chain
      (``clique_getSigners``: floor(N/2)+1 for N signers), else
      `protocol.finality.DEFAULT_FINALITY_DEPTH`.
    - `node_url`: the issuing node's base URL, asked whether the document was revoked.
    - `require_revocation_check`: on (the default), a verdict whose document revocation was
      not checked (no node asked, no revocation in the bundle) is ``unknown``, never
      ``valid``: the holder can delete a bundle's revocation section, so only the issuing
      node can rule a revocation out. Off only by an explicit choice of the relying party
      (`notary verify --no-revocation-check`); the check is then ``skipped`` and the
      verdict's summary says so.
    - `now`: the current time, or a function returning it (tests pin it).
    - `require_signature`: verify the JPKI signer and signature (off only for anchoring-only
      checks; the verdict then lists them as skipped).
    - `trust_root`: the consortium's trust root (`protocol.trust_root`): a version-3 bundle's
      chain evidence is checked against it (signer-set history, registry, TSAs). Its chain id
      and registry must be the policy's (`for_trust_root` takes them from it).
    - `offline`: decide every check from the bundle's evidence and local files, asking no
      endpoint, node, CRL URL or OCSP responder; needs `trust_root`. What only the network can
      tell (a later withdrawal, suspension or revocation) makes the verdict ``valid_as_of``,
      never ``valid`` (docs/PROTOCOL.md, "Offline verification").
    """

    rpc_urls: Sequence[str]
    registry: str
    chain_id: int
    trust_anchors: Sequence[JPKICertificate] = ()
    seal_trust_anchors: Sequence[JPKICertificate] = ()
    require_municipal_seal: bool = True
    revocation: RevocationSources = field(default_factory=RevocationSources)
    finality_depth: int | None = None
    node_url: str | None = None
    require_revocation_check: bool = True
    now: datetime | Callable[[], datetime] | None = None
    require_signature: bool = True
    signer_policy: SignerPolicy = field(default_factory=SignerPolicy)
    rpc_timeout: float = DEFAULT_RPC_TIMEOUT
    max_clock_skew: timedelta = DEFAULT_CLOCK_SKEW
    trust_root: TrustRoot | None = None
    offline: bool = False

    @classmethod
    def for_trust_root(cls, trust_root: TrustRoot, **options: Any) -> VerificationPolicy:
        """A policy pinned to `trust_root`'s chain and registry, its J-LIS CAs the trust
        anchors unless `trust_anchors` is given and its LGPKI CAs (`seal_anchors`) the seal
        trust anchors unless `seal_trust_anchors` is given; other options as for the
        constructor."""
        options.setdefault("rpc_urls", ())
        if not options.get("trust_anchors"):
            options["trust_anchors"] = [parse_certificate(der) for der in trust_root.jpki_anchors]
        if not options.get("seal_trust_anchors"):
            options["seal_trust_anchors"] = [
                parse_certificate(der) for der in trust_root.seal_anchors
            ]
        return cls(
            registry=trust_root.registry.address,
            chain_id=trust_root.chain_id,
            trust_root=trust_root,
            **options,
        )

    def __post_init__(self) -> None:
        self._check_chain()
        self._check_trust_root()
        for name, whose in (("trust_anchors", "J-LIS"), ("seal_trust_anchors", "LGPKI")):
            anchors = tuple(getattr(self, name))
            for anchor in anchors:
                if not isinstance(anchor, JPKICertificate):
                    raise PolicyError(f"{name} must be parsed certificates (load_certificates)")
                if not anchor.is_ca:
                    raise PolicyError(
                        f"trust anchor serial 0x{anchor.serial_hex} is not a CA certificate: "
                        f"give the {whose} CA certificates, not an end-entity certificate"
                    )
            object.__setattr__(self, name, anchors)
        if set(self.trust_anchors) & set(self.seal_trust_anchors):
            raise PolicyError(
                "a CA certificate is both a J-LIS and a seal trust anchor: each PKI vouches "
                "only for its own certificates"
            )
        if self.node_url is not None:
            _check_http_url(self.node_url, "node URL")
            object.__setattr__(self, "node_url", self.node_url.rstrip("/"))
        if isinstance(self.now, datetime) and self.now.utcoffset() is None:
            raise PolicyError("now must carry a time zone (e.g. UTC)")
        if self.rpc_timeout <= 0:
            raise PolicyError("rpc_timeout must be a positive number of seconds")
        if self.max_clock_skew < timedelta(0):
            raise PolicyError("max_clock_skew must not be negative")

    def _check_chain(self) -> None:
        if isinstance(self.rpc_urls, str):
            raise PolicyError("rpc_urls is a list of URLs, not one string")
        urls = tuple(self.rpc_urls)
        for url in urls:
            _check_http_url(url, "JSON-RPC URL")
        object.__setattr__(self, "rpc_urls", urls)
        if not isinstance(self.registry, str) or not is_address(self.registry):
            raise PolicyError(f"registry {self.registry!r} is not a 20-byte hex address")
        object.__setattr__(self, "registry", str(to_checksum_address(self.registry)))
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int):
            raise PolicyError("chain_id must be an integer")
        if self.chain_id <= 0:
            raise PolicyError(f"chain_id must be positive, got {self.chain_id}")
        depth = self.finality_depth
        if depth is not None and (
            isinstance(depth, bool) or not isinstance(depth, int) or depth < 0
        ):
            raise PolicyError("finality_depth must be a non-negative integer (or None: ask)")

    def _check_trust_root(self) -> None:
        root = self.trust_root
        if root is not None:
            if root.chain_id != self.chain_id:
                raise PolicyError(
                    f"chain_id {self.chain_id} is not the trust root's chain id {root.chain_id}"
                )
            if to_checksum_address(root.registry.address) != self.registry:
                raise PolicyError(
                    f"registry {self.registry} is not the trust root's {root.registry.address}"
                )
        if not self.offline:
            return
        if root is None:
            raise PolicyError("offline verification needs a trust root (trust_root)")
        network = [
            name
            for name, used in (
                ("rpc_urls", bool(self.rpc_urls)),
                ("node_url", self.node_url is not None),
                ("revocation.crl_urls", bool(self.revocation.crl_urls)),
                ("revocation.ocsp_urls", bool(self.revocation.ocsp_urls)),
                ("revocation.use_certificate_ocsp_urls", self.revocation.use_certificate_ocsp_urls),
            )
            if used
        ]
        if network:
            raise PolicyError(
                "offline verification asks no one over the network; drop " + ", ".join(network)
            )

    def anchors_for(self, cert: JPKICertificate) -> tuple[JPKICertificate, ...]:
        """The trust anchors of the PKI `cert` claims to belong to: the seal's for a seal
        certificate, the J-LIS ones for anything else (never both)."""
        if cert.kind is CertificateKind.SEAL:
            return tuple(self.seal_trust_anchors)
        return tuple(self.trust_anchors)

    def current_time(self) -> datetime:
        """The policy's idea of now, in UTC."""
        if self.now is None:
            return datetime.now(UTC)
        moment = self.now if isinstance(self.now, datetime) else self.now()
        if moment.utcoffset() is None:
            raise PolicyError("the policy's clock returned a time without a time zone")
        return moment.astimezone(UTC)


def _check_http_url(url: object, what: str) -> None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise PolicyError(f"{what} {url!r} must start with http:// or https://")
    if any(c.isspace() for c in url):
        raise PolicyError(f"{what} {url!r} contains white space")
