"""The Serial Modem emulator against the byte-level reference (protocols/serial-modem-at-dfu.md).

Every test drives the device with raw bytes, as a host would, and compares
what comes back byte for byte.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import serial

from aiodfu.testing.images import (
    build_full_modem_package,
    build_mcuboot_image,
    random_firmware,
)
from aiodfu.testing.pty import serve_pty
from aiodfu.testing.serial_modem import (
    FirmwareGeneration,
    SerialModemEmulator,
    SerialModemFaults,
    UrcOrder,
)
from aiodfu.testing.serial_modem.at import AtLineReader, parse_command
from aiodfu.testing.serial_modem.signing import (
    build_signed_modem_bootloader,
    build_signed_modem_delta,
)
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
DATAMODE = b"\r\n#XDATAMODE: 0\r\n"
READY = b"Ready\r\n"
BOOTLOADER_READY = b"Bootloader mode ready\r\n"


class Host:
    """A raw-bytes host: send bytes, expect exact bytes, expect silence."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def send(self, data: bytes) -> None:
        await self.stream.write(data)

    async def expect(self, expected: bytes, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.buffer) < len(expected):
                self.buffer += await self.stream.read()
        got = bytes(self.buffer[: len(expected)])
        del self.buffer[: len(expected)]
        assert got == expected

    async def expect_silence(self, seconds: float = 0.05) -> None:
        try:
            async with asyncio.timeout(seconds):
                self.buffer += await self.stream.read()
        except TimeoutError:
            pass
        assert bytes(self.buffer) == b""

    async def command(self, line: bytes, response: bytes) -> None:
        await self.send(line + b"\r")
        await self.expect(response)

    async def write_chunk(self, dfu_type: int, addr: int, data: bytes, status: int = 0) -> None:
        await self.command(b"AT#XDFUWRITE=%d,%d,%d" % (dfu_type, addr, len(data)), OK)
        await self.send(data)
        await self.expect(b"#XDFU: %d,1,%d\r\n" % (dfu_type, status) + DATAMODE)


@pytest.fixture
async def device() -> AsyncIterator[SerialModemEmulator]:
    emulator = SerialModemEmulator(reboot_time=0.01)
    async with emulator:
        yield emulator
    assert emulator.failures == []


@pytest.fixture
async def host(device: SerialModemEmulator) -> Host:
    return Host(device.connect())


# --- line discipline and framing -----------------------------------------------------------------


async def test_at_answers_ok_with_exact_framing(host: Host) -> None:
    await host.command(b"AT", OK)
    await host.command(b"at", OK)
    await host.expect_silence()


async def test_garbage_before_at_is_dropped(host: Host, device: SerialModemEmulator) -> None:
    await host.send(b"\n\x00\xff junk")
    await host.expect_silence()
    await host.command(b"\x00\xffxyzAT", OK)
    await host.send(b"AAT\r")  # the second 'A' resets the match and is dropped with it
    await host.expect_silence()
    assert device.commands == ["AT"]


async def test_invalid_grammar_and_unknown_commands_answer_error(host: Host) -> None:
    await host.command(b"ATX", ERROR)
    await host.command(b"AT+NOPE", ERROR)
    await host.command(b"AT#XDFUINIT?", ERROR)  # read forms are not supported


async def test_line_cap_of_8192_bytes(host: Host) -> None:
    longest = b"AT#XFOTA=7," + b"0" * (8189 - 11)  # 8189 characters still fit
    await host.command(longest, b"\r\n#XFOTA: 2097152,0\r\n" + OK)
    await host.send(b"AT+X=" + b"1" * (8190 - 5))
    await host.expect_silence()
    await host.send(b"1")  # the byte that overflows the buffer is answered at once
    await host.expect(ERROR)
    await host.send(b"111\r")  # the rest of the line is garbage now
    await host.expect_silence()
    await host.command(b"AT", OK)


async def test_echo_on_and_off(host: Host) -> None:
    await host.command(b"ATE1", OK)  # echo was still off while ATE1 arrived
    await host.command(b"zAT", b"zAT\r" + OK)
    await host.command(b"AT#XDFUINIT=0,4", b"AT#XDFUINIT=0,4\r" + OK)
    await host.send(b"AT#XDFUWRITE=0,0,4\r")
    await host.expect(b"AT#XDFUWRITE=0,0,4\r" + OK)
    await host.send(b"ATAT")  # data-mode bytes are never echoed
    await host.expect(b"#XDFU: 0,1,0\r\n" + DATAMODE)
    await host.command(b"ATE0", b"ATE0\r" + OK)
    await host.command(b"AT", OK)


@pytest.mark.parametrize(
    ("terminator", "good", "bad"),
    [(b"\n", b"AT\n", b"AT\r"), (b"\r\n", b"AT\r\n", b"AT\r")],
)
async def test_terminator_variants(terminator: bytes, good: bytes, bad: bytes) -> None:
    async with SerialModemEmulator(terminator=terminator) as emulator:
        host = Host(emulator.connect())
        await host.send(good)
        await host.expect(OK)
        await host.send(bad)
        await host.expect_silence()
        assert emulator.failures == []


