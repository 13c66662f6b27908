"""bleak backends over a :class:`~aiodfu.testing.ble.radio.BleRadio`'s central.

``BleakClient(address, backend=BumbleBleakClient, radio=radio)`` and
``BleakScanner(callback, backend=BumbleBleakScanner, radio=radio)``: code written
for bleak runs unchanged against the emulated peripherals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble.att import ATT_Error
from bumble.core import AdvertisingData, ProtocolError
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.hci import Address, HCI_Error, HCI_LE_Create_Connection_Cancel_Command

from aiodfu.testing.ble.link_model import DEFAULT_ATT_MTU, BleLinkModel, ConnectionEvents
from aiodfu.testing.ble.radio import BleRadio
from aiodfu.testing.ble.uuids import uuid_text

log = logging.getLogger("aiodfu.testing.ble")

_CLEANUP_TIMEOUT = 1.0
"""Bound on each radio command a failed or cancelled connect sends to clean up."""


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
            bleak_service = BleakGATTService(service, service.handle, uuid_text(service.uuid))
            collection.add_service(bleak_service)
            await service.discover_characteristics()
            for proxy in service.characteristics:
                await proxy.discover_descriptors()
                properties = str(proxy.properties).lower().replace("_", "-").split("|")
                characteristic = BleakGATTCharacteristic(
                    proxy,
                    proxy.handle,
                    uuid_text(proxy.uuid),
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
                            uuid_text(descriptor.type),
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
            sent_at = None if events is None else await events.packet()
            if self._peer is None:
                raise BleakError("not connected")
            if sent_at is not None and not response:
                # A Write Command: tell the peripheral in which connection event it went.
                peripheral = self.radio.peripherals.get(str(self.address).upper())
                if peripheral is not None:
                    peripheral.note_write_sent(sent_at)
            try:
                result = await operation()
            except asyncio.CancelledError:
                _raise_if_unrequested()
                raise
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
                uuids.extend(uuid_text(u) for u in found)
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


def _raise_if_unrequested() -> None:
    """In an ``except CancelledError``: Bumble cancels a pending GATT request when the link
    drops, and bleak backends raise :class:`BleakError` there instead. A cancellation
    someone asked for (``cancelling() > 0``) is left to propagate."""
    task = asyncio.current_task()
    if task is not None and task.cancelling() == 0:
        raise BleakError("disconnected while the request was pending") from None


@contextlib.asynccontextmanager
async def _link_loss_as_bleak_error() -> AsyncIterator[None]:
    """:func:`_raise_if_unrequested` around a block (connecting and discovering)."""
    try:
        yield
    except asyncio.CancelledError:
        _raise_if_unrequested()
        raise
