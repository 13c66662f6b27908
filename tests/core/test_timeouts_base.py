"""Every backend's Timeouts validates itself and scales as one."""

from __future__ import annotations

import attrs
import pytest

from aiodfu.core.timeouts import TimeoutsBase


@attrs.frozen
class Timeouts(TimeoutsBase):
    status: float = 20.0
    settle: float = 15.0
    limit: float | None = None

    def invariants(self) -> list[tuple[bool, str]]:
        return [(self.settle < self.status, "settle must stay below status")]


def test_scaling_multiplies_every_duration_and_keeps_no_limit() -> None:
    fast = Timeouts().scaled(0.1)
    assert (fast.status, fast.settle, fast.limit) == pytest.approx((2.0, 1.5, None))


def test_a_non_positive_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="status must be positive"):
        Timeouts(status=0)
    with pytest.raises(ValueError, match="factor"):
        Timeouts().scaled(0)


def test_an_override_that_breaks_an_invariant_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="settle must stay below status"):
        Timeouts(settle=30.0)
    with pytest.raises(ValueError, match="settle must stay below status"):
        attrs.evolve(Timeouts(), status=10.0)
