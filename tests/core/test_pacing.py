"""The pacer's schedule: what a late wake-up costs, and what a pause on the wire resets."""

from __future__ import annotations

import pytest

from aiodfu.core.pacing import Pacer
from tests.late_clock import LateClock, pace_by


@pytest.fixture
def late_clock(monkeypatch: pytest.MonkeyPatch) -> LateClock:
    return pace_by(monkeypatch, late=0.05)


async def test_a_late_wake_up_inside_one_buffer_is_made_up(late_clock: LateClock) -> None:
    pacer = Pacer(1000)  # 10 bytes: 10 ms
    await pacer.consume(10)
    for _ in range(9):
        await pacer.consume(10, continuous=True)
    # Woken 50 ms late at 10 ms, the schedule had five slices' worth in hand and released them
    # at once; it slept again only when it caught up with the clock (at 60 ms), woke at 120 ms,
    # and the last four had crossed by then. Without continuity: ten sleeps, 600 ms.
    assert late_clock.sleeps == pytest.approx([0.01, 0.01])
    assert late_clock.now == pytest.approx(0.12)


async def test_without_continuity_a_late_wake_up_is_a_pause(late_clock: LateClock) -> None:
    pacer = Pacer(1000)
    for _ in range(10):
        await pacer.consume(10)
    # Each slice found the wire idle for longer than idle_gap and started afresh.
    assert late_clock.sleeps == pytest.approx([0.01] * 10)


async def test_a_pause_banks_no_credit_even_for_continuous_bytes_after_it(
    late_clock: LateClock,
) -> None:
    late_clock.late = 0.0
    pacer = Pacer(1000)
    await pacer.consume(10)
    late_clock.now += 1.0  # the link sat idle
    await pacer.consume(10)  # a new buffer: not continuous
    assert late_clock.sleeps == pytest.approx([0.01, 0.01])


async def test_no_rate_never_sleeps(late_clock: LateClock) -> None:
    pacer = Pacer(None)
    await pacer.consume(10_000)
    await pacer.consume(10_000, continuous=True)
    assert late_clock.sleeps == []
