"""Link loss at any point: resumed with opcode 7 where the target kept its state, else restarted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodfu.core.session import VerificationMethod
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import Nrf5LegacySession, Package
from aiodfu.nrf5_legacy.errors import ActivationError
from aiodfu.nrf5_legacy.protocol import OpCode
from aiodfu.testing import DeviceFault, OnCommand, Silence, random_firmware
from aiodfu.testing.ble import BleRadio, BumbleBleakClient, BumbleBleakScanner
from aiodfu.testing.nrf5_legacy import (
    BootloaderConfig,
    LegacyDfuFaults,
    Mode,
    Nrf5LegacyEmulator,
    State,
)
from tests.nrf5_legacy.conftest import FAST, FAST_FLASH, SessionFactory

FIRMWARE = random_firmware(2000, seed=21)  # 100 packets of 20 bytes
PACKAGE = Package.from_images(application=FIRMWARE)


async def _update_with(
    faults: LegacyDfuFaults, *, resume: bool = True
) -> tuple[Nrf5LegacyEmulator, Any]:
    async with BleRadio() as radio:
        target = Nrf5LegacyEmulator(
            radio, config=BootloaderConfig(flash_rate=FAST_FLASH), faults=faults
        )
        await target.start()
        session = Nrf5LegacySession(
            target.bootloader_address,
            timeouts=FAST,
            retry=RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.02),
            resume=resume,
            client_options={"backend": BumbleBleakClient, "radio": radio},
            scanner_options={"backend": BumbleBleakScanner, "radio": radio},
        )
        try:
            async with session:
                result = await session.update(PACKAGE)
        finally:
            await target.aclose()
        assert not target.failures
        return target, result


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(FIRMWARE) // 20 - 1), st.booleans())
async def test_link_lost_after_any_packet(packets: int, resume: bool) -> None:
    """Resumed with opcode 7 (``resume=True``) or reset and restarted; the same image."""
    target, result = await _update_with(
        LegacyDfuFaults(disconnect_after_packets=packets), resume=resume
    )
    assert target.application == FIRMWARE
    assert target.pool_overflows == 0
    requests = [value for _, value in target.control_point_log]
    starts = [r for r in requests if r[0] == OpCode.START_DFU]
    assert (bytes([OpCode.REPORT_RECEIVED_SIZE]) in requests) is resume
    if resume and packets > 0:
        assert len(starts) == 1, "a target that kept its state is resumed, never restarted"
        assert "resumed at" in result.details["part1"]
        # the image once, plus at most the packets in flight when the link dropped
        assert result.bytes_moved <= len(FIRMWARE) + 8 * 20
    if not resume:
        # the first Start, one refused with INVALID_STATE after reconnecting, then a clean one
        assert len(starts) == 3 and bytes([OpCode.RESET]) in requests
        assert result.bytes_moved >= len(FIRMWARE) + packets * 20


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        [
            OpCode.START_DFU,
            OpCode.INITIALIZE_DFU,
            OpCode.PACKET_RECEIPT_REQUEST,
            OpCode.RECEIVE_FIRMWARE,
            OpCode.VALIDATE,
        ]
    )
)
async def test_link_lost_on_any_request_still_ends_with_the_image(opcode: int) -> None:
    target, _ = await _update_with(LegacyDfuFaults(disconnect_on_opcode=opcode))
    assert target.application == FIRMWARE


async def test_by_default_the_target_is_reset_and_restarted() -> None:
    target, result = await _update_with(LegacyDfuFaults(disconnect_after_packets=50), resume=False)
    assert target.application == FIRMWARE
    requests = [value for _, value in target.control_point_log]
    assert bytes([OpCode.REPORT_RECEIVED_SIZE]) not in requests
    assert len([r for r in requests if r[0] == OpCode.START_DFU]) >= 2
    assert result.bytes_moved >= len(FIRMWARE) + 50 * 20


async def test_a_lost_packet_is_caught_by_the_receipt_count() -> None:
    """A write-without-response lost on the way: the PRN count falls short; start clean."""
    target, _ = await _update_with(LegacyDfuFaults(drop_packets=frozenset({17})))
    assert target.application == FIRMWARE
    requests = [value for _, value in target.control_point_log]
    assert bytes([OpCode.RESET]) in requests
    assert len([r for r in requests if r[0] == OpCode.START_DFU]) == 2


async def test_target_that_reset_during_the_outage_is_restarted_cleanly(
    make_target: Callable[..., Any], make_session: SessionFactory
) -> None:
    """The 120 s timer expired while we were away: opcode 7 says 0, so Start again.

    The emulated timer (0.15 s) is far below the outage (0.6 s) and far above the gaps of a
    running transfer, even on a loaded machine.
    """
    target: Nrf5LegacyEmulator = await make_target(
        inactivity_timeout=0.15, faults=LegacyDfuFaults(disconnect_after_packets=40)
    )
    retry = RetryPolicy(attempts=4, initial_delay=0.6, max_delay=0.6)
    async with make_session(target.bootloader_address, retry=retry, resume=True) as session:
        result = await session.update(PACKAGE)
    assert target.application == FIRMWARE
    assert target.boots >= 2
    assert "resumed" not in result.details["part1"]


async def test_notifications_lost_with_the_cccd_reset_the_target(
    make_target: Callable[..., Any], radio: BleRadio
) -> None:
    """SDK 11's error handler: a Start response that cannot be notified resets the chip."""
    from bleak import BleakClient

    from aiodfu.nrf5_legacy import protocol

    target: Nrf5LegacyEmulator = await make_target()
    client = BleakClient(target.bootloader_address, backend=BumbleBleakClient, radio=radio)
    async with client:
        await client.start_notify(protocol.CONTROL_POINT_UUID, lambda *_: None)
        await client.write_gatt_char(
            protocol.CONTROL_POINT_UUID,
            protocol.start_dfu(protocol.ImageType.APPLICATION),
            response=True,
        )
        await client.stop_notify(protocol.CONTROL_POINT_UUID)
        boots = target.boots
        await client.write_gatt_char(
            protocol.PACKET_UUID, protocol.size_record(application=64), response=False
        )
        async with __import__("asyncio").timeout(2):
            while target.boots == boots:
                await __import__("asyncio").sleep(0.01)
    assert target.machine.received == 0


