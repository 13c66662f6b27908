"""Bad files and bad answers: each a typed error naming the command and offset, before any byte
is sent where the file is at fault."""

from __future__ import annotations

import pytest

from aiodfu.core.errors import (
    ChunkFailedError,
    CommandRejectedError,
    ImageError,
    ImageIntegrityError,
    RetriesExhaustedError,
    UnsupportedError,
)
from aiodfu.core.image import FirmwareImage
from aiodfu.serial_modem import ActivationFailedError, ApplyFailedError, UpdateType
from aiodfu.testing.serial_modem import SerialModemEmulator, SerialModemFaults

from .conftest import APP, DELTA, FULL, session_for


def corrupt(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def no_dfu_command_sent(emulator: SerialModemEmulator) -> bool:
    return not any(c.upper().startswith("AT#XDFU") and "=?" not in c for c in emulator.commands)


@pytest.mark.parametrize(
    ("image", "update_type", "error"),
    [
        (corrupt(APP, 0x300), UpdateType.APPLICATION, ImageError),  # body byte: SHA-256 mismatch
        (APP[:-10], UpdateType.APPLICATION, ImageError),  # truncated
        (APP + b"\xff" * 16, UpdateType.APPLICATION, ImageError),  # trailing bytes
        (b"\x3c\xb8\xf3\x96" + APP[4:], UpdateType.APPLICATION, ImageError),  # v1 magic
        (DELTA, UpdateType.APPLICATION, ImageError),  # wrong type for the file
        (APP, UpdateType.MODEM_DELTA, ImageError),
        (APP, UpdateType.MODEM_FULL, ImageError),
        (FULL[:-1], UpdateType.MODEM_FULL, ImageError),  # blob shorter than the segments
        (corrupt(FULL, len(FULL) - 5), UpdateType.MODEM_FULL, ImageIntegrityError),
        (b"\xd2\x84" + b"\x00" * 40, UpdateType.MODEM_FULL, ImageError),  # malformed CBOR
        (b"", UpdateType.APPLICATION, ImageError),
    ],
)
async def test_bad_images_fail_before_anything_is_sent(
    aiodfu_emulators, image, update_type, error
) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator())
    async with session_for(emulator.connect) as session:
        with pytest.raises(error):
            await session.update(FirmwareImage(image), update_type=update_type)
    assert no_dfu_command_sent(emulator)


async def test_sha_mismatch_is_an_integrity_error() -> None:
    from aiodfu.serial_modem import build_payload

    with pytest.raises(ImageError) as info:
        build_payload(FirmwareImage(corrupt(APP, 0x300)), UpdateType.APPLICATION)
    assert isinstance(info.value.__cause__, ImageIntegrityError)
    assert "force" in str(info.value)


async def test_raw_image_without_a_type_is_refused() -> None:
    emulator = SerialModemEmulator()
    async with session_for(emulator.connect) as session:
        with pytest.raises(ImageError, match="update type"):
            await session.update(FirmwareImage(b"\x01\x02\x03"))
    await emulator.aclose()


