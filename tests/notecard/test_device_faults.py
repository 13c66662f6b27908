"""The shared device faults in the Notecard's words, on the wire, over I2C, and met by the host."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable

import pytest

from aiodfu.core.image import FirmwareImage
from aiodfu.notecard.protocol import stamp_crc
from aiodfu.testing import AtOffset, DeviceFault, ErrorReply, OnCommand, Reboot, Silence
from aiodfu.testing.notecard import NotecardEmulator, NotecardFaults, Storage, notecard_i2c_bus
from aiodfu.transports.i2c import I2cNackError

from .conftest import IMAGE, card_for, i2c_card_for
from .test_emulator import read_until


async def until(condition: Callable[[], object]) -> None:
    """Wait (at most 5 s) until ``condition()`` holds: the emulator has no event for these."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - polls the device's state
            await asyncio.sleep(0.01)


async def test_an_injected_err_reply_is_the_cards_text_with_the_requests_crc(
    aiodfu_emulators,  # type: ignore[no-untyped-def]
) -> None:
    plan = [DeviceFault(OnCommand(1, "dfu.get"), ErrorReply("connected"))]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, faults=NotecardFaults(plan=plan)))
    stream = card.connect()
    await stream.write(stamp_crc(b'{"req":"dfu.get","length":0}', 7) + b"\n")
    line = (await read_until(stream, 1)).rstrip()
    bare = b'{"err":"DFU mode is not yet fully active: connected (session open) {connected}"}'
    assert line == bare[:-1] + b',"crc":"0007:%08X"}' % zlib.crc32(bare)
    assert [str(f) for f in card.faults.fired] == [
        "error at dfu.get command 1 (dfu.get offset=0 length=0): error 'connected'"
    ]
    await stream.write(b'{"req":"dfu.get","length":0}\n')  # spent: the card answers again
    assert b"err" not in await read_until(stream, 1)


async def test_a_restart_keeps_the_image_and_loses_dfu_mode_and_the_binary_store(
    aiodfu_emulators,  # type: ignore[no-untyped-def]
) -> None:
    plan = [DeviceFault(OnCommand(1, "dfu.status"), Reboot())]
    card = aiodfu_emulators(
        NotecardEmulator(image=IMAGE, storage=Storage.MODEM_FS, faults=NotecardFaults(plan=plan))
    )
    stream = card.connect()
    await stream.write(b'{"req":"hub.set","mode":"dfu"}\n')
    await read_until(stream, 1)
    await stream.write(b'{"req":"dfu.get","offset":0,"length":64,"binary":true}\n')
    await read_until(stream, 1)
    assert card.in_dfu_mode() and card.binary_store == IMAGE[:64]
    await stream.write(b'{"req":"dfu.status"}\n')  # lost: the card restarts instead
    await until(lambda: card.boots)
    await stream.write(b"\n")
    assert await read_until(stream, 1) == b"\r\n"  # it prints nothing of its own when back
    assert card.boots == 1 and card.image == IMAGE and card.mode == "ready"
    assert card.hub_mode == "periodic" and card.binary_store is None


async def test_over_i2c_a_restarting_card_does_not_acknowledge_and_forgets_its_output() -> None:
    plan = [DeviceFault(OnCommand(2, "card.version"), Reboot())]
    card = NotecardEmulator(reboot_time=0.3, faults=NotecardFaults(plan=plan))
    request = b"\x17" + b'{"req":"card.version"}' + b"\n"
    async with card:
        bus = notecard_i2c_bus(card)
        await bus.transfer(0x17, request)
        await until(lambda: bus.targets[0x17].port.outbox)  # answered, not read yet
        await bus.transfer(0x17, request)  # the second one restarts the card
        await until(lambda: card.booting)
        with pytest.raises(I2cNackError, match="restarting"):
            await bus.transfer(0x17, b"\x00\x10", 18)
        await until(lambda: not card.booting)
        assert (await bus.transfer(0x17, b"\x00\x10", 18))[:2] == b"\x00\x00"  # nothing queued


async def test_a_card_that_restarts_while_entering_dfu_mode_is_asked_again() -> None:
    """The restart ends DFU mode; the host's entry poll sees "not currently in the DFU operating
    mode" and sends ``hub.set mode:dfu`` again instead of waiting out its entry timeout."""
    plan = [DeviceFault(OnCommand(2, "dfu.get"), Reboot())]
    card = NotecardEmulator(
        image=IMAGE, storage=Storage.MODEM_FS, reboot_time=0.02, faults=NotecardFaults(plan=plan)
    )
    installed: list[bytes] = []

    def install(image: FirmwareImage) -> None:
        installed.append(image.data)

    async with card, card_for(card.connect, chunk_size=4096) as session:
        result = await asyncio.wait_for(session.update(install=install), 30)
    assert result.verification.verified and installed == [IMAGE]
    assert [r["mode"] for r in card.requests if r["req"] == "hub.set"].count("dfu") == 2
    assert card.mode == "completed" and [f.kind for f in card.faults.fired] == ["reboot"]


@pytest.mark.parametrize(
    "fault",
    [
        DeviceFault(AtOffset(9000), Reboot()),
        DeviceFault(AtOffset(9000), ErrorReply("dfu-mode")),
        DeviceFault(OnCommand(3, "dfu.get"), Silence(0.3)),
    ],
    ids=str,
)
async def test_device_faults_act_over_i2c_and_the_update_still_verifies(
    fault: DeviceFault,
) -> None:
    card = NotecardEmulator(
        image=IMAGE, storage=Storage.MODEM_FS, reboot_time=0.02, faults=NotecardFaults(plan=[fault])
    )
    installed: list[bytes] = []
    async with card:
        bus = notecard_i2c_bus(card)
        async with i2c_card_for(bus, chunk_size=4096) as session:
            result = await asyncio.wait_for(
                session.update(install=lambda image: installed.append(image.data)), 60
            )
    assert result.verification.verified and installed == [IMAGE]
    assert [f.kind for f in card.faults.fired] == [fault.kind]
    assert card.mode == "completed" and not card.failures
