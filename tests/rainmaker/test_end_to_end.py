"""Notification -> download -> install -> AT+RMOTARESULT against the emulated module."""

from __future__ import annotations

import pytest

from aiodfu.core.image import FirmwareImage
from aiodfu.rainmaker import InstallFailedError, JobRejectedError, NoUpdateError, OtaStatus
from aiodfu.testing.rainmaker import FirmwareServer, RainMakerEmulator, ReportedResult

from .conftest import IMAGE, TRICKY, offer, session_for


async def test_fetch_download_install_report_success(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    job = offer(module, server)
    installed: list[bytes] = []
    async with session_for(module.connect) as session:
        result = await session.update(install=lambda image: installed.append(image.data))
    assert installed == [IMAGE]
    assert TRICKY in installed[0]
    assert result.image.data == IMAGE
    assert result.details["job"] == job.job_id
    assert module.job_status[job.job_id] == "success"
    assert module.results == [
        ReportedResult(job.job_id, 1, "downloading"),
        ReportedResult(job.job_id, 2, "2.0.1"),
    ]
    assert not module.host_ota_pending
    assert module.stored_url is None  # the secret was cleared
    assert len(server.requests) == 1


async def test_a_pushed_job_is_read_again_once_then_used(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    job = offer(module, server, version=None)
    async with session_for(module.connect, report_progress=False) as session:
        module.push()
        pushed = await anext(session.notifications())
        assert pushed == job
        result = await session.update(install=lambda image: None, job=pushed)
    assert result.image.data == IMAGE
    assert module.results == [ReportedResult(job.job_id, 2, "OTA success")]
    # no fetch for the job itself: the one AT+RMOTAFETCH only reads the pushed job again
    assert sum("RMOTAFETCH" in line for line in module.commands) == 1


async def test_async_install_failure_is_reported_failed_and_job_stays_open(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    job = offer(module, server)

    async def install(image: FirmwareImage) -> None:
        raise OSError("flash write failed at 0x8000")

    async with session_for(module.connect) as session:
        with pytest.raises(InstallFailedError) as info:
            await session.update(install=install)
    assert isinstance(info.value.__cause__, OSError)
    assert module.job_status[job.job_id] == "failed"
    assert module.results[-1].status == OtaStatus.FAILED
    assert "flash write failed" in module.results[-1].info
    assert module.host_ota_pending  # 3 leaves the job open


async def test_rejected_version_is_reported_and_nothing_downloaded(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    job = offer(module, server, version="0.9.0")
    async with session_for(module.connect) as session:
        with pytest.raises(JobRejectedError):
            await session.update(install=lambda image: None, accept=lambda job: "downgrade")
    assert module.results == [ReportedResult(job.job_id, 5, "downgrade")]
    assert module.job_status[job.job_id] == "rejected"
    assert not server.requests


async def test_no_pending_job_is_a_clear_error(module: RainMakerEmulator) -> None:
    async with session_for(module.connect) as session:
        with pytest.raises(NoUpdateError) as info:
            await session.update(install=lambda image: None)
    assert info.value.operation == "AT+RMOTAFETCH"


async def test_reset_between_download_and_report_rearms_the_job(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    job = offer(module, server)

    def install(image: FirmwareImage) -> None:
        module.reset()  # the ESP reboots while the host installs: the pending flag is lost

    async with session_for(module.connect, report_progress=False) as session:
        await session.update(install=install)
    assert module.job_status[job.job_id] == "success"
    assert (
        sum("RMOTAFETCH" in line for line in module.commands) == 3
    )  # +1: the job read again to confirm it