async def test_forced_bad_application_is_sent_and_mcuboot_rejects_it(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    bad = corrupt(APP, 0x300)
    emulator = aiodfu_emulators(SerialModemEmulator(app_image=b"old"))
    async with session_for(emulator.connect) as session:
        with pytest.raises(ActivationFailedError, match="MCUboot did not take"):
            await session.update(
                FirmwareImage(bad), update_type=UpdateType.APPLICATION, force=True, reset=True
            )
    assert emulator.applied[0] == bad  # sent byte for byte, as forced
    assert emulator.active_app == b"old"  # and the device kept its old application


async def test_init_error_reply_is_typed_with_the_command(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(
        SerialModemEmulator(faults=SerialModemFaults(reject_commands={"AT#XDFUINIT=0": 1}))
    )
    async with session_for(emulator.connect) as session:
        with pytest.raises(CommandRejectedError) as info:
            await session.update(APP)
    assert info.value.status == "ERROR"
    assert f"AT#XDFUINIT=0,{len(APP)}" in str(info.value)


async def test_image_larger_than_the_slot_is_refused_by_the_device(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(slot_size=4096))
    async with session_for(emulator.connect) as session:
        with pytest.raises(CommandRejectedError, match="AT#XDFUINIT"):
            await session.update(APP)


async def test_one_write_error_recovers_and_the_image_is_intact(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(
        SerialModemEmulator(faults=SerialModemFaults(reject_commands={"AT#XDFUWRITE": 1}))
    )
    async with session_for(emulator.connect, chunk_size=2048) as session:
        result = await session.update(APP, reset=True)
    assert emulator.active_app == APP
    assert result.attempts == 2


async def test_persistent_write_errors_give_up_with_command_and_offset(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(
        SerialModemEmulator(faults=SerialModemFaults(reject_commands={"AT#XDFUWRITE": 100}))
    )
    async with session_for(emulator.connect, chunk_size=2048) as session:
        with pytest.raises(RetriesExhaustedError) as info:
            await session.update(APP)
    assert isinstance(info.value.__cause__, ChunkFailedError)
    assert "AT#XDFUWRITE=0,0,2048" in str(info.value)
    assert "offset 0" in str(info.value)


async def test_chunk_failure_reports_device_status_and_offset(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(
        SerialModemEmulator(faults=SerialModemFaults(fail_chunks=set(range(1, 200, 5))))
    )
    async with session_for(emulator.connect, chunk_size=2048) as session:
        with pytest.raises(RetriesExhaustedError) as info:
            await session.update(APP)
    cause = info.value.__cause__
    assert isinstance(cause, ChunkFailedError)
    assert cause.status == -1
    assert cause.offset is not None and cause.offset % 2048 == 0  # lifetime chunk count
    assert f"AT#XDFUWRITE=0,{cause.offset},2048" in str(info.value)
    assert "device status -1" in str(info.value)
    assert 0 not in emulator.applied


async def test_apply_failure_is_typed(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(faults=SerialModemFaults(fail_apply=True)))
    async with session_for(emulator.connect) as session:
        with pytest.raises(RetriesExhaustedError) as info:
            await session.update(APP)
    assert isinstance(info.value.__cause__, ApplyFailedError)
    assert "AT#XDFUAPPLY=0" in str(info.value)


async def test_garbage_on_the_wire_is_ignored(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    garbage = [b"\x00\xff\xfe\x80garbage\r\n", b"\r\n\r\n", b"#XDFU: 9,9,9\r\n", b"Ready?\r\n"] * 10
    emulator = aiodfu_emulators(SerialModemEmulator(faults=SerialModemFaults(unsolicited=garbage)))
    async with session_for(emulator.connect, chunk_size=1024) as session:
        await session.update(APP, reset=True)
    assert emulator.active_app == APP


async def test_application_update_in_bootloader_mode_is_unsupported(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator())
    async with session_for(emulator.connect) as session:
        await session.device.enter_bootloader_mode()
        with pytest.raises(UnsupportedError, match="bootloader mode"):
            await session.update(APP)


@pytest.mark.parametrize(
    ("image", "parser"),
    [(APP, "parse_mcuboot"), (DELTA, "parse_modem_delta"), (FULL, "parse_full_modem")],
)
def test_a_loaded_image_is_not_parsed_again(monkeypatch, image, parser) -> None:  # type: ignore[no-untyped-def]
    from aiodfu import load_image
    from aiodfu.serial_modem import payload

    loaded = load_image(image)

    def refuse(data):  # type: ignore[no-untyped-def]
        raise AssertionError("load_image already parsed and checked this image")

    monkeypatch.setattr(payload, parser, refuse)
    built = payload.build_payload(loaded, payload.infer_type(loaded))
    assert len(built) == len(image) or parser == "parse_full_modem"
