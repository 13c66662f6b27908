"""The emulator's fault knobs, each with the host's outcome and a fresh session afterwards.

Every fault ends in one of two ways: the host recovers and installs exactly
the image the server holds, or it raises a typed error and reports the job
failed. Either way a fresh session then updates the module.
"""

from __future__ import annotations

import hashlib
import logging
import random

import attrs
import pytest

from aiodfu.core.errors import DfuError, RetriesExhaustedError
from aiodfu.core.image import FirmwareImage
from aiodfu.rainmaker import (
    DownloadFailedError,
    DownloadSizeError,
    InstallFailedError,
    NotificationError,
)
from aiodfu.rainmaker.protocol import FirmwareNotification, OtaStatus
from aiodfu.testing.faults import FaultyLinks, LinkPlan, random_link_plan
from aiodfu.testing.rainmaker import FirmwareServer, RainMakerEmulator, ReportedResult
from aiodfu.transports.memory import LinkFaults

from .conftest import IMAGE, firmware, offer, session_for

JOB = "cpuJraj3cxmAXuw8ER2GAe"


def checked_install(expected: bytes, installed: list[bytes]):  # type: ignore[no-untyped-def]
    """An install step that checks the image the way a host checks its own signature."""
    digest = hashlib.sha256(expected).digest()

    def install(image: FirmwareImage) -> None:
        if image.sha256 != digest:
            raise ValueError("image digest mismatch: not installing")
        installed.append(image.data)

    return install


async def update(module: RainMakerEmulator, image: bytes = IMAGE, **options) -> bytes:  # type: ignore[no-untyped-def]
    installed: list[bytes] = []
    async with session_for(module.connect, **options) as session:
        await session.update(install=checked_install(image, installed))
    assert installed == [image]
    return installed[0]


async def assert_fresh_session_updates(module: RainMakerEmulator, server: FirmwareServer) -> None:
    """A new job (a new image) through a new session: the module was left usable."""
    image = firmware(9000, seed=77)
    offer(module, server, image=image, version="3.0.0", job_id="freshJob")
    assert await update(module, image) == image
    assert module.job_status["freshJob"] == "success"
    assert module.stored_url is None and module.headers == []


def presigning(server: FirmwareServer, image: bytes = IMAGE):  # type: ignore[no-untyped-def]
    """The cloud presigning job ``JOB``'s URL again on each fetch (other jobs keep theirs)."""

    def presign(job: FirmwareNotification) -> FirmwareNotification:
        if job.job_id != JOB:
            return job
        return attrs.evolve(job, url=server.add("host.bin", image))

    return presign


@pytest.mark.parametrize("reboot_time", [0.0, 0.05])
async def test_module_reset_mid_download_is_noticed_and_the_download_resumed(
    server: FirmwareServer, caplog: pytest.LogCaptureFixture, reboot_time: float
) -> None:
    async with RainMakerEmulator(seed=4, reboot_time=reboot_time) as module:
        offer(module, server)
        module.faults.reset_after_chunks = 4
        assert await update(module) == IMAGE
        assert module.resets == 1
        assert module.job_status[JOB] == "success"
        # the module lost the stored URL, the headers and the pending flag: all set again
        assert server.requests[1].headers["range"].startswith("bytes=")
        assert (
            sum("RMOTAFETCH" in line for line in module.commands) == 3
        )  # +1: the job read again to confirm it
        # the banner failed the download at once (no wait for the chunk-gap timeout)
        assert any("rebooted" in record.getMessage() for record in caplog.records)
        await assert_fresh_session_updates(module, server)
        assert not module.failures


