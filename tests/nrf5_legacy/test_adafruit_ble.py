"""BLE updates of the emulated Adafruit nRF52 bootloader, through both buttonless entries."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from bleak import BleakClient
from bleak.exc import BleakGATTProtocolError

from aiodfu.core.errors import DfuError
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import ImageType, Package
from aiodfu.nrf5_legacy.adafruit import BUTTONLESS_UUID
from aiodfu.nrf5_legacy.protocol import (
    ATT_CCCD_IMPROPERLY_CONFIGURED,
    CONTROL_POINT_UUID,
    PACKET_UUID,
    REVISION_UUID,
    OpCode,
    size_record,
    start_dfu,
)
from aiodfu.testing import random_firmware
from aiodfu.testing.ble import BleRadio, BumbleBleakClient
from aiodfu.testing.nrf5_legacy import (
    MESHTASTIC,
    AdafruitRelease,
    ApplicationProfile,
    LegacyDfuFaults,
    Mode,
    Nrf5LegacyEmulator,
    State,
    adafruit_config,
    adafruit_nrf52,
)
from aiodfu.testing.nrf5_legacy.state import BeginErase, BootloaderMachine
from tests.nrf5_legacy.conftest import FAST_FLASH, SessionFactory, fast

OLD = random_firmware(1600, seed=70)
NEW = random_firmware(5200, seed=71)
PACKAGE = Package.from_images(application=NEW, device_type=0x0052, application_version=3)
BLUEFRUIT = ApplicationProfile(name="Bluefruit52", service_uuids=(), appearance=None)
"""An Arduino sketch with Bluefruit's ``BLEDfu``: only the legacy buttonless service."""

MakeBoard = Callable[..., Any]


@pytest.fixture
def make_board(make_target: Callable[..., Any]) -> MakeBoard:
    async def make(release: AdafruitRelease = AdafruitRelease.V0_9, **options: Any) -> Any:
        # Real timing is seconds of erase per image; a hundredth of it keeps the shape.
        options.setdefault(
            "config", adafruit_config(release, page_erase_time=0.001, flash_rate=FAST_FLASH)
        )
        options.setdefault("mode", "application")
        options.setdefault("application", OLD)
        return await make_target(functools.partial(adafruit_nrf52, release=release), **options)

    return make


@pytest.mark.parametrize("release", list(AdafruitRelease))
@pytest.mark.parametrize("profile", [BLUEFRUIT, MESHTASTIC], ids=["legacy-1530", "secure-fe59"])
async def test_update_through_either_buttonless_entry(
    make_board: MakeBoard,
    make_session: SessionFactory,
    release: AdafruitRelease,
    profile: ApplicationProfile,
) -> None:
    board: Nrf5LegacyEmulator = await make_board(release, application_profile=profile)
    async with make_session(board.address, prn=12) as session:
        result = await session.update(PACKAGE)
    assert board.application == NEW
    assert board.application_version == 3
    assert board.mode is Mode.APPLICATION
    # The application handed its peer data over: the bootloader came up at its address.
    assert result.details["dfu_address"] == board.address
    assert result.details["bootloader"] == f"{release.value} s140 6.1.1"
    assert "PRN 8" in result.details["part1"]  # 12 is more than a revision 0.8 target takes
    requests = [value for mode, value in board.control_point_log if mode is Mode.BOOTLOADER]
    assert bytes([OpCode.PACKET_RECEIPT_REQUEST, 8, 0]) in requests
    jumps = [value for mode, value in board.control_point_log if mode is Mode.APPLICATION]
    assert jumps == [b"\x01" if profile is MESHTASTIC else b"\x01\x04"]


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("release", list(AdafruitRelease))
async def test_link_loss_mid_transfer_is_resumed_not_reset(
    make_board: MakeBoard, make_session: SessionFactory, release: AdafruitRelease
) -> None:
    """The bootloader keeps its state over a link loss; a Reset would cost 0.9.x its radio."""
    board: Nrf5LegacyEmulator = await make_board(
        release, faults=LegacyDfuFaults(disconnect_after_packets=60)
    )
    async with make_session(board.address) as session:
        result = await session.update(PACKAGE)
    assert board.application == NEW
    requests = [value for mode, value in board.control_point_log if mode is Mode.BOOTLOADER]
    assert bytes([OpCode.REPORT_RECEIVED_SIZE]) in requests
    assert bytes([OpCode.RESET]) not in requests
    assert "resumed at" in result.details["part1"]


async def test_a_failed_session_leaves_the_board_for_the_next_one(
    make_board: MakeBoard, make_session: SessionFactory
) -> None:
    """Retries exhausted mid-transfer: a typed error, the board left in BLE DFU holding its
    bytes (not reset into USB DFU), and a fresh session finishes the update."""
    board: Nrf5LegacyEmulator = await make_board(
        faults=LegacyDfuFaults(disconnect_after_packets=120)
    )
    failing = make_session(board.address, retry=RetryPolicy(attempts=1, initial_delay=0.01))
    with pytest.raises(DfuError):
        async with failing as session:
            await session.update(PACKAGE)
    assert board.mode is Mode.BOOTLOADER and board.application is None  # erased at Start
    assert board.machine.received == 120 * 20
    async with make_session(board.address) as session:
        result = await session.update(PACKAGE)
    assert board.application == NEW
    assert "resumed at [2400]" in result.details["part1"]


