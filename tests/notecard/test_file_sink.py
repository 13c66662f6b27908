"""``card.update(sink=FileSink(path))``: the image streams to a file, resumes there after a link
loss, is verified by reading the file back, and is never held whole; a bad image is never
installed and leaves no file."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from aiodfu.core.errors import ImageIntegrityError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.pull import FileSink, MemorySink, PulledFile, PulledImage, PullSink
from aiodfu.notecard import ImageVerificationError
from aiodfu.testing.emulator import FaultyFirstLink
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from aiodfu.testing.notecard import NotecardEmulator, Storage
from aiodfu.transports.memory import LinkFaults

from ..core.host_memory import HostMemory
from .conftest import IMAGE, card_for


@pytest.mark.parametrize("binary", [False, True])
async def test_the_image_streams_to_a_file_and_install_gets_the_file(
    aiodfu_emulators,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    binary: bool,
) -> None:
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, image_version="2.0.1"))
    installed: list[PulledFile] = []
    path = tmp_path / "host.bin"
    async with card_for(card.connect, binary=binary, chunk_size=4096) as notecard:
        result = await notecard.update(install=installed.append, sink=FileSink(path))
    assert path.read_bytes() == IMAGE
    assert installed == [result.image] and isinstance(result.image, PulledFile)
    assert result.image.path == path and result.image.sha256 == hashlib.sha256(IMAGE).digest()
    assert result.details["path"] == str(path) and result.details["version"] == "2.0.1"
    assert "MD5" in result.verification.detail
    assert card.mode == "completed" and card.status_text == "firmware update successful"


async def test_retrieve_into_a_file_keeps_the_cards_image(
    aiodfu_emulators,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    async with card_for(card.connect) as notecard:
        result = await notecard.retrieve(sink=FileSink(tmp_path / "host.bin"))
    assert (tmp_path / "host.bin").read_bytes() == IMAGE
    assert result.details["path"] == str(tmp_path / "host.bin")
    assert card.mode == "ready" and card.image == IMAGE


@pytest.mark.parametrize("drop_after", [900, 7_000, 12_000, 17_000])
async def test_a_link_loss_resumes_into_the_file_at_the_verified_offset(
    tmp_path: Path, drop_after: int
) -> None:
    card = NotecardEmulator(image=IMAGE, storage=Storage.MODEM_FS)
    connector = FaultyFirstLink(card, device_to_host=LinkFaults(drop_after=drop_after))
    installed: list[bytes] = []
    try:
        async with card_for(connector, chunk_size=4096) as notecard:
            result = await asyncio.wait_for(
                notecard.update(
                    install=lambda image: installed.append(image.data),
                    sink=FileSink(tmp_path / "host.bin"),
                ),
                30,
            )
    finally:
        await card.aclose()
    assert installed == [IMAGE] and (tmp_path / "host.bin").read_bytes() == IMAGE
    offsets = [offset for offset, _, _ in card.served]
    assert offsets == sorted(offsets)  # no verified chunk was fetched again
    assert card.mode == "completed" and result.attempts == 2, result.attempts


async def test_an_image_that_fails_its_md5_is_not_installed_and_leaves_no_file(
    aiodfu_emulators,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    card.body["md5"] = "0" * 32  # the card announces another image than it serves
    installed: list[PulledFile] = []
    async with card_for(card.connect) as notecard:
        with pytest.raises(ImageVerificationError, match="MD5"):
            await notecard.update(install=installed.append, sink=FileSink(tmp_path / "host.bin"))
    assert not installed and not (tmp_path / "host.bin").exists()
    assert card.mode == "error"


async def test_a_corrupted_mcuboot_image_in_a_file_is_not_installed_and_leaves_no_file(
    aiodfu_emulators,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """The card's MD5 matches (Notehub was given a damaged file): the image's own hash,
    checked from the file, refuses it."""
    damaged = bytearray(build_mcuboot_image(random_firmware(30_000, seed=3)))
    damaged[10_000] ^= 0x80
    card = aiodfu_emulators(NotecardEmulator(image=bytes(damaged)))
    installed: list[PulledFile] = []
    async with card_for(card.connect) as notecard:
        with pytest.raises(ImageIntegrityError, match="MCUboot SHA-256"):
            await notecard.update(install=installed.append, sink=FileSink(tmp_path / "host.bin"))
    assert not installed and not (tmp_path / "host.bin").exists()
    assert card.mode == "error" and "MCUboot" in (card.status_text or "")


@pytest.mark.parametrize("into_file", [True, False])
async def test_a_file_pull_never_holds_the_image_whole(tmp_path: Path, into_file: bool) -> None:
    """A 1 MiB image -- 16 times the read-back block, 128 times the largest chunk -- pulled
    into a file and installed block by block: the session never holds more than a small
    fraction of it, and no whole copy appears even briefly while it is checked, verified and
    installed (see HostMemory). Pulled into memory, both show the whole image."""
    image = build_mcuboot_image(random_firmware(1024 * 1024, seed=12))
    card = NotecardEmulator(image=image)
    memory = HostMemory()
    sink: PullSink[PulledImage] = FileSink(tmp_path / "host.bin") if into_file else MemorySink()
    try:
        async with card_for(card.connect) as notecard:
            await notecard.connect()
            with memory:
                result = await notecard.update(
                    install=memory.install,
                    sink=sink,
                    progress=memory.progress,
                    require_verified=True,
                )
    finally:
        await card.aclose()
    assert card.mode == "completed"
    assert "MCUboot SHA-256" in result.verification.detail
    memory.check(image, into_file=into_file)


async def test_the_default_sink_still_hands_install_a_firmware_image(
    aiodfu_emulators,  # type: ignore[no-untyped-def]
) -> None:
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    installed: list[FirmwareImage] = []
    async with card_for(card.connect) as notecard:
        result = await notecard.update(install=installed.append)
    assert installed == [FirmwareImage(IMAGE)] and result.image == FirmwareImage(IMAGE)
    assert "path" not in result.details
