"""The board's own faults (the shared vocabulary), and the false successes they showed.

Every case ends with the application sent running, byte for byte, or a typed
error -- and then a fresh session on the healed board (a UART board reset as
DTR does) installs it. The matrix in ``tests/testing/test_device_faults.py``
runs every kind against the native-USB board; here are the UART board, every
status code at every packet, and the cases the host once got wrong.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiodfu.core.errors import DfuError
from aiodfu.nrf5_legacy import ActivationUnconfirmedError, open_serial
from aiodfu.testing import (
    AdafruitSerialFaults,
    AtOffset,
    DeviceFault,
    ErrorReply,
    Latency,
    OnCommand,
    Reboot,
    Silence,
    Unsolicited,
)
from aiodfu.testing.nrf5_legacy_serial import AdafruitBoard, AdafruitSerialEmulator
from aiodfu.testing.nrf5_legacy_serial_faults import ADAFRUIT_SERIAL_VOCABULARY, STATUS_CODES

from .conftest import BOARDS, NEW_APP, UART, USB, app_package, session_for

MakeBoard = Callable[..., AdafruitSerialEmulator]
COMMANDS = [name for name, _ in ADAFRUIT_SERIAL_VOCABULARY.commands]


async def _update_then_fresh(
    emulator: AdafruitSerialEmulator, **options: object
) -> tuple[str, list[str]]:
    """One session with the fault; on a typed error, heal and update again. How it ended, and
    what fired."""
    faults = emulator.faults
    try:
        async with session_for(emulator, **options) as session:
            result = await session.update(app_package())
    except DfuError as exc:
        ended = type(exc).__name__
        emulator.faults = AdafruitSerialFaults()
        if not emulator.board.native_usb:
            emulator.reset()  # DTR, as a UART board's host resets it
        async with session_for(emulator) as fresh:
            await fresh.update(app_package())
    else:
        assert result.verification.verified
        ended = "verified"
    assert emulator.running == "application"
    assert emulator.application == NEW_APP
    return ended, [str(fired) for fired in faults.fired]


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("code", [None, *STATUS_CODES])
async def test_every_status_code_at_every_packet(
    make_board: MakeBoard, board: AdafruitBoard, command: str, code: str | None
) -> None:
    number = 3 if command == "RECEIVE_FIRMWARE_IMAGE" else 1
    fault = DeviceFault(OnCommand(number, command), ErrorReply(code))
    emulator = make_board(board, in_bootloader=True, faults=AdafruitSerialFaults(plan=[fault]))
    _, fired = await _update_then_fresh(emulator)
    assert fired and fired[0].startswith(f"error at {command}"), fired


@pytest.mark.parametrize(
    "fault",
    [
        DeviceFault(OnCommand(1, "VALIDATE"), Reboot()),
        DeviceFault(OnCommand(1, "ACTIVATE_N_RESET"), Reboot()),
        DeviceFault(OnCommand(1, "ACTIVATE_N_RESET"), ErrorReply("OPERATION_FAILED")),
        DeviceFault(AtOffset(10_000), ErrorReply("DATA_SIZE_EXCEEDS_LIMIT")),
        DeviceFault(OnCommand(1, "VALIDATE"), Latency(0.5)),
        DeviceFault(OnCommand(5, "RECEIVE_FIRMWARE_IMAGE"), Latency(0.3, answers=None)),
        DeviceFault(AtOffset(10_000), Silence(0.5)),
        DeviceFault(OnCommand(2, "RECEIVE_FIRMWARE_IMAGE"), Unsolicited(b"\xc0", mid_line=True)),
    ],
    ids=str,
)
@pytest.mark.parametrize("board", BOARDS)
async def test_no_success_unless_the_application_runs(
    make_board: MakeBoard, board: AdafruitBoard, fault: DeviceFault
) -> None:
    """A reset before activation once passed for the bootloader leaving (the port went away
    or a fresh sequence number), and a slow bootloader's silence for activation."""
    emulator = make_board(board, in_bootloader=True, faults=AdafruitSerialFaults(plan=[fault]))
    _, fired = await _update_then_fresh(emulator, reenumerates=board.native_usb)
    assert fired and fired[0].startswith(fault.kind), fired


async def test_a_native_usb_bootloader_silent_after_the_stop_packet_is_no_success(
    make_board: MakeBoard,
) -> None:
    """A native-USB bootloader that activates re-enumerates; one that hangs stays silent on a
    port that stays: that is a typed error, not a success."""
    hang = DeviceFault(OnCommand(1, "VALIDATE"), Silence())
    emulator = make_board(USB, in_bootloader=True, faults=AdafruitSerialFaults(plan=[hang]))
    with pytest.raises(ActivationUnconfirmedError):
        async with session_for(emulator, reenumerates=True) as session:
            await session.update(app_package())
    assert emulator.running == "bootloader"
    emulator.faults = AdafruitSerialFaults()
    async with session_for(emulator, reenumerates=True) as fresh:
        await fresh.update(app_package())
    assert emulator.application == NEW_APP


async def test_a_hung_uart_bootloader_still_acknowledges(make_board: MakeBoard) -> None:
    """On a UART the interrupt acknowledges while the main loop hangs: the session sees an
    image not activated, never a silence it could take for activation."""
    hang = DeviceFault(OnCommand(1, "VALIDATE"), Silence())
    emulator = make_board(UART, in_bootloader=True, faults=AdafruitSerialFaults(plan=[hang]))
    ended, fired = await _update_then_fresh(emulator)
    assert ended != "verified" and fired == ["silence at VALIDATE command 1 (VALIDATE): silence"]


def test_open_serial_expects_a_native_usb_port_to_go_away() -> None:
    assert open_serial("/dev/ttyACM0").reenumerates
    assert not open_serial("/dev/ttyACM0", native_usb=False).reenumerates
    assert not open_serial("/dev/pts/3", native_usb=True).reenumerates  # a pty never goes away
    assert not open_serial("/dev/ttyUSB0").reenumerates


async def test_a_fault_the_board_cannot_do_is_refused(make_board: MakeBoard) -> None:
    fault = DeviceFault(AtOffset(100), ErrorReply("CRC_ERROR"))  # no CRC check per packet
    emulator = make_board(USB, faults=AdafruitSerialFaults(plan=[fault]))
    with pytest.raises(ValueError, match="at an offset"):
        emulator.connect()
