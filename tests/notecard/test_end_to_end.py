"""``card.update()`` end to end against the emulated card: the image the host got is the one the
card offered, byte for byte, and the card is left ``completed`` (or ``error`` with our reason)."""

from __future__ import annotations

import attrs
import pytest

from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import Phase, Progress
from aiodfu.notecard import (
    DfuModeEntryTimeoutError,
    ImageNotReadyError,
    ImageSupersededError,
    ImageVerificationError,
    InstallFailedError,
)
from aiodfu.testing.images import random_firmware
from aiodfu.testing.notecard import NotecardEmulator, StatusStyle, Storage
from aiodfu.testing.pty import serve_pty
from aiodfu.transports.memory import LinkModel
from aiodfu.transports.serial import open_serial

from .conftest import FAST_TIMEOUTS, IMAGE, card_for


def served_in_order(card: NotecardEmulator) -> bool:
    """No chunk was fetched again once a later one had been (it had verified)."""
    offsets = [offset for offset, _, _ in card.served]
    return offsets == sorted(offsets)


@pytest.mark.parametrize("binary", [False, True])
async def test_update_retrieves_installs_and_completes(aiodfu_emulators, binary: bool) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, image_version="2.0.1"))
    installed: list[FirmwareImage] = []
    events: list[Progress] = []
    async with card_for(card.connect, binary=binary, chunk_size=4096) as notecard:
        result = await notecard.update(install=installed.append, progress=events.append)
    assert [image.data for image in installed] == [IMAGE]
    assert result.image.data == IMAGE and result.attempts == 1
    assert result.details["mode"] == ("binary" if binary else "base64")
    assert result.details["version"] == "2.0.1"
    assert card.mode == "completed" and card.status_text == "firmware update successful"
    assert card.image is None  # stop deleted the card's copy
    assert card.hub_mode == "periodic" and card.binary_store is None
    assert [(o, n, b) for o, n, b in card.served] == [
        (o, min(4096, len(IMAGE) - o), binary) for o in range(0, len(IMAGE), 4096)
    ]
    done = [e.done for e in events if e.phase is Phase.TRANSFERRING]
    assert done[-1] == len(IMAGE) and done == sorted(done)
    assert events[-1].phase is Phase.DONE


async def test_binary_mode_is_chosen_automatically_when_the_card_has_a_store(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    with_store = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    without = aiodfu_emulators(NotecardEmulator(image=IMAGE, binary_store=False))
    async with card_for(with_store.connect) as notecard:
        assert (await notecard.update()).details["mode"] == "binary"
    async with card_for(without.connect) as notecard:
        result = await notecard.update()
    assert result.details["mode"] == "base64" and result.image.data == IMAGE
    assert without.mode == "completed"


async def test_old_firmware_ignores_binary_and_sends_base64(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, binary_dfu_get=False))
    async with card_for(card.connect, binary=True) as notecard:
        result = await notecard.update()
    assert result.image.data == IMAGE
    assert all(not binary for _, _, binary in card.served)


