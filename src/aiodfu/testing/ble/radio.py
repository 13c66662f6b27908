"""The in-process radio: Bumble controllers on one link, peripherals, and a central."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import uuid as uuid_module
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from bumble.att import Opcode as AttOpcode
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import AdvertisingType, Connection, Device
from bumble.gatt import Characteristic, Service
from bumble.hci import (
    Address,
    HCI_ErrorCode,
    HCI_LE_Connection_Complete_Event,
    HCI_LE_Create_Connection_Cancel_Command,
    HCI_StatusReturnParameters,
    Role,
)
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from aiodfu.core.resource import AsyncResource
from aiodfu.testing.ble.link_faults import GattLinkPlan
from aiodfu.testing.ble.uuids import short_uuid

log = logging.getLogger("aiodfu.testing.ble")

WRITE_SENT_AT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "WRITE_SENT_AT", default=None
)
"""In a characteristic's write callback: the loop time of the connection event that carried
this Write Command (set when the central's :class:`~aiodfu.testing.ble.BleLinkModel` paces
the link), or ``None``. A target that models timing (a receive pool drained by its flash)
takes the packet's arrival from here, not from when its own task gets to run: on a busy
event loop two connection events' packets may be handled at once, a burst the modelled
link never sent."""

_ADVERTISING_INTERVAL_MS = 1.0  # fast enough that connecting and scanning take milliseconds


class _Controller(Controller):
    """Bumble's emulated controller, with LE Create Connection Cancel as the spec has it.

    Bumble 0.0.236 answers the cancel with SUCCESS and does nothing: the
    connection stays pending, the host waits for its completion forever, and
    every later LE Create Connection is refused with COMMAND_DISALLOWED. A
    controller (Core spec Vol 4, Part E, 7.8.13) ends the pending connection
    with an LE Connection Complete event carrying UNKNOWN_CONNECTION_IDENTIFIER
    after the command completes, and refuses a cancel with nothing pending.
    """

    def on_hci_le_create_connection_cancel_command(
        self, command: HCI_LE_Create_Connection_Cancel_Command
    ) -> HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return HCI_StatusReturnParameters(HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        cancelled = HCI_LE_Connection_Complete_Event(
            status=HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=Role.CENTRAL,
            peer_address_type=pending.peer_address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        # After the Command Complete this handler's return value becomes.
        asyncio.get_running_loop().call_soon(self.send_hci_packet, cancelled)
        return HCI_StatusReturnParameters(HCI_ErrorCode.SUCCESS)


class BleRadio(AsyncResource):
    """Bumble devices sharing one in-process link; the central is created on demand."""

    def __init__(self) -> None:
        asyncio.get_running_loop()  # Bumble's controllers need one; fail early and clearly
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self._devices: list[Device] = []
        self._central: Device | None = None
        self._central_lock = asyncio.Lock()
        self.connect_lock = asyncio.Lock()
        self.peripherals: dict[str, BlePeripheral] = {}

    def create_device(self, address: str, name: str = "") -> Device:
        """A Bumble device on this radio (not yet powered on)."""
        controller = _Controller(name or address, link=self.link, public_address=address)
        device = Device(
            name=name or None,
            address=Address(address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        self._devices.append(device)
        return device

    async def add_peripheral(self, address: str, name: str = "") -> BlePeripheral:
        peripheral = BlePeripheral(self, address.upper(), name)
        await peripheral.device.power_on()
        self.peripherals[address.upper()] = peripheral
        return peripheral

    async def central(self) -> Device:
        """The radio's central device (address ``F0:00:00:00:00:01``)."""
        async with self._central_lock:
            if self._central is None:
                central = self.create_device("F0:00:00:00:00:01", "aiodfu-central")
                await central.power_on()
                self._central = central
            return self._central

    async def aclose(self) -> None:
        for device in self._devices:
            for connection in list(device.connections.values()):
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1.0):
                        await connection.disconnect()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await device.power_off()
        self._devices.clear()
        self._central = None