def test_line_reader_honours_quotes_and_backspace() -> None:
    reader = AtLineReader(b"\r")
    assert reader.feed(b'AT+X="a\rb"\r') == (11, b'AT+X="a\rb"', False)
    assert reader.feed(b"ATX\x08\r") == (5, b"AT", False)
    command = parse_command('AT#XDFUWRITE=0, 4096 ,"a,b"')
    assert command is not None
    assert command.params == ("0", "4096", '"a,b"')


# --- test commands -------------------------------------------------------------------------------


async def test_test_commands_list_the_supported_types(host: Host) -> None:
    await host.command(b"AT#XDFUINIT=?", b"\r\n#XDFUINIT: (0,1,2,3),<size>\r\n" + OK)
    await host.command(b"AT#XDFUWRITE=?", b"\r\n#XDFUWRITE: (0,1,2,3),<addr>,<len>\r\n" + OK)
    await host.command(b"AT#XDFUAPPLY=?", b"\r\n#XDFUAPPLY: (0,1,2,3)\r\n" + OK)


async def test_a_smaller_build_lists_and_accepts_fewer_types() -> None:
    async with SerialModemEmulator(supported_types=(0, 1)) as emulator:
        host = Host(emulator.connect())
        await host.command(b"AT#XDFUINIT=?", b"\r\n#XDFUINIT: (0,1),<size>\r\n" + OK)
        await host.command(b"AT#XDFUINIT=2", ERROR)
        await host.command(b"AT#XDFUINIT=3,100", ERROR)
        await host.command(b"AT#XDFUAPPLY=3", ERROR)
        await host.command(b"AT#XBOOTINFO=1", ERROR)


# --- data mode -----------------------------------------------------------------------------------


async def test_crlf_after_write_makes_lf_the_first_firmware_byte(
    host: Host, device: SerialModemEmulator
) -> None:
    await host.command(b"AT#XDFUINIT=0,4", OK)
    await host.send(b"AT#XDFUWRITE=0,0,4\r\n")
    await host.expect(OK)
    await host.send(b"abc")
    await host.expect(b"#XDFU: 0,1,0\r\n" + DATAMODE)
    assert device.received[0] == b"\nabc"


async def test_plus_plus_plus_is_data_and_there_is_no_idle_exit(
    host: Host, device: SerialModemEmulator
) -> None:
    await host.command(b"AT#XDFUINIT=0,8", OK)
    await host.command(b"AT#XDFUWRITE=0,0,8", OK)
    await host.send(b"+++")
    await host.expect_silence(0.15)
    await host.send(b"AT\r")  # consumed as firmware, not executed
    await host.expect_silence()
    await host.send(b"xy")
    await host.expect(b"#XDFU: 0,1,0\r\n" + DATAMODE)
    assert device.received[0] == b"+++AT\rxy"
    assert device.commands == ["AT#XDFUINIT=0,8", "AT#XDFUWRITE=0,0,8"]


async def test_command_and_data_in_one_write(host: Host, device: SerialModemEmulator) -> None:
    await host.send(b"AT#XDFUINIT=0,5\rAT#XDFUWRITE=0,0,5\rhello")
    await host.expect(OK + OK + b"#XDFU: 0,1,0\r\n" + DATAMODE)
    assert device.received[0] == b"hello"


async def test_datamode_first_order_and_legacy_format() -> None:
    emulator = SerialModemEmulator(urc_order=UrcOrder.DATAMODE_FIRST, legacy_urc_format=True)
    async with emulator:
        host = Host(emulator.connect())
        await host.command(b"AT#XDFUINIT=0,3", OK)
        await host.command(b"AT#XDFUWRITE=0,0,3", OK)
        await host.send(b"abc")
        await host.expect(DATAMODE + b"#XDFU:0,1,0\r\n")
        await host.command(b"AT#XDFUAPPLY=0", OK + b"#XDFU:0,2,0\r\n")


async def test_addr_is_ignored_so_a_retried_chunk_is_appended_twice(
    host: Host, device: SerialModemEmulator
) -> None:
    await host.command(b"AT#XDFUINIT=0,8", OK)
    await host.write_chunk(0, 0, b"abcd")
    await host.write_chunk(0, 0, b"abcd")  # a blind retry
    await host.write_chunk(0, 999, b"ef")
    assert device.received[0] == b"abcdabcdef"


async def test_chunks_larger_than_the_datamode_buffer() -> None:
    firmware = random_firmware(10_000, seed=3)
    async with SerialModemEmulator(datamode_buffer=1024) as emulator:
        host = Host(emulator.connect())
        await host.command(b"AT#XDFUINIT=0,10000", OK)
        await host.write_chunk(0, 0, firmware)
        assert emulator.received[0] == firmware


async def test_write_without_init_fails_in_the_target(host: Host) -> None:
    await host.write_chunk(0, 0, b"abc", status=-1)
    await host.command(b"AT#XDFUAPPLY=0", OK + b"#XDFU: 0,2,-1\r\n")


