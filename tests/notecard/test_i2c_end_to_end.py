"""The Notecard over serial-over-I2C, end to end against the emulated card on an emulated bus:
the image the host got is the one the card offered (MD5-verified, byte for byte), through bus
faults, and Blues' own note-python ``OpenI2C`` retrieves it too."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from typing import Any

import attrs
import pytest

from aiodfu.core.errors import RetriesExhaustedError
from aiodfu.core.image import FirmwareImage
from aiodfu.notecard import ResyncFailedError
from aiodfu.testing.i2c import EmulatedI2cBus, I2cBusModel, I2cFaults, PeripheryI2c
from aiodfu.testing.images import random_firmware
from aiodfu.testing.notecard import NotecardEmulator, Storage, notecard_i2c_bus
from notecard import binary_helpers
from notecard import notecard as note_python

from .conftest import FAST_TIMEOUTS, IMAGE, i2c_card_for

MD5 = hashlib.md5(IMAGE).hexdigest()


def served_in_order(card: NotecardEmulator) -> bool:
    offsets = [offset for offset, _, _ in card.served]
    return offsets == sorted(offsets)


@pytest.mark.parametrize("binary", [False, True], ids=["base64", "binary"])
async def test_update_over_i2c_retrieves_verifies_and_completes(
    aiodfu_emulators, binary: bool
) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, image_version="2.0.1"))
    bus = notecard_i2c_bus(card, model=I2cBusModel(clock_hz=400_000))
    installed: list[FirmwareImage] = []
    async with i2c_card_for(bus, binary=binary, chunk_size=4096) as notecard:
        result = await notecard.update(install=installed.append)
    assert [image.data for image in installed] == [IMAGE]
    assert result.image.data == IMAGE and result.attempts == 1
    assert result.details["md5"] == MD5 and result.details["version"] == "2.0.1"
    assert result.details["mode"] == ("binary" if binary else "base64")
    assert all(b is binary for _, _, b in card.served)
    assert card.mode == "completed" and card.image is None and card.hub_mode == "periodic"
    assert not card.crc_errors and not card.dropped_bytes


@pytest.mark.parametrize("binary", [False, True], ids=["base64", "binary"])
async def test_a_bus_outage_mid_retrieval_is_resumed_from_the_last_verified_chunk(
    aiodfu_emulators, binary: bool
) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    faults = I2cFaults(nacks=set(range(60, 90)))  # the card drops off the bus for 30 transfers
    bus = notecard_i2c_bus(card, model=I2cBusModel(clock_hz=None), faults=faults)
    async with i2c_card_for(bus, binary=binary, chunk_size=2048) as notecard:
        result = await notecard.update()
    assert result.image.data == IMAGE and result.details["md5"] == MD5
    assert result.attempts > 1  # the outage outlasted a transaction's own retries
    assert [f.kind for f in faults.fired] == ["nack"] * 30
    assert served_in_order(card)  # a verified chunk was never fetched again
    assert card.mode == "completed"


@pytest.mark.parametrize("binary", [False, True], ids=["base64", "binary"])
async def test_nacks_short_reads_and_long_stretches_are_retried(
    aiodfu_emulators, binary: bool
) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    faults = I2cFaults(
        nacks={25, 90, 91},
        short_reads={40, 120, 200},  # the card sent those bytes; the host lost them
        stretches={70: 1.0, 150: 0.3},  # past the 0.2 s transfer timeout below
    )
    bus = notecard_i2c_bus(card, model=I2cBusModel(clock_hz=None), faults=faults)
    timeouts = attrs.evolve(FAST_TIMEOUTS, i2c_transfer=0.2)
    async with i2c_card_for(bus, timeouts=timeouts, binary=binary, chunk_size=2048) as notecard:
        result = await notecard.update()
    assert result.image.data == IMAGE
    assert {f.kind for f in faults.fired} == {"nack", "short read", "stretch"}
    assert served_in_order(card) and card.mode == "completed"


async def test_a_legacy_card_enters_dfu_mode_over_i2c(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(
        NotecardEmulator(
            image=IMAGE, storage=Storage.MODEM_FS, dfu_entry_delay=0.1, request_latency=0.005
        )
    )
    bus = notecard_i2c_bus(card, model=I2cBusModel(clock_hz=400_000), busy_stretch=0.001)
    async with i2c_card_for(bus) as notecard:
        result = await notecard.update()
    assert result.image.data == IMAGE and result.details["entered_dfu_mode"] == "yes"
    assert [r["mode"] for r in card.requests if r["req"] == "hub.set"] == ["dfu", "dfu-completed"]
    assert card.mode == "completed"


async def test_small_transfers_of_an_arduino_sized_adapter(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    image = random_firmware(3000, seed=8)
    card = aiodfu_emulators(NotecardEmulator(image=image))
    bus = notecard_i2c_bus(card, model=I2cBusModel(clock_hz=None))
    async with i2c_card_for(bus, max_transfer=30) as notecard:
        result = await notecard.update()
    assert result.image.data == image and card.mode == "completed"


async def test_nobody_at_the_address_fails_typed(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    bus = notecard_i2c_bus(card)
    with pytest.raises(RetriesExhaustedError) as info:
        async with i2c_card_for(bus, address=0x18):
            pass
    assert isinstance(info.value.__cause__, ResyncFailedError)
    assert not card.requests


async def test_a_session_cancelled_mid_retrieval_leaves_the_card_to_the_next(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, request_latency=0.002))
    bus = notecard_i2c_bus(card, model=I2cBusModel(clock_hz=400_000))

    async def first_session() -> None:
        async with i2c_card_for(bus, chunk_size=1024) as notecard:
            await notecard.update()

    task = asyncio.create_task(first_session())
    async with asyncio.timeout(30):
        while len(card.served) < 5:  # noqa: ASYNC110 - the emulator has no event for this
            await asyncio.sleep(0.005)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert card.mode == "ready"  # the card still offers the image
    async with i2c_card_for(bus, chunk_size=1024) as notecard:
        result = await notecard.update()
    assert result.image.data == IMAGE and card.mode == "completed"


# --- Blues' note-python over the same bus --------------------------------------------------------


def retrieve_with_note_python(periphery: PeripheryI2c, binary: bool) -> tuple[bytes, Any]:
    """The IAP loop as a note-python user writes it, over ``OpenI2C`` (periphery-style bus)."""
    card = note_python.OpenI2C(periphery, 0x17, 0)
    body = card.Transaction({"req": "dfu.status"})["body"]
    image = bytearray()
    while len(image) < body["length"]:
        length = min(4096, body["length"] - len(image))
        request = {"req": "dfu.get", "offset": len(image), "length": length}
        if binary:
            staged = card.Transaction({**request, "binary": True})
            image += binary_helpers.binary_store_receive(card, 0, staged["length"])
        else:
            reply = card.Transaction(request)
            chunk = base64.b64decode(reply["payload"])
            assert hashlib.md5(chunk).hexdigest() == reply["status"]
            image += chunk
    final = card.Transaction({"req": "dfu.status", "stop": True, "status": "note-python ok"})
    return bytes(image), final


@pytest.mark.parametrize("binary", [False, True], ids=["base64", "binary"])
async def test_note_python_open_i2c_retrieves_the_image(aiodfu_emulators, binary: bool) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    bus = notecard_i2c_bus(card, model=I2cBusModel(clock_hz=400_000))
    periphery = PeripheryI2c(bus, asyncio.get_running_loop())
    image, final = await asyncio.wait_for(
        asyncio.to_thread(retrieve_with_note_python, periphery, binary), 90
    )
    assert image == IMAGE
    assert final["mode"] == "completed" and card.status_text == "note-python ok"
    assert not card.crc_errors and not card.failures
    assert [offset for offset, _, _ in card.served] == list(range(0, len(IMAGE), 4096))


async def test_the_plugin_fixture_serves_the_card_on_a_bus(
    notecard_emulator: NotecardEmulator, notecard_i2c_bus: EmulatedI2cBus
) -> None:
    async with i2c_card_for(notecard_i2c_bus) as notecard:
        result = await notecard.update()
    assert notecard_emulator.mode == "completed"
    assert result.image.data == random_firmware(65536, seed=4)  # the fixture's image
