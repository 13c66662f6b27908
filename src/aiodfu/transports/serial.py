"""Serial ports through pyserial-asyncio.

``port`` is a device path (``/dev/ttyACM0``, ``COM3``) or any pyserial URL
(``socket://host:port``, ``loop://``). The port is opened raw (8N1, no
software flow control); RTS/CTS is on by default because the Serial Modem
documentation calls running without it experimental.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import serial_asyncio

from aiodfu.core.errors import LinkLostError
from aiodfu.core.timeouts import wait_within
from aiodfu.transports.base import Buffer

_OPEN_TIMEOUT = 5.0
_DRAIN_TIMEOUT = 30.0


class SerialStream:
    """A :class:`~aiodfu.transports.base.ByteStream` over a pyserial-asyncio connection."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.port = port
        self._closed = False

    async def read(self, max_bytes: int = 65536) -> bytes:
        if self._closed:
            raise LinkLostError(f"serial port {self.port} is closed")
        try:
            data = await self._reader.read(max_bytes)
        except Exception as exc:  # pyserial raises SerialException (an OSError) on unplug
            raise LinkLostError(f"serial port {self.port} failed: {exc}") from exc
        if not data:
            raise LinkLostError(f"serial port {self.port} closed")
        return data

    async def write(self, data: Buffer) -> None:
        if self._closed or self._writer.is_closing():
            raise LinkLostError(f"serial port {self.port} is closed")
        try:
            self._writer.write(bytes(data))
            await wait_within(self._writer.drain(), _DRAIN_TIMEOUT, f"write to {self.port}")
        except (OSError, ConnectionError) as exc:
            raise LinkLostError(f"serial port {self.port} failed: {exc}") from exc

    def set_dtr(self, level: bool) -> None:
        """Drive the DTR line (raises :class:`OSError` where the port has none, e.g. a pty)."""
        self._writer.transport.serial.dtr = level  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(2.0):  # not wait_for: it can swallow a cancel on 3.11
                await self._writer.wait_closed()

    @property
    def closed(self) -> bool:
        return self._closed


async def open_serial(port: str, baudrate: int = 115200, *, rtscts: bool = True) -> SerialStream:
    """Open ``port`` raw at ``baudrate``; raises :class:`LinkLostError` if it cannot be opened."""
    try:
        reader, writer = await wait_within(
            serial_asyncio.open_serial_connection(
                url=port, baudrate=baudrate, rtscts=rtscts, xonxoff=False
            ),
            _OPEN_TIMEOUT,
            f"open {port}",
        )
    except OSError as exc:
        raise LinkLostError(f"cannot open serial port {port}: {exc}", operation="open") from exc
    return SerialStream(reader, writer, port)


def port_connector(
    port: str, baudrate: int = 115200, *, rtscts: bool = True
) -> Callable[[], Awaitable[SerialStream]]:
    """A connector that opens ``port`` afresh on every call (first open and each reconnect)."""

    async def connect() -> SerialStream:
        return await open_serial(port, baudrate, rtscts=rtscts)

    return connect