async def test_write_parameter_errors_do_not_enter_data_mode(host: Host) -> None:
    await host.command(b"AT#XDFUWRITE=0,0", ERROR)
    await host.command(b"AT#XDFUWRITE=0,0,4,5", ERROR)
    await host.command(b"AT#XDFUWRITE=0,0,0", ERROR)
    await host.command(b"AT#XDFUWRITE=0,x,4", ERROR)
    await host.command(b"AT#XDFUWRITE=7,0,4", ERROR)
    await host.command(b"AT", OK)


# --- INIT ----------------------------------------------------------------------------------------


async def test_init_restarts_the_mcuboot_image_from_byte_zero(
    host: Host, device: SerialModemEmulator
) -> None:
    await host.command(b"AT#XDFUINIT=0,8", OK)
    await host.write_chunk(0, 0, b"old!")
    await host.command(b"AT#XDFUINIT=0,8", OK)
    assert device.received[0] == b""
    await host.write_chunk(0, 0, b"new!")
    assert device.received[0] == b"new!"


async def test_init_size_checks() -> None:
    async with SerialModemEmulator(slot_size=1024, delta_area_size=2048) as emulator:
        host = Host(emulator.connect())
        await host.command(b"AT#XDFUINIT=0,1025", ERROR)
        await host.command(b"AT#XDFUINIT=3,1025", ERROR)
        await host.command(b"AT#XDFUINIT=0", ERROR)  # <size> is required
        await host.command(b"AT#XDFUINIT=1", ERROR)
        await host.command(b"AT#XDFUINIT=1,2049", ERROR)
        await host.command(b"AT#XDFUINIT=0,1024", OK)
        await host.command(b"AT#XDFUINIT=1,2048", OK)


# --- faults --------------------------------------------------------------------------------------


async def test_fail_chunks_append_half_and_report_failure(
    host: Host, device: SerialModemEmulator
) -> None:
    device.faults.fail_chunks = {1}
    await host.command(b"AT#XDFUINIT=0,100", OK)
    await host.write_chunk(0, 0, b"0123456789")
    await host.write_chunk(0, 10, b"abcdefghij", status=-1)
    await host.write_chunk(0, 10, b"abcdefghij")  # the retry the reference host would do
    assert device.received[0] == b"0123456789abcdeabcdefghij"
    assert device.faults.fail_chunks == set()


async def test_reject_commands_counts_down(host: Host, device: SerialModemEmulator) -> None:
    device.faults.reject_commands = {"at#xdfuinit": 2}
    await host.command(b"AT#XDFUINIT=0,10", ERROR)
    await host.command(b"AT#XDFUINIT=0,10", ERROR)
    await host.command(b"AT#XDFUINIT=0,10", OK)
    assert device.faults.reject_commands == {}


async def test_reboot_after_data_bytes_loses_the_ram_state(
    host: Host, device: SerialModemEmulator
) -> None:
    device.faults.reboot_after_data_bytes = 6
    await host.command(b"AT#XDFUINIT=0,100", OK)
    await host.write_chunk(0, 0, b"abcd")
    await host.command(b"AT#XDFUWRITE=0,4,10", OK)
    await host.send(b"0123456789")
    await host.expect(READY)
    await host.expect_silence()
    assert device.boots == 1
    assert device.faults.reboot_after_data_bytes is None
    assert device.received[0] == b""  # the in-progress image is gone
    await host.write_chunk(0, 4, b"abcd", status=-1)  # the target is closed after the reboot


async def test_unsolicited_lines_come_one_per_idle_moment(
    host: Host, device: SerialModemEmulator
) -> None:
    device.faults.unsolicited = [b"\r\n+CEREG: 5\r\n", b"\r\n#XMODEM: 1\r\n", b"\r\n+CEREG: 1\r\n"]
    await host.command(b"AT", OK + b"\r\n+CEREG: 5\r\n")
    await host.command(b"AT#XDFUINIT=0,2", OK + b"\r\n#XMODEM: 1\r\n")
    await host.command(b"AT#XDFUWRITE=0,0,2", OK)  # data mode is not an idle moment
    await host.send(b"ab")
    await host.expect(b"#XDFU: 0,1,0\r\n" + DATAMODE + b"\r\n+CEREG: 1\r\n")
    await host.command(b"AT", OK)


async def test_ok_delay_keeps_data_mode_active(host: Host, device: SerialModemEmulator) -> None:
    device.faults.ok_delay = 0.2
    await host.command(b"AT#XDFUINIT=0,30", OK)
    started_at = time.monotonic()
    await host.send(b"AT#XDFUWRITE=0,0,20\r")
    await host.expect(OK)
    assert time.monotonic() - started_at >= 0.19
    # A host that gave up waiting and resent the command fed it to the image instead.
    await host.send(b"AT#XDFUWRITE=0,0,20\r")
    await host.expect(b"#XDFU: 0,1,0\r\n" + DATAMODE)
    assert device.received[0] == b"AT#XDFUWRITE=0,0,20\r"


