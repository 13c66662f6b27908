"""Whose CPU is it? Split a benchmark's process CPU between aiodfu's host code and the rest.

A benchmark runs the host library and the emulated device (and, for BLE, bleak,
two Bumble host stacks and the emulated controller) in one process, so its
process CPU time says little about the host library alone. :class:`CpuSplit`
profiles the run with :mod:`cProfile` and apportions the measured CPU by where
each function lives (the event loop's wait for I/O, ``epoll``/``select``, is
idle time, not CPU, and counts for no side):

* **host** -- aiodfu itself, except its emulators and link models;
* **device** -- the emulated device: ``aiodfu.testing`` (except its BLE radio)
  and the in-memory link model;
* **ble** -- the BLE stacks between the two: bleak's front end, Bumble (the
  central's and the peripheral's host stacks, the emulated controller and link)
  and aiodfu's radio model and bleak backend on Bumble (``aiodfu.testing.ble``);
* **runtime** -- everything else (the asyncio event loop, the standard library
  in Python), which every side shares and cannot be split by file.

A built-in function (``len``, ``bytes.join``, ``struct.pack``: file ``~``) has no
file of its own; its time goes to the side of the function that called it, in
proportion to the time spent in it from each caller.

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
from typing import Any, TypeVar

import attrs

T = TypeVar("T")

SIDES = ("host", "device", "ble", "runtime")
_SIDE_PARTS = (
    ("ble", ("aiodfu", "testing", "ble")),
    ("ble", ("bumble",)),
    ("ble", ("bleak",)),
    ("ble", ("pyee",)),  # Bumble's event emitter
    ("device", ("aiodfu", "testing")),
    ("device", ("aiodfu", "transports", "memory.py")),
)

_WAITS = frozenset(
    f"<method '{method}' of 'select.{kind}' objects>"
    for method, kind in (("poll", "epoll"), ("poll", "poll"), ("select", "kqueue"))
) | {"<built-in method select.select>"}


def side_of(filename: str) -> str:
    """``host``, ``device``, ``ble`` or ``runtime`` for a function defined in ``filename``."""
    parts = PurePath(filename).parts
    for side, pattern in _SIDE_PARTS:
        width = len(pattern)
        if any(parts[i : i + width] == pattern for i in range(len(parts))):
            return side
    if "aiodfu" in parts:
        return "host"
    return "runtime"


def shares(stats: dict[Any, Any]) -> dict[str, float]:
    """CPU seconds per side from :class:`pstats.Stats`' ``stats`` dictionary; built-ins'
    time goes to their callers' sides."""
    result = dict.fromkeys(SIDES, 0.0)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, callers) in stats.items():
        if filename == "~" and name in _WAITS:
            continue
        if filename != "~" or not callers:
            result[side_of(filename)] += tottime
            continue
        from_callers = sum(timing[2] for timing in callers.values()) or 1.0
        for (caller_file, _l, _n), timing in callers.items():
            result[side_of(caller_file)] += tottime * timing[2] / from_callers
    return result


@attrs.frozen
class CpuSplit:
    """Process CPU seconds of a run, split into host, device, BLE stacks and shared runtime."""

    total: float
    host: float
    device: float
    runtime: float
    ble: float = 0.0

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
        measured = shares(pstats.Stats(profiler).stats)  # type: ignore[attr-defined]
        profiled = sum(measured.values()) or 1.0
        return result, cls(
            **{side: total * measured[side] / profiled for side in SIDES}, total=total
        )

    def per_mib(self, size: int) -> CpuSplit:
        """The same split, per MiB of image moved."""
        mib = size / (1024 * 1024)
        return CpuSplit(
            self.total / mib, self.host / mib, self.device / mib, self.runtime / mib, self.ble / mib
        )

    def rows(self) -> list[tuple[str, str]]:
        """Table rows, one per side; the BLE row only where a BLE stack ran."""
        rows = [
            ("aiodfu host code", f"{self.host:.3f}"),
            ("emulated device, link model", f"{self.device:.3f}"),
        ]
        if self.ble:
            rows.append(
                ("BLE stacks: bleak, Bumble (2 hosts, controller), radio", f"{self.ble:.3f}")
            )
        return [
            *rows,
            ("shared runtime (asyncio, stdlib)", f"{self.runtime:.3f}"),
            ("whole process", f"{self.total:.3f}"),
        ]