async def test_body_corruption_at_the_server_is_refused_then_a_fresh_session_updates(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    server.faults.corrupt_at = 12_345  # one response, one inverted byte
    async with session_for(module.connect) as session:
        with pytest.raises(InstallFailedError) as info:
            await session.update(install=checked_install(IMAGE, []))
    assert "digest mismatch" in str(info.value)
    assert module.job_status[JOB] == "failed"  # reported; the job stays open
    assert module.stored_url is None
    assert await update(module) == IMAGE  # the same job again, now intact
    assert module.job_status[JOB] == "success"
    await assert_fresh_session_updates(module, server)


@pytest.mark.parametrize("delta", [-5000, 5000])
async def test_content_length_mismatch_once_is_completed_by_a_range_request(
    module: RainMakerEmulator, server: FirmwareServer, delta: int
) -> None:
    offer(module, server)
    server.faults.length_delta = delta  # announced 5000 bytes short of / beyond the body, once
    assert await update(module) == IMAGE
    assert len(server.requests) == 2
    assert server.requests[1].headers["range"].startswith("bytes=")
    assert module.job_status[JOB] == "success"
    await assert_fresh_session_updates(module, server)


async def test_content_length_always_short_is_a_typed_error(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    server.faults.length_delta = -5000
    server.faults.length_errors = 1000
    async with session_for(module.connect) as session:
        with pytest.raises(RetriesExhaustedError) as info:
            await session.update(install=checked_install(IMAGE, []))
    assert isinstance(info.value.__cause__, DownloadSizeError)
    assert module.job_status[JOB] == "failed"
    assert module.stored_url is None and module.headers == []
    server.faults.length_errors = 0
    await assert_fresh_session_updates(module, server)


async def test_url_expiring_during_a_download_is_presigned_again_and_resumed(
    server: FirmwareServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with RainMakerEmulator(seed=6, presign=presigning(server)) as module:
        job = offer(module, server)
        server.faults.expire_after_requests = 1  # each URL: one request, then 403
        module.faults.error_after_chunks = 5
        async with session_for(module.connect, report_progress=False) as session:
            result = await session.update(install=lambda image: None, job=job)
        assert result.image.data == IMAGE  # the 403's XML body was not taken as image data
        first, expired, fresh = server.requests
        assert expired.target == first.target and fresh.target != first.target
        assert expired.headers["range"] == fresh.headers["range"]  # resumed, not restarted
        assert result.details["resumes"] == "2"
        assert (
            sum("RMOTAFETCH" in line for line in module.commands) == 2
        )  # +1: the job read again to confirm it
        assert any("URL expired" in record.getMessage() for record in caplog.records)
        assert module.job_status[job.job_id] == "success"
        await assert_fresh_session_updates(module, server)


async def test_url_expired_for_good_is_a_typed_error(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    job = offer(module, server)
    server.revoke(job.url)  # and the cloud hands out the same URL again
    async with session_for(module.connect) as session:
        with pytest.raises(RetriesExhaustedError) as info:
            await session.update(install=checked_install(IMAGE, []))
    cause = info.value.__cause__
    assert isinstance(cause, DownloadFailedError) and cause.http_status == 403
    assert module.job_status[JOB] == "failed"
    module.presign = presigning(server)
    assert await update(module) == IMAGE
    await assert_fresh_session_updates(module, server)


@pytest.mark.parametrize("status", [204, 302])
async def test_success_status_without_the_image_is_a_typed_error(
    module: RainMakerEmulator, server: FirmwareServer, status: int
) -> None:
    offer(module, server)
    server.faults.status = status  # the module takes it as a success: OK after its body
    async with session_for(module.connect) as session:
        with pytest.raises(RetriesExhaustedError) as info:
            await session.update(install=checked_install(IMAGE, []))
    assert isinstance(info.value.__cause__, DownloadSizeError)
    assert module.job_status[JOB] == "failed"
    server.faults.status = None
    await assert_fresh_session_updates(module, server)


SMALL = firmware(6000, seed=5)


@pytest.mark.parametrize("seed", range(24))
async def test_random_link_fault_ends_verified_or_typed_and_a_fresh_session_updates(
    server: FirmwareServer, seed: int
) -> None:
    """One seeded link fault of any kind, either way: never an unverified success."""
    rng = random.Random(seed)
    plan = random_link_plan(rng, span=1200, upstream_span=len(SMALL) + 400)
    digest = hashlib.sha256(SMALL).digest()
    async with RainMakerEmulator(seed=seed, presign=presigning(server, SMALL)) as module:
        offer(module, server, image=SMALL)
        connector = FaultyLinks(module, {1: plan})
        installed: list[bytes] = []
        try:
            async with session_for(connector) as session:
                result = await session.update(
                    install=lambda image: installed.append(image.data), expected_sha256=digest
                )
        except DfuError:
            assert installed == [], plan.description  # a typed error, nothing installed
        else:
            assert installed == [SMALL] and result.verification.verified, plan.description
        assert not module.failures
        async with session_for(module.connect) as session:  # a healthy link: a fresh session
            if module.job_status[JOB] != "success":
                result = await session.update(install=lambda image: None, expected_sha256=digest)
                assert result.image.data == SMALL
        assert module.job_status[JOB] == "success", plan.description
        await assert_fresh_session_updates(module, server)


@pytest.mark.parametrize("at", [3000, 9001, 17_777, 30_303])
@pytest.mark.parametrize("kind", ["insert", "lose", "duplicate"])
async def test_a_byte_slip_in_the_download_is_caught_without_a_digest(
    server: FirmwareServer, at: int, kind: str
) -> None:
    """A byte lost, repeated or added in the UART stream breaks a chunk's framing: the chunk is
    dropped and the download resumed, so even an unverified update installs the exact image."""
    faults = {
        "insert": LinkFaults(insert_before={at: b"\x00noise"}),
        "lose": LinkFaults(lose_at={at}),
        "duplicate": LinkFaults(duplicate_at={at}),
    }[kind]
    async with RainMakerEmulator(seed=at) as module:
        offer(module, server)
        connector = FaultyLinks(module, {1: LinkPlan(device_to_host=faults)})
        installed: list[bytes] = []
        async with session_for(connector) as session:
            await session.update(install=lambda image: installed.append(image.data))
        assert connector.fired, "the fault did not fire"
        assert installed == [IMAGE]
        assert module.job_status[JOB] == "success"


NOTIFIED_JOB_AT = 452
"""Where the job ID of the first ``+RMFWNOTIFY`` starts in the module's output (a clean session)."""


@pytest.mark.parametrize("into", [0, 5, len(JOB) - 1])
async def test_a_byte_lost_in_the_job_id_is_never_reported_for_the_wrong_job(
    server: FirmwareServer, into: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Campaign seed 4948: the notification's job ID lost a byte and still parsed; the image was
    installed and the success reported for that ID, leaving the real job open. The job is read
    again before anything is reported, and only a job read alike twice is acted on."""
    caplog.set_level(logging.INFO, logger="aiodfu.rainmaker")
    async with RainMakerEmulator(seed=3) as module:
        offer(module, server)
        faults = LinkFaults(lose_at={NOTIFIED_JOB_AT + into})
        connector = FaultyLinks(module, {1: LinkPlan(device_to_host=faults)})
        installed: list[bytes] = []
        async with session_for(connector) as session:
            result = await session.update(
                install=lambda image: installed.append(image.data),
                expected_sha256=hashlib.sha256(IMAGE).hexdigest(),
            )
        assert connector.fired, "the fault did not fire"
        read = {r.getMessage() for r in caplog.records if r.getMessage().startswith("host OTA")}
        assert any(JOB not in message for message in read), "the fault missed the job ID"
        assert installed == [IMAGE] and result.details["job"] == JOB
        assert {reported.job_id for reported in module.results} == {JOB}
        assert module.job_status[JOB] == "success"


async def test_a_job_read_differently_three_times_is_a_typed_error_and_nothing_is_reported(
    server: FirmwareServer,
) -> None:
    numbers = iter(range(1, 100))

    def renamed(job: FirmwareNotification) -> FirmwareNotification:
        return attrs.evolve(job, job_id=f"{JOB}{next(numbers)}")

    async with RainMakerEmulator(seed=3, presign=renamed) as module:
        offer(module, server)
        installed: list[bytes] = []
        async with session_for(module.connect) as session:
            with pytest.raises(NotificationError, match="differently in 3 reads"):
                await session.update(install=lambda image: installed.append(image.data))
        assert installed == [] and module.results == [] and module.downloads == 0
        assert sum("RMOTAFETCH" in line for line in module.commands) == 3


async def test_report_checks_the_job_against_the_module_before_reporting(
    server: FirmwareServer,
) -> None:
    """session.report is public: a job read wrong (here a lost byte in its ID) is refused, typed,
    and nothing reported; the job as the module announces it is reported, with one read more."""
    async with RainMakerEmulator(seed=3) as module:
        job = offer(module, server)
        misread = attrs.evolve(job, job_id=JOB[:5] + JOB[6:])
        async with session_for(module.connect) as session:
            with pytest.raises(NotificationError, match="not the job the module announces"):
                await session.report(misread, OtaStatus.FAILED, "no")
            assert module.results == []
            fetched = await session.fetch()
            await session.report(fetched, OtaStatus.FAILED, "disk full")
            await session.report(fetched, OtaStatus.FAILED, "disk full")  # confirmed already
        assert module.results == [ReportedResult(JOB, 3, "disk full")] * 2
        # the refused report read the job twice (both the real one: now confirmed), fetch once
        assert sum("RMOTAFETCH" in line for line in module.commands) == 3
