"""One connection to a legacy DFU target: each request, its answer, its timeout.

:class:`LegacyDfuTarget` is the one place that knows how the target answers:
it enables Control Point notifications (on every connection: the CCCD is lost
with the link), reads the revision, sends requests and waits for their
``10 <op> <status>`` responses, writes Packet data and counts Packet Receipt
Notifications as credits. Every wait is bounded by a :class:`Timeouts` value
and raced against disconnection by the
:class:`~aiodfu.transports.gatt.GattTransport`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from aiodfu.core.errors import (
    DfuError,
    DfuTimeoutError,
    LinkLostError,
    ProtocolError,
    UnsupportedError,
)
from aiodfu.nrf5_legacy import adafruit, protocol
from aiodfu.nrf5_legacy.adafruit import BootloaderInfo
from aiodfu.nrf5_legacy.errors import BootloaderEntryError, TargetStatusError
from aiodfu.nrf5_legacy.protocol import (
    CONTROL_POINT_UUID,
    PACKET_UUID,
    REVISION_UUID,
    OpCode,
    PacketReceipt,
    Response,
    Status,
)
from aiodfu.nrf5_legacy.timeouts import Timeouts
from aiodfu.transports.gatt import GattTransport

log = logging.getLogger("aiodfu.nrf5_legacy")

OPERATION_NAMES = {
    OpCode.START_DFU: "Start DFU",
    OpCode.INITIALIZE_DFU: "Initialize DFU parameters",
    OpCode.RECEIVE_FIRMWARE: "Receive firmware",
    OpCode.VALIDATE: "Validate",
    OpCode.ACTIVATE_AND_RESET: "Activate and reset",
    OpCode.RESET: "Reset",
    OpCode.REPORT_RECEIVED_SIZE: "Report received image size",
    OpCode.PACKET_RECEIPT_REQUEST: "Packet receipt notification request",
}


def operation_name(op: int) -> str:
    try:
        return OPERATION_NAMES[OpCode(op)]
    except (ValueError, KeyError):
        return f"opcode 0x{op:02X}"


class LegacyDfuTarget:
    """One connection to a target in DFU (or application) mode."""

    def __init__(self, link: GattTransport, timeouts: Timeouts) -> None:
        self.link = link
        self.timeouts = timeouts
        self.revision: int | None = None
        self.bootloader_info: BootloaderInfo | None = None
        """The Device Information Service of an Adafruit bootloader (``None``: not one)."""
        self.receipts: list[int] = []
        """Byte counts of Packet Receipt Notifications not yet consumed, oldest first."""
        self._responses: asyncio.Queue[Response] = asyncio.Queue()
        self._receipt_event = asyncio.Event()
        self._async_error: TargetStatusError | None = None

    async def open(self) -> None:
        """Read the revision and enable notifications (required before any request).

        An application reached through the Secure DFU buttonless characteristic
        only (0xFE59, Meshtastic's nRF52 firmware) has no legacy service: it is
        opened as an application, for :meth:`enter_bootloader`. A bootloader
        with a Device Information Service (Adafruit) has it read into
        :attr:`bootloader_info`.
        """
        if self.link.has_characteristic(REVISION_UUID):
            raw = await self.link.read(
                REVISION_UUID, timeout=self.timeouts.gatt, operation="read DFU revision"
            )
            self.revision = int.from_bytes(raw[:2], "little") if len(raw) >= 2 else None
        if not self.has_dfu_service:
            if self.has_secure_buttonless:
                return
            raise UnsupportedError(
                f"{self.link.address} has neither the legacy DFU service (1530/1531) nor the "
                "Secure DFU buttonless characteristic (FE59)",
                operation="discover",
            )
        if not self.in_application:
            self.bootloader_info = await self._read_bootloader_info()
        await self.link.subscribe(
            CONTROL_POINT_UUID,
            self._on_notification,
            timeout=self.timeouts.gatt,
            operation="enable Control Point notifications",
        )

    async def _read_bootloader_info(self) -> BootloaderInfo | None:
        if not self.link.has_characteristic(adafruit.DIS_FIRMWARE_REVISION_UUID):
            return None
        texts: dict[str, str | None] = {}
        for uuid in (
            adafruit.DIS_FIRMWARE_REVISION_UUID,
            adafruit.DIS_MANUFACTURER_UUID,
            adafruit.DIS_MODEL_UUID,
        ):
            if self.link.has_characteristic(uuid):
                raw = await self.link.read(
                    uuid, timeout=self.timeouts.gatt, operation="read device information"
                )
                texts[uuid] = raw.decode("utf-8", "replace")
        firmware = texts.get(adafruit.DIS_FIRMWARE_REVISION_UUID) or ""
        return BootloaderInfo(
            firmware,
            manufacturer=texts.get(adafruit.DIS_MANUFACTURER_UUID),
            model=texts.get(adafruit.DIS_MODEL_UUID),
        )

    @property
    def has_dfu_service(self) -> bool:
        return self.link.has_characteristic(CONTROL_POINT_UUID)

    @property
    def has_secure_buttonless(self) -> bool:
        return self.link.has_characteristic(adafruit.BUTTONLESS_UUID)

    @property
    def in_application(self) -> bool:
        """An application (buttonless entry needed): the legacy DFU service with revision
        0.1, or only the Secure DFU buttonless characteristic."""
        if not self.has_dfu_service:
            return self.has_secure_buttonless
        return self.revision == protocol.REVISION_APPLICATION

    @property
    def is_adafruit(self) -> bool:
        """A bootloader that describes itself with a Device Information Service (Adafruit's)."""
        return self.bootloader_info is not None

    def _on_notification(self, data: bytes) -> None:
        try:
            notification = protocol.parse_notification(data)
        except ProtocolError:
            log.warning("ignoring malformed notification %s", data.hex(" "))
            return
        if isinstance(notification, PacketReceipt):
            self.receipts.append(notification.received)
            self._receipt_event.set()
            return
        if (
            notification.request == OpCode.RECEIVE_FIRMWARE
            and notification.status != Status.SUCCESS
        ):
            # A data error arrives while we are streaming, not in answer to a request.
            self._async_error = self._status_error(notification)
            self._receipt_event.set()
        self._responses.put_nowait(notification)

    # --- requests -----------------------------------------------------------------------------

    async def write_control(self, data: bytes, operation: str) -> None:
        await self.link.write(
            CONTROL_POINT_UUID, data, response=True, timeout=self.timeouts.gatt, operation=operation
        )

    async def write_packet(self, data: bytes, operation: str) -> None:
        await self.link.write(
            PACKET_UUID, data, response=False, timeout=self.timeouts.gatt, operation=operation
        )

    async def write_packets(self, data: bytes, size: int, offset: int) -> None:
        """Stream image bytes ``[offset, offset + len(data))`` as packets of ``size`` bytes
        (one guarded batch: see :meth:`~aiodfu.transports.gatt.GattTransport.write_commands`)."""
        await self.link.write_commands(
            PACKET_UUID,
            data,
            size,
            timeout=self.timeouts.gatt,
            operation="Receive firmware",
            offset=offset,
        )

    async def request(self, data: bytes, timeout: float, *, payload: bytes = b"") -> Response:
        """Write a request (then ``payload`` on the Packet char) and wait for its response."""
        op = data[0]
        name = operation_name(op)
        await self.write_control(data, name)
        for start in range(0, len(payload), protocol.DEFAULT_PACKET_SIZE):
            await self.write_packet(payload[start : start + protocol.DEFAULT_PACKET_SIZE], name)
        return await self.response(op, timeout)

    async def response(self, op: int, timeout: float, *, offset: int | None = None) -> Response:
        """The next response to ``op``; raise :class:`TargetStatusError` unless it is SUCCESS."""
        name = operation_name(op)
        response = await self.link.guard(
            self._next_response(op, offset), timeout, name, offset=offset
        )
        if response.status != Status.SUCCESS:
            raise self._status_error(response, offset)
        if op == OpCode.RECEIVE_FIRMWARE:
            self._async_error = None
        return response

    async def _next_response(self, op: int, offset: int | None) -> Response:
        while True:
            response = await self._responses.get()
            if response.request == op:
                return response
            if response.status != Status.SUCCESS:
                raise self._status_error(response, offset)
            log.debug("ignoring stray response %s", response)

    def raise_data_error(self, offset: int) -> None:
        """Raise the data error the target notified while we were streaming, if any."""
        error = self._async_error
        if error is not None:
            self._async_error = None
            raise error.locate(offset=offset)

    async def wait_receipt(self, offset: int) -> None:
        """Wait for the next Packet Receipt Notification (or a data error)."""
        await self.link.guard(
            self._next_receipt(offset),
            self.timeouts.packet_receipt,
            "Packet receipt notification",
            offset=offset,
        )
        self.raise_data_error(offset)

    async def _next_receipt(self, offset: int) -> None:
        while not self.receipts:
            self.raise_data_error(offset)
            self._receipt_event.clear()
            await self._receipt_event.wait()

    async def received_size(self) -> int:
        response = await self.request(
            protocol.simple(OpCode.REPORT_RECEIVED_SIZE), self.timeouts.response
        )
        if response.value is None:
            raise ProtocolError("opcode 7 response without a byte count", operation="Report size")
        return response.value

    async def enter_bootloader(self) -> None:
        """Buttonless entry; the application resets into its bootloader and drops the link.

        Through the legacy service: ``01 04`` on the Control Point. Through the
        Secure DFU buttonless characteristic: indications enabled (else ATT
        0xFD), then ``01``; a spec-following application indicates ``20 01 01``
        before it resets, Meshtastic's resets without a word. A refusal
        (``20 01 xx``) is a :class:`BootloaderEntryError`. A write the
        application answers by resetting is the expected outcome, not an error.
        The link is closed afterwards either way.
        """
        answers: list[adafruit.ButtonlessResponse] = []
        refused = asyncio.Event()

        def on_indication(data: bytes) -> None:
            try:
                answer = adafruit.parse_buttonless_response(data)
            except ProtocolError:
                log.warning("ignoring malformed buttonless indication %s", data.hex(" "))
                return
            answers.append(answer)
            if not answer.succeeded:
                refused.set()

        operation = "enter bootloader"
        try:
            if self.has_dfu_service:
                await self.write_control(
                    protocol.start_dfu(protocol.ImageType.APPLICATION), operation
                )
            else:
                await self.link.subscribe(
                    adafruit.BUTTONLESS_UUID,
                    on_indication,
                    timeout=self.timeouts.gatt,
                    operation="enable buttonless indications",
                )
                await self.link.write(
                    adafruit.BUTTONLESS_UUID,
                    adafruit.enter_bootloader(),
                    response=True,
                    timeout=self.timeouts.gatt,
                    operation=operation,
                )
            await _first(self.link.wait_disconnected(self.timeouts.disconnect, operation), refused)
        except (LinkLostError, DfuTimeoutError) as exc:
            log.debug("buttonless jump: %s (expected: the application resets)", exc)
        finally:
            await self.link.aclose()
        failed = [answer for answer in answers if not answer.succeeded]
        if failed:
            raise BootloaderEntryError(
                f"the application refused to enter its bootloader (result {failed[0].result})",
                operation=operation,
                status=failed[0].result,
            )

    async def reset(self, op: OpCode = OpCode.RESET) -> None:
        """Send Reset (or Activate & Reset) and wait for the target to drop the link.

        The link is closed afterwards either way. A write the target answers
        by resetting (the link drops before the write response) is the
        expected outcome, not an error.
        """
        try:
            await self.write_control(protocol.simple(op), operation_name(op))
            await self.link.wait_disconnected(self.timeouts.disconnect, operation_name(op))
        except DfuError as exc:
            if not exc.transient:
                raise
            log.debug("%s: %s (the target resets)", operation_name(op), exc)
        finally:
            await self.link.aclose()

    def _status_error(self, response: Response, offset: int | None = None) -> TargetStatusError:
        name = operation_name(response.request)
        error = TargetStatusError(
            f"the target refused {name}: {protocol.describe_status(response.status)}",
            operation=name,
            offset=offset,
            status=response.status,
        )
        if response.request == OpCode.RECEIVE_FIRMWARE and response.status in (
            Status.OPERATION_FAILED,
            Status.INVALID_STATE,
        ):
            error.transient = True  # a dropped packet or lost state: restart after a reset
        return error


async def _first(disconnected: Awaitable[None], refused: asyncio.Event) -> None:
    """Until the link drops or the application indicated a refusal."""
    waits = {asyncio.ensure_future(disconnected), asyncio.ensure_future(refused.wait())}
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    for task in done:
        task.result()