async def test_command_latency_delays_every_response() -> None:
    async with SerialModemEmulator(command_latency=0.1) as emulator:
        host = Host(emulator.connect())
        started_at = time.monotonic()
        await host.command(b"AT", OK)
        await host.command(b"AT", OK)
        assert time.monotonic() - started_at >= 0.19


async def test_fail_apply(host: Host, device: SerialModemEmulator) -> None:
    device.faults.fail_apply = True
    await host.command(b"AT#XDFUINIT=0,3", OK)
    await host.write_chunk(0, 0, b"abc")
    await host.command(b"AT#XDFUAPPLY=0", OK + b"#XDFU: 0,2,-1\r\n")
    assert device.applied == {}
    device.faults.fail_apply = False
    await host.command(b"AT#XDFUAPPLY=0", OK + b"#XDFU: 0,2,0\r\n")
    assert device.applied == {0: b"abc"}


async def test_silent_device_consumes_but_never_answers(
    host: Host, device: SerialModemEmulator
) -> None:
    device.faults.silent = True
    await host.send(b"AT\r")
    await host.expect_silence(0.1)
    device.faults.silent = False
    await host.command(b"AT", OK)
    assert device.commands == ["AT"]


# --- application and MCUboot bootloader ----------------------------------------------------------


async def test_app_update_is_activated_by_reset() -> None:
    old = build_mcuboot_image(random_firmware(500, seed=1), version=(1, 0, 0, 0))
    new = build_mcuboot_image(random_firmware(9000, seed=2), version=(1, 2, 3, 4))
    async with SerialModemEmulator(app_image=old, reboot_time=0.01) as emulator:
        host = Host(emulator.connect())
        await host.command(b"AT#XSMVER", b'\r\n#XSMVER: "1.0.0+0","3.1.0"\r\n' + OK)
        await host.command(b"AT#XDFUINIT=0,%d" % len(new), OK)
        for offset in range(0, len(new), 4096):
            await host.write_chunk(0, offset, new[offset : offset + 4096])
        await host.command(b"AT#XDFUAPPLY=0", OK + b"#XDFU: 0,2,0\r\n")
        assert emulator.active_app == old
        await host.command(b"AT#XRESET", OK + READY + b"\r\n#XFOTA: 5,0\r\n")
        await host.command(b"AT#XSMVER", b'\r\n#XSMVER: "1.2.3+4","3.1.0"\r\n' + OK)
        assert emulator.active_app == new
        assert emulator.applied[0] == new
        assert emulator.image == new
        assert emulator.boots == 1
        assert emulator.failures == []


async def test_invalid_app_image_is_not_swapped_in(host: Host, device: SerialModemEmulator) -> None:
    image = bytearray(build_mcuboot_image(random_firmware(300, seed=4), version=(2, 0, 0, 0)))
    image[600] ^= 0xFF  # the SHA-256 no longer matches: MCUboot refuses it
    await host.command(b"AT#XDFUINIT=0,%d" % len(image), OK)
    await host.write_chunk(0, 0, bytes(image))
    await host.command(b"AT#XDFUAPPLY=0", OK + b"#XDFU: 0,2,0\r\n")  # the SM does not check
    await host.command(b"AT#XRESET", OK + READY)
    await host.expect_silence()
    assert device.active_app is None
    await host.command(b"AT#XSMVER", b'\r\n#XSMVER: "1.0.0","3.1.0"\r\n' + OK)


async def test_bytes_sent_during_a_reboot_are_lost(host: Host) -> None:
    await host.send(b"AT#XRESET\r")
    await host.expect(OK)
    await host.send(b"AT\r")
    await host.expect(READY)
    await host.expect_silence()
    await host.command(b"AT", OK)


async def test_mcuboot_bootloader_update_toggles_the_slot(
    host: Host, device: SerialModemEmulator
) -> None:
    image = build_mcuboot_image(random_firmware(700, seed=5), version=(3, 0, 0, 0))
    await host.command(b"AT#XBOOTINFO=1", b"\r\n#XBOOTINFO: 0\r\n" + OK)
    await host.command(b"AT#XBOOTINFO=0", b"\r\n#XBOOTINFO: 1\r\n" + OK)
    await host.command(b"AT#XDFUINIT=3,%d" % len(image), OK)
    await host.write_chunk(3, 0, image)
    await host.command(b"AT#XDFUAPPLY=3", OK + b"#XDFU: 3,2,0\r\n")
    await host.command(b"AT#XRESET", OK + READY)  # no #XFOTA for type 3
    await host.expect_silence()
    await host.command(b"AT#XBOOTINFO=1", b"\r\n#XBOOTINFO: 1\r\n" + OK)
    await host.command(b"AT#XBOOTINFO=0", b"\r\n#XBOOTINFO: 2\r\n" + OK)
    assert device.applied[3] == image


# --- modem delta ---------------------------------------------------------------------------------


