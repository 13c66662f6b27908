"""I2C buses: a small async Protocol, typed bus errors, and Linux ``i2c-dev``.

A device reached over I2C (a Blues Notecard at 0x17) needs only one operation
from the bus: a combined transfer that writes some bytes and then, after a
repeated start, reads some -- :meth:`I2cBus.transfer`. Tests and other
platforms supply their own bus (``aiodfu.testing`` has an emulated one);
:class:`LinuxI2cBus` drives ``/dev/i2c-N`` with the ``I2C_RDWR`` ioctl.

Why ``fcntl.ioctl`` and not python-periphery (which note-python uses): the
kernel's ``I2C_TIMEOUT`` ioctl is the only real bound on a transfer a device
holds by clock stretching -- a thread blocked in ``ioctl`` cannot be
cancelled from asyncio -- and periphery does not expose it; the rest
(``I2C_RDWR`` with two messages) is a few lines of ``ctypes`` with no extra
dependency. Every transfer also runs under an asyncio deadline, as a backstop.

Errors: a NACK (the device did not acknowledge its address or a byte:
``ENXIO``/``EREMOTEIO``/``EIO`` from the adapter) is :class:`I2cNackError`;
fewer bytes than asked for is :class:`I2cShortReadError`; both are transient,
so the caller resyncs and tries again. A timeout is a
:class:`~aiodfu.core.errors.DfuTimeoutError`. Opening a bus the user may not
access is :class:`I2cAccessError` (not transient; the message says how to fix
the permissions).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import math
import os
import threading
from typing import Protocol, runtime_checkable

from aiodfu.core.errors import DfuError, DfuTimeoutError, LinkLostError
from aiodfu.core.timeouts import wait_within

__all__ = [
    "I2cAccessError",
    "I2cBus",
    "I2cBusMissingError",
    "I2cError",
    "I2cNackError",
    "I2cShortReadError",
    "LinuxI2cBus",
]


@runtime_checkable
class I2cBus(Protocol):
    """An I2C bus master (the host side)."""

    async def transfer(self, address: int, write: bytes, read: int = 0) -> bytes:
        """Write ``write`` (if any) to 7-bit ``address``, then read ``read`` bytes (if any).

        Both parts are one bus transaction (a repeated start between them).
        Returns exactly ``read`` bytes, or raises :class:`I2cShortReadError`;
        raises :class:`I2cNackError` when the device does not acknowledge.
        """
        ...

    async def aclose(self) -> None:
        """Release the bus; idempotent."""
        ...


class I2cError(DfuError):
    """A transfer on the I2C bus failed; transient (resync and try again)."""

    transient = True


class I2cNackError(I2cError, ConnectionError):
    """The device did not acknowledge its address or a byte (absent, busy or resetting)."""


class I2cShortReadError(I2cError):
    """A read returned fewer bytes than its transfer asked for, or an inconsistent header."""


class I2cAccessError(DfuError, PermissionError):
    """The bus device node exists but this user may not open it."""


class I2cBusMissingError(LinkLostError):
    """The bus device node does not exist (yet): still retried, since an adapter may come up."""

    hint = (
        "no such I2C bus: `ls /dev/i2c-*` lists the buses; enable I2C (raspi-config, or "
        "dtparam=i2c_arm=on) and load the i2c-dev module (modprobe i2c-dev)."
    )


# --- Linux i2c-dev ---------------------------------------------------------------------------

_I2C_RETRIES = 0x0701
_I2C_TIMEOUT = 0x0702  # in units of 10 ms
_I2C_RDWR = 0x0707
_I2C_M_RD = 0x0001
_NACK_ERRNOS = frozenset({errno.ENXIO, errno.EREMOTEIO, errno.EIO})


class _Message(ctypes.Structure):
    """``struct i2c_msg`` from ``<linux/i2c.h>``."""

    _fields_ = [
        ("addr", ctypes.c_uint16),
        ("flags", ctypes.c_uint16),
        ("len", ctypes.c_uint16),
        ("buf", ctypes.POINTER(ctypes.c_uint8)),
    ]


class _RdwrData(ctypes.Structure):
    """``struct i2c_rdwr_ioctl_data`` from ``<linux/i2c-dev.h>``."""

    _fields_ = [("msgs", ctypes.POINTER(_Message)), ("nmsgs", ctypes.c_uint32)]


def _ioctl(fd: int, request: int, arg: int) -> int:
    """``ioctl(2)`` (a seam the tests replace)."""
    return fcntl.ioctl(fd, request, arg)


def combined_transfer(fd: int, address: int, write: bytes, read: int) -> bytes:
    """One ``I2C_RDWR``: a write message and/or a read message to ``address``; blocking."""
    if not 0 <= address <= 0x7F:
        raise ValueError(f"a 7-bit I2C address is 0..0x7f, not {address:#x}")
    if not write and not read:
        raise ValueError("a transfer writes or reads something")
    tx = (ctypes.c_uint8 * max(len(write), 1)).from_buffer_copy(write or b"\0")
    rx = (ctypes.c_uint8 * max(read, 1))()
    parts: list[tuple[int, int, ctypes.Array[ctypes.c_uint8]]] = []
    if write:
        parts.append((0, len(write), tx))
    if read:
        parts.append((_I2C_M_RD, read, rx))
    messages = (_Message * len(parts))()
    for message, (flags, length, buffer) in zip(messages, parts, strict=True):
        message.addr = address
        message.flags = flags
        message.len = length
        message.buf = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_uint8))
    data = _RdwrData(messages, len(parts))
    done = _ioctl(fd, _I2C_RDWR, ctypes.addressof(data))
    if done != len(parts):
        raise I2cShortReadError(
            f"the adapter completed {done} of {len(parts)} messages", operation="I2C transfer"
        )
    return bytes(rx[:read])


def _bus_error(exc: OSError, path: str, address: int) -> DfuError:
    where = f"{path} at address {address:#04x}"
    if exc.errno in _NACK_ERRNOS:
        return I2cNackError(f"no acknowledge from {where} ({exc.strerror})")
    if exc.errno == errno.ETIMEDOUT:
        return DfuTimeoutError(f"the I2C transfer to {where} timed out in the kernel")
    if exc.errno == errno.EAGAIN:
        return I2cError(f"I2C arbitration lost on {path} (another master?)")
    return LinkLostError(f"I2C transfer to {where} failed: {exc}")


class LinuxI2cBus:
    """An I2C adapter through Linux ``i2c-dev`` (``/dev/i2c-N``); see the module docs.

    ``timeout`` bounds each transfer, in the kernel (``I2C_TIMEOUT``, 10 ms
    units) and in asyncio. Transfers run in a worker thread, one at a time.
    """

    def __init__(self, path: str = "/dev/i2c-1", *, timeout: float = 1.0) -> None:
        self.path = path
        self.timeout = timeout
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except PermissionError as exc:
            raise I2cAccessError(
                f"may not open {path}: add this user to the group owning it (often 'i2c': "
                "sudo usermod -aG i2c $USER, then log in again) or add a udev rule",
                operation="open",
            ) from exc
        except FileNotFoundError as exc:
            raise I2cBusMissingError(
                f"{path} does not exist: enable I2C (raspi-config, or dtparam=i2c_arm=on) "
                "and load the i2c-dev module (modprobe i2c-dev)",
                operation="open",
            ) from exc
        except OSError as exc:
            raise LinkLostError(f"cannot open {path}: {exc}", operation="open") from exc
        try:
            _ioctl(self._fd, _I2C_RETRIES, 0)
            _ioctl(self._fd, _I2C_TIMEOUT, max(1, math.ceil(timeout * 100)))
        except OSError as exc:
            os.close(self._fd)
            self._fd = None
            raise LinkLostError(
                f"{path} is not an I2C adapter ({exc.strerror})", operation="open"
            ) from exc
        self._lock = threading.Lock()

    def _transfer_blocking(self, address: int, write: bytes, read: int) -> bytes:
        with self._lock:
            fd = self._fd
            if fd is None:
                raise LinkLostError(f"{self.path} is closed", operation="I2C transfer")
            try:
                return combined_transfer(fd, address, write, read)
            except OSError as exc:
                raise _bus_error(exc, self.path, address) from exc

    async def transfer(self, address: int, write: bytes, read: int = 0) -> bytes:
        return await wait_within(
            asyncio.to_thread(self._transfer_blocking, address, bytes(write), read),
            self.timeout * 2,
            f"I2C transfer on {self.path}",
        )

    def _close_blocking(self) -> None:
        with self._lock:  # after any transfer in flight (bounded by I2C_TIMEOUT)
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    async def aclose(self) -> None:
        if self._fd is not None:
            await asyncio.to_thread(self._close_blocking)