@pytest.mark.parametrize("prn", [1, 4, 10])
async def test_flow_control_on_a_modelled_link_never_overflows(
    radio: BleRadio, make_target: Callable[..., Any], prn: int
) -> None:
    from aiodfu.testing.ble import BleLinkModel

    target: Nrf5LegacyEmulator = await make_target(config=BootloaderConfig(flash_rate=20_000))
    model = BleLinkModel(connection_interval=0.0075, packets_per_event=6)
    session = Nrf5LegacySession(
        target.bootloader_address,
        prn=prn,
        window=2 * prn,
        timeouts=FAST,
        client_options={"backend": BumbleBleakClient, "radio": radio, "link_model": model},
    )
    firmware = random_firmware(1200, seed=22)
    async with session:
        await session.update(Package.from_images(application=firmware))
    assert target.application == firmware
    assert target.pool_overflows == 0


@pytest.mark.parametrize("drop_at", [1, 2, 3, 4, 5, 6])
async def test_link_lost_during_service_discovery_is_a_link_loss(
    radio: BleRadio, make_target: Callable[..., Any], make_session: SessionFactory, drop_at: int
) -> None:
    """Bumble cancels the pending discovery request: the session retries, no bare cancel."""
    target: Nrf5LegacyEmulator = await make_target()
    radio.peripherals[target.bootloader_address].drop_at_request = drop_at
    firmware = random_firmware(600, seed=23)
    async with make_session(target.bootloader_address) as session:
        await session.update(Package.from_images(application=firmware))
    assert target.application == firmware
    assert radio.peripherals[target.bootloader_address].att_requests > drop_at


@pytest.mark.parametrize("peer_data", [False, True])
async def test_after_its_own_reset_the_session_goes_back_through_the_application(
    make_target: Callable[..., Any], make_session: SessionFactory, peer_data: bool
) -> None:
    """A lost packet makes the session Reset the target, which then boots its (valid) app:
    the session must enter the bootloader again (buttonless), not dial the old address."""
    old = random_firmware(800, seed=24)
    target: Nrf5LegacyEmulator = await make_target(
        mode="application",
        application=old,
        peer_data=peer_data,
        faults=LegacyDfuFaults(drop_packets=frozenset({17})),
    )
    async with make_session(target.address) as session:
        await session.update(PACKAGE)
    assert target.application == FIRMWARE
    jumps = [value for mode, value in target.control_point_log if mode is Mode.APPLICATION]
    assert len(jumps) == 2  # the first entry, and again after the session's own Reset
    assert (Mode.BOOTLOADER, bytes([OpCode.RESET])) in target.control_point_log


async def test_an_interrupted_session_on_a_target_with_an_app_is_reset_and_entered_again(
    make_target: Callable[..., Any], make_session: SessionFactory
) -> None:
    """A session left the bootloader (at address + 1) holding its state; the caller names the
    application: the device is found at address + 1, Start answers INVALID_STATE, and after
    the Reset the application boots -- so it is jumped to the bootloader again."""
    target: Nrf5LegacyEmulator = await make_target(
        application=random_firmware(800, seed=25), mode="application"
    )
    await target.enter_bootloader()
    target.machine.state = target.machine.state.RX_DATA  # a leftover of someone else's session
    async with make_session(target.address) as session:
        await session.update(PACKAGE)
    assert target.application == FIRMWARE
    assert (Mode.BOOTLOADER, bytes([OpCode.RESET])) in target.control_point_log
    assert (Mode.APPLICATION, bytes([OpCode.START_DFU, 4])) in target.control_point_log