async def test_async_install_callback_is_awaited(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    flash = bytearray()

    async def install(image: FirmwareImage) -> None:
        flash[:] = image.data

    async with card_for(card.connect) as notecard:
        await notecard.update(install=install)
    assert flash == IMAGE


async def test_legacy_card_needs_dfu_mode_and_waits_for_its_entry(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(
        NotecardEmulator(image=IMAGE, storage=Storage.MODEM_FS, dfu_entry_delay=0.2)
    )
    card.hub_mode = "continuous"
    async with card_for(card.connect) as notecard:
        result = await notecard.update()
    assert result.image.data == IMAGE and result.details["entered_dfu_mode"] == "yes"
    hub_sets = [r["mode"] for r in card.requests if r["req"] == "hub.set"]
    assert hub_sets == ["dfu", "dfu-completed"]
    assert card.hub_mode == "continuous"  # restored
    assert card.mode == "completed"


async def test_keepalive_holds_dfu_mode_through_a_long_retrieval(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(
        NotecardEmulator(
            image=IMAGE, storage=Storage.MODEM_FS, dfu_mode_timeout=0.25, request_latency=0.03
        )
    )
    timeouts = attrs.evolve(FAST_TIMEOUTS, dfu_keepalive=0.1)
    async with card_for(card.connect, timeouts=timeouts, chunk_size=1024) as notecard:
        result = await notecard.update()
    assert result.image.data == IMAGE and result.attempts == 1
    assert [r["mode"] for r in card.requests if r["req"] == "hub.set"].count("dfu") > 2


async def test_dfu_mode_expiring_mid_retrieval_is_re_entered_and_resumed(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(
        NotecardEmulator(
            image=IMAGE, storage=Storage.MODEM_FS, dfu_mode_timeout=0.25, request_latency=0.03
        )
    )
    async with card_for(card.connect, chunk_size=1024, binary=False) as notecard:
        result = await notecard.update()
    assert result.image.data == IMAGE and result.attempts > 1
    assert served_in_order(card)


async def test_a_card_that_never_enters_dfu_mode_fails_typed_and_reports_it(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(
        NotecardEmulator(image=IMAGE, storage=Storage.MODEM_FS, dfu_entry_delay=1e6)
    )
    timeouts = attrs.evolve(FAST_TIMEOUTS, dfu_entry=0.3)
    installed: list[FirmwareImage] = []
    async with card_for(card.connect, timeouts=timeouts) as notecard:
        with pytest.raises(DfuModeEntryTimeoutError) as info:
            await notecard.update(install=installed.append)
    assert "{connected}" in str(info.value.status)
    assert not installed and not card.served
    assert card.mode == "error" and "did not serve the image" in (card.status_text or "")
    assert card.hub_mode == "periodic"


async def test_missing_body_falls_back_to_the_first_chunk(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, body_in_status=False))
    async with card_for(card.connect, chunk_size=8192) as notecard:
        result = await notecard.update()
    assert result.image.data == IMAGE
    assert [offset for offset, _, _ in card.served] == [0, 8192, 16384]


async def test_an_image_that_fails_its_md5_is_never_installed(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    card.body["md5"] = "0" * 32  # the card announces another image than it serves
    installed: list[FirmwareImage] = []
    async with card_for(card.connect) as notecard:
        with pytest.raises(ImageVerificationError, match="MD5"):
            await notecard.update(install=installed.append)
    assert not installed
    assert card.mode == "error" and "MD5" in (card.status_text or "")


async def test_install_failure_is_reported_to_the_card(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))

    def install(image: FirmwareImage) -> None:
        raise OSError("flash erase failed")

    async with card_for(card.connect) as notecard:
        with pytest.raises(InstallFailedError) as info:
            await notecard.update(install=install)
    assert isinstance(info.value.__cause__, OSError)
    assert card.mode == "error"
    assert card.status_text == "host install failed: flash erase failed"
    assert card.stops == [{"status": card.status_text, "err": card.status_text}]


async def test_no_image_and_a_superseded_image_are_clear_errors(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    idle = aiodfu_emulators(NotecardEmulator())
    superseded = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    superseded.fail_download()
    async with card_for(idle.connect) as notecard:
        with pytest.raises(ImageNotReadyError, match="mode idle"):
            await notecard.update()
    async with card_for(superseded.connect) as notecard:
        with pytest.raises(ImageSupersededError, match="superceded"):
            await notecard.update()
    assert not idle.served and not superseded.served


async def test_wait_for_image_polls_through_downloading(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, downloading_polls=3))
    async with card_for(card.connect) as notecard:
        first = await notecard.dfu_status()
        status = await notecard.wait_for_image(interval=0.01, timeout=5)
        result = await notecard.update()
    assert first.mode == "downloading" and "downloaded" in (first.status or "")
    assert status.ready and status.body is not None and status.body.length == len(IMAGE)
    assert result.image.data == IMAGE


async def test_version_report_and_download_controls(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator())
    version = {"product": "demo", "version": "1.2.4", "ver_major": 1, "ver_minor": 2}
    async with card_for(card.connect) as notecard:
        await notecard.report_version("1.2.3")
        assert card.reported_version == "1.2.3"
        await notecard.report_version(version)
        off = await notecard.set_downloads(False)
        on = await notecard.set_downloads(True)
        policy = await notecard.set_voltage_policy("usb:1;high:1;normal:0;low:0;dead:0")
        own = await notecard.dfu_status(name="card")
    assert card.reported_version == version
    assert off.off is True and on.on is True and policy.on is True
    assert card.vvalue == "usb:1;high:1;normal:0;low:0;dead:0"
    assert own.mode == "idle"


async def test_card_dfu_configures_outboard_update(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator())
    async with card_for(card.connect) as notecard:
        enabled = await notecard.configure_outboard_dfu(name="stm32", on=True)
        reset = await notecard.configure_outboard_dfu(name="-", off=True)
    assert enabled == {"name": "stm32", "on": True}
    assert reset == {"mode": "off", "off": True}
    assert card.card_dfu["off"] is True


async def test_update_over_a_paced_pty_with_a_real_serial_port() -> None:
    image = random_firmware(6000, seed=5)
    card = NotecardEmulator(image=image, request_latency=0.005)

    async def connector():  # type: ignore[no-untyped-def]
        return await open_serial(path, 115200, rtscts=False)

    async with (
        serve_pty(card, model=LinkModel(baud=115200)) as path,
        card_for(connector, baudrate=115200) as notecard,
    ):
        result = await notecard.update()
    assert result.image.data == image
    assert card.mode == "completed" and not card.failures


async def test_update_over_the_main_uart_at_9600_baud(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    image = random_firmware(700, seed=6)
    card = aiodfu_emulators(NotecardEmulator(image=image, link_model=LinkModel(baud=9600)))
    async with card_for(card.connect, baudrate=9600) as notecard:
        result = await notecard.update()
    assert result.image.data == image and card.mode == "completed"


async def test_the_schema_style_status_texts_are_understood_too(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(
        NotecardEmulator(image=IMAGE, downloading_polls=3, status_style=StatusStyle.SCHEMA)
    )
    async with card_for(card.connect) as notecard:
        first = await notecard.dfu_status()
        status = await notecard.wait_for_image(interval=0.01, timeout=5)
        result = await notecard.update()
    assert first.mode == "downloading" and first.pending is True
    assert first.status == "downloading: 33% complete"
    assert status.ready and result.image.data == IMAGE and card.mode == "completed"
