"""A loop clock for :class:`aiodfu.core.pacing.Pacer` on a busy machine, without the machine."""

from __future__ import annotations

import asyncio
import types

import pytest

from aiodfu.core import pacing


class LateClock:
    """Every sleep wakes ``late`` seconds after it was due; time moves only by sleeping."""

    def __init__(self, late: float) -> None:
        self.now = 0.0
        self.late = late
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay + self.late
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is


def pace_by(monkeypatch: pytest.MonkeyPatch, late: float) -> LateClock:
    """Make every pacer run on a :class:`LateClock` for the rest of the test."""
    clock = LateClock(late)
    fake = types.SimpleNamespace(get_running_loop=lambda: clock, sleep=clock.sleep)
    monkeypatch.setattr(pacing, "asyncio", fake)
    return clock
