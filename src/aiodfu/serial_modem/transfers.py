"""The engine's view of a Serial Modem update: how to start, move a chunk, finish, recover.

The device has no offset query, so every attempt starts at offset 0 with a
fresh ``AT#XDFUINIT`` (which, for MCUboot types, discards what the previous
attempt wrote). A full-modem update restarts the whole sequence -- bootloader
segment, apply, firmware segments, final apply -- from ``AT#XDFUINIT=2``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiodfu.core.errors import DfuError
from aiodfu.core.transfer import Chunk
from aiodfu.serial_modem.device import SerialModemDevice
from aiodfu.serial_modem.payload import Payload, Segment
from aiodfu.serial_modem.protocol import UpdateType
from aiodfu.serial_modem.sizing import ADDRESSED_CHUNK_MAX, ChunkSizer

log = logging.getLogger("aiodfu.serial_modem")


class AppendingTransfer:
    """Types 0, 1 and 3: the device appends every chunk to one stream."""

    def __init__(self, device: SerialModemDevice, payload: Payload, sizer: ChunkSizer) -> None:
        self.device = device
        self.payload = payload
        self.sizer = sizer
        self.type = payload.update_type

    async def prepare(self, attempt: int) -> int:
        self._measured_round_trip()
        await self.device.require_type(self.type)
        if self.type is UpdateType.MODEM_DELTA:
            await self._clear_partial_delta()
            timeout = self.device.timeouts.init_delta
        else:
            timeout = None
        await self.device.init(self.type, len(self.payload), timeout)
        return 0

    async def _clear_partial_delta(self) -> None:
        """A partly written delta area would be appended to: erase it first (reference 6.3)."""
        try:
            state = await self.device.query_line("AT#XFOTA=7")
        except DfuError as exc:
            if exc.transient:
                raise
            log.debug("AT#XFOTA=7 unavailable (%s); relying on INIT's own erase", exc)
            return
        offset = state.split(",")[1].strip() if state and "," in state else "0"
        if offset != "0":
            log.info("delta area holds %s bytes of an earlier patch: erasing it", offset)
            await self.device.command("AT#XFOTA=9", self.device.timeouts.init_delta)

    def _measured_round_trip(self) -> None:
        if self.device.round_trip is not None:
            self.sizer.observe_round_trip(self.device.round_trip)

    def plan(self, start: int) -> Iterable[Chunk]:
        return self.payload.chunks(self._size_for, start)

    def _size_for(self, segment: Segment) -> int:
        limit = ADDRESSED_CHUNK_MAX if self.payload.addressed(segment) else None
        return self.sizer.size(limit)

    async def move(self, chunk: Chunk) -> None:
        data = self.payload.data[chunk.offset : chunk.end]
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.device.write_chunk(self.type, chunk.address, data, chunk.offset)
        self.sizer.observe_chunk(chunk.length, loop.time() - started)

    async def complete(self) -> None:
        await self.device.apply(self.type)

    async def recover(self, error: DfuError, attempt: int) -> None:
        await self.device.recover()


class FullModemTransfer(AppendingTransfer):
    """Type 2: bootloader segment, apply, firmware segments, final apply with a reboot."""

    def __init__(self, device: SerialModemDevice, payload: Payload, sizer: ChunkSizer) -> None:
        super().__init__(device, payload, sizer)
        self._bootloader_applied = False
        self._firmware_started = False

    async def prepare(self, attempt: int) -> int:
        self._bootloader_applied = False
        self._measured_round_trip()
        await self.device.require_type(self.type)
        await self.device.enter_bootloader_mode()
        return 0

    async def move(self, chunk: Chunk) -> None:
        if chunk.offset >= self.payload.bootloader_end and not self._bootloader_applied:
            await self.device.apply(UpdateType.MODEM_FULL)
            self._bootloader_applied = True
        self._firmware_started = self._bootloader_applied
        await super().move(chunk)

    async def complete(self) -> None:
        await self.device.apply_final_modem_firmware()

    async def recover(self, error: DfuError, attempt: int) -> None:
        if self._firmware_started:
            log.warning(
                "full modem update interrupted after the firmware phase began: the modem is "
                "unusable until a full modem update completes; restarting from AT#XDFUINIT=2"
            )
        await self.device.recover()