async def test_delta_update_and_modem_reset(host: Host, device: SerialModemEmulator) -> None:
    patch = build_signed_modem_delta(random_firmware(5000, seed=6))
    await host.command(b"AT%SHORTSWVER", b"\r\n%SHORTSWVER: nrf91x1_2.0.2\r\n" + OK)
    await host.command(b"AT#XDFUINIT=1,%d" % len(patch), OK)
    await host.write_chunk(1, 0, patch[:4096])
    await host.write_chunk(1, 4096, patch[4096:])
    await host.command(b"AT#XDFUAPPLY=1", OK + b"#XDFU: 1,2,0\r\n")
    await host.command(b"AT#XMODEMRESET", b"\r\n#XFOTA: 5,0\r\n" + b"\r\n#XMODEMRESET: 0\r\n" + OK)
    await host.command(b"AT%SHORTSWVER", b"\r\n%SHORTSWVER: nrf91x1_2.0.3\r\n" + OK)
    assert device.applied[1] == patch
    await host.command(b"AT#XFOTA=7", b"\r\n#XFOTA: 2097152,2621440\r\n" + OK)  # dirty
    await host.command(b"AT#XMODEMRESET", b"\r\n#XMODEMRESET: 0\r\n" + OK)


async def test_rejected_delta_reports_the_modem_error(host: Host) -> None:
    await host.command(b"AT#XDFUINIT=1,16", OK)
    await host.write_chunk(1, 0, b"not a delta at all")
    await host.command(b"AT#XDFUAPPLY=1", OK + b"#XDFU: 1,2,0\r\n")
    await host.command(
        b"AT#XMODEMRESET", b"\r\n#XFOTA: 5,1,71303171\r\n\r\n#XMODEMRESET: 0\r\n" + OK
    )
    await host.command(b"AT%SHORTSWVER", b"\r\n%SHORTSWVER: nrf91x1_2.0.2\r\n" + OK)


async def test_delta_erase_delay_and_partial_offset() -> None:
    async with SerialModemEmulator(delta_erase_time=0.2, reboot_time=0.01) as emulator:
        host = Host(emulator.connect())
        await host.command(b"AT#XDFUINIT=1,100", OK)
        await host.write_chunk(1, 0, b"0123456789")
        await host.command(b"AT#XRESET", OK + READY)
        assert emulator.received[1] == b""
        await host.command(b"AT#XFOTA=7", b"\r\n#XFOTA: 2097152,10\r\n" + OK)
        started_at = time.monotonic()
        await host.command(b"AT#XDFUINIT=1,100", OK)  # partial, not dirty: no erase
        assert time.monotonic() - started_at < 0.15
        await host.write_chunk(1, 0, b"abcde")  # appended after the modem's own offset
        await host.command(b"AT#XFOTA=7", b"\r\n#XFOTA: 2097152,15\r\n" + OK)
        await host.command(b"AT#XDFUAPPLY=1", OK + b"#XDFU: 1,2,0\r\n")
        assert emulator.applied[1] == b"0123456789abcde"
        await host.command(b"AT#XMODEMRESET", b"\r\n#XFOTA: 5,1,71303171\r\n")
        await host.expect(b"\r\n#XMODEMRESET: 0\r\n" + OK)
        started_at = time.monotonic()
        await host.command(b"AT#XDFUINIT=1,100", OK)  # dirty: erased first
        assert time.monotonic() - started_at >= 0.19
        await host.command(b"AT#XFOTA=7", b"\r\n#XFOTA: 2097152,0\r\n" + OK)
        await host.write_chunk(1, 0, b"xy")
        await host.command(b"AT#XFOTA=9", OK)
        assert emulator.delta_offset == 0
        assert emulator.failures == []


# --- full modem ----------------------------------------------------------------------------------


FIRMWARE_SEGMENTS = [
    (0x50000, random_firmware(6000, seed=8)),
    (0x10000, random_firmware(3000, seed=9)),
]
BOOTLOADER_SEGMENT = build_signed_modem_bootloader(random_firmware(5000, seed=7), FIRMWARE_SEGMENTS)
SIGNED_BOOTLOADER = BOOTLOADER_SEGMENT
EMPTY_BOOTLOADER = build_signed_modem_bootloader(b"bootloader", [])  # vouches for no segment


async def upload_full_modem(host: Host, *, final: bytes) -> None:
    for offset in range(0, len(BOOTLOADER_SEGMENT), 4096):
        await host.write_chunk(2, offset, BOOTLOADER_SEGMENT[offset : offset + 4096])
    await host.command(b"AT#XDFUAPPLY=2", OK + b"#XDFU: 2,2,0\r\n")
    for address, data in FIRMWARE_SEGMENTS:
        for offset in range(0, len(data), 4096):
            await host.write_chunk(2, address + offset, data[offset : offset + 4096])
    await host.command(b"AT#XDFUAPPLY=2", final)