class BlePeripheral:
    """A GATT server device on a :class:`BleRadio`, one connection at a time.

    ``on_connect`` and ``on_disconnect`` (plain callables) tell the owner about
    the link; :attr:`connection` is the current one or ``None``.
    """

    def __init__(self, radio: BleRadio, address: str, name: str) -> None:
        self.radio = radio
        self.address = address
        self.name = name
        self.device = radio.create_device(address, name)
        self.connection: Connection | None = None
        self.on_connect: Callable[[Connection], None] | None = None
        self.on_disconnect: Callable[[Connection], None] | None = None
        self.att_requests = 0
        """ATT requests and commands received (service discovery included), over its life."""
        self.drop_at_request: int | None = None
        """Fault: the request with this number (from 1, see :attr:`att_requests`) is not
        served; the link drops instead -- a radio lost mid-discovery, mid-read, mid-write."""
        self.link_faults: Callable[[], GattLinkPlan | None] | None = None
        """Where its owner keeps the :class:`GattLinkPlan` this peripheral's links obey."""
        self._held: list[tuple[Any, Any]] | None = None
        self._sent_at: deque[float] = deque()
        """When the central sent the Write Commands still on their way (see
        :meth:`note_write_sent`), oldest first."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._muted = False
        self.device.on(Device.EVENT_CONNECTION, self._connected)
        server = self.device.gatt_server
        self._default_services = len(server.services)
        serve = server.on_gatt_pdu

        def on_request(bearer: Any, pdu: Any) -> None:
            sent_at = None
            if pdu.op_code == AttOpcode.ATT_WRITE_COMMAND and self._sent_at:
                sent_at = self._sent_at.popleft()
            if self._muted:
                return  # the chip is resetting: nothing answers on this link any more
            self.att_requests += 1
            if self.att_requests == self.drop_at_request:
                log.info("%s: dropping the link at ATT request %d", address, self.att_requests)
                asyncio.get_running_loop().create_task(self.disconnect())
                return
            plan = self._plan()
            loop = asyncio.get_running_loop()
            verdict = "serve" if plan is None else plan.on_operation(loop.time())
            if verdict == "drop":
                self._held = None
                self._spawn(self.disconnect())
                return
            if isinstance(verdict, float):  # a stall: this and what follows wait, in order
                self._held = self._held or []
                loop.call_later(verdict, self._release, serve, self.connection)
            if self._held is not None:
                self._held.append((bearer, pdu))
                return
            if sent_at is None:
                serve(bearer, pdu)
                return
            # Bumble serves a Write Command in a task of its own, which copies this context.
            token = WRITE_SENT_AT.set(sent_at)
            try:
                serve(bearer, pdu)
            finally:
                WRITE_SENT_AT.reset(token)

        server.on_gatt_pdu = on_request  # type: ignore[method-assign, assignment]

    def note_write_sent(self, at: float) -> None:
        """The central sends its next Write Command in the connection event at loop time ``at``
        (its link model says so); the write callback finds it in :data:`WRITE_SENT_AT`."""
        self._sent_at.append(at)

    def mute(self) -> None:
        """The device resets now: from here on the current link carries nothing either way
        (a reset chip answers nothing) until it drops; the next connection is heard again."""
        self._muted = True
        self._held = None

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _plan(self) -> GattLinkPlan | None:
        return None if self.link_faults is None else self.link_faults()

    def _release(self, serve: Callable[[Any, Any], None], connection: Connection | None) -> None:
        """The stall ends: what the central sent meanwhile is delivered, in order."""
        held, self._held = self._held or [], None
        if connection is not self.connection:
            return  # that link is gone, and what it carried with it
        for bearer, pdu in held:
            with contextlib.suppress(Exception):
                serve(bearer, pdu)

    def add_service(self, service: Service) -> None:
        self.device.add_service(service)

    def set_services(self, services: Iterable[Service]) -> None:
        """Replace the attribute table's services (GAP and GATT stay) -- a reboot into
        firmware with another table at the same address. Call it while disconnected."""
        server = self.device.gatt_server
        defaults = server.services[: self._default_services]
        server.services, server.attributes, server.attributes_by_handle = [], [], {}
        for service in (*defaults, *services):
            server.add_service(service)

    async def advertise(
        self,
        name: str | None = None,
        service_uuids: Iterable[str] = (),
        *,
        appearance: int | None = None,
        directed_to: str | None = None,
    ) -> None:
        """Advertise ``name``, ``appearance`` and ``service_uuids``; directed to a central if
        given. Bluetooth SIG UUIDs go in the complete 16-bit list, others in the incomplete
        128-bit list (as SDK 11 examples and bootloaders advertise them)."""
        if self.device.is_advertising:
            await self.device.stop_advertising()
        fields: list[tuple[int, bytes]] = [(AdvertisingData.FLAGS, bytes([0x06]))]
        if name:
            fields.append((AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()))
        if appearance is not None:
            fields.append((AdvertisingData.APPEARANCE, appearance.to_bytes(2, "little")))
        short = b"".join(short_uuid(u) or b"" for u in service_uuids)
        if short:
            fields.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, short))
        long = b"".join(
            uuid_module.UUID(u).bytes[::-1] for u in service_uuids if short_uuid(u) is None
        )
        if long:
            fields.append((AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, long))
        data = bytes(AdvertisingData(fields))
        if directed_to is not None:
            await self.device.start_advertising(
                advertising_type=AdvertisingType.DIRECTED_CONNECTABLE_LOW_DUTY,
                target=Address(directed_to),
                advertising_interval_min=_ADVERTISING_INTERVAL_MS,
                advertising_interval_max=_ADVERTISING_INTERVAL_MS,
            )
            return
        await self.device.start_advertising(
            advertising_data=data,
            advertising_interval_min=_ADVERTISING_INTERVAL_MS,
            advertising_interval_max=_ADVERTISING_INTERVAL_MS,
        )

    async def stop_advertising(self) -> None:
        if self.device.is_advertising:
            # Bumble raises KeyError when a central connected (ending the advertising) while
            # the stop was on its way: advertising is over either way.
            with contextlib.suppress(KeyError):
                await self.device.stop_advertising()

    @property
    def is_advertising(self) -> bool:
        return bool(self.device.is_advertising)

    async def disconnect(self) -> None:
        """Drop the current connection from the device side (a reset, a timeout)."""
        connection = self.connection
        if connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await connection.disconnect()

    def notifications_enabled(self, characteristic: Characteristic[Any]) -> bool:
        """Whether the connected central enabled notifications in ``characteristic``'s CCCD."""
        return self._cccd(characteristic) & 0x01 != 0

    def indications_enabled(self, characteristic: Characteristic[Any]) -> bool:
        """Whether the connected central enabled indications in ``characteristic``'s CCCD."""
        return self._cccd(characteristic) & 0x02 != 0

    def _cccd(self, characteristic: Characteristic[Any]) -> int:
        if self.connection is None:
            return 0
        return int(self.device.gatt_server.read_cccd(self.connection, characteristic)[0])

    def limit_mtu(self, reply: Callable[[int], int]) -> None:
        """Answer each ATT MTU exchange with ``reply(client_rx_mtu)`` (the radio's default
        otherwise); the MTU then is the smaller of the two, as the Core spec has it."""
        server = self.device.gatt_server
        exchange = server.on_att_exchange_mtu_request

        def on_exchange(bearer: Any, request: Any) -> None:
            server.max_mtu = max(23, reply(int(request.client_rx_mtu)))
            exchange(bearer, request)

        server.on_att_exchange_mtu_request = on_exchange  # type: ignore[method-assign]

    async def indicate(self, characteristic: Characteristic[Any], value: bytes) -> bool:
        """Indicate to the connected central and wait for its confirmation; False when no
        one is connected and subscribed, or the link went down first."""
        connection = self.connection
        if connection is None or not self.indications_enabled(characteristic):
            return False
        try:
            await self.device.indicate_subscriber(connection, characteristic, value)
        except Exception as exc:
            log.debug("%s: indication failed: %s", self.address, exc)
            return False
        return True

    async def notify(self, characteristic: Characteristic[Any], value: bytes) -> bool:
        """Notify the connected central; False when no one is connected and subscribed."""
        connection = self.connection
        if connection is None or self._muted or not self.notifications_enabled(characteristic):
            return False
        plan = self._plan()
        now = asyncio.get_running_loop().time()
        sends = [(0.0, value)] if plan is None else plan.on_notification(value, now)
        for wait, data in sends:  # a lost one is not there; the stack believes it sent it
            if wait > 0:
                await asyncio.sleep(wait)
            if self.connection is not connection:
                return False
            try:
                await self.device.notify_subscriber(connection, characteristic, data)
            except Exception as exc:  # the link went down while notifying
                log.debug("%s: notification failed: %s", self.address, exc)
                return False
        return True

    def _connected(self, connection: Connection) -> None:
        self.connection = connection
        self._held = None
        self._sent_at.clear()
        self._muted = False
        plan = self._plan()
        if plan is not None:
            plan.connected()

        def disconnected(reason: int) -> None:
            if self.connection is connection:
                self.connection = None
            if self.on_disconnect is not None:
                self.on_disconnect(connection)

        connection.on(Connection.EVENT_DISCONNECTION, disconnected)
        if self.on_connect is not None:
            self.on_connect(connection)
