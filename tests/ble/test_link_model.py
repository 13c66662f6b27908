"""The link model's connection events reach the peripheral: each Write Command carries the
loop time of the event that sent it (:data:`~aiodfu.testing.ble.radio.WRITE_SENT_AT`)."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from bleak import BleakClient
from bumble.gatt import Characteristic, CharacteristicValue, Service

from aiodfu.testing.ble import BleLinkModel, BlePeripheral, BleRadio, BumbleBleakClient
from aiodfu.testing.ble.radio import WRITE_SENT_AT

from .conftest import PRESENT

SERVICE = "0000fe00-0000-1000-8000-00805f9b34fb"
SINK = "0000fe01-0000-1000-8000-00805f9b34fb"
INTERVAL = 0.01
PER_EVENT = 2


async def _writes_seen(
    radio: BleRadio, peripheral: BlePeripheral, model: BleLinkModel, count: int
) -> list[tuple[bytes, float | None, float]]:
    """Send ``count`` Write Commands; what the write callback saw: value, stamp, loop time."""
    seen: list[tuple[bytes, float | None, float]] = []
    loop = asyncio.get_running_loop()
    arrived = asyncio.Event()

    def on_write(_: object, value: bytes) -> None:
        seen.append((bytes(value), WRITE_SENT_AT.get(), loop.time()))
        if len(seen) == count:
            arrived.set()

    props = Characteristic.Properties
    peripheral.add_service(
        Service(
            SERVICE,
            [
                Characteristic(
                    SINK,
                    props.WRITE_WITHOUT_RESPONSE,
                    Characteristic.WRITEABLE,
                    CharacteristicValue(write=on_write),
                )
            ],
        )
    )
    client = BleakClient(PRESENT, backend=BumbleBleakClient, radio=radio, link_model=model)
    async with client:
        for n in range(count):
            await client.write_gatt_char(SINK, bytes([n]), response=False)
        await asyncio.wait_for(arrived.wait(), 10.0)
    return seen


async def test_write_commands_carry_their_connection_event(
    radio: BleRadio, peripheral: BlePeripheral
) -> None:
    model = BleLinkModel(connection_interval=INTERVAL, packets_per_event=PER_EVENT)
    seen = await _writes_seen(radio, peripheral, model, 7)
    assert [value for value, _, _ in seen] == [bytes([n]) for n in range(7)]
    stamps = [stamp for _, stamp, _ in seen]
    assert all(stamp is not None for stamp in stamps)
    events = sorted(set(stamps))  # type: ignore[type-var]
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    assert max(stamps.count(event) for event in events) <= PER_EVENT
    assert len(events) >= 4  # 7 packets at 2 per event
    for earlier, later in itertools.pairwise(events):
        steps = (later - earlier) / INTERVAL  # type: ignore[operator]
        assert steps == pytest.approx(round(steps)) and round(steps) >= 1  # on the event grid
    for _, stamp, arrival in seen:
        assert stamp <= arrival  # type: ignore[operator]  # sent before it arrived


async def test_an_unpaced_link_stamps_nothing(radio: BleRadio, peripheral: BlePeripheral) -> None:
    seen = await _writes_seen(radio, peripheral, BleLinkModel(), 3)
    assert [stamp for _, stamp, _ in seen] == [None, None, None]