@pytest.mark.parametrize("mode", ["bootloader", "application"])
@pytest.mark.parametrize("peer_data", [False, True])
async def test_activate_lost_with_the_link_is_finished_never_taken_for_success(
    make_target: Callable[..., Any], make_session: SessionFactory, mode: str, peer_data: bool
) -> None:
    """The link drops as 05 is written: the target still waits (WAIT_ACTIVATE). The session
    must see it, Validate and Activate again -- the update ends with the new image running."""
    target: Nrf5LegacyEmulator = await make_target(
        mode=mode,
        application=random_firmware(800, seed=26) if mode == "application" else None,
        peer_data=peer_data,
        faults=LegacyDfuFaults(disconnect_on_opcode=OpCode.ACTIVATE_AND_RESET),
    )
    async with make_session(target.address) as session:
        result = await session.update(PACKAGE)
    assert target.application == FIRMWARE
    assert target.mode is Mode.APPLICATION
    requests = [value for _, value in target.control_point_log]  # the lost 05 is not logged
    assert requests.count(bytes([OpCode.ACTIVATE_AND_RESET])) == 1
    assert requests.count(bytes([OpCode.VALIDATE])) == 2  # Validate again, then Activate again
    assert bytes([OpCode.REPORT_RECEIVED_SIZE]) in requests  # it asked what the target holds
    assert "activated: the application" in result.details["part1"]
    assert result.verification.method is VerificationMethod.DEVICE_CRC


async def test_a_target_that_never_activates_is_a_typed_error(
    make_target: Callable[..., Any], make_session: SessionFactory
) -> None:
    target: Nrf5LegacyEmulator = await make_target(
        faults=LegacyDfuFaults(
            disconnect_on_opcode=OpCode.ACTIVATE_AND_RESET, disconnect_on_opcode_times=100
        )
    )
    async with make_session(target.bootloader_address) as session:
        with pytest.raises(ActivationError) as info:
            await session.update(PACKAGE)
    assert info.value.operation == "Activate and reset"
    assert target.application is None
    # released: the unfinished DFU was reset, so the target is in fresh DFU mode
    assert target.machine.state is State.IDLE


ACTIVATE = OnCommand(1, "ACTIVATE_AND_RESET")


async def test_a_bootloader_busy_past_the_window_is_confirmed_by_the_application(
    make_target: Callable[..., Any], make_session: SessionFactory
) -> None:
    """The bootloader goes silent at 05 for longer than ``activation`` (a slow dual-bank copy,
    a hang), then activates: with the application's address known, only its return counts."""
    target: Nrf5LegacyEmulator = await make_target(
        application=random_firmware(800, seed=28),
        mode="application",
        faults=LegacyDfuFaults(plan=[DeviceFault(ACTIVATE, Silence(1.5))]),  # > activation=1.0
    )
    async with make_session(target.address) as session:
        result = await session.update(PACKAGE)
    assert target.faults.fired  # it did hang
    assert target.application == FIRMWARE and target.mode is Mode.APPLICATION
    assert "activated: the application advertises" in result.details["part1"]


async def test_a_bootloader_hung_at_activation_is_a_typed_error_never_a_success(
    make_target: Callable[..., Any], make_session: SessionFactory
) -> None:
    """Silent for good after 05: the application never comes back, so no success."""
    target: Nrf5LegacyEmulator = await make_target(
        application=random_firmware(800, seed=29),
        mode="application",
        faults=LegacyDfuFaults(plan=[DeviceFault(ACTIVATE, Silence())]),
    )
    async with make_session(target.address) as session:
        with pytest.raises(ActivationError) as info:
            await session.update(PACKAGE)
    assert "confirm" in str(info.value)  # the application never came back, or a mute bootloader
    assert target.mode is Mode.BOOTLOADER  # the image is not running: the error was right
    target.faults = LegacyDfuFaults()  # the chip comes to (the stalled 05 goes on)
    async with make_session(target.address) as session:
        await session.update(PACKAGE)
    assert target.application == FIRMWARE and target.mode is Mode.APPLICATION


async def test_a_softdevice_part_confirmed_by_a_fresh_bootloader(
    make_target: Callable[..., Any], make_session: SessionFactory
) -> None:
    """After a SoftDevice update the target stays in DFU mode: with fresh state, not waiting."""
    target: Nrf5LegacyEmulator = await make_target(
        faults=LegacyDfuFaults(disconnect_on_opcode=OpCode.ACTIVATE_AND_RESET)
    )
    softdevice = random_firmware(1200, seed=27)
    async with make_session(target.bootloader_address) as session:
        result = await session.update(Package.from_images(softdevice=softdevice))
    assert target.softdevice == softdevice
    assert "restarted" in result.details["part1"]
