"""Verify before install (the pull engine), and leave the module clean however a session ends."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from aiodfu.core.errors import ImageIntegrityError, RetriesExhaustedError
from aiodfu.core.progress import Progress
from aiodfu.core.pull import UncoveredMismatchError, UnverifiedImageError
from aiodfu.core.session import VerificationMethod
from aiodfu.testing.images import build_mcuboot_image
from aiodfu.testing.rainmaker import FirmwareServer, HttpFaults, RainMakerEmulator

from .conftest import FAST_RETRY, IMAGE, firmware, offer, session_for

JOB = "cpuJraj3cxmAXuw8ER2GAe"


async def test_a_raw_image_without_a_digest_is_reported_unverified(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    async with session_for(module.connect) as session:
        result = await session.update(install=lambda image: None)
    assert result.image.data == IMAGE
    assert result.verification.method is VerificationMethod.NONE
    assert "no digest" in result.verification.detail


async def test_expected_sha256_verifies_and_says_so(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    async with session_for(module.connect) as session:
        result = await session.update(
            install=lambda image: None, expected_sha256=hashlib.sha256(IMAGE).hexdigest()
        )
    assert result.verification.method is VerificationMethod.HOST_DIGEST
    assert result.image.data == IMAGE
    assert module.job_status[JOB] == "success"


async def test_an_mcuboot_image_is_verified_by_its_own_hash(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    image = build_mcuboot_image(firmware(20_000, seed=3))
    offer(module, server, image=image)
    async with session_for(module.connect) as session:
        result = await session.update(install=lambda image: None, require_verified=True)
    assert result.image.data == image
    assert "MCUboot SHA-256" in result.verification.detail


async def test_corruption_at_the_server_fails_the_digest_and_nothing_is_installed(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    server.faults.corrupt_at = 20_000  # one response, one inverted byte
    installed: list[bytes] = []
    digest = hashlib.sha256(IMAGE).digest()
    async with session_for(module.connect) as session:
        with pytest.raises(ImageIntegrityError):
            await session.update(
                install=lambda image: installed.append(image.data), expected_sha256=digest
            )
    assert installed == []
    assert module.job_status[JOB] == "failed"  # reported; the job stays open
    assert "verification failed" in module.results[-1].info
    assert module.stored_url is None
    async with session_for(module.connect) as session:  # a fresh session: verified success
        result = await session.update(
            install=lambda image: installed.append(image.data), expected_sha256=digest
        )
    assert installed == [IMAGE] and result.verification.verified
    assert module.job_status[JOB] == "success"


async def test_require_verified_refuses_an_image_nothing_can_check(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    async with session_for(module.connect) as session:
        with pytest.raises(UnverifiedImageError):
            await session.update(install=lambda image: None, require_verified=True)
    assert module.job_status[JOB] == "failed"


async def test_cancelled_mid_download_leaves_no_url_and_a_fresh_session_updates(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    server.faults = HttpFaults(slow_body=0.02, piece=2000)
    streaming = asyncio.Event()

    def progress(report: Progress) -> None:
        if report.done > 0:
            streaming.set()

    async with session_for(module.connect) as session:
        task = asyncio.ensure_future(session.update(install=lambda image: None, progress=progress))
        await asyncio.wait_for(streaming.wait(), 10)  # the body is streaming
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the release cleared the URL (after the stream the module was busy with ended)
        assert module.stored_url is None
    server.faults = HttpFaults()
    async with session_for(module.connect) as session:
        result = await session.update(install=lambda image: None)
    assert result.image.data == IMAGE
    assert module.job_status[JOB] == "success"


async def test_retries_exhausted_leave_no_url_and_a_fresh_session_updates(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    server.faults = HttpFaults(reset_after=100, resets=100)
    async with session_for(module.connect) as session:
        with pytest.raises(RetriesExhaustedError):
            await session.update(install=lambda image: None)
    assert module.stored_url is None and module.headers == []
    server.faults = HttpFaults()
    async with session_for(module.connect) as session:
        result = await session.update(install=lambda image: None)
    assert result.image.data == IMAGE


# --- what an MCUboot image's hash does not cover (its signature TLVs) is read twice -----------

SIGNED = build_mcuboot_image(firmware(6000, seed=38))


def ranged(server: FirmwareServer) -> list[str]:
    """The ``Range`` headers of the requests the server saw."""
    return [r.headers["range"] for r in server.requests if "range" in r.headers]


@pytest.mark.parametrize("honour_range", [True, False])
async def test_a_byte_corrupted_once_in_the_signature_tlv_is_read_again_and_never_installed(
    module: RainMakerEmulator, server: FirmwareServer, honour_range: bool
) -> None:
    """Seed 3804: the hash does not cover the signature TLV, so one flipped byte there passed
    as verified. The second read disagrees; the image is downloaded again, read again and
    installed exact (a server that ignores ``Range`` sends the whole image for the second read)."""
    offer(module, server, image=SIGNED)
    server.faults.corrupt_at = len(SIGNED) - 10
    server.faults.honour_range = honour_range
    installed: list[bytes] = []
    async with session_for(module.connect) as session:
        result = await session.update(install=lambda image: installed.append(image.data))
    assert server.faults.corruptions == 0  # the fault fired
    assert installed == [SIGNED] and result.image.data == SIGNED
    assert result.verification.method is VerificationMethod.HOST_DIGEST
    assert "MCUboot SHA-256" in result.verification.detail
    assert "read twice and matched" in result.verification.detail
    assert module.job_status[JOB] == "success"
    assert module.stored_url is None and module.headers == []
    if honour_range:
        assert len(ranged(server)) == 2  # a second read after each download


async def test_a_signature_tlv_that_differs_every_time_is_refused_and_reported_failed(
    module: RainMakerEmulator, server: FirmwareServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer(module, server, image=SIGNED)
    server.faults.corrupt_at = len(SIGNED) - 10
    server.faults.corruptions = 1000
    corrupted = server._corrupted  # every whole download corrupted, every second read not
    monkeypatch.setattr(server, "_corrupted", lambda body, at: body if at else corrupted(body, at))
    installed: list[bytes] = []
    async with session_for(module.connect) as session:
        with pytest.raises(UncoveredMismatchError, match="read"):
            await session.update(install=lambda image: installed.append(image.data))
    assert installed == []
    assert module.job_status[JOB] == "failed"  # reported; the job stays open
    assert "verification failed" in module.results[-1].info
    assert module.stored_url is None and module.headers == []
    assert len(ranged(server)) == FAST_RETRY.attempts  # one second read per download


async def test_nothing_is_read_twice_when_a_digest_covers_all_or_nothing_can(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server, image=SIGNED)
    async with session_for(module.connect) as session:
        result = await session.update(
            install=lambda image: None, expected_sha256=hashlib.sha256(SIGNED).digest()
        )
    assert result.image.data == SIGNED and "read twice" not in result.verification.detail
    offer(module, server, job_id="cpuJraj3cxmAXuw8ER2GAf")  # a raw image: no digest of its own
    async with session_for(module.connect) as session:
        result = await session.update(install=lambda image: None)
    assert result.image.data == IMAGE and not result.verification.verified
    assert ranged(server) == [] and len(server.requests) == 2
