"""The download of a host-MCU image as a :class:`~aiodfu.core.transfer.Transfer` for the engine.

``AT+HTTPCGET`` is one long command that streams the whole body, so
``prepare`` starts it in the background and each engine chunk (``move``)
waits until the stream has delivered that far; ``complete`` waits for the
final ``OK`` and checks the length against ``+RMFWNOTIFY``.

Resume (reference section 5.5): after a link loss or a mid-stream ``ERROR``
the bytes received so far are kept and the next attempt asks for the rest
with ``Range: bytes=<k - overlap>-`` (set with ``AT+HTTPCHEAD``). The first
``overlap`` bytes must equal what we already hold, which proves the server
honoured the range; if it did not (a ``200`` with the whole body), if it
answered ``416``, if the module treats ``206`` as a failure, or if it has no
``AT+HTTPCHEAD``, resume is switched off and the download restarts cleanly
from byte 0. Nothing is ever appended twice: the pull's sink (memory, or a
file: :mod:`aiodfu.core.sinks`) is truncated to the offset the download
continues from, and the overlap is read back from it.

The same transfer reads a range of the image a second time, into a
:class:`SecondRead` (what the image's own digest does not cover, see
:func:`aiodfu.core.pull.reread_uncovered`): it starts as a resume at that
range, so a server that ignores ``Range`` makes it read the whole image again.

For an HTTP status of 400 or more the module still streams the response
body (S3's XML error) as ``+HTTPCGET`` chunks, and only its final ``ERROR``
says which status it was. So what the data looks like (a range that does
not line up, more bytes than announced) is only noted while it arrives and
decided when the command ends: an HTTP error wins (its bytes are dropped,
and a ``403`` takes the re-fetch path for an expired URL); a final ``OK``
makes it a :class:`RangeIgnoredError` or a :class:`DownloadSizeError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs

from aiodfu.core.errors import DfuError, ProtocolError
from aiodfu.core.sinks import MemorySink, PulledImage, read_range
from aiodfu.core.transfer import Chunk, chunk_plan
from aiodfu.rainmaker.device import RainMakerDevice
from aiodfu.rainmaker.errors import DownloadFailedError, DownloadSizeError, EspAtError
from aiodfu.rainmaker.protocol import FirmwareNotification

log = logging.getLogger("aiodfu.rainmaker")

PROGRESS_STEP = 4096
"""Bytes per engine chunk: how often progress is reported while the stream runs."""

RANGE_OVERLAP = 64
"""Bytes re-requested before the resume offset to prove the server honoured ``Range``."""


class RangeIgnoredError(ProtocolError):
    """The server did not start the body where the ``Range`` header asked (transient)."""


class Store(Protocol):
    """Where a download puts the bytes: a pull's sink, or a :class:`SecondRead`."""

    def __len__(self) -> int: ...

    def write(self, offset: int, data: bytes) -> None: ...

    def truncate(self, size: int) -> None: ...

    def read(self, offset: int, length: int) -> bytes: ...


class SecondRead:
    """A :class:`Store` for reading an image again from ``start`` to its end.

    It starts as if it held ``[0, start)`` of the first read (``first(offset,
    length)`` reads that), so the download resumes at ``start`` and proves on
    bytes already held that the server honoured ``Range``; only what arrives
    from ``start`` on is kept (:attr:`kept`), also when the whole image comes again.
    """

    def __init__(self, first: Callable[[int, int], bytes], start: int) -> None:
        self._first = first
        self.start = start
        self.kept = bytearray()
        self._length = start

    @classmethod
    def of(cls, image: PulledImage, start: int) -> SecondRead:
        """Read ``image`` (the first read) again from ``start``."""
        return cls(functools.partial(read_range, image), start)

    def __len__(self) -> int:
        return self._length

    def write(self, offset: int, data: bytes) -> None:
        skip = max(self.start - offset, 0)
        self.kept += data[skip:]
        self._length = offset + len(data)

    def truncate(self, size: int) -> None:
        self._length = size
        del self.kept[max(size - self.start, 0) :]

    def read(self, offset: int, length: int) -> bytes:
        end = offset + length
        held = self._first(offset, max(min(end, self.start) - offset, 0))
        return held + bytes(self.kept[max(offset - self.start, 0) : max(end - self.start, 0)])


