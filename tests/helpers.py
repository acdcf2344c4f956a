"""Assertions the test files share (fixtures are in conftest.py and app_fixtures.py)."""

from __future__ import annotations

import numpy as np

from r2etl_core.types import EventBatch


def assert_same_events(a: EventBatch, b: EventBatch) -> None:
    """Same sensor size and the same events, field by field (t, x, y, polarity), in order."""
    assert (a.width, a.height) == (b.width, b.height)
    for name in "txyp":
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