@pytest.mark.parametrize(
    ("release", "ends_on_usb"), [(AdafruitRelease.V0_9, True), (AdafruitRelease.V0_10, False)]
)
async def test_a_reset_mid_transfer_without_an_application(
    make_board: MakeBoard,
    make_session: SessionFactory,
    release: AdafruitRelease,
    ends_on_usb: bool,
) -> None:
    """Why the default resumes: the reset-and-restart of Nordic's tools (``resume=False``)
    sends a 0.9.x board, whose application was erased at Start, to USB DFU -- a typed error
    here, a board to be put into OTA DFU by hand (its DFU button) -- while 0.10 reboots into
    BLE DFU and the update goes on."""
    board: Nrf5LegacyEmulator = await make_board(
        release, faults=LegacyDfuFaults(disconnect_after_packets=60)
    )
    timeouts = fast(bootloader_search=1.0, connect=0.5)
    session = make_session(
        board.address, resume=False, timeouts=timeouts, retry=RetryPolicy(attempts=2)
    )
    if ends_on_usb:
        with pytest.raises(DfuError):
            async with session:
                await session.update(PACKAGE)
        assert board.mode is Mode.USB_DFU and not board.on_air
        await board.enter_bootloader()  # DFU + FRESET held at reset: OTA DFU
        session = make_session(board.address)
    async with session:
        await session.update(PACKAGE)
    assert board.application == NEW


# --- Start and the size record --------------------------------------------------------------


async def test_the_size_record_may_follow_start_at_once_and_waits_for_the_erase(
    radio: BleRadio, make_board: MakeBoard
) -> None:
    """What ``dfu_transport_ble.c`` does: ``01 04`` only records the mode; the size record is
    checked whenever it comes, and answered after the erase of whole pages. A second size
    record during the erase is another Start: INVALID_STATE, before the erase's answer."""
    config = adafruit_config(page_erase_time=0.02, flash_rate=FAST_FLASH)
    board: Nrf5LegacyEmulator = await make_board(mode="bootloader", application=None, config=config)
    client = BleakClient(board.bootloader_address, backend=BumbleBleakClient, radio=radio)
    async with client:
        notes: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(CONTROL_POINT_UUID, lambda _, data: notes.put_nowait(bytes(data)))
        # Before any Start the Packet characteristic carries nothing: ignored, no answer.
        await client.write_gatt_char(PACKET_UUID, size_record(application=4096), response=False)
        await client.write_gatt_char(CONTROL_POINT_UUID, start_dfu(ImageType.APPLICATION), True)
        assert notes.empty() and board.machine.state is State.IDLE
        await client.write_gatt_char(PACKET_UUID, size_record(application=5 * 4096), False)
        await client.write_gatt_char(PACKET_UUID, size_record(application=5 * 4096), False)
        async with asyncio.timeout(5):
            assert await notes.get() == b"\x10\x01\x02"
            assert await notes.get() == b"\x10\x01\x01"
        assert board.machine.state is State.READY


async def test_erase_time_counts_whole_pages() -> None:
    machine = BootloaderMachine(adafruit_config())
    machine.control_point(start_dfu(ImageType.APPLICATION), 0)
    (erase,) = machine.packet(size_record(application=4096 + 4), 0)
    assert erase == BeginErase(2 * 0.085)


async def test_secure_buttonless_needs_indications_and_may_answer_them(
    radio: BleRadio, make_board: MakeBoard
) -> None:
    profile = attrs.evolve(MESHTASTIC, buttonless_response=True)
    board: Nrf5LegacyEmulator = await make_board(application_profile=profile)
    gone = asyncio.Event()
    client = BleakClient(
        board.address,
        disconnected_callback=lambda _: gone.set(),
        backend=BumbleBleakClient,
        radio=radio,
    )
    async with client:
        with pytest.raises(BleakGATTProtocolError) as refused:
            await client.write_gatt_char(BUTTONLESS_UUID, b"\x01", response=True)
        assert refused.value.code == ATT_CCCD_IMPROPERLY_CONFIGURED
        answers: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(BUTTONLESS_UUID, lambda _, data: answers.put_nowait(bytes(data)))
        await client.write_gatt_char(BUTTONLESS_UUID, b"\x02", response=True)
        async with asyncio.timeout(5):
            assert await answers.get() == b"\x20\x02\x02"  # op code not supported
        await client.write_gatt_char(BUTTONLESS_UUID, b"\x01", response=True)
        async with asyncio.timeout(5):
            assert await answers.get() == b"\x20\x01\x01"
            await gone.wait()
    # The bootloader comes up at the application's address (peer data handed over).
    async with BleakClient(board.address, backend=BumbleBleakClient, radio=radio) as client:
        assert await client.read_gatt_char(REVISION_UUID) == b"\x08\x00"


async def test_an_update_through_a_spec_following_secure_buttonless_app(
    make_board: MakeBoard, make_session: SessionFactory
) -> None:
    profile = attrs.evolve(MESHTASTIC, buttonless_response=True)
    board: Nrf5LegacyEmulator = await make_board(AdafruitRelease.V0_10, application_profile=profile)
    async with make_session(board.address, packet_size=20) as session:
        await session.update(PACKAGE)
    assert board.application == NEW


async def test_another_board_in_dfu_mode_nearby_is_not_updated(
    make_board: MakeBoard, make_session: SessionFactory
) -> None:
    """Two boards advertise ``AdaDFU`` with the DFU service after the jump; the session takes
    the one at its device's address, not the first lookalike its scan sees."""
    bystander: Nrf5LegacyEmulator = await make_board(
        address="C0:FF:EE:00:00:42", mode="bootloader", application=None
    )
    board: Nrf5LegacyEmulator = await make_board(application_profile=MESHTASTIC)
    async with make_session(board.address) as session:
        result = await session.update(PACKAGE)
    assert board.application == NEW
    assert result.details["dfu_address"] == board.address
    assert bystander.machine.state is State.IDLE and not bystander.control_point_log
