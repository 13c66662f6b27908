"""What load_image keeps is what reaches the device: imgtool images, end to end through the
Serial Modem emulator, the running image compared byte for byte."""

from __future__ import annotations

import pytest

from aiodfu import load_image
from aiodfu.core.image import FirmwareImage
from aiodfu.formats.mcuboot import McubootImage
from aiodfu.testing.serial_modem import SerialModemEmulator

from ..serial_modem.conftest import session_for
from .imgtool_images import SLOT_SIZE, Imgtool

OPTIONS = {
    "padded": ("--confirm", "--sha", "384"),  # the trailer is stripped before sending
    "encrypted": ("-k", "ed25519", "-E", "x25519"),  # sendable although unverifiable here
}


@pytest.fixture(params=list(OPTIONS))
def signed(request: pytest.FixtureRequest, tool: Imgtool) -> tuple[str, bytes, FirmwareImage]:
    args = [str(tool.key(o)) if o in ("ed25519", "x25519") else o for o in OPTIONS[request.param]]
    path = tool.sign(f"sent-{request.param}", *args)
    return request.param, path.read_bytes(), load_image(path)


async def test_loaded_image_is_what_the_device_runs(  # type: ignore[no-untyped-def]
    aiodfu_emulators, signed: tuple[str, bytes, FirmwareImage]
) -> None:
    name, raw, image = signed
    assert isinstance(image.details, McubootImage)
    assert image.data == raw[: image.details.signed_size]
    emulator = aiodfu_emulators(SerialModemEmulator())
    async with session_for(emulator.connect, chunk_size=1024) as session:
        result = await session.update(image, reset=True)
    assert emulator.active_app == image.data
    assert result.details["application"] == "1.2.3+4"
    if name == "padded":
        assert len(raw) == SLOT_SIZE and len(emulator.active_app) < SLOT_SIZE
    else:
        assert image.details.encrypted
