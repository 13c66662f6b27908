"""Measuring what a pull holds in memory while an emulated device, in the same process, serves it.

The process's allocations include the emulator's (it keeps the image, a log of every request,
and -- for RainMaker -- socket buffers of its HTTP download), so two numbers are taken, both
with :mod:`tracemalloc`:

* ``held``: the most the code under test held at the moments :meth:`HostMemory.sample` ran
  (every few progress events, and the install callback): allocations made by the emulator
  (any frame in :mod:`aiodfu.testing`) or by asyncio's sockets and streams are left out --
  the host talks over an in-memory link, only the emulated module's HTTP download uses them
  (and some of its reads run in tasks of their own, with no emulator frame to tell them by);
* ``after_transfer``: the most allocated at once, by anyone, from the last chunk on --
  completion checks, hand-over, verification, install and report. A whole copy of the image
  made there, however briefly, shows in it. It also holds one socket read of the emulated
  module's HTTP client (asyncio reads up to :data:`SOCKET_READ` at once) when the pull reads
  part of the image a second time (RainMaker: an MCUboot image's signature TLVs).
"""

from __future__ import annotations

import hashlib
import tracemalloc
from types import TracebackType

from aiodfu.core.progress import Phase, Progress
from aiodfu.core.sinks import BLOCK_SIZE, PulledFile, PulledImage

SOCKET_READ = 256 * 1024
"""What asyncio's selector transport allocates for one ``recv`` (its ``max_size``)."""

NOT_THE_EMULATOR = [
    tracemalloc.Filter(False, "*/aiodfu/testing/*", all_frames=True),
    tracemalloc.Filter(False, "*/asyncio/selector_events.py", all_frames=True),
    tracemalloc.Filter(False, "*/asyncio/streams.py", all_frames=True),
]


class HostMemory:
    def __init__(self, every: int = 32) -> None:
        self.every = every
        self.calls = 0
        self.held = 0
        self.after_transfer = 0
        self.installed = hashlib.sha256()
        self._mark: int | None = None

    def __enter__(self) -> HostMemory:
        tracemalloc.start(32)  # deep enough to reach an emulator task's first frame
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert self._mark is not None, "no progress event for the last chunk"
        self.after_transfer = peak - self._mark

    def progress(self, event: Progress) -> None:
        """A progress callback: samples, and marks the end of the transfer."""
        self.sample()
        if event.phase is Phase.TRANSFERRING and event.done == event.total and self._mark is None:
            self._mark = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()

    def sample(self, *, force: bool = False) -> None:
        """Record what the code under test holds now (every ``every``-th call, or ``force``)."""
        self.calls += 1
        if not force and self.calls % self.every:
            return
        snapshot = tracemalloc.take_snapshot().filter_traces(NOT_THE_EMULATOR)
        self.held = max(self.held, sum(stat.size for stat in snapshot.statistics("filename")))

    def install(self, pulled: PulledImage) -> None:
        """An install callback that reads the image as a flash writer would (block by block
        from a file), into :attr:`installed`; samples first."""
        self.sample(force=True)
        for block in pulled.blocks() if isinstance(pulled, PulledFile) else [pulled.data]:
            self.installed.update(block)

    def check(self, image: bytes, *, into_file: bool) -> None:
        """The image was installed; into a file, the pull held at most a few blocks at once
        (``image`` is many of them); into memory, the measurement saw the whole image."""
        assert self.installed.digest() == hashlib.sha256(image).digest()
        if into_file:
            assert self.held < 2 * BLOCK_SIZE, f"held {self.held} of {len(image)} bytes"
            limit = 3 * BLOCK_SIZE + SOCKET_READ  # a second read's socket buffer, not the image
            assert self.after_transfer < limit, f"{self.after_transfer} at once"
        else:
            assert self.held > len(image) // 2 and self.after_transfer > len(image) // 2
