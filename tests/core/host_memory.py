"""Measuring what a pull holds in memory while an emulated device, in the same process, serves it.

The process's peak allocation counts the emulator too (it keeps the image and a log of every
request), so two numbers are taken: ``peak``, the whole process's (any whole copy of the image,
however briefly held, shows there), and ``held``, the most the code outside
:mod:`aiodfu.testing` held at the moments :meth:`HostMemory.sample` was called (each progress
event, the install callback).
"""

from __future__ import annotations

import tracemalloc
from types import TracebackType

NOT_THE_EMULATOR = tracemalloc.Filter(False, "*/aiodfu/testing/*", all_frames=True)


class HostMemory:
    def __init__(self, every: int = 32) -> None:
        self.every = every
        self.calls = 0
        self.held = 0
        self.peak = 0

    def __enter__(self) -> HostMemory:
        tracemalloc.start(32)  # deep enough to reach an emulator task's first frame
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    def sample(self, *_: object, force: bool = False) -> None:
        """Record what the code under test holds now (every ``every``-th call, or ``force``)."""
        self.calls += 1
        if not force and self.calls % self.every:
            return
        snapshot = tracemalloc.take_snapshot().filter_traces([NOT_THE_EMULATOR])
        self.held = max(self.held, sum(stat.size for stat in snapshot.statistics("filename")))
