"""GattLink over the emulated radio: every failure typed, the radio usable afterwards."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient

from aiodfu.core.errors import DfuTimeoutError, LinkLostError
from aiodfu.testing.ble import BlePeripheral, BleRadio, BumbleBleakClient
from aiodfu.transports.gatt import GattLink

from .conftest import ABSENT, PRESENT
from .test_radio import finishes


async def test_connect_to_an_absent_address_is_a_typed_timeout(
    radio: BleRadio, peripheral: BlePeripheral
) -> None:
    options = {"backend": BumbleBleakClient, "radio": radio}
    with pytest.raises(DfuTimeoutError) as info:
        await finishes(GattLink.connect(ABSENT, timeout=0.3, **options))
    assert info.value.operation == "connect"
    link = await finishes(GattLink.connect(PRESENT, timeout=2.0, **options))
    assert link.is_connected
    await link.aclose()


async def test_a_cancelled_connect_leaves_the_radio_usable(
    radio: BleRadio, peripheral: BlePeripheral
) -> None:
    options = {"backend": BumbleBleakClient, "radio": radio}
    attempt = asyncio.ensure_future(GattLink.connect(ABSENT, timeout=30.0, **options))
    await asyncio.sleep(0.05)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    link = await finishes(GattLink.connect(PRESENT, timeout=2.0, **options))
    assert link.is_connected
    await link.aclose()


async def _served_peripheral(radio: BleRadio) -> BlePeripheral:
    """A peripheral with a service of three characteristics (discovery takes several requests)."""
    from bumble.gatt import Characteristic, CharacteristicValue, Service

    peripheral = await radio.add_peripheral("C0:FF:EE:00:00:20", "Served")
    props = Characteristic.Properties
    peripheral.add_service(
        Service(
            SERVICE,
            [
                Characteristic(
                    VALUE,
                    props.READ | props.WRITE | props.NOTIFY,
                    Characteristic.READABLE | Characteristic.WRITEABLE,
                    CharacteristicValue(read=lambda _: b"value", write=lambda *_: None),
                ),
                Characteristic(OTHER, props.READ, Characteristic.READABLE, b"x"),
            ],
        )
    )
    await peripheral.advertise("Served")
    return peripheral


SERVICE = "0000aa00-0000-1000-8000-00805f9b34fb"
VALUE = "0000aa01-0000-1000-8000-00805f9b34fb"
OTHER = "0000aa02-0000-1000-8000-00805f9b34fb"


async def _discovery_requests(radio: BleRadio) -> int:
    peripheral = await _served_peripheral(radio)
    link = await GattLink.connect(peripheral.address, timeout=2.0, **_options(radio))
    await link.aclose()
    return peripheral.att_requests


def _options(radio: BleRadio) -> dict[str, object]:
    return {"backend": BumbleBleakClient, "radio": radio}


async def test_link_lost_during_discovery_is_link_lost_never_a_bare_cancel() -> None:
    """Bumble cancels the pending GATT request when the link drops: nobody asked for a cancel."""
    async with BleRadio() as radio:
        requests = await _discovery_requests(radio)
    assert requests >= 4  # services, characteristics, descriptors: several steps to hit
    for drop_at in range(1, requests + 1):
        async with BleRadio() as radio:
            peripheral = await _served_peripheral(radio)
            peripheral.drop_at_request = drop_at
            with pytest.raises(LinkLostError):
                await finishes(GattLink.connect(peripheral.address, timeout=2.0, **_options(radio)))
            assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_link_lost_during_a_read_is_link_lost(radio: BleRadio) -> None:
    peripheral = await _served_peripheral(radio)
    link = await GattLink.connect(peripheral.address, timeout=2.0, **_options(radio))
    peripheral.drop_at_request = peripheral.att_requests + 1
    with pytest.raises(LinkLostError):
        await finishes(link.read(VALUE, timeout=2.0, operation="read"))
    await link.aclose()


async def test_a_requested_cancel_still_propagates(radio: BleRadio) -> None:
    """Only an unrequested cancel is a link loss: the caller's own cancel stays a cancel."""
    peripheral = await _served_peripheral(radio)
    link = await GattLink.connect(peripheral.address, timeout=2.0, **_options(radio))
    server = peripheral.device.gatt_server
    server.on_gatt_pdu = lambda *_: None  # type: ignore[method-assign]  # the read hangs
    reading = asyncio.ensure_future(link.read(VALUE, timeout=30.0, operation="read"))
    await asyncio.sleep(0.05)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    await link.aclose()


class _CancellingBackend(BumbleBleakClient):
    """A backend that lets the stack's own cancellation escape (as Bumble's GATT client does)."""

    async def connect(self, pair: bool, **kwargs: object) -> None:
        raise asyncio.CancelledError


async def test_a_backend_cancel_nobody_asked_for_is_link_lost(
    radio: BleRadio, peripheral: BlePeripheral
) -> None:
    options = {"backend": _CancellingBackend, "radio": radio}
    with pytest.raises(LinkLostError):
        await finishes(GattLink.connect(PRESENT, timeout=2.0, **options))

    async def abandoned() -> bytes:
        raise asyncio.CancelledError

    client = BleakClient(PRESENT, backend=BumbleBleakClient, radio=radio)
    await client.connect()
    link = GattLink.wrap(client)
    assert link.is_connected
    with pytest.raises(LinkLostError) as info:
        await link.guard(abandoned(), 1.0, "read")
    assert "dropped during the operation" in str(info.value)
    await link.aclose()
    await client.disconnect()


class _FailingWrites:
    """A bleak client stand-in whose ``fail_at``-th write (from 1) fails as bleak's do."""

    is_connected = True

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.written: list[bytes] = []

    async def write_gatt_char(self, uuid: str, data: bytes, response: bool) -> None:
        assert not response
        if len(self.written) + 1 == self.fail_at:
            from bleak.exc import BleakError

            raise BleakError("not connected")
        self.written.append(bytes(data))


@pytest.mark.parametrize("fail_at", [1, 3, 5])
async def test_a_batch_of_writes_fails_located_at_the_piece_that_failed(fail_at: int) -> None:
    client = _FailingWrites(fail_at)
    link = GattLink(client, owns_client=False)  # type: ignore[arg-type]
    data = bytes(range(100))
    with pytest.raises(LinkLostError) as info:
        await link.write_commands(VALUE, data, 20, timeout=1.0, operation="stream", offset=1000)
    assert client.written == [data[i : i + 20] for i in range(0, 20 * (fail_at - 1), 20)]
    assert info.value.offset == 1000 + 20 * (fail_at - 1)
    assert info.value.operation == "stream"


async def test_a_batch_of_writes_sends_every_piece_in_order() -> None:
    client = _FailingWrites(fail_at=0)
    link = GattLink(client, owns_client=False)  # type: ignore[arg-type]
    data = bytes(range(95))
    await link.write_commands(VALUE, data, 20, timeout=1.0, operation="stream")
    assert client.written == [data[i : i + 20] for i in range(0, 95, 20)]
