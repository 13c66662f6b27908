"""The legacy DFU target as the controller sees it, over one connection and across them.

:class:`LegacyDfuTarget` is one connection and the one place that knows how the
target answers: it enables Control Point notifications (on every connection:
the CCCD is lost with the link), reads the revision, sends requests and waits
for their ``10 <op> <status>`` responses, writes Packet data and counts Packet
Receipt Notifications as credits. Every wait is bounded by a :class:`Timeouts`
value and raced against disconnection by the
:class:`~aiodfu.transports.gatt.GattTransport`.

:class:`Nrf5LegacyDevice` is the device across connections (a
:class:`~aiodfu.core.link.DeviceLink`); see :mod:`aiodfu.nrf5_legacy.link`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from bleak import BleakClient
from bleak.backends.device import BLEDevice

from aiodfu.core.errors import (
    DfuError,
    DfuTimeoutError,
    LinkLostError,
    ProtocolError,
    UnsupportedError,
)
from aiodfu.core.link import DeviceLink
from aiodfu.core.transfer import RetryPolicy
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
from aiodfu.transports.ble_scan import Wanted, locate
from aiodfu.transports.gatt import GattLink, GattTransport

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


class Nrf5LegacyDevice(DeviceLink[LegacyDfuTarget]):
    """The target across its connections: always opened in DFU mode, wherever it is.

    Opening (:meth:`reopen`) connects to the bootloader, whichever personality
    the device runs: the cached bootloader address after a mere link loss (the
    bootloader keeps advertising); otherwise wherever the device is seen --
    its application (then the buttonless jump, and the bootloader at the same
    address or address + 1), or a bootloader already running. After a Reset or
    an activation of ours the device reboots into what it has, so it is looked
    for again rather than dialled at its old address.

    :meth:`on_release` (run when a session ends by an error or a cancel) sends
    Reset to a bootloader holding a half-done DFU, so the device boots what it
    has -- its application, or a fresh DFU mode -- instead of waiting out the
    120 s inactivity timer in a state a third-party host cannot resume.
    """

    def __init__(
        self,
        target: str | BLEDevice | BleakClient,
        *,
        timeouts: Timeouts,
        retry: RetryPolicy,
        client_options: Mapping[str, Any] | None = None,
        scanner_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            self._open_dfu_target,
            retry=retry,
            open_timeout=timeouts.open_limit,
            release_timeout=timeouts.release,
        )
        self.timeouts = timeouts
        self.client_options = dict(client_options or {})
        self.scanner_options = dict(scanner_options or {})
        self._given_client = target if isinstance(target, BleakClient) else None
        if isinstance(target, BleakClient):
            address = str(target.address)
        elif isinstance(target, BLEDevice):
            address = target.address
        else:
            address = target
        self.address = address.upper()
        """The address the caller named (the application's, or a bootloader's)."""
        self.dfu_address: str | None = None
        """Where the bootloader was last found (the address itself, address + 1, a scan result)."""
        self.revision: int | None = None
        self._homes = (self.address, protocol.next_bootloader_address(self.address))
        """Where the device may be found: its address, and address + 1 (a bootloader entered
        without peer data). A bootloader named by the caller resets to an application whose
        address is not known, so the caller should name the application."""
        self._rebooted = False

    # --- DeviceLink hooks ---------------------------------------------------------------------

    def is_alive(self, link: LegacyDfuTarget) -> bool:
        return link.link.is_connected

    async def detach(self, link: LegacyDfuTarget) -> None:
        await link.link.aclose()

    async def on_release(self) -> None:
        target = self.link
        if target.has_dfu_service and not target.in_application:
            log.info("leaving %s: resetting the bootloader out of the unfinished DFU", self.address)
            await self.reset()

    # --- resets -------------------------------------------------------------------------------

    async def reset(self, op: OpCode = OpCode.RESET, target: LegacyDfuTarget | None = None) -> None:
        """Reset (or Activate & Reset) the target; it reboots, so it is looked for afresh.

        ``target`` is a connection of :meth:`open_at`; by default the device's own link.
        """
        self._rebooted = True
        try:
            await (target or self.link).reset(op)
        finally:
            await self.aclose()

    async def open_at(self, address: str) -> LegacyDfuTarget:
        """A connection to whatever answers at ``address``, as it is (no jump); close it after."""
        return await self._open(address)

    @property
    def homes(self) -> tuple[str, ...]:
        """Every address the device was or may be seen at (bootloader first, once known)."""
        known = (self.dfu_address,) if self.dfu_address else ()
        return (*known, *(a for a in self._homes if a not in known))

    # --- opening ------------------------------------------------------------------------------

    async def _open_dfu_target(self) -> LegacyDfuTarget:
        target = await self._open_anywhere()
        if target.in_application:
            application = target.link.address.upper()
            await self._enter_bootloader(target)
            address = await self.locate(
                Wanted(
                    addresses=(application, protocol.next_bootloader_address(application)),
                    names=(protocol.DFU_TARGET_NAME,),
                    service_uuids=(protocol.SERVICE_UUID,),
                ),
                probe=application,
                what="find the bootloader",
            )
            target = await self._open(address)
            if target.in_application:
                await target.link.aclose()
                raise UnsupportedError(
                    "the device is still running its application after the buttonless jump",
                    operation="enter bootloader",
                )
        self.dfu_address = target.link.address.upper()
        self.revision = target.revision
        self._rebooted = False
        return target

    async def _open_anywhere(self) -> LegacyDfuTarget:
        """Connect to the device in whatever personality it runs now."""
        client, self._given_client = self._given_client, None
        if client is not None and client.is_connected:
            return await self._opened(GattLink.wrap(client))
        if not self._rebooted:
            # After a mere link loss the bootloader advertises where it was.
            address = self.dfu_address or self.address
            try:
                return await self._open(address)
            except (LinkLostError, DfuTimeoutError) as exc:
                log.info("%s does not answer (%s): looking for the device", address, exc)
        address = await self.locate(Wanted(addresses=self.homes), probe=self.address)
        return await self._open(address)

    async def _open(self, address: str) -> LegacyDfuTarget:
        link = await GattLink.connect(address, timeout=self.timeouts.connect, **self.client_options)
        return await self._opened(link)

    async def _opened(self, link: GattTransport) -> LegacyDfuTarget:
        target = LegacyDfuTarget(link, self.timeouts)
        try:
            await target.open()
        except BaseException:
            await link.aclose()
            raise
        return target

    async def locate(
        self,
        wanted: Wanted,
        *,
        probe: str,
        timeout: float | None = None,
        what: str = "find the device",
    ) -> str:
        """Where ``wanted`` advertises (or ``probe`` connects), within ``bootloader_search``."""
        return await locate(
            wanted,
            timeout=self.timeouts.bootloader_search if timeout is None else timeout,
            probe=probe,
            probe_timeout=min(self.timeouts.connect, 1.0),
            scanner_options=self.scanner_options,
            client_options=self.client_options,
            what=what,
        )

    async def _enter_bootloader(self, target: LegacyDfuTarget) -> None:
        """Buttonless entry: ``01 04`` to the app's Control Point, then it drops the link."""
        log.info("%s runs its application: jumping to the bootloader", target.link.address)
        try:
            await target.write_control(
                protocol.start_dfu(protocol.ImageType.APPLICATION), "enter bootloader"
            )
            await target.link.wait_disconnected(self.timeouts.disconnect, "enter bootloader")
        except (LinkLostError, DfuTimeoutError) as exc:
            log.debug("buttonless jump: %s (expected: the app resets)", exc)
        finally:
            await target.link.aclose()
