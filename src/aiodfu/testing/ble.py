"""BLE without radios: Bumble devices on an in-process link, driven through bleak.

Bumble is a complete host stack (HCI, L2CAP, ATT, GATT) in Python with an
in-memory "radio", :class:`bumble.link.LocalLink`. This module puts emulated
peripherals and a central on one such radio and gives bleak a backend over
the central, so code written for :class:`bleak.BleakClient` -- ours and
yours -- runs unchanged against an emulated device::

    async with BleRadio() as radio:
        peripheral = await radio.add_peripheral("C0:FF:EE:00:00:01")
        ...                                   # add services, advertise
        client = BleakClient("C0:FF:EE:00:00:01", backend=BumbleBleakClient, radio=radio)
        async with client:
            await client.write_gatt_char(uuid, b"\\x01", response=True)

Pieces:

* :class:`BleRadio` -- the link and the devices on it (create it inside a running
  event loop: Bumble's controllers create futures when built).
* :class:`BlePeripheral` -- a GATT server device: services, advertising,
  connection tracking, notifications, disconnecting from the device side.
* :class:`BumbleBleakClient` / :class:`BumbleBleakScanner` -- bleak backends
  (``backend=`` of :class:`bleak.BleakClient` / :class:`bleak.BleakScanner`);
  extra keyword arguments ``radio`` (required) and ``link_model``.
* :class:`BleLinkModel` -- what Bumble does not model: the connection interval
  and the packets per connection event. Write-without-response packets take
  slots in connection events, a write request waits for its response in the
  next event, and notifications reach the central at the next event. The
  default (interval 0) delivers at once, which keeps tests fast.

Bumble is lenient where a radio is not (it delivers writes longer than
ATT_MTU - 3 whole): emulated targets enforce their own size limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid as uuid_module
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import attrs
from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError

try:
    from bumble.att import ATT_Error
    from bumble.controller import Controller
    from bumble.core import AdvertisingData, ProtocolError
    from bumble.device import Advertisement, AdvertisingType, Connection, Device, Peer
    from bumble.gatt import Characteristic, Service
    from bumble.gatt_client import CharacteristicProxy
    from bumble.hci import (
        Address,
        HCI_Error,
        HCI_ErrorCode,
        HCI_LE_Connection_Complete_Event,
        HCI_LE_Create_Connection_Cancel_Command,
        HCI_StatusReturnParameters,
        Role,
    )
    from bumble.host import Host
    from bumble.link import LocalLink
    from bumble.transport.common import AsyncPipeSink
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the emulated BLE link needs Bumble: pip install 'aiodfu[emulators]'"
    ) from exc

from aiodfu.core.resource import AsyncResource

log = logging.getLogger("aiodfu.testing.ble")

DEFAULT_ATT_MTU = 23
_ADVERTISING_INTERVAL_MS = 1.0  # fast enough that connecting and scanning take milliseconds
_CLEANUP_TIMEOUT = 1.0
"""Bound on each radio command a failed or cancelled connect sends to clean up."""


@attrs.frozen
class BleLinkModel:
    """Connection timing: ``connection_interval`` seconds, ``packets_per_event`` per event.

    ``mtu`` is the ATT MTU the central asks for when it connects (23 = no
    exchange, the stock legacy DFU bootloader). Interval 0 means unpaced.
    """

    connection_interval: float = 0.0
    packets_per_event: int = attrs.field(default=6, validator=attrs.validators.ge(1))
    mtu: int = attrs.field(default=DEFAULT_ATT_MTU, validator=attrs.validators.ge(23))

    def capacity(self, packet_size: int) -> float:
        """Bytes per second the link carries in ``packet_size`` packets (inf if unpaced)."""
        if self.connection_interval <= 0:
            return math.inf
        return packet_size * self.packets_per_event / self.connection_interval


class ConnectionEvents:
    """Assigns packets to connection events on a grid of ``connection_interval``."""

    def __init__(self, model: BleLinkModel) -> None:
        self.model = model
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time()
        self._event = 0
        self._used = 0

    def _time_of(self, event: int) -> float:
        return self._origin + event * self.model.connection_interval

    def _current(self) -> int:
        """The connection event in progress (the last one that started)."""
        elapsed = self._loop.time() - self._origin
        return math.floor(elapsed / self.model.connection_interval + 1e-9)

    async def packet(self) -> None:
        """Wait for a free packet slot in the earliest possible connection event."""
        if self.model.connection_interval <= 0:
            return
        current = self._current()
        if current > self._event:
            self._event, self._used = current, 0
        if self._used >= self.model.packets_per_event:
            self._event, self._used = self._event + 1, 0
        self._used += 1
        await self._sleep_until(self._time_of(self._event))

    async def next_event(self) -> None:
        """Wait for the connection event after the current one (a response's turn)."""
        if self.model.connection_interval <= 0:
            return
        await self._sleep_until(self._time_of(max(self._current(), self._event) + 1))

    def delay_to_next_event(self) -> float:
        if self.model.connection_interval <= 0:
            return 0.0
        return max(0.0, self._time_of(self._current() + 1) - self._loop.time())

    async def _sleep_until(self, when: float) -> None:
        delay = when - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


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
        self.device.on(Device.EVENT_CONNECTION, self._connected)
        server = self.device.gatt_server
        self._default_services = len(server.services)
        serve = server.on_gatt_pdu

        def on_request(bearer: Any, pdu: Any) -> None:
            self.att_requests += 1
            if self.att_requests == self.drop_at_request:
                log.info("%s: dropping the link at ATT request %d", address, self.att_requests)
                asyncio.get_running_loop().create_task(self.disconnect())
                return
            serve(bearer, pdu)

        server.on_gatt_pdu = on_request  # type: ignore[method-assign, assignment]

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
        short = b"".join(_short_uuid(u) or b"" for u in service_uuids)
        if short:
            fields.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, short))
        long = b"".join(
            uuid_module.UUID(u).bytes[::-1] for u in service_uuids if _short_uuid(u) is None
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
        if self.connection is None:
            return False
        value = self.device.gatt_server.read_cccd(self.connection, characteristic)
        return bool(value[0] & 0x01)

    async def notify(self, characteristic: Characteristic[Any], value: bytes) -> bool:
        """Notify the connected central; False when no one is connected and subscribed."""
        connection = self.connection
        if connection is None or not self.notifications_enabled(characteristic):
            return False
        try:
            await self.device.notify_subscriber(connection, characteristic, value)
        except Exception as exc:  # the link went down while notifying
            log.debug("%s: notification failed: %s", self.address, exc)
            return False
        return True

    def _connected(self, connection: Connection) -> None:
        self.connection = connection

        def disconnected(reason: int) -> None:
            if self.connection is connection:
                self.connection = None
            if self.on_disconnect is not None:
                self.on_disconnect(connection)

        connection.on(Connection.EVENT_DISCONNECTION, disconnected)
        if self.on_connect is not None:
            self.on_connect(connection)


class BumbleBleakClient(BaseBleakClient):
    """A bleak client backend over a :class:`BleRadio`'s central.

    ``BleakClient(address, backend=BumbleBleakClient, radio=radio, link_model=model)``.
    """

    def __init__(
        self,
        address_or_ble_device: Any,
        *,
        radio: BleRadio,
        link_model: BleLinkModel | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("services", None)
        kwargs.pop("bluez", None)
        kwargs.pop("winrt", None)
        super().__init__(address_or_ble_device, **kwargs)
        self.radio = radio
        self.link_model = link_model or BleLinkModel()
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._proxies: dict[int, CharacteristicProxy[bytes]] = {}
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}
        self._events: ConnectionEvents | None = None
        self._mtu = DEFAULT_ATT_MTU

    @property
    def name(self) -> str:
        return str(self.address)

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect and discover within the client's ``timeout`` (``TimeoutError`` if not).

        As bleak's own backends do, the timeout covers the whole of it; a
        connect that times out or is cancelled leaves nothing pending on the
        radio (the LE connection is cancelled, a half-made link dropped).
        """
        central = await self.radio.central()
        try:
            async with asyncio.timeout(self._timeout), _link_loss_as_bleak_error():
                # One LE Create Connection at a time per controller.
                async with self.radio.connect_lock:
                    connection = await self._create_connection(central)
                self._connection = connection
                connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
                self._events = ConnectionEvents(self.link_model)
                peer = Peer(connection)
                self._peer = peer
                if self.link_model.mtu > DEFAULT_ATT_MTU:
                    self._mtu = await peer.request_mtu(self.link_model.mtu)
                await self._discover(peer)
        except BaseException:
            await asyncio.shield(self._abandon())
            raise

    async def _create_connection(self, central: Device) -> Connection:
        try:
            return await central.connect(Address(str(self.address)), timeout=None)
        except asyncio.CancelledError:
            # Timed out or cancelled: end the LE connection still pending on the controller.
            with contextlib.suppress(HCI_Error, Exception):
                async with asyncio.timeout(_CLEANUP_TIMEOUT):
                    await asyncio.shield(
                        central.send_sync_command(HCI_LE_Create_Connection_Cancel_Command())
                    )
            raise
        except Exception as exc:
            raise BleakError(f"could not connect to {self.address}: {exc!r}") from exc

    async def _abandon(self) -> None:
        """Drop whatever a failed connect left: a link made just as it was cancelled."""
        central = await self.radio.central()
        address = str(self.address).upper()
        for connection in list(central.connections.values()):
            if str(connection.peer_address).split("/")[0].upper() == address:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(_CLEANUP_TIMEOUT):
                        await connection.disconnect()
        self._connection = None
        self._peer = None

    async def _discover(self, peer: Peer) -> None:
        collection = BleakGATTServiceCollection()
        await peer.discover_services()
        for service in peer.services:
            bleak_service = BleakGATTService(service, service.handle, _uuid_text(service.uuid))
            collection.add_service(bleak_service)
            await service.discover_characteristics()
            for proxy in service.characteristics:
                await proxy.discover_descriptors()
                properties = str(proxy.properties).lower().replace("_", "-").split("|")
                characteristic = BleakGATTCharacteristic(
                    proxy,
                    proxy.handle,
                    _uuid_text(proxy.uuid),
                    properties,  # type: ignore[arg-type]
                    lambda: self._mtu - 3,
                    bleak_service,
                )
                collection.add_characteristic(characteristic)
                self._proxies[proxy.handle] = proxy
                for descriptor in proxy.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor,
                            descriptor.handle,
                            _uuid_text(descriptor.type),
                            characteristic,
                        )
                    )
        self.services = collection

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        self._peer = None
        callback = self._disconnected_callback
        if callback is not None:
            callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await connection.disconnect()
        self._connection = None
        self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("pairing is not modelled by the Bumble test backend")

    async def unpair(self) -> None:
        raise NotImplementedError("pairing is not modelled by the Bumble test backend")

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("not connected")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._att(lambda: self._read(characteristic.handle), True))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._att(lambda: self._read(descriptor.handle), True))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        payload = bytes(data)
        await self._att(lambda: self._write(characteristic.handle, payload, response), response)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        payload = bytes(data)
        await self._att(lambda: self._write(descriptor.handle, payload, True), True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        proxy = self._proxies[characteristic.handle]

        pending: list[bytearray] = []

        def drain() -> None:
            batch = pending[:]
            pending.clear()
            for data in batch:
                callback(data)

        def deliver(value: bytes) -> None:
            # Notifications reach the central at the next connection event, in ATT order.
            events = self._events
            delay = events.delay_to_next_event() if events is not None else 0.0
            if delay <= 0 and not pending:
                callback(bytearray(value))
                return
            pending.append(bytearray(value))
            if len(pending) == 1:
                asyncio.get_running_loop().call_later(delay, drain)

        self._subscriptions[characteristic.handle] = deliver
        await self._att(lambda: self._require_peer().subscribe(proxy, deliver), True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        proxy = self._proxies[characteristic.handle]
        deliver = self._subscriptions.pop(characteristic.handle, None)
        await self._att(lambda: self._require_peer().unsubscribe(proxy, deliver), True)

    async def _read(self, handle: int) -> bytes:
        return await self._require_peer().read_value(handle)

    async def _write(self, handle: int, data: bytes, response: bool) -> None:
        await self._require_peer().write_value(handle, data, with_response=response)

    async def _att(self, operation: Callable[[], Awaitable[Any]], response: bool) -> Any:
        """Run one ATT operation in the link model's time, with bleak's error types."""
        events = self._events
        try:
            if events is not None:
                await events.packet()
            if self._peer is None:
                raise BleakError("not connected")
            async with _link_loss_as_bleak_error():
                result = await operation()
            if response and events is not None:
                await events.next_event()
            return result
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except ProtocolError as exc:
            code = getattr(exc, "error_code", None)
            if isinstance(code, int) and getattr(exc, "error_namespace", "") == "att":
                raise BleakGATTProtocolError(code) from exc
            raise BleakError(str(exc)) from exc


class BumbleBleakScanner(BaseBleakScanner):
    """A bleak scanner backend over a :class:`BleRadio`'s central (``radio=`` keyword)."""

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: Any = "active",
        *,
        radio: BleRadio,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.radio = radio
        self._device: Device | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        device = await self.radio.central()
        self._device = device
        device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await device.start_scanning(legacy=True, filter_duplicates=False)

    async def stop(self) -> None:
        device = self._device
        if device is not None:
            device.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
            with contextlib.suppress(Exception):
                await device.stop_scanning()
            self._device = None

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
        local_name = name if isinstance(name, str) else None
        uuids: list[str] = []
        for kind in (
            AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
            AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
            AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
            AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        ):
            found = data.get(kind)
            if isinstance(found, list):
                uuids.extend(_uuid_text(u) for u in found)
        if not self.is_allowed_uuid(uuids):
            return
        address = str(advertisement.address).split("/")[0]
        adv = AdvertisementData(
            local_name=local_name,
            manufacturer_data={},
            service_data={},
            service_uuids=uuids,
            tx_power=None,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        device = self.create_or_update_device(address, address, local_name, advertisement, adv)
        self.call_detection_callbacks(device, adv)


@contextlib.asynccontextmanager
async def _link_loss_as_bleak_error() -> AsyncIterator[None]:
    """Bumble cancels a pending GATT request when the link drops; bleak backends raise
    :class:`BleakError` instead. A cancellation someone asked for propagates."""
    try:
        yield
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling() == 0:
            raise BleakError("disconnected while the request was pending") from None
        raise


_SIG_BASE = "-0000-1000-8000-00805f9b34fb"


def _short_uuid(text: str) -> bytes | None:
    """The 16-bit form (little-endian) of a Bluetooth SIG UUID, else None."""
    value = str(uuid_module.UUID(text)).lower()
    if value.startswith("0000") and value.endswith(_SIG_BASE):
        return int(value[4:8], 16).to_bytes(2, "little")
    return None


def _uuid_text(value: object) -> str:
    """Bumble's UUID as bleak's lower-case 128-bit text."""
    text = str(uuid_module.UUID(bytes=bytes(value.to_bytes(force_128=True))[::-1]))  # type: ignore[attr-defined]
    return text.lower()
