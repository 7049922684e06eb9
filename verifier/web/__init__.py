"""The clerk's verification page: one self-contained HTML file, filled in with a configuration.

The page (`verify.html`) runs every check of docs/PROTOCOL.md section 7 in the browser; this
module only writes its configuration block, so that a node (GET /verify) and an IT department
(``python -m verifier.web``) hand out the same page. Standard library only: an installed
verifier has the page without the node's server stack.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

PAGE_FILE: Final = "verify.html"
CONFIG_ID: Final = "notary-config"

_CONFIG_BLOCK: Final = re.compile(
    r'(<script type="application/json" id="' + CONFIG_ID + r'">)(.*?)(</script>)', re.DOTALL
)
_INLINE: Final = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@dataclass(frozen=True)
class PageConfig:
    """What the page trusts; see the comment at the top of verify.html for each field.

    `node_url` "" means the origin serving the page (a node serving its own page), None
    means no node is asked (the page then shows no document as valid: revocation unchecked).
    Nothing else configures the page: settings in a link are ignored (docs/VERIFY_PAGE.md).
    """

    rpc_urls: Sequence[str] = ()
    chain_id: int | None = None
    registry: str | None = None
    node_url: str | None = None
    trust_anchors: Sequence[bytes] = ()
    """DER CA certificates (every J-LIS generation)."""
    crls: Sequence[bytes] = ()
    """DER CRLs of those CAs (and of the LGPKI CAs)."""
    seal_trust_anchors: Sequence[bytes] = ()
    """DER LGPKI organisational CA certificates (`VerificationPolicy.seal_trust_anchors`): a
    municipal seal chains to one. Empty: the trust root's `seal_anchors`, if any."""
    require_municipal_seal: bool = True
    """`VerificationPolicy.require_municipal_seal`: off accepts pre-seal (version-1 or -2)
    documents of a registered type signed with a JPKI signature certificate."""
    finality_depth: int | None = None
    trust_root: Mapping[str, Any] | None = None
    """The consortium's trust-root.json, as its JSON object (`protocol.trust_root`): with it the
    page checks a version-3 bundle's chain evidence, and verifies with no network at all when
    `rpc_urls` is empty (or the clerk chooses to); the best verdict offline is valid_as_of."""

    def as_json(self) -> dict[str, Any]:
        urls = list(self.rpc_urls)
        return {
            "rpc_url": None if not urls else urls[0] if len(urls) == 1 else urls,
            "chain_id": self.chain_id,
            "registry": self.registry,
            "node_url": self.node_url,
            "trust_anchors": [base64.b64encode(der).decode("ascii") for der in self.trust_anchors],
            "seal_trust_anchors": [
                base64.b64encode(der).decode("ascii") for der in self.seal_trust_anchors
            ],
            "require_municipal_seal": self.require_municipal_seal,
            "crls": [base64.b64encode(der).decode("ascii") for der in self.crls],
            "finality_depth": self.finality_depth,
            "trust_root": None if self.trust_root is None else dict(self.trust_root),
        }


@cache
def page_template() -> str:
    """The unconfigured page as shipped (empty configuration: it shows no verdict but unknown)."""
    return resources.files(__package__).joinpath(PAGE_FILE).read_text(encoding="utf-8")


def config_json_for_html(config: dict[str, Any]) -> str:
    """JSON that cannot end the <script> element it sits in, nor be read as HTML.

    Inside <script> only "</script" (and "<!--") matter; escaping every "<", ">" and "&" as
    JSON unicode escapes rules them out without changing the value JSON.parse returns.
    """
    text = json.dumps(config, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def render_page(config: PageConfig, template: str | None = None) -> str:
    """The page with `config` in its configuration block."""
    html = page_template() if template is None else template
    payload = "\n" + config_json_for_html(config.as_json()) + "\n"
    rendered, count = _CONFIG_BLOCK.subn(lambda m: m.group(1) + payload + m.group(3), html, 1)
    if count != 1:
        raise ValueError(f"{PAGE_FILE} has no configuration block with id {CONFIG_ID!r}")
    return rendered


def inline_hashes(html: str) -> tuple[list[str], list[str]]:
    """CSP sources ('sha256-...') of the page's inline scripts and style sheets.

    The JSON configuration block is data (type="application/json"), never executed, so the
    script hash does not change when a node fills it in.
    """
    scripts: list[str] = []
    styles: list[str] = []
    for kind, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        (scripts if kind == "script" else styles).append(f"'sha256-{digest}'")
    return scripts, styles


def content_security_policy(html: str, connect_to: Iterable[str]) -> str:
    """A CSP for `html` that runs only its own inline code and talks only to `connect_to`.

    Scripts and styles are allowed by hash, not 'unsafe-inline': an injected script cannot run
    even if some value ever reached the page unescaped. `connect_to` are URLs (their origins
    are allowed) besides the page's own origin: the JSON-RPC endpoint.
    """
    scripts, styles = inline_hashes(html)
    origins = sorted({origin for url in connect_to if (origin := _origin(url))})
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(scripts),
            "style-src " + " ".join(styles),
            "connect-src " + " ".join(["'self'", *origins]),
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None  # relative URLs are the page's own origin: 'self'
    return f"{parts.scheme}://{parts.netloc}"


__all__ = [
    "CONFIG_ID",
    "PAGE_FILE",
    "PageConfig",
    "config_json_for_html",
    "content_security_policy",
    "inline_hashes",
    "page_template",
    "render_page",
]
