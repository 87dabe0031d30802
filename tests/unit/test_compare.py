"""The intervals the variant comparison and the fail-safe read."""

from __future__ import annotations

import pytest

from ragsvc.control.compare import lead, wilson


def test_the_lead_of_one_share_over_another_has_newcombes_interval() -> None:
    """Newcombe (1998), example (a): 56/70 against 48/80, method 10: 0.2000 [0.0524, 0.3339]."""
    gap = lead(wilson(56, 70), wilson(48, 80))
    assert (gap.value, gap.low, gap.high) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-5)
    assert gap.n == 70


def test_no_evidence_on_either_side_leaves_the_lead_in_doubt() -> None:
    assert lead(wilson(8, 8), wilson(0, 0)).low < 0
    assert lead(wilson(0, 0), wilson(0, 8)).high > 0
