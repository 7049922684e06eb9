"""Prometheus metrics of one node (its own registry, so several nodes can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.entries = Counter(
            "notary_entries", "Entries appended to the log", ["kind"], registry=r
        )
        self.tree_size = Gauge("notary_tree_size", "Leaves in the log", registry=r)
        self.heads_sealed = Counter("notary_heads_sealed", "Tree heads sealed", registry=r)
        self.anchors_submitted = Counter(
            "notary_anchors_submitted", "Anchor transactions sent", registry=r
        )
        self.heads_final = Counter("notary_heads_final", "Heads anchored and final", registry=r)
        self.chain_errors = Counter(
            "notary_chain_errors", "Chain errors seen by the anchoring worker", registry=r
        )
        self.anchor_lag_seconds = Gauge(
            "notary_anchor_lag_seconds",
            "Seal-to-inclusion time of the latest anchored head",
            registry=r,
        )
        self.final_lag_seconds = Gauge(
            "notary_final_lag_seconds", "Seal-to-finality time of the latest final head", registry=r
        )
        self.heads_timestamped = Counter(
            "notary_heads_timestamped", "Heads given an RFC 3161 timestamp", registry=r
        )
        self.timestamp_errors = Counter(
            "notary_timestamp_errors", "Failed attempts to get a head's timestamp", registry=r
        )
        self.heads_evidenced = Counter(
            "notary_heads_evidenced",
            "Final heads whose chain evidence was captured and verified",
            registry=r,
        )
        self.evidence_errors = Counter(
            "notary_evidence_errors", "Failed attempts to capture a head's evidence", registry=r
        )
        self.heads_without_evidence = Gauge(
            "notary_heads_without_evidence",
            "Final heads whose chain evidence is not captured yet",
            registry=r,
        )
        self.signer_evidence_pending = Gauge(
            "notary_signer_evidence_pending",
            "Document entries whose signer is not re-checked yet (grace not over, or failing)",
            registry=r,
        )
        self.signer_evidence_captured = Counter(
            "notary_signer_evidence_captured",
            "Entries whose signer was re-checked at its signing time, the deciding CRL or OCSP "
            "response kept",
            registry=r,
        )
        self.signer_evidence_failed = Counter(
            "notary_signer_evidence_failed",
            "Failed signer re-checks (a revocation source failed; retried with backoff)",
            registry=r,
        )
        self.signers_revoked_at_signing = Counter(
            "notary_signers_revoked_at_signing",
            "Entries whose signer the re-check found revoked at the signing time (an alarm)",
            registry=r,
        )
        self.unanchored_entries = Gauge(
            "notary_unanchored_entries", "Entries not yet covered by a final head", registry=r
        )
        # Per CA generation (label: its CN/OU and fingerprint prefix; CA names are public).
        self.crl_next_update = Gauge(
            "notary_crl_next_update_seconds",
            "Unix time of the earliest nextUpdate among the CA's CRLs (the first to expire)",
            ["ca"],
            registry=r,
        )
        self.crl_age = Gauge(
            "notary_crl_age_seconds",
            "Seconds since the thisUpdate of the CA's oldest current CRL",
            ["ca"],
            registry=r,
        )
        self.crl_stale = Gauge(
            "notary_crl_stale",
            "1 if a CRL of the CA is past nextUpdate plus crl_stale_grace, else 0",
            ["ca"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "notary_http_request_seconds",
            "HTTP request latency",
            ["route", "method", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
