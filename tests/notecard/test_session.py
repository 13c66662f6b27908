"""The session's shape and lifecycle: names kept, validated timeouts, the result's verification,
and the release that leaves the card where a fresh session can use it however a session ends."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

import attrs
import pytest

from aiodfu.core.errors import ImageIntegrityError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.session import VerificationMethod
from aiodfu.notecard import (
    Notecard,
    NotecardClient,
    NotecardDevice,
    NotecardSession,
    Timeouts,
    open,
    open_i2c,
)
from aiodfu.testing.images import build_mcuboot_image
from aiodfu.testing.notecard import NotecardEmulator, Storage

from .conftest import FAST_TIMEOUTS, IMAGE, card_for


def test_earlier_names_are_kept() -> None:
    assert Notecard is NotecardSession and NotecardClient is NotecardDevice
    assert isinstance(open("/dev/ttyUSB7"), NotecardSession)
    assert isinstance(open_i2c("/dev/i2c-7"), NotecardSession)  # nothing opened before async with


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reset_drain": 0.0}, "reset_drain must be positive"),
        ({"inter_byte": 40.0}, "inter_byte must not exceed first_byte"),
        ({"dfu_probe_interval": 200.0}, "dfu_probe_interval must be shorter than dfu_entry"),
        ({"dfu_keepalive": 900.0}, "15-minute DFU-mode lifetime"),
    ],
)
def test_timeouts_are_checked_when_made(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        attrs.evolve(Timeouts(), **changes)


def test_timeouts_scale_together() -> None:
    fast = Timeouts().scaled(0.01)
    assert fast.first_byte == pytest.approx(0.3) and fast.dfu_keepalive == pytest.approx(6.0)


async def test_the_result_says_how_the_image_was_verified(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    signed = build_mcuboot_image(IMAGE)
    card = aiodfu_emulators(NotecardEmulator(image=signed))
    async with card_for(card.connect) as notecard:
        result = await notecard.update(expected_sha256=hashlib.sha256(signed).hexdigest())
    verification = result.verification
    assert verification.method is VerificationMethod.HOST_DIGEST and verification.verified
    for check in ("expected digest", "MCUboot SHA-256", "MD5"):
        assert check in verification.detail
    assert card.mode == "completed"


async def test_an_image_failing_the_callers_digest_is_reported_and_never_installed(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    installed: list[FirmwareImage] = []
    async with card_for(card.connect) as notecard:
        with pytest.raises(ImageIntegrityError, match="SHA-256"):
            await notecard.update(install=installed.append, expected_sha256="00" * 32)
    assert not installed
    assert card.mode == "error" and "verification failed" in (card.status_text or "")


@pytest.mark.parametrize("binary", [False, True], ids=["base64", "binary"])
async def test_a_cancelled_update_leaves_dfu_mode_and_empties_the_store(
    aiodfu_emulators, binary: bool
) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(
        NotecardEmulator(image=IMAGE, storage=Storage.MODEM_FS, request_latency=0.005)
    )
    card.hub_mode = "continuous"

    async def first_session() -> None:
        async with card_for(card.connect, binary=binary, chunk_size=1024) as notecard:
            await notecard.update()

    task = asyncio.create_task(first_session())
    async with asyncio.timeout(30):
        while len(card.served) < 3:  # noqa: ASYNC110 - the emulator has no event for this
            await asyncio.sleep(0.005)
    assert card.hub_mode == "dfu"
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert card.hub_mode == "continuous" and card.binary_store is None  # released
    assert card.mode == "ready" and card.image == IMAGE  # the image is kept for the next try
    async with card_for(card.connect, binary=binary) as notecard:
        result = await notecard.update()
    assert result.image.data == IMAGE and card.mode == "completed"


async def test_release_is_bounded_when_the_card_stops_answering(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, storage=Storage.MODEM_FS))
    session = card_for(card.connect, timeouts=attrs.evolve(FAST_TIMEOUTS, first_byte=2.0))
    session.device.release_timeout = 0.3
    async with session as notecard:
        await notecard.set_hub_mode("dfu")
        notecard.device.in_dfu_mode = True
        card.faults.silent = True
        await notecard.device.release()  # logs, does not raise, does not hang
    assert notecard.device.in_dfu_mode  # it could not leave: a fresh session will
