"""The emulated device on its own: embassy-boot's state word, FirmwareManager checks, framing."""

from __future__ import annotations

import asyncio

import pytest

from aiodfu.drogue.errors import MalformedMessageError
from aiodfu.drogue.protocol import cbor, postcard
from aiodfu.drogue.protocol.messages import Status, Swap, Sync, UpdateStatus, Wait, Write
from aiodfu.drogue.serial import FRAME_SIZE, FrameReader, frame
from aiodfu.testing.drogue import BootMagic, BootOutcome, DrogueEmulator
from aiodfu.testing.drogue.boot import Bootloader, FlashError

from .conftest import OLD, OLD_VERSION, emulator

V2 = b"0.2.0"


def test_bootloader_swaps_then_reverts_without_mark_booted() -> None:
    boot = Bootloader(b"old", b"1", partition_size=64)
    assert boot.state is BootMagic.BOOT  # erased state word counts as BOOT
    boot.start(b"2")
    boot.write(0, b"new!")
    boot.mark_updated()
    assert boot.boot() is BootOutcome.SWAPPED
    assert (boot.active.image, boot.active.version) == (b"new!", b"2")
    assert boot.state is BootMagic.SWAP
    assert boot.boot() is BootOutcome.REVERTED
    assert (boot.active.image, boot.state) == (b"old", BootMagic.REVERT)
    assert boot.boot() is BootOutcome.NORMAL


def test_bootloader_keeps_a_confirmed_image() -> None:
    boot = Bootloader(b"old", b"1", partition_size=64)
    boot.start(b"2")
    boot.write(0, b"new!")
    boot.mark_updated()
    boot.boot()
    boot.mark_booted()
    assert boot.boot() is BootOutcome.NORMAL
    assert boot.active.image == b"new!" and boot.state is BootMagic.BOOT


@pytest.mark.parametrize(
    ("offset", "data", "kind"),
    [(4, b"abcd", "WrongOffset"), (0, b"abcdef", "Unaligned"), (0, bytes(72), "OutOfBounds")],
)
def test_firmware_manager_checks(offset: int, data: bytes, kind: str) -> None:
    boot = Bootloader(b"", b"1", partition_size=64, write_size=4)
    boot.start(b"2")
    with pytest.raises(FlashError, match=kind):
        boot.write(offset, data)


def test_short_blocks_are_zero_padded_to_the_write_size() -> None:
    boot = Bootloader(b"", b"1", partition_size=64, write_size=8)
    boot.start(b"2")
    boot.write(0, b"abc")
    assert bytes(boot.dfu.flash[:8]) == b"abc\0\0\0\0\0"
    assert boot.manager_offset == 3


def test_device_updater_reports_progress_and_ignores_the_checksum() -> None:
    device = emulator()
    device.apply(Write(V2, None, 0, b"12345678"))
    assert device.status() == Status(OLD_VERSION, 512, None, UpdateStatus(V2, 8))
    device.apply(Write(V2, None, 16, b"12345678"))  # out of order: WrongOffset, no progress
    assert device.next_offset == 8 and "WrongOffset" in device.errors[-1]
    device.apply(Swap(V2, None, b"not the sha-256"))
    assert device.image == b"12345678" and device.checksums == [b"not the sha-256"]
    assert device.status() == Status(V2, 512)  # RAM state lost on reset


def test_stale_offset_quirk_blocks_a_second_update_until_reset() -> None:
    device = emulator(stale_offset=True)
    device.apply(Write(V2, None, 0, b"12345678"))
    device.apply(Write(b"0.3.0", None, 0, b"abcdefgh"))
    assert device.next_offset == 0 and "WrongOffset" in device.errors[-1]
    device.reset()
    device.apply(Write(b"0.3.0", None, 0, b"abcdefgh"))
    assert device.next_offset == 8


def test_backoff_is_whole_seconds_and_poll_replaces_it() -> None:
    device = emulator(backoff_ms=1999)
    assert device.apply(Wait()) == 1.0
    assert device.apply(Wait(None, 7)) == 7.0
    assert emulator(backoff_ms=999).apply(Sync(OLD_VERSION)) == 0.0


@pytest.mark.parametrize("packed", [True, False])
def test_http_style_cbor_use(packed: bool) -> None:
    device = emulator()
    assert cbor.decode_status(device.status_cbor(packed=packed)) == device.status()
    device.apply_cbor(cbor.encode(Write(V2, None, 0, b"abcd"), packed=packed))
    assert device.next_offset == 4
    with pytest.raises(MalformedMessageError):
        device.apply_cbor(bytes.fromhex("a102a4006530") + b"\x00")  # text-string version


async def test_speaks_first_with_stale_tails_and_resends_after_its_timeout() -> None:
    device = emulator(timeout_ms=50)
    host = device.connect()
    frames = FrameReader(host)
    async with device:
        first = await frames.read_frame()
        write = frame(Write(V2, None, 0, bytes(range(200)) * 4))
        await host.write(write)
        second = await frames.read_frame()  # after the command
        third = await asyncio.wait_for(frames.read_frame(), 2)  # after the device's timeout
        await host.write(frame(Swap(V2, None, b"")))
        fourth = await frames.read_frame()  # from the new firmware, after the reset
    short = len(postcard.encode(Status(OLD_VERSION, 512)))
    long = len(postcard.encode(Status(OLD_VERSION, 512, None, UpdateStatus(V2, 800))))
    assert postcard.decode_status(first) == Status(OLD_VERSION, 512)
    assert first[short:] == bytes(FRAME_SIZE - short)  # the very first frame: zeros
    assert postcard.decode_status(second).update == UpdateStatus(V2, 800)
    assert second == third
    assert postcard.decode_status(fourth) == Status(V2, 512)
    # One buffer for both directions (embedded-update's serial service): a Status goes out
    # over the head of the command read last, so its tail is stale bytes of that command;
    # after a reset the buffer is zeroed again.
    assert second[long:] == write[long:] and any(second[long:])
    assert fourth[short:] == bytes(FRAME_SIZE - short)


async def test_garbage_command_frame_is_logged_and_the_device_reports_again() -> None:
    device = emulator()
    host = device.connect()
    frames = FrameReader(host)
    async with device:
        await frames.read_frame()
        await host.write(b"\x09" + bytes(FRAME_SIZE - 1))
        after = postcard.decode_status(await frames.read_frame())
    assert after == device.status()
    assert "unknown command variant 9" in device.errors[-1]


def test_default_image_and_options_are_public() -> None:
    device = DrogueEmulator()
    assert device.version == b"0.1.0" and len(device.image) == 4096
    assert device.backoff_ms == 1000 and device.timeout_ms == 15_000
    assert device.image != OLD
