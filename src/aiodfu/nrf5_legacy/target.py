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

from aiodfu.core.errors import DfuError, ProtocolError, UnsupportedError
from aiodfu.nrf5_legacy import protocol
from aiodfu.nrf5_legacy.errors import TargetStatusError
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
        self.receipts: list[int] = []
        """Byte counts of Packet Receipt Notifications not yet consumed, oldest first."""
        self._responses: asyncio.Queue[Response] = asyncio.Queue()
        self._receipt_event = asyncio.Event()
        self._async_error: TargetStatusError | None = None

    async def open(self) -> None:
        """Read the revision and enable notifications (required before any request)."""
        if self.link.has_characteristic(REVISION_UUID):
            raw = await self.link.read(
                REVISION_UUID, timeout=self.timeouts.gatt, operation="read DFU revision"
            )
            self.revision = int.from_bytes(raw[:2], "little") if len(raw) >= 2 else None
        if not self.has_dfu_service:
            raise UnsupportedError(
                f"{self.link.address} has no legacy DFU service (1530/1531)", operation="discover"
            )
        await self.link.subscribe(
            CONTROL_POINT_UUID,
            self._on_notification,
            timeout=self.timeouts.gatt,
            operation="enable Control Point notifications",
        )

    @property
    def has_dfu_service(self) -> bool:
        return self.link.has_characteristic(CONTROL_POINT_UUID)

    @property
    def in_application(self) -> bool:
        """An application with the DFU service (revision 0.1): buttonless entry is needed."""
        return self.revision == protocol.REVISION_APPLICATION

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

    async def write_packet(self, data: bytes, operation: str, offset: int | None = None) -> None:
        await self.link.write(
            PACKET_UUID,
            data,
            response=False,
            timeout=self.timeouts.gatt,
            operation=operation if offset is None else f"{operation} at {offset}",
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
