"""Timeouts check themselves on construction (issue 9): positive values, nested waits."""

from __future__ import annotations

import attrs
import pytest

from aiodfu.drogue import Timeouts


def test_defaults_and_scaled_defaults_are_valid() -> None:
    assert Timeouts().scaled(0.05).status == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": 0.0}, "status must be positive"),
        ({"offset_settle": 25.0}, "offset_settle must stay below status"),
        ({"resync_gap": 30.0}, "resync_gap must stay below status"),
        ({"offset_poll_interval": 16.0}, "offset_poll_interval must stay below"),
        ({"reboot": 1.0}, "below reboot"),
    ],
)
def test_a_broken_invariant_fails_at_construction(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        attrs.evolve(Timeouts(), **changes)