async def test_full_modem_update_e23c2bd() -> None:
    async with SerialModemEmulator(reboot_time=0.01) as emulator:
        host = Host(emulator.connect())
        await host.command(b"AT#XDFUINIT=2", BOOTLOADER_READY)  # no OK at e23c2bd
        assert emulator.mode == "bootloader"
        for rejected in (b"AT", b"AT#XSMVER", b"AT#XDFUINIT=0,10", b"AT#XDFUWRITE=0,0,4"):
            await host.command(rejected, ERROR)
        await upload_full_modem(host, final=READY)  # no OK, no #XDFU: 2,2,0
        await host.expect_silence()
        assert str(emulator.mode) == "normal"  # mypy narrowed it above
        assert emulator.received[2] == BOOTLOADER_SEGMENT
        assert emulator.modem_firmware_segments() == sorted(FIRMWARE_SEGMENTS)
        # Nordic packages store segments in address order; so does the saved image.
        package = build_full_modem_package(BOOTLOADER_SEGMENT, sorted(FIRMWARE_SEGMENTS))
        blob = BOOTLOADER_SEGMENT + b"".join(data for _, data in sorted(FIRMWARE_SEGMENTS))
        assert package.endswith(blob)
        assert emulator.image == emulator.applied[2] == blob
        await host.command(b"AT%SHORTSWVER", b"\r\n%SHORTSWVER: nrf91x1_2.0.3\r\n" + OK)
        assert emulator.failures == []


async def test_full_modem_update_pr421() -> None:
    emulator = SerialModemEmulator(firmware=FirmwareGeneration.PR421, reboot_time=0.01)
    async with emulator:
        host = Host(emulator.connect())
        await host.command(b"AT#XDFUINIT=2", OK + BOOTLOADER_READY)
        await upload_full_modem(host, final=OK + b"#XDFU: 2,2,0\r\n" + READY)
        await host.command(b"AT", OK)
        await host.command(b"AT#XDFUINIT=2", OK + BOOTLOADER_READY)
        await host.command(b"AT#XRESET", OK + READY)  # PR421 answers OK in bootloader mode
        assert emulator.failures == []


async def test_firmware_segment_address_advances_inside_a_chunk(
    host: Host, device: SerialModemEmulator
) -> None:
    await host.command(b"AT#XDFUINIT=2", BOOTLOADER_READY)
    await host.write_chunk(2, 0, EMPTY_BOOTLOADER)
    await host.command(b"AT#XDFUAPPLY=2", OK + b"#XDFU: 2,2,0\r\n")
    device.datamode_buffer = 4  # the chunk reaches the modem in several writes
    await host.write_chunk(2, 0x100, b"0123456789")
    await host.write_chunk(2, 0x10A, b"abc")  # contiguous: merged
    await host.write_chunk(2, 0x200, b"zz")
    await host.write_chunk(2, 0x101, b"XY")  # rewrite inside a run
    assert device.modem_firmware_segments() == [(0x100, b"0XY3456789abc"), (0x200, b"zz")]
    assert device.modem_flash == {0x100: b"0XY3456789abc", 0x200: b"zz"}


async def test_bootloader_mode_reset_without_ok_at_e23c2bd(host: Host) -> None:
    await host.command(b"AT#XDFUINIT=2", BOOTLOADER_READY)
    await host.command(b"AT#XRESET", READY)  # the modem is still intact
    await host.command(b"AT", OK)


async def test_interrupted_full_update_returns_to_bootloader_mode(
    host: Host, device: SerialModemEmulator
) -> None:
    await host.command(b"AT#XDFUINIT=2", BOOTLOADER_READY)
    await host.write_chunk(2, 0, EMPTY_BOOTLOADER)
    await host.command(b"AT#XDFUAPPLY=2", OK + b"#XDFU: 2,2,0\r\n")
    await host.write_chunk(2, 0x1000, b"firmware")  # past the point of no return
    await host.command(b"AT#XRESET", BOOTLOADER_READY)  # corrupt modem: back to bootloader mode
    assert device.full_modem_phase == "firmware"  # persisted, though the bootloader is gone
    await host.write_chunk(2, 0x1008, b"more", status=-1)
    await host.command(b"AT#XDFUINIT=2", BOOTLOADER_READY)  # the way to restart
    assert str(device.full_modem_phase) == "bootloader"
    assert device.received[2] == b""
    await host.write_chunk(2, 0, EMPTY_BOOTLOADER)
    await host.command(b"AT#XDFUAPPLY=2", OK + b"#XDFU: 2,2,0\r\n")
    await host.command(b"AT#XDFUAPPLY=2", BOOTLOADER_READY)  # no firmware: still corrupt
    assert device.mode == "bootloader"
    assert device.boots == 4


async def test_full_modem_commands_outside_bootloader_mode_fail(host: Host) -> None:
    await host.write_chunk(2, 0, b"abc", status=-1)
    await host.command(b"AT#XDFUAPPLY=2", OK + b"#XDFU: 2,2,-1\r\n")


# --- flow control and flash timing ---------------------------------------------------------------


