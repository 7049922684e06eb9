"""The verdict rule and the finality rule, stated once in `protocol` and used by the verifier,
the node and the audit alike."""

from __future__ import annotations

import pytest

from protocol.checks import (
    CHECK_ORDER,
    DOCUMENT_REVOCATION,
    FINALITY,
    MERKLE_INCLUSION,
    SIGNATURE,
    Check,
    Outcome,
    VerdictStatus,
    decide,
)
from protocol.finality import FinalityDepth, clique_finality, clique_signer_limit


def _checks(**outcomes: Outcome | tuple[Outcome, bool]) -> list[Check]:
    checks = []
    for name in CHECK_ORDER:
        value = outcomes.get(name, Outcome.PASSED)
        outcome, pending = value if isinstance(value, tuple) else (value, False)
        checks.append(Check(name, outcome, "", pending))
    return checks


@pytest.mark.parametrize(
    ("outcomes", "status", "deciding"),
    [
        ({}, VerdictStatus.VALID, None),
        ({SIGNATURE: Outcome.SKIPPED}, VerdictStatus.VALID, None),
        ({FINALITY: (Outcome.UNKNOWN, True)}, VerdictStatus.PENDING, FINALITY),
        ({FINALITY: (Outcome.UNKNOWN, True), SIGNATURE: Outcome.UNKNOWN}, VerdictStatus.UNKNOWN,
         SIGNATURE),
        ({DOCUMENT_REVOCATION: Outcome.FAILED, SIGNATURE: Outcome.UNKNOWN}, VerdictStatus.REVOKED,
         DOCUMENT_REVOCATION),
        ({DOCUMENT_REVOCATION: Outcome.FAILED, SIGNATURE: Outcome.FAILED}, VerdictStatus.INVALID,
         SIGNATURE),
        ({MERKLE_INCLUSION: Outcome.FAILED, SIGNATURE: Outcome.FAILED}, VerdictStatus.INVALID,
         MERKLE_INCLUSION),
    ],
)  # fmt: skip
def test_invalid_beats_revoked_beats_unknown_beats_pending_beats_valid(
    outcomes: dict[str, Outcome | tuple[Outcome, bool]],
    status: VerdictStatus,
    deciding: str | None,
) -> None:
    found, check = decide(_checks(**outcomes))
    assert found is status
    assert (check.name if check else None) == deciding


@pytest.mark.parametrize(("signers", "depth"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (47, 24)])
def test_finality_is_a_majority_of_clique_signers(signers: int, depth: int) -> None:
    assert clique_signer_limit(signers) == depth
    finality = clique_finality(signers)
    assert finality.depth == depth
    assert f"{signers} Clique signers" in finality.source


def test_a_block_is_final_with_depth_blocks_on_top() -> None:
    finality = FinalityDepth(3, "test")
    assert not finality.is_final(10, 12)
    assert finality.is_final(10, 13)