class DownloadTransfer:
    """Pull ``notification``'s image through ``device`` into :attr:`sink`."""

    def __init__(
        self,
        device: RainMakerDevice,
        notification: FirmwareNotification,
        *,
        resume: bool,
        sink: Store | None = None,
    ) -> None:
        self.device = device
        self.notification = notification
        self.resume = resume
        self.sink: Store = MemorySink() if sink is None else sink
        self.resumes = 0
        self._verify: bytes = b""
        self._attempt_start = 0
        self._anomaly: DfuError | None = None
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    @property
    def size(self) -> int:
        return self.notification.size

    async def prepare(self, attempt: int) -> int:
        await self.device.set_url(self.notification.url)
        self._verify = b""
        start = len(self.sink) if self.resume else 0
        if start:
            start = await self._ask_range(start)
        elif self.device.headers_set:
            await self.device.clear_headers()
        self.sink.truncate(start)
        self._attempt_start = start
        self._anomaly = None
        self._arrived.clear()
        self._task = asyncio.get_running_loop().create_task(
            self.device.http_get(self._on_data, start)
        )
        return start

    async def _ask_range(self, start: int) -> int:
        overlap = min(start, RANGE_OVERLAP)
        try:
            if self.device.headers_set:
                await self.device.clear_headers()
            await self.device.set_header(f"Range: bytes={start - overlap}-")
        except EspAtError as exc:
            log.info("no AT+HTTPCHEAD on this module (%s): restarting from byte 0", exc.status)
            self.resume = False
            self.device.headers_set = False
            return 0
        self._verify = self.sink.read(start - overlap, overlap)
        self.resumes += 1
        log.info("resuming the download at byte %d", start)
        return start

    def _on_data(self, data: bytes) -> None:
        if self._anomaly is not None:
            return  # not the image we asked for; the command's end says what it was
        if self._verify:
            take = min(len(self._verify), len(data))
            if data[:take] != self._verify[:take]:
                self._anomaly = RangeIgnoredError(
                    "the server did not honour the Range request; restarting from byte 0",
                    operation="AT+HTTPCGET",
                    offset=len(self.sink),
                )
                return
            self._verify, data = self._verify[take:], data[take:]
        if len(self.sink) + len(data) > self.size:
            self._anomaly = DownloadSizeError(
                f"the server sent more than the {self.size} bytes +RMFWNOTIFY announced",
                operation="AT+HTTPCGET",
                offset=len(self.sink),
            )
            return
        self.sink.write(len(self.sink), data)
        self._arrived.set()

    async def _finish(self, task: asyncio.Task[None]) -> None:
        """The end of the download command, as this attempt's outcome."""
        try:
            await task
        except DownloadFailedError as exc:
            if exc.http_status is not None and exc.http_status >= 400:
                self.sink.truncate(self._attempt_start)  # the server's error body, not image
            raise
        if isinstance(self._anomaly, RangeIgnoredError):
            self.resume = False
        if self._anomaly is not None:
            raise self._anomaly

    def plan(self, start: int) -> Iterable[Chunk]:
        return chunk_plan(self.size, PROGRESS_STEP, start)

    async def move(self, chunk: Chunk) -> None:
        task = self._task
        assert task is not None
        while len(self.sink) < chunk.end:
            if task.done():
                await self._finish(task)  # the download's error, if it failed
                raise self._short()
            self._arrived.clear()
            arrived = asyncio.ensure_future(self._arrived.wait())
            either: set[asyncio.Future[Any]] = {task, arrived}
            try:
                await asyncio.wait(
                    either, return_when=asyncio.FIRST_COMPLETED
                )  # task: idle-bounded
            finally:
                arrived.cancel()

    async def complete(self) -> None:
        assert self._task is not None
        await self._finish(self._task)
        if len(self.sink) != self.size:
            raise self._short()

    def _short(self) -> DownloadSizeError:
        """The body ended early with ``OK`` (a short ``Content-Length``): ask for the rest."""
        error = DownloadSizeError(
            f"the download ended after {len(self.sink)} of the {self.size} bytes "
            "+RMFWNOTIFY announced",
            operation="AT+HTTPCGET",
            offset=len(self.sink),
        )
        error.transient = True
        return error

    async def recover(self, error: DfuError, attempt: int) -> None:
        await self.close()
        if isinstance(error, DownloadFailedError) and error.http_status in (206, 416):
            self.resume = False  # the module refuses partial content, or the range is bad
        if isinstance(error, DownloadFailedError) and error.http_status == 403:
            log.info("the download URL expired; fetching job %s again", self.notification.job_id)
            await self.device.resync(error)
            fresh = await self.device.fetch(self.notification.job_id)
            # only the URL is new: the size stays the one confirmed before the download
            self.notification = attrs.evolve(self.notification, url=fresh.url)
            return
        await self.device.resync(error)

    async def close(self) -> None:
        """Stop waiting for a stream in flight (the module finishes it on its own)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, DfuError):
                await task