async def test_flash_writes_throttle_the_host_with_flow_control() -> None:
    model = LinkModel(rx_buffer=256, tx_buffer=256, flow_control=True)
    firmware = random_firmware(4096, seed=10)
    async with SerialModemEmulator(
        link_model=model, datamode_buffer=1024, flash_write_rate=20_000
    ) as emulator:
        host = Host(emulator.connect())
        await host.command(b"AT#XDFUINIT=0,4096", OK)
        await host.command(b"AT#XDFUWRITE=0,0,4096", OK)
        started_at = time.monotonic()
        await host.send(firmware)
        assert time.monotonic() - started_at >= 0.1  # three 1024-byte flushes of 51 ms each
        await host.expect(b"#XDFU: 0,1,0\r\n" + DATAMODE)
        assert emulator.received[0] == firmware
        assert emulator.failures == []


async def test_without_flow_control_bytes_are_lost_and_the_chunk_never_completes() -> None:
    model = LinkModel(baud=1_000_000, rx_buffer=256, flow_control=False)
    async with SerialModemEmulator(
        link_model=model, datamode_buffer=1024, flash_write_rate=20_000
    ) as emulator:
        host = Host(emulator.connect())
        await host.command(b"AT#XDFUINIT=0,4096", OK)
        await host.command(b"AT#XDFUWRITE=0,0,4096", OK)
        await host.send(random_firmware(4096, seed=11))
        await host.expect_silence(0.3)  # still waiting for bytes that were dropped
        assert 1024 <= len(emulator.received[0]) < 4096
        assert emulator.failures == []


# --- connections ---------------------------------------------------------------------------------


async def test_device_state_survives_a_reconnect(device: SerialModemEmulator) -> None:
    host = Host(device.connect())
    await host.command(b"AT#XDFUINIT=0,6", OK)
    await host.command(b"AT#XDFUWRITE=0,0,6", OK)
    await host.send(b"abc")
    await asyncio.sleep(0.01)
    device.disconnect()
    host = Host(device.connect())
    await host.send(b"def")
    await host.expect(b"#XDFU: 0,1,0\r\n" + DATAMODE)
    assert device.received[0] == b"abcdef"


async def test_nordic_style_pyserial_host_over_a_pty() -> None:
    image = build_mcuboot_image(random_firmware(10_000, seed=12), version=(4, 5, 6, 7))

    def read_until(port: serial.Serial, marker: bytes, timeout: float = 5.0) -> bytes:
        text = b""
        deadline = time.monotonic() + timeout
        while marker not in text:
            assert b"ERROR" not in text
            assert time.monotonic() < deadline, text
            text += port.read(port.in_waiting or 1)
        return text

    def reference_host(path: str) -> list[bytes]:
        statuses = []
        with serial.Serial(path, 115200, rtscts=True, timeout=0.01) as port:
            port.write(b"AT#XDFUINIT=0,%d\r" % len(image))
            read_until(port, b"OK")
            for offset in range(0, len(image), 4096):
                chunk = image[offset : offset + 4096]
                port.write(b"AT#XDFUWRITE=0,%d,%d\r" % (offset, len(chunk)))
                read_until(port, b"OK")
                port.write(chunk)
                lines = read_until(port, b"#XDFU:").split(b"\n")
                statuses.append(next(line for line in lines if b"#XDFU:" in line).strip())
            port.write(b"AT#XDFUAPPLY=0\r")
            statuses.append(read_until(port, b"#XDFU:").strip().split(b"\n")[-1].strip())
        return statuses

    async with SerialModemEmulator() as emulator, serve_pty(emulator) as path:
        statuses = await asyncio.to_thread(reference_host, path)
    assert statuses == [b"#XDFU: 0,1,0"] * 3 + [b"#XDFU: 0,2,0"]
    assert emulator.applied[0] == image
    assert emulator.failures == []


def test_faults_default_to_none() -> None:
    faults = SerialModemFaults()
    assert (faults.fail_chunks, faults.reject_commands, faults.unsolicited) == (set(), {}, [])
    assert faults.reboot_after_data_bytes is None
    assert not (faults.ok_delay or faults.fail_apply or faults.silent)


def test_invalid_options_are_refused() -> None:
    with pytest.raises(ValueError, match="terminator"):
        SerialModemEmulator(terminator=b"\r\r")
    with pytest.raises(ValueError, match="supported_types"):
        SerialModemEmulator(supported_types=(0, 4))


# --- what the modem verifies ---------------------------------------------------------------------


async def test_a_corrupted_delta_fails_authentication_at_activation(
    host: Host, device: SerialModemEmulator
) -> None:
    patch = bytearray(build_signed_modem_delta(random_firmware(3000, seed=20)))
    patch[1000] ^= 0x01
    await host.command(b"AT#XDFUINIT=1,%d" % len(patch), OK)
    await host.write_chunk(1, 0, bytes(patch))
    await host.command(b"AT#XDFUAPPLY=1", OK + b"#XDFU: 1,2,0\r\n")  # the SM does not check
    await host.command(
        b"AT#XMODEMRESET", b"\r\n#XFOTA: 5,1,71303171\r\n\r\n#XMODEMRESET: 0\r\n" + OK
    )
    await host.command(b"AT%SHORTSWVER", b"\r\n%SHORTSWVER: nrf91x1_2.0.2\r\n" + OK)


