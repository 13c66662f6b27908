"""Verify before install (the pull engine), and leave the module clean however a session ends."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from aiodfu.core.errors import ImageIntegrityError, RetriesExhaustedError
from aiodfu.core.progress import Progress
from aiodfu.core.pull import UnverifiedImageError
from aiodfu.core.session import VerificationMethod
from aiodfu.testing.images import build_mcuboot_image
from aiodfu.testing.rainmaker import FirmwareServer, HttpFaults, RainMakerEmulator

from .conftest import IMAGE, firmware, offer, session_for

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
