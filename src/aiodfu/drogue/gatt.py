"""The GATT transport: drogue-device's firmware service read as a Status, commands as writes.

:class:`GattUpdateLink` gives the updater the same Status -> Command
lock-step as the serial link, so one decision logic
(:class:`~aiodfu.drogue.protocol.target.Target`) and one transfer serve both:

* a Status is the ``version``, ``mtu``, ``next_version`` and ``offset``
  characteristics. After a ``Write`` the offset is polled until it reaches
  the block's end (the device answers writes at once and applies them later;
  the first block also waits for the DFU partition's erase), for at most
  ``offset_settle`` -- then the Status is reported as read, and a
  Status that did not move is a rejected write, as on serial;
* ``Write`` at offset 0 writes ``next_version`` and control 1 (start), then
  the block; any ``Write`` is one write (with response) to ``firmware``;
* ``Swap`` is control 2: the device resets at once and drops the link;
* ``Sync`` is control 3 (mark booted); ``Wait`` writes nothing.

Blocks are at most the device's ``mtu``, its 64-byte vector and ATT_MTU - 3
(no long writes), a multiple of 8, so unlike drgdfu no block is zero-padded to ``mtu``: padding
would move the device's offset past the image. Within one connection the
version and next version cannot change without a reset (which drops the
link), so after a ``Write`` only the offset is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from bleak.backends.device import BLEDevice

from aiodfu.core.errors import (
    DfuError,
    DfuTimeoutError,
    LinkLostError,
    UnsupportedError,
    UsageError,
)
from aiodfu.core.session import Connector
from aiodfu.core.timeouts import deadline
from aiodfu.core.transfer import RetryPolicy
from aiodfu.drogue.link import UpdateLink
from aiodfu.drogue.protocol.gatt_service import (
    CONTROL_UUID,
    FIRMWARE_UUID,
    MAX_BLOCK,
    MTU_UUID,
    NEXT_VERSION_UUID,
    OFFSET_UUID,
    SERVICE_UUID,
    VERSION_UUID,
    Control,
    decode_mtu,
    decode_offset,
    decode_version,
)
from aiodfu.drogue.protocol.messages import Command, Status, Swap, Sync, UpdateStatus, Wait, Write
from aiodfu.drogue.session import DrogueSession
from aiodfu.drogue.timeouts import Timeouts
from aiodfu.transports.gatt import GattLink

_CHARACTERISTICS = (VERSION_UUID, MTU_UUID, CONTROL_UUID, NEXT_VERSION_UUID, OFFSET_UUID)


class GattUpdateLink:
    """:class:`~aiodfu.drogue.link.UpdateLink` over a connected :class:`GattLink`."""

    carries_checksum = False
    blind_writes = True
    """A firmware write carries no offset: it lands wherever the device is then, even after
    the host gave up waiting for it."""
    acknowledges_undecodable = False
    """A command's writes are answered by the device's GATT server, intact or not at all."""

    def __init__(self, gatt: GattLink, device_mtu: int, timeouts: Timeouts) -> None:
        self.gatt = gatt
        self.device_mtu = device_mtu
        self.timeouts = timeouts
        self._version: bytes | None = None  # as read last on this link (a reset drops it)
        self._writing = b""  # the version the last Write was for
        self._expected: int | None = None  # the offset the last Write should reach
        self.acknowledged = False
        """The writes of the command sent last were all answered (write with response)."""

    @classmethod
    async def open(cls, gatt: GattLink, timeouts: Timeouts) -> GattUpdateLink:
        """Check the firmware service is there and read the device's block size."""
        missing = [u for u in (*_CHARACTERISTICS, FIRMWARE_UUID) if not gatt.has_characteristic(u)]
        if missing:
            raise UnsupportedError(
                f"{gatt.address} lacks the Drogue firmware service ({SERVICE_UUID}): "
                f"no characteristic {', '.join(missing)}",
                operation="connect",
            )
        mtu = decode_mtu(
            await gatt.read(MTU_UUID, timeout=timeouts.gatt_operation, operation="read mtu")
        )
        return cls(gatt, mtu, timeouts)

    @property
    def max_block(self) -> int:
        """One plain write with response (ATT_MTU - 3) into the device's 64-byte vector."""
        return min(self.gatt.mtu - 3, MAX_BLOCK)

    async def _read(self, uuid: str, what: str) -> bytes:
        return await self.gatt.read(
            uuid, timeout=self.timeouts.gatt_operation, operation=f"read {what}"
        )

    async def _write(self, uuid: str, data: bytes, what: str, offset: int | None = None) -> None:
        try:
            await self.gatt.write(
                uuid, data, response=True, timeout=self.timeouts.gatt_operation, operation=what
            )
        except DfuError as exc:
            raise exc.locate(what, offset) from None

    async def _offset(self) -> int:
        return decode_offset(await self._read(OFFSET_UUID, "offset"))

    async def read_status(self, *, boundary_gap: float | None = None) -> Status:
        expected, self._expected = self._expected, None
        if expected is not None and self._version is not None:
            offset = await self._poll_offset(expected)
            return Status(self._version, self.device_mtu, None, UpdateStatus(self._writing, offset))
        version = decode_version(await self._read(VERSION_UUID, "version"), "version")
        next_version = decode_version(
            await self._read(NEXT_VERSION_UUID, "next_version"), "next_version"
        )
        offset = await self._offset()
        self._version = version
        update = UpdateStatus(next_version, offset) if next_version else None
        return Status(version, self.device_mtu, None, update)

    async def _poll_offset(self, expected: int) -> int:
        """The offset once it reads ``expected``, or as it reads when the settle time is up."""
        offset = await self._offset()
        if offset == expected:  # the usual case: no deadline (and its timer) to set up
            return offset
        with contextlib.suppress(DfuTimeoutError):
            async with deadline(self.timeouts.offset_settle, "wait for the block to land"):
                while offset != expected:
                    await asyncio.sleep(self.timeouts.offset_poll_interval)
                    offset = await self._offset()
        return offset

    async def send(self, command: Command) -> None:
        self.acknowledged = False
        await self._send(command)
        self.acknowledged = True

    async def _send(self, command: Command) -> None:
        if isinstance(command, Write):
            await self._write_block(command)
        elif isinstance(command, Swap):
            # The device resets at once, often before its answer leaves: a link lost here is
            # the expected outcome, and a link that stays up is closed. Either way the next
            # Status shows whether the swap happened (if not, the updater sends it again).
            with contextlib.suppress(LinkLostError):
                await self._write(CONTROL_UUID, bytes([Control.SWAP]), "control 2 (swap)")
                with contextlib.suppress(DfuTimeoutError):
                    await self.gatt.wait_disconnected(self.timeouts.gatt_reset, "reset after swap")
            await self.gatt.aclose()
        elif isinstance(command, Sync):
            await self._write(CONTROL_UUID, bytes([Control.MARK_BOOTED]), "control 3 (booted)")
        else:
            assert isinstance(command, Wait)  # nothing to write: the device does not ask

    async def _write_block(self, write: Write) -> None:
        if len(write.data) > min(self.max_block, self.device_mtu):
            raise UsageError(
                f"a {len(write.data)}-byte block exceeds the GATT limit of "
                f"{min(self.max_block, self.device_mtu)}",
                operation="Write",
                offset=write.offset,
            )
        if write.offset == 0:
            await self._write(NEXT_VERSION_UUID, write.version, "write next_version", 0)
            await self._write(CONTROL_UUID, bytes([Control.START]), "control 1 (start)", 0)
            await self._poll_offset(0)
        await self._write(FIRMWARE_UUID, write.data, "write firmware", write.offset)
        self._writing = write.version
        self._expected = write.offset + len(write.data)

    async def resync(self, quiet: float) -> None:
        """Nothing to drain: every GATT read is a whole value."""

    @property
    def closed(self) -> bool:
        return not self.gatt.is_connected

    async def aclose(self) -> None:
        await self.gatt.aclose()


