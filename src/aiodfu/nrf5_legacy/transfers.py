"""The engine's view of one legacy DFU session: start, stream with credits, finish, resume.

Flow control: the target's Packet Receipt Notifications count *bytes accepted*.
They are used as credits: at most ``window`` packets may be sent beyond the
last count the target confirmed, so the link stays full (the next packets are
already in flight while a receipt travels back) but the target's 8-buffer
receive pool is never asked to hold more than the window. Every receipt is
checked against what was sent: a smaller count means a lost packet.

Receipts count bytes *accepted* into the pool, not bytes written to flash, so
no credit scheme sees a flash slower than the link; the pool then overflows
(status 6) and the part restarts with a halved window. For such targets,
``max_rate`` (bytes per second, set a little below the flash rate) paces the
packets so the pool never fills -- the reference's own advice ("pace writes").

Resume: after a link loss the target keeps its RAM state. The controller
reconnects, re-enables notifications, asks for the received size (opcode 7)
and continues from there. A count of zero, one that is not a packet boundary
or more than was sent means the target lost (or never had) this session's
state: Reset and start clean.

Limits: a revision 0.8 target takes a receipt every 8 packets or fewer
(Adafruit's bootloader runs out of receive buffers otherwise), so a larger
(or disabled) ``prn`` is lowered to 8. An Adafruit bootloader (it describes
itself with a Device Information Service) is resumed rather than reset by
default: a single-bank bootloader erased its application at Start, and up to
release 0.9.x a reset without an application ends in USB DFU, unreachable
over BLE. So a fresh session that finds one holding an interrupted transfer
(Start refused with INVALID_STATE) continues from its byte count too (only
there: it relies on the size record after a refused Start never reaching the
image, which is how the SDK 11 transport routes it); the
bootloader's CRC check at Validate (against the init packet it holds) still
decides whether the image is the one sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiodfu.core.errors import (
    DfuError,
    DfuTimeoutError,
    LinkLostError,
    ProtocolError,
    UsageError,
)
from aiodfu.core.pacing import Pacer
from aiodfu.core.progress import ProgressTracker
from aiodfu.core.transfer import Chunk, chunk_plan
from aiodfu.nrf5_legacy import protocol
from aiodfu.nrf5_legacy.activation import activate
from aiodfu.nrf5_legacy.adafruit import bounded_prn
from aiodfu.nrf5_legacy.device import LegacyDfuTarget, Nrf5LegacyDevice
from aiodfu.nrf5_legacy.errors import PacketLossError, TargetStatusError
from aiodfu.nrf5_legacy.package import Part
from aiodfu.nrf5_legacy.protocol import ImageType, OpCode, Status

log = logging.getLogger("aiodfu.nrf5_legacy")

_PACKETS_PER_CHUNK = 32
"""Packets per :class:`~aiodfu.core.transfer.Chunk`: progress is reported per chunk (640 bytes
of 20-byte packets, a tenth of a second at a typical link's rate), and the packets within go in
batches as the credit window allows (:meth:`PartTransfer.move`)."""


class PartTransfer:
    """One part (one Start DFU) as a resumable :class:`~aiodfu.core.transfer.Transfer`."""

    def __init__(
        self,
        part: Part,
        device: Nrf5LegacyDevice,
        *,
        packet_size: int,
        prn: int,
        window: int,
        resume: bool | None,
        max_rate: float | None = None,
        tracker: ProgressTracker | None = None,
    ) -> None:
        self.part = part
        self.tracker = tracker
        """Told of the packets a failed chunk sent (the engine counts whole chunks)."""
        self._pacer = Pacer(max_rate)
        self.device = device
        self.packet_size = packet_size
        self.prn = prn
        self.window = max(window, prn)
        self.resume = resume
        """``None``: resume an Adafruit bootloader, reset any other (see the module docstring)."""
        self.resuming = bool(resume)
        self.target: LegacyDfuTarget | None = None
        self.v1_mode = False
        self.resumed_at: list[int] = []
        """Offsets this transfer resumed from (opcode 7), for the result and tests."""
        self.restarts = 0
        self._sent = 0
        self._confirmed = 0
        self._prn_base = 0
        self._total = len(part.firmware)
        self._final_pending = True
        self._clean_restart = False

    # --- Transfer protocol --------------------------------------------------------------------

    async def prepare(self, attempt: int) -> int:
        target = await self._connected()
        self._check_packet_size(target)
        self._respect_limits(target)
        self.resuming = self.resume if self.resume is not None else target.is_adafruit
        clean, self._clean_restart = self._clean_restart, False
        if attempt > 1 and self.resuming and not clean:
            offset = await self._resume_offset(target)
            if offset is not None:
                self.resumed_at.append(offset)
                await self._stream_from(target, offset)
                return offset
        offset = await self._start(target)
        await self._stream_from(self._target(), offset)  # _start may have reset and reconnected
        return offset

    def plan(self, start: int) -> Iterable[Chunk]:
        # The engine's bookkeeping and progress run once per chunk, not per 20-byte packet
        # (per-call overhead is most of the host's CPU per MiB).
        return chunk_plan(self._total, self.packet_size * _PACKETS_PER_CHUNK, start)

    async def move(self, chunk: Chunk) -> None:
        """Send ``chunk``: as many packets at a time as the credit window allows (one at a
        time under ``max_rate``), each batch in one guarded write.

        Packets that left before a failure are counted in the progress tracker (as moved
        bytes) although the chunk did not finish."""
        target = self._target()
        firmware = self.part.firmware
        sent = chunk.offset
        try:
            while sent < chunk.end:
                target.raise_data_error(sent)
                batch_end = await self._credit(target, sent, chunk.end)
                if self._pacer.bytes_per_second is not None:
                    batch_end = min(batch_end, sent + self.packet_size)
                    await self._pacer.consume(batch_end - sent)
                await target.write_packets(firmware[sent:batch_end], self.packet_size, sent)
                self._sent = sent = batch_end
                if target.receipts:
                    self._consume_receipts(target)
        except BaseException as exc:
            if isinstance(exc, DfuError) and exc.offset is not None and exc.offset > sent:
                sent = min(exc.offset, chunk.end)  # the batch's packets before the failing one
            if self.tracker is not None and sent > chunk.offset:
                self.tracker.advance(sent - chunk.offset)
            raise

    async def _credit(self, target: LegacyDfuTarget, sent: int, end: int) -> int:
        """Where the next batch from ``sent`` may end (at most ``end``), waiting for receipts
        until at least one packet fits the credit window.

        A packet may go when it ends within ``window`` packets of the last byte count
        the target confirmed; the image's last packet may always go (the target
        answers it with its final response, not a receipt). Without receipts a batch
        is ``window`` packets, so one GATT deadline never covers more than that.
        """
        size = self.packet_size
        while True:
            if not self.prn:  # no receipts, no credit: a window's worth per guarded batch
                return min(end, sent + self.window * size)
            room = self._confirmed + self.window * size - sent
            if end - sent <= room:
                return end
            if room >= size:
                return sent + room // size * size
            if end == self._total and end - sent <= size:
                return end
            await target.wait_receipt(sent)
            self._consume_receipts(target)

    async def complete(self) -> None:
        target = self._target()
        if self._final_pending:
            try:
                await target.response(
                    OpCode.RECEIVE_FIRMWARE, target.timeouts.receive_complete, offset=self._total
                )
            except DfuTimeoutError:
                if not target.link.is_connected:
                    raise
                received = await target.received_size()
                if received >= self._total:
                    raise
                raise PacketLossError(
                    f"all {self._total} bytes were sent over a live link but the target "
                    f"has {received}: packets were lost on the way",
                    operation="Receive firmware",
                    offset=self._total,
                    status=received,
                ) from None
        self._consume_receipts(target)
        await target.request(protocol.simple(OpCode.VALIDATE), target.timeouts.validate)

    async def recover(self, error: DfuError, attempt: int) -> None:
        self.target = None
        # Resume only what a link loss interrupted; anything else may have left a hole.
        clean = not self.resuming or not isinstance(error, LinkLostError)
        if isinstance(error, TargetStatusError) and error.status == Status.OPERATION_FAILED:
            self._slow_down()
        if clean and self.device.connected:
            await self.device.reset()
        else:
            await self.device.aclose()
        self._clean_restart = clean
        await self._connected()

    def _slow_down(self) -> None:
        """The receive pool overflowed: the flash is slower than we sent.

        Receipts count accepted bytes, not flashed ones, so credits cannot see a
        slow flash. Halve the window (and the PRN interval with it): fewer packets
        in flight per round trip is a lower rate.
        """
        self.window = max(1, self.window // 2)
        self.prn = min(self.prn, self.window) if self.prn else 0
        log.warning("receive pool overflow: window now %d packets", self.window)

    # --- steps --------------------------------------------------------------------------------

    def _target(self) -> LegacyDfuTarget:
        if self.target is None:
            raise ProtocolError("no target connection", operation="Receive firmware")
        return self.target

    async def _connected(self) -> LegacyDfuTarget:
        """The device's link, reopened (in DFU mode) if it is down."""
        if not self.device.connected:
            await self.device.reopen()
        self.target = self.device.link
        return self.target

    def _check_packet_size(self, target: LegacyDfuTarget) -> None:
        limit = target.link.max_write_without_response(protocol.PACKET_UUID)
        if self.packet_size > limit:
            raise UsageError(
                f"packet size {self.packet_size} exceeds what this link can write at once "
                f"({limit} bytes at ATT MTU {target.link.mtu})",
                operation="Receive firmware",
            )

    def _respect_limits(self, target: LegacyDfuTarget) -> None:
        bounded = bounded_prn(self.prn, target.revision)
        if bounded != self.prn:
            log.info(
                "PRN %d is more than a revision 0x%04X target takes: using %d",
                self.prn,
                target.revision or 0,
                bounded,
            )
            self.prn = bounded
            self.window = max(self.window, self.prn)

    async def _start(self, target: LegacyDfuTarget, *, may_reset: bool = True) -> int:
        """Start DFU, falling back as the reference's section 9.1 describes; the offset to
        send from (not 0 only when an interrupted transfer is continued)."""
        sd, bl, app = self.part.sizes()
        try:
            await target.request(
                protocol.start_dfu(self.part.image_type),
                target.timeouts.start,
                payload=protocol.size_record(sd, bl, app),
            )
        except TargetStatusError as exc:
            if exc.status == Status.INVALID_STATE and may_reset:
                if self.resuming and target.is_adafruit:
                    offset = await self._adopt(target)
                    if offset is not None:
                        return offset
                log.warning("the target holds an interrupted session: resetting it first")
                self.restarts += 1
                await self.device.reset()
                return await self._start(await self._connected(), may_reset=False)
            if exc.status == Status.NOT_SUPPORTED and self.part.image_type is ImageType.APPLICATION:
                log.warning("Start DFU not supported: trying the DFU v1 (pre-SDK 7) form")
                await self._start_v1(target)
                return 0
            raise
        self.device.started = True
        await target.write_control(protocol.init_begin(), "Initialize DFU parameters")
        packet = self.part.init_packet
        for start in range(0, len(packet), protocol.DEFAULT_PACKET_SIZE):
            await target.write_packet(
                packet[start : start + protocol.DEFAULT_PACKET_SIZE], "Initialize DFU parameters"
            )
        await target.request(protocol.init_end(), target.timeouts.init)
        return 0

    async def _adopt(self, target: LegacyDfuTarget) -> int | None:
        """Continue the transfer an earlier session left in the bootloader, if it can be ours."""
        received = await target.received_size()
        if not 0 < received <= self._total or received % 4:
            log.info("the interrupted transfer holds %d bytes: not continuable", received)
            return None
        log.warning(
            "the bootloader holds an interrupted transfer (%d bytes): continuing it; its CRC "
            "check at Validate decides whether it was this image",
            received,
        )
        self.device.started = True
        self.resumed_at.append(received)
        return received

    async def _start_v1(self, target: LegacyDfuTarget) -> None:
        self.v1_mode = True
        self.prn = min(self.prn, 10) if self.prn else 10
        self.window = min(self.window, 2 * self.prn)
        size = len(self.part.firmware).to_bytes(4, "little")
        await target.request(protocol.start_dfu_v1(), target.timeouts.start, payload=size)
        crc = self.part.parsed_init_packet.firmware_crc16
        if crc is not None:
            await target.request(
                bytes([OpCode.INITIALIZE_DFU]),
                target.timeouts.init,
                payload=crc.to_bytes(2, "little"),
            )

    async def _stream_from(self, target: LegacyDfuTarget, offset: int) -> None:
        target.receipts.clear()
        if self.prn:
            await target.write_control(
                protocol.packet_receipt_request(self.prn), "Packet receipt notification request"
            )
        await target.write_control(protocol.simple(OpCode.RECEIVE_FIRMWARE), "Receive firmware")
        self._sent = self._confirmed = self._prn_base = offset
        self._final_pending = offset < self._total

    async def _resume_offset(self, target: LegacyDfuTarget) -> int | None:
        received = await target.received_size()
        if received == 0 or (received % self.packet_size and received != self._total):
            log.info("target reports %d bytes: starting clean", received)
            return None
        if received > self._total:
            log.info("target reports %d bytes, more than the image: starting clean", received)
            return None
        log.info("resuming at byte %d of %d (opcode 7)", received, self._total)
        return received

    def _consume_receipts(self, target: LegacyDfuTarget) -> None:
        """Check each receipt: it must be the next multiple of PRN packets since the request."""
        step = self.prn * self.packet_size
        while target.receipts:
            count = target.receipts.pop(0)
            expected = self._confirmed + step - (self._confirmed - self._prn_base) % step
            if count == self._total and self._confirmed < count:
                expected = count  # some bootloaders send a receipt before the final response
            if count != expected or count > self._sent:
                raise PacketLossError(
                    f"the target confirmed {count} bytes where {expected} were expected: "
                    "a packet was lost on the way",
                    operation="Receive firmware",
                    offset=self._sent,
                    status=count,
                )
            self._confirmed = count

    # --- activation ---------------------------------------------------------------------------

    async def activate(self) -> str:
        """Activate & Reset, then confirm the target left the bootloader; say how it did
        (:func:`aiodfu.nrf5_legacy.activation.activate`)."""
        return await activate(self.device, self.part.image_type, self._total)
