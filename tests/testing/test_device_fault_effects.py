"""What each device fault does on the wire, per emulator, byte for byte, and what it records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aiodfu.drogue.protocol.messages import Swap, Sync, Write
from aiodfu.rainmaker.protocol import err_code
from aiodfu.testing import (
    AfterSeconds,
    AtOffset,
    DeviceFault,
    DrogueEmulator,
    DrogueFaults,
    ErrorReply,
    Latency,
    OnCommand,
    RainMakerEmulator,
    RainMakerFaults,
    Reboot,
    SerialModemEmulator,
    SerialModemFaults,
    Silence,
    Unsolicited,
)
from aiodfu.testing.drogue import BootMagic
from aiodfu.testing.rainmaker.commands import range_start

from .test_serial_modem_emulator import DATAMODE, ERROR, OK, READY, Host

CEREG = b"\r\n+CEREG: 5\r\n"


@pytest.fixture
async def modem(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SerialModemEmulator, Host]]:
    plan = request.param if hasattr(request, "param") else []
    async with SerialModemEmulator(faults=SerialModemFaults(plan=plan), reboot_time=0.01) as device:
        yield device, Host(device.connect())
    assert not device.failures


def planned(*faults: DeviceFault) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("modem", [list(faults)], indirect=True)


# --- Serial Modem --------------------------------------------------------------------------------


@planned(DeviceFault(OnCommand(2, "AT#XDFUINIT"), ErrorReply("ERROR")))
async def test_serial_modem_error_at_the_kth_matching_command(modem) -> None:  # type: ignore[no-untyped-def]
    device, host = modem
    await host.command(b"AT#XDFUINIT=0,10", OK)
    await host.command(b"AT", OK)  # not counted: another prefix
    await host.command(b"AT#XDFUINIT=0,10", ERROR)
    await host.command(b"AT#XDFUINIT=0,10", OK)  # spent
    assert [str(f) for f in device.faults.fired] == [
        "error at AT#XDFUINIT command 2 (AT#XDFUINIT=0,10): error 'ERROR'"
    ]


@planned(
    DeviceFault(OnCommand(1, "AT#XDFUWRITE"), ErrorReply(-1)),
    DeviceFault(OnCommand(1, "AT#XDFUAPPLY"), ErrorReply(-1)),
)
async def test_serial_modem_xdfu_failures_at_write_and_apply(modem) -> None:  # type: ignore[no-untyped-def]
    device, host = modem
    await host.command(b"AT#XDFUINIT=0,100", OK)
    await host.write_chunk(0, 0, b"0123456789", status=-1)  # half of it stored
    assert device.received[0] == b"01234"
    await host.command(b"AT#XDFUAPPLY=0", OK + b"#XDFU: 0,2,-1\r\n")
    assert device.applied == {}
    await host.command(b"AT#XDFUAPPLY=0", OK + b"#XDFU: 0,2,0\r\n")


@planned(
    DeviceFault(AtOffset(4), ErrorReply()),
    DeviceFault(AtOffset(2), Unsolicited(CEREG)),
)
async def test_serial_modem_faults_at_an_offset_land_in_data_mode(modem) -> None:  # type: ignore[no-untyped-def]
    device, host = modem
    await host.command(b"AT#XDFUINIT=0,100", OK)
    await host.command(b"AT#XDFUWRITE=0,0,8", OK)
    await host.send(b"abcdefgh")
    # The line comes out while the chunk's bytes are still arriving; the chunk fails at byte 4.
    await host.expect(CEREG + b"#XDFU: 0,1,-1\r\n" + DATAMODE)
    assert device.received[0] == b"abcd"
    assert [f.kind for f in device.faults.fired] == ["unsolicited", "error"]


@planned(DeviceFault(OnCommand(1, "AT#XDFUINIT"), Reboot()))
async def test_serial_modem_reboot_at_a_command(modem) -> None:  # type: ignore[no-untyped-def]
    device, host = modem
    await host.send(b"AT#XDFUINIT=0,10\r")
    await host.expect(READY)  # no answer: the banner
    assert device.boots == 1


@planned(DeviceFault(OnCommand(1, "AT"), Unsolicited(CEREG, mid_line=True)))
async def test_serial_modem_unsolicited_mid_line(modem) -> None:  # type: ignore[no-untyped-def]
    _, host = modem
    await host.command(b"AT", b"\r\nO" + CEREG + b"K\r\n")


@planned(DeviceFault(OnCommand(1, "AT"), Silence(0.2)))
async def test_serial_modem_a_stall_loses_input_then_the_device_goes_on(modem) -> None:  # type: ignore[no-untyped-def]
    device, host = modem
    await host.send(b"AT\r")
    await asyncio.sleep(0.05)
    await host.send(b"AT#XDFUINIT=0,10\r")  # lost: the device is stalled
    await host.expect(OK, timeout=2)  # the stalled command's answer, after the stall
    await host.expect_silence(0.1)
    assert device.commands == ["AT"]


@planned(DeviceFault(AfterSeconds(0.05), Reboot()))
async def test_serial_modem_reboot_after_seconds(modem) -> None:  # type: ignore[no-untyped-def]
    device, host = modem
    await host.expect(READY, timeout=2)
    assert device.faults.fired[0].where == "0.05 s"


async def test_latency_delays_the_answers_it_covers() -> None:
    plan = [DeviceFault(OnCommand(2), Latency(0.3, answers=2))]
    async with SerialModemEmulator(faults=SerialModemFaults(plan=plan)) as device:
        host = Host(device.connect())
        await host.command(b"AT", OK)
        await host.send(b"AT\r")
        await host.expect_silence(0.15)  # the 2nd answer is late
        await host.expect(OK)
        await host.send(b"AT\r")
        await host.expect_silence(0.15)  # and so is the 3rd
        await host.expect(OK)
        await host.command(b"AT", OK)


# --- RainMaker -----------------------------------------------------------------------------------


async def test_rainmaker_error_codes_at_a_command() -> None:
    code = err_code(0x07)
    plan = [DeviceFault(OnCommand(1, "AT+RMOTAFETCH"), ErrorReply(code.value))]
    async with RainMakerEmulator(echo=False, faults=RainMakerFaults(plan=plan)) as module:
        host = Host(module.connect())
        await host.send(b"AT+SYSLOG=1\r\n")
        await host.expect(OK)
        await host.send(b"AT+RMOTAFETCH\r\n")
        await host.expect(f"ERR CODE:{code}\r\n".encode() + ERROR)
        assert module.faults.fired[0].kind == "error"


async def test_rainmaker_reboot_and_unsolicited_lines() -> None:
    plan = [
        DeviceFault(OnCommand(1, "AT+SYSLOG"), Unsolicited(b"WIFI DISCONNECT\r\n")),
        DeviceFault(OnCommand(1, "AT+RMOTAFETCH"), Reboot()),
    ]
    async with RainMakerEmulator(echo=False, faults=RainMakerFaults(plan=plan)) as module:
        host = Host(module.connect())
        await host.send(b"AT+SYSLOG=1\r\n")
        await host.expect(b"WIFI DISCONNECT\r\n" + OK)
        await host.send(b"AT+RMOTAFETCH\r\n")
        await host.expect(b"ready\r\n")
        assert module.resets == 1 and not module.syslog  # RAM state lost


def test_rainmaker_offsets_count_from_the_range_asked() -> None:
    assert range_start(["Accept: */*", "Range: bytes=4096-"]) == 4096
    assert range_start(["range:bytes=7-9"]) == 7
    assert range_start([]) == 0


# --- Drogue --------------------------------------------------------------------------------------


def drogue(*faults: DeviceFault) -> DrogueEmulator:
    return DrogueEmulator(backoff_ms=0, faults=DrogueFaults(plan=list(faults)))


async def test_drogue_flash_error_at_an_offset_and_at_a_command() -> None:
    device = drogue(
        DeviceFault(AtOffset(700), ErrorReply("WrongOffset")),
        DeviceFault(OnCommand(1, "Swap"), ErrorReply()),
    )
    assert await device._take(Write(b"0.2.0", None, 0, bytes(512))) == 0.0
    await device._take(Write(b"0.2.0", None, 512, bytes(512)))  # covers offset 700: not stored
    assert device.next_offset == 512 and device.errors[-1].startswith("WrongOffset")
    await device._take(Swap(b"0.2.0", None, b""))
    assert device.boot_state is not BootMagic.SWAP  # mark_updated failed: no swap, no reset
    assert [f.kind for f in device.faults.fired] == ["error", "error"]


async def test_drogue_a_failed_sync_leaves_the_firmware_unconfirmed() -> None:
    device = drogue(DeviceFault(OnCommand(1, "Sync"), ErrorReply()))
    device.bootloader.mark_updated()
    device.reset()
    await device._take(Sync(b"0.1.0", None, None))
    assert device.boot_state is BootMagic.SWAP  # the next reset reverts: no host can tell


async def test_drogue_reboot_at_a_command_is_a_reset() -> None:
    device = drogue(DeviceFault(OnCommand(1, "Write"), Reboot()))
    await device._take(Write(b"0.2.0", None, 0, bytes(512)))
    assert device.next_version is None and len(device.boots) == 1


async def test_drogue_extra_bytes_is_the_old_name_of_unsolicited() -> None:
    faults = DrogueFaults()
    faults.extra_bytes = b"\x07"
    assert faults.unsolicited == [b"\x07"] and faults.extra_bytes == b"\x07"
    faults.extra_bytes = b""
    assert faults.unsolicited == []