def gatt_connector(
    target: str | BLEDevice,
    *,
    timeouts: Timeouts | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> Connector[UpdateLink]:
    """Connect to ``target``'s firmware service (``client_options`` go to ``BleakClient``)."""
    bounds = timeouts or Timeouts()
    options = dict(client_options or {})

    async def connect() -> UpdateLink:
        # bleak's own timeout a little inside the session's, so bleak cancels the attempt cleanly
        gatt = await GattLink.connect(target, timeout=bounds.connect * 0.8, **options)
        try:
            return await GattUpdateLink.open(gatt, bounds)
        except BaseException:
            await gatt.aclose()
            raise

    return connect


def connect(
    target: str | BLEDevice,
    *,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    confirm: bool = True,
    firmware_checks_sha256: bool = False,
    client_options: Mapping[str, Any] | None = None,
) -> DrogueSession:
    """A session with the device at ``target`` (a Bluetooth address or a ``BLEDevice``).

    ``client_options`` go to :class:`bleak.BleakClient` (e.g. ``backend=`` for the
    emulated radio of :mod:`aiodfu.testing.ble`). ``firmware_checks_sha256`` is
    accepted for symmetry with :func:`~aiodfu.drogue.open`, but the GATT service
    carries no checksum, so a GATT result is never verified.
    """
    bounds = timeouts or Timeouts()
    connector = gatt_connector(target, timeouts=bounds, client_options=client_options)
    return DrogueSession(
        connector,
        timeouts=bounds,
        retry=retry,
        confirm=confirm,
        firmware_checks_sha256=firmware_checks_sha256,
    )
