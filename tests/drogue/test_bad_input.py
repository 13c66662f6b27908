"""Bad input from either side: each a typed error from the DfuError tree, never a hang."""

from __future__ import annotations

import asyncio

import pytest

from aiodfu.core.errors import (
    DeviceResetError,
    DfuError,
    DfuTimeoutError,
    ImageError,
    RetriesExhaustedError,
    UnsupportedError,
    UsageError,
)
from aiodfu.core.image import ImageKind
from aiodfu.core.transfer import RetryPolicy
from aiodfu.drogue import (
    MalformedMessageError,
    OffsetBeyondImageError,
    UnexpectedStatusError,
    WriteRejectedError,
)
from aiodfu.drogue.protocol.messages import Status, UpdateStatus, Write
from aiodfu.formats import load_image
from aiodfu.testing import build_mcuboot_image
from aiodfu.testing.drogue import BootMagic

from .conftest import NEW, NEW_VERSION, NO_RETRY, OLD_VERSION, ScriptedDevice, emulator, session_for

FIRST = Status(OLD_VERSION, 512)
TWO_TRIES = RetryPolicy(attempts=2, initial_delay=0.01)


async def update_scripted(frames: list[Status | bytes]) -> tuple[ScriptedDevice, BaseException]:
    device = ScriptedDevice(frames)
    async with session_for(device.connect, retry=NO_RETRY) as session:
        with pytest.raises(DfuError) as caught:
            await asyncio.wait_for(session.update(NEW, version="0.2.0"), 10)
    await device.aclose()
    return device, caught.value


def cause(error: BaseException) -> BaseException:
    assert isinstance(error, RetriesExhaustedError)
    assert error.__cause__ is not None
    return error.__cause__


async def test_malformed_status_frame() -> None:
    _, error = await update_scripted([b"\xff" * 1024])
    assert isinstance(cause(error), MalformedMessageError)
    assert "read status" in str(error)


async def test_offset_beyond_the_image_is_not_retried() -> None:
    beyond = Status(OLD_VERSION, 512, None, UpdateStatus(NEW_VERSION, len(NEW) + 8))
    device, error = await update_scripted([beyond])
    assert isinstance(error, OffsetBeyondImageError)
    assert error.offset == len(NEW) + 8 and "new version string" in str(error)
    assert device.commands == []  # nothing sent to a device holding another image


async def test_wrong_version_reported_after_a_write() -> None:
    wrong = Status(OLD_VERSION, 512, None, UpdateStatus(b"9.9.9", 512))
    _, error = await update_scripted([FIRST, wrong])
    inner = cause(error)
    assert isinstance(inner, UnexpectedStatusError)
    assert inner.offset == 0 and "9.9.9" in str(inner.status)


async def test_offset_jump_after_a_write() -> None:
    jumped = Status(OLD_VERSION, 512, None, UpdateStatus(NEW_VERSION, 4096))
    _, error = await update_scripted([FIRST, jumped])
    assert isinstance(cause(error), UnexpectedStatusError)


async def test_update_state_vanishing_means_a_reset() -> None:
    _, error = await update_scripted([FIRST, FIRST])
    assert isinstance(cause(error), DeviceResetError)


async def test_block_not_taken_is_a_rejected_write() -> None:
    stuck = Status(OLD_VERSION, 512, None, UpdateStatus(NEW_VERSION, 0))
    _, error = await update_scripted([FIRST, stuck])
    inner = cause(error)
    assert isinstance(inner, WriteRejectedError) and inner.operation == "Write"


async def test_mtu_below_the_alignment_is_unsupported() -> None:
    _, error = await update_scripted([Status(OLD_VERSION, 4)])
    assert isinstance(error, UnsupportedError)


async def test_silent_device_times_out_typed() -> None:
    device = emulator()
    device.faults.silent = True
    async with device, session_for(device.connect, retry=TWO_TRIES) as session:
        with pytest.raises(RetriesExhaustedError) as caught:
            await asyncio.wait_for(session.update(NEW, version="0.2.0"), 20)
    assert isinstance(caught.value.__cause__, DfuTimeoutError)


async def test_flash_error_is_retried_from_the_device_offset() -> None:
    device = emulator()
    device.faults.flash_errors = {1024}
    async with device, session_for(device.connect) as session:
        result = await session.update(NEW, version="0.2.0")
    assert device.image == NEW and device.boot_state is BootMagic.BOOT
    assert result.attempts == 2 and "Flash" in device.errors[0]
    offsets = [c.offset for c in device.commands if isinstance(c, Write)]
    assert offsets.count(1024) == 2 and offsets.count(512) == 1


async def test_device_stuck_on_a_stale_offset_exhausts_retries() -> None:
    device = emulator(stale_offset=True)
    device.apply(Write(b"0.3.0", None, 0, NEW[:512]))
    async with device, session_for(device.connect) as session:
        with pytest.raises(RetriesExhaustedError) as caught:
            await session.update(NEW, version="0.2.0")
    assert isinstance(caught.value.__cause__, WriteRejectedError)
    assert caught.value.offset == 0
    assert device.image != NEW


@pytest.mark.parametrize(
    ("image", "version"), [(NEW, ""), (NEW, "x" * 17), (b"", "0.2.0")], ids=["empty", "long", "no"]
)
async def test_bad_local_input_fails_before_talking(image: bytes, version: str) -> None:
    device = emulator()
    async with device, session_for(device.connect) as session:
        with pytest.raises((UsageError, ImageError)):  # ImageError: no image at all
            await session.update(image, version=version)
    assert device.commands == []


async def test_a_file_for_another_bootloader_is_refused_before_talking() -> None:
    """embassy-boot runs the bytes as they are: an MCUboot image would be swapped in and fail to
    boot, so it is refused unless the caller says it is raw."""
    mcuboot = build_mcuboot_image(NEW, version=(0, 2, 0, 0))
    device = emulator()
    async with device, session_for(device.connect) as session:
        with pytest.raises(ImageError, match="mcuboot file; embassy-boot installs a raw"):
            await session.update(mcuboot, version="0.2.0")
        assert device.commands == []
        raw = load_image(mcuboot, kind=ImageKind.RAW)
        result = await asyncio.wait_for(session.update(raw, version="0.2.0"), 30)
    assert result.details["version"] == "0.2.0"
    padding = -len(mcuboot) % 8  # embassy-boot writes whole 8-byte words
    assert device.image == mcuboot + b"\xff" * padding
