"""Serve an emulator on a pseudo-terminal, so any serial program can drive it.

The host opens the returned path like a serial port (pyserial, minicom,
Nordic's own scripts). A pty ignores the baud rate, so a :class:`LinkModel`
with a ``baud`` paces the device's reads and writes instead. The emulator
keeps the slave side open itself, so a host may close and reopen the port
(a reconnect) without the device seeing anything but silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import struct
import termios
import tty
from collections.abc import AsyncIterator

from aiodfu.core.errors import LinkLostError
from aiodfu.core.pacing import Pacer
from aiodfu.testing.emulator import Emulator
from aiodfu.transports.base import Buffer
from aiodfu.transports.memory import LinkModel

_SPEEDS = {
    getattr(termios, f"B{rate}"): rate
    for rate in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
    if hasattr(termios, f"B{rate}")
}


class PtyStream:
    """The master end of a pty as a :class:`~aiodfu.transports.base.ByteStream`."""

    def __init__(self, master_fd: int, model: LinkModel | None = None) -> None:
        self._fd = master_fd
        self._model = model or LinkModel()
        self._read_pacer = Pacer(self._model.bytes_per_second)
        self._write_pacer = Pacer(self._model.bytes_per_second)
        self._closed = False
        self._backlog = False
        rate = self._model.bytes_per_second
        # A paced pty moves bytes in slices of a couple of milliseconds of wire time.
        self._slice = None if rate is None else max(1, int(rate * 0.002))
        os.set_blocking(master_fd, False)

    async def read(self, max_bytes: int = 65536) -> bytes:
        if self._slice is not None:
            max_bytes = min(max_bytes, self._slice)
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise LinkLostError("pty closed (reading)")
            try:
                data = os.read(self._fd, max_bytes)
            except BlockingIOError:
                data = None
            except OSError as exc:
                if exc.errno != errno.EIO:  # EIO: no slave open right now
                    raise LinkLostError(f"pty failed: {exc}") from exc
                await asyncio.sleep(0.01)
                continue
            if data:
                # Bytes still waiting behind these were on the wire right after them: the next
                # read continues the schedule however late it comes. After a read that emptied
                # the pty, the next bytes may follow a pause, and the schedule starts afresh.
                continuous, self._backlog = self._backlog, _waiting(self._fd) > 0
                await self._read_pacer.consume(len(data), continuous=continuous)
                return data
            ready = loop.create_future()
            loop.add_reader(self._fd, ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_reader(self._fd)

    async def write(self, data: Buffer) -> None:
        """Write in slices, each released once its wire time has passed (as it would arrive)."""
        view = memoryview(bytes(data))
        step = self._slice or len(view)
        continuous = False  # the first slice may follow a pause; the rest of the buffer cannot
        while view:
            piece, view = view[:step], view[step:]
            await self._write_pacer.consume(len(piece), continuous=continuous)
            await self._write_all(piece)
            continuous = True

    async def _write_all(self, view: memoryview) -> None:
        loop = asyncio.get_running_loop()
        while view:
            if self._closed:
                raise LinkLostError("pty closed (writing)")
            try:
                sent = os.write(self._fd, view)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise LinkLostError(f"pty failed: {exc}") from exc
            if sent:
                view = view[sent:]
                continue
            ready = loop.create_future()
            loop.add_writer(self._fd, ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_writer(self._fd)

    @property
    def baudrate(self) -> int | None:
        """The speed the host last set on the port: a pty carries it (and paces nothing by it),
        so an emulator can see a 1200-baud "touch"."""
        try:
            speed = termios.tcgetattr(self._fd)[5]
        except termios.error:
            return None
        return _SPEEDS.get(speed)

    async def aclose(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed


def _waiting(fd: int) -> int:
    """Bytes the pty holds for ``fd`` to read (0 if the platform cannot say)."""
    try:
        answer = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    count: int = struct.unpack("i", answer)[0]
    return count


@contextlib.asynccontextmanager
async def serve_pty(emulator: Emulator, *, model: LinkModel | None = None) -> AsyncIterator[str]:
    """Serve ``emulator`` on a new pty and yield the path a host should open."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    stream = PtyStream(master, model or emulator.link_model)
    try:
        emulator.attach(stream)
        yield os.ttyname(slave)
    finally:
        await stream.aclose()
        await emulator.aclose()
        os.close(slave)
        os.close(master)