async def test_a_corrupted_delta_fails_authentication_after_a_reset(host: Host) -> None:
    patch = bytearray(build_signed_modem_delta(random_firmware(300, seed=21)))
    patch[-1] ^= 0x80
    await host.command(b"AT#XDFUINIT=1,%d" % len(patch), OK)
    await host.write_chunk(1, 0, bytes(patch))
    await host.command(b"AT#XDFUAPPLY=1", OK + b"#XDFU: 1,2,0\r\n")
    await host.command(b"AT#XRESET", OK + READY + b"\r\n#XFOTA: 5,1,71303171\r\n")


async def test_a_modem_bootloader_failing_its_signature_is_not_run(
    host: Host, device: SerialModemEmulator
) -> None:
    bootloader = bytearray(SIGNED_BOOTLOADER)
    bootloader[100] ^= 0x01
    await host.command(b"AT#XDFUINIT=2", BOOTLOADER_READY)
    await host.write_chunk(2, 0, bytes(bootloader))
    await host.command(b"AT#XDFUAPPLY=2", OK + b"#XDFU: 2,2,-1\r\n")
    assert device.full_modem_phase == "bootloader"  # the next writes are a new upload


async def test_modem_firmware_failing_its_digest_does_not_boot(
    host: Host, device: SerialModemEmulator
) -> None:
    await host.command(b"AT#XDFUINIT=2", BOOTLOADER_READY)
    await host.write_chunk(2, 0, SIGNED_BOOTLOADER)
    await host.command(b"AT#XDFUAPPLY=2", OK + b"#XDFU: 2,2,0\r\n")
    for address, data in FIRMWARE_SEGMENTS:
        corrupted = bytearray(data)
        if address == 0x10000:
            corrupted[5] ^= 0x01
        await host.write_chunk(2, address, bytes(corrupted))
    await host.command(b"AT#XDFUAPPLY=2", BOOTLOADER_READY)  # the new firmware did not boot
    assert device.mode == "bootloader"
    assert device.modem_version == "nrf91x1_2.0.2"
    assert 2 not in device.applied


async def test_modem_firmware_missing_a_segment_does_not_boot(host: Host) -> None:
    await host.command(b"AT#XDFUINIT=2", BOOTLOADER_READY)
    await host.write_chunk(2, 0, SIGNED_BOOTLOADER)
    await host.command(b"AT#XDFUAPPLY=2", OK + b"#XDFU: 2,2,0\r\n")
    address, data = FIRMWARE_SEGMENTS[0]
    await host.write_chunk(2, address, data)
    await host.command(b"AT#XDFUAPPLY=2", BOOTLOADER_READY)


# --- what the device runs (issue 11: --save-image) -----------------------------------------------


async def test_image_is_what_the_device_runs_not_what_mcuboot_rejected() -> None:
    old = build_mcuboot_image(random_firmware(500, seed=1), version=(1, 0, 0, 0))
    rejected = bytearray(build_mcuboot_image(random_firmware(300, seed=4), version=(2, 0, 0, 0)))
    rejected[600] ^= 0xFF  # the SHA-256 no longer matches
    async with SerialModemEmulator(app_image=old, reboot_time=0.01) as emulator:
        host = Host(emulator.connect())
        assert emulator.image == old
        await host.command(b"AT#XDFUINIT=0,%d" % len(rejected), OK)
        await host.write_chunk(0, 0, bytes(rejected))
        await host.command(b"AT#XDFUAPPLY=0", OK + b"#XDFU: 0,2,0\r\n")
        assert emulator.image == old  # applied, not running
        await host.command(b"AT#XRESET", OK + READY)
        assert emulator.active_app == old
        assert emulator.image == old  # MCUboot kept the old application
        assert emulator.applied[0] == rejected


async def test_image_after_a_rejected_delta_and_a_full_modem_that_did_not_boot(
    host: Host, device: SerialModemEmulator
) -> None:
    await host.command(b"AT#XDFUINIT=1,16", OK)
    await host.write_chunk(1, 0, b"not a delta at all")
    await host.command(b"AT#XDFUAPPLY=1", OK + b"#XDFU: 1,2,0\r\n")
    await host.command(b"AT#XMODEMRESET", b"\r\n#XFOTA: 5,1,71303171\r\n")
    await host.expect(b"\r\n#XMODEMRESET: 0\r\n" + OK)
    assert device.image is None  # nothing it runs came from an update
    await host.command(b"AT#XDFUINIT=2", BOOTLOADER_READY)
    await host.write_chunk(2, 0, EMPTY_BOOTLOADER)
    await host.command(b"AT#XDFUAPPLY=2", OK + b"#XDFU: 2,2,0\r\n")
    await host.command(b"AT#XDFUAPPLY=2", BOOTLOADER_READY)  # no firmware: it did not boot
    assert device.image is None
