"""Whose CPU is it? Split a benchmark's process CPU between aiodfu's host code and the rest.

A benchmark runs the host library and the emulated device (and, for BLE, two
Bumble host stacks and the emulated controller) in one process, so its process
CPU time says little about the host library alone. :class:`CpuSplit` profiles
the run with :mod:`cProfile` and apportions the measured CPU by where each
function lives:

* **host** -- aiodfu itself, except its emulators and link models;
* **device** -- ``aiodfu.testing``, the in-memory link model, Bumble;
* **runtime** -- everything else (the asyncio event loop, the standard library),
  which both sides share and cannot be split by file.

Profiling slows a run down (by 2-3x for code of many small calls), so
:meth:`CpuSplit.measure` runs the work twice: once plain, for the process CPU
it really costs, and once under the profiler, for each side's *share*; the
plain run's CPU is split by those shares.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Awaitable, Callable
from pathlib import PurePath
from typing import TypeVar

import attrs

T = TypeVar("T")

_DEVICE_PARTS = (("aiodfu", "testing"), ("aiodfu", "transports", "memory.py"), ("bumble",))


def side_of(filename: str) -> str:
    """``host``, ``device`` or ``runtime`` for a function defined in ``filename``."""
    parts = PurePath(filename).parts
    for pattern in _DEVICE_PARTS:
        width = len(pattern)
        if any(parts[i : i + width] == pattern for i in range(len(parts))):
            return "device"
    if "aiodfu" in parts:
        return "host"
    return "runtime"


@attrs.frozen
class CpuSplit:
    """Process CPU seconds of a run, split into host, device and shared runtime."""

    total: float
    host: float
    device: float
    runtime: float

    @classmethod
    async def measure(cls, run: Callable[[], Awaitable[T]]) -> tuple[T, CpuSplit]:
        """Run ``run()`` plain, then again under the profiler; the plain run's result and the
        plain run's CPU split by the profiled run's shares."""
        started = time.process_time()
        result = await run()
        total = time.process_time() - started
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            await run()
        finally:
            profiler.disable()
        shares = {"host": 0.0, "device": 0.0, "runtime": 0.0}
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
            shares[side_of(filename)] += tottime
        profiled = sum(shares.values()) or 1.0
        return result, cls(
            total=total,
            host=total * shares["host"] / profiled,
            device=total * shares["device"] / profiled,
            runtime=total * shares["runtime"] / profiled,
        )

    def per_mib(self, size: int) -> CpuSplit:
        """The same split, per MiB of image moved."""
        mib = size / (1024 * 1024)
        return CpuSplit(self.total / mib, self.host / mib, self.device / mib, self.runtime / mib)

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("aiodfu host code", f"{self.host:.3f}"),
            ("emulated device, link model, Bumble", f"{self.device:.3f}"),
            ("shared runtime (asyncio, stdlib)", f"{self.runtime:.3f}"),
            ("whole process", f"{self.total:.3f}"),
        ]
