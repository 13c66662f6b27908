"""Link loss, mid-stream ERROR and HTTP faults: resumed or restarted, identical image, no hang."""

from __future__ import annotations

import asyncio
import logging

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodfu.core.errors import RetriesExhaustedError
from aiodfu.rainmaker import DownloadFailedError, FirmwareNotification
from aiodfu.testing.emulator import FaultyFirstLink
from aiodfu.testing.rainmaker import FirmwareServer, HttpFaults, RainMakerEmulator
from aiodfu.transports.memory import LinkFaults

from .conftest import IMAGE, offer, session_for

SMALL = IMAGE[:6000]


async def download(module: RainMakerEmulator, connector, **options) -> bytes:  # type: ignore[no-untyped-def]
    installed: list[bytes] = []
    async with session_for(connector, **options) as session:
        await session.update(install=lambda image: installed.append(image.data))
    return installed[0]


async def test_mid_stream_error_resumes_with_a_range_request(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    module.faults.error_after_chunks = 5
    assert await download(module, module.connect) == IMAGE
    ranges = [request.headers.get("range") for request in server.requests]
    assert ranges[0] is None
    assert ranges[1] is not None and ranges[1].startswith("bytes=")
    assert int(ranges[1][6:-1]) > 0
    assert module.headers == []  # cleared afterwards
    assert module.job_status["cpuJraj3cxmAXuw8ER2GAe"] == "success"


async def test_server_reset_mid_body_resumes(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    server.faults.reset_after = 10_000
    assert await download(module, module.connect) == IMAGE
    assert len(server.requests) == 2
    assert server.requests[1].headers["range"].startswith("bytes=")


async def test_module_without_httpchead_restarts_cleanly(server: FirmwareServer) -> None:
    async with RainMakerEmulator(has_httpchead=False, seed=5) as module:
        offer(module, server)
        module.faults.error_after_chunks = 3
        assert await download(module, module.connect) == IMAGE
    assert [request.headers.get("range") for request in server.requests] == [None, None]


async def test_server_ignoring_range_is_detected_and_the_download_restarts(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    server.faults = HttpFaults(honour_range=False)
    offer(module, server)
    module.faults.error_after_chunks = 4
    assert await download(module, module.connect) == IMAGE
    assert server.requests[-1].headers.get("range") is None  # third attempt: clean restart


async def test_module_refusing_partial_content_restarts_cleanly(server: FirmwareServer) -> None:
    async with RainMakerEmulator(accept_partial=False, seed=2) as module:
        offer(module, server)
        module.faults.error_after_chunks = 3
        assert await download(module, module.connect) == IMAGE
    ranges = [request.headers.get("range") for request in server.requests]
    assert ranges[0] is None and ranges[1] is not None and ranges[2] is None


async def test_malformed_notification_is_ignored_and_the_real_one_used(
    module: RainMakerEmulator, server: FirmwareServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    offer(module, server)
    module.faults.unsolicited.append(b"+RMFWNOTIFY:0,12,ftp://x?X-Amz-Signature=bad,1.0,j\r\n")
    assert await download(module, module.connect) == IMAGE
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("malformed +RMFWNOTIFY" in text for text in warnings)
    assert not any("X-Amz" in record.getMessage() for record in caplog.records)


async def test_resume_disabled_restarts_from_zero(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    module.faults.error_after_chunks = 2
    assert await download(module, module.connect, resume=False) == IMAGE
    assert all("range" not in request.headers for request in server.requests)


async def test_404_fails_at_once_and_is_reported_failed(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    server.faults.status = 404
    async with session_for(module.connect) as session:
        with pytest.raises(DownloadFailedError) as info:
            await session.update(install=lambda image: None)
    assert info.value.http_status == 404
    assert info.value.status == "0x010a7194"
    assert len(server.requests) == 1
    assert module.job_status["cpuJraj3cxmAXuw8ER2GAe"] == "failed"
    assert module.stored_url is None


async def test_persistent_connection_failure_exhausts_retries(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    server.faults = HttpFaults(reset_after=100, resets=100)
    async with session_for(module.connect) as session:
        with pytest.raises(RetriesExhaustedError) as info:
            await session.update(install=lambda image: None)
    assert isinstance(info.value.__cause__, DownloadFailedError)
    assert info.value.status == "0x010a7000"
    assert module.job_status["cpuJraj3cxmAXuw8ER2GAe"] == "failed"


async def test_expired_url_is_fetched_again_with_a_fresh_one(server: FirmwareServer) -> None:
    def presign(job: FirmwareNotification) -> FirmwareNotification:
        return attrs.evolve(job, url=server.add("host.bin", IMAGE))

    async with RainMakerEmulator(presign=presign) as module:
        job = offer(module, server)
        server.revoke(job.url)
        async with session_for(module.connect, report_progress=False) as session:
            result = await session.update(install=lambda image: None, job=job)
    assert result.image.data == IMAGE
    assert [request.target == server.requests[0].target for request in server.requests] == [
        True,
        False,
    ]
    assert (
        sum("RMOTAFETCH" in line for line in module.commands) == 2
    )  # +1: the job read again to confirm it
    assert module.job_status[job.job_id] == "success"


async def test_slow_body_with_silence_shorter_than_the_gap_completes(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server, image=SMALL)
    server.faults = HttpFaults(slow_body=0.01, piece=1000)
    assert await download(module, module.connect) == SMALL


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    where=st.integers(min_value=1, max_value=len(SMALL) + 600),
    upstream=st.booleans(),
    resume=st.booleans(),
    seed=st.integers(0, 1000),
)
async def test_link_loss_at_any_point_never_hangs_and_yields_the_image(
    server: FirmwareServer, where: int, upstream: bool, resume: bool, seed: int
) -> None:
    async with RainMakerEmulator(seed=seed) as module:
        offer(module, server, image=SMALL)
        fault = LinkFaults(drop_after=where if upstream else min(where, 400))
        connector = (
            FaultyFirstLink(module, device_to_host=fault)
            if upstream
            else FaultyFirstLink(module, host_to_device=fault)
        )
        assert await download(module, connector, resume=resume) == SMALL
        assert module.job_status["cpuJraj3cxmAXuw8ER2GAe"] == "success"
        assert not module.failures


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(after=st.integers(min_value=0, max_value=30), seed=st.integers(0, 1000))
async def test_mid_stream_error_at_any_chunk_yields_the_image(
    server: FirmwareServer, after: int, seed: int
) -> None:
    async with RainMakerEmulator(seed=seed) as module:
        offer(module, server, image=SMALL)
        module.faults.error_after_chunks = after
        assert await download(module, module.connect, rx_size=512) == SMALL
        assert not module.failures


async def test_urc_between_chunks_is_dispatched_not_taken_as_data(
    module: RainMakerEmulator, server: FirmwareServer, caplog: pytest.LogCaptureFixture
) -> None:
    offer(module, server)
    module.faults.notify_between_chunks = b"WIFI DISCONNECT\r\n+RMOTA:1\r\n"
    caplog.set_level(logging.DEBUG)
    async with session_for(module.connect) as session:
        result = await session.update(install=lambda image: None)
        assert session.device.module_ota_status == 1
    assert result.image.data == IMAGE


async def test_waiting_for_a_pushed_job_fails_at_once_when_the_link_drops(
    module: RainMakerEmulator,
) -> None:
    from aiodfu.core.errors import LinkLostError

    async with session_for(module.connect) as session:
        waiting = asyncio.ensure_future(anext(session.notifications()))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        module.disconnect()
        with pytest.raises(LinkLostError) as info:
            await asyncio.wait_for(waiting, 5)  # at once, not after a timeout: it has none
        assert info.value.operation == "wait for +RMFWNOTIFY"


async def test_a_fresh_url_keeps_the_confirmed_size(server: FirmwareServer) -> None:
    """Fetching a job again for a fresh URL takes only the URL: a size read differently then
    (a corrupted line) never replaces the one confirmed before the download."""
    fetches = 0

    def presign(job: FirmwareNotification) -> FirmwareNotification:
        nonlocal fetches
        fetches += 1
        url = server.add("host.bin", IMAGE)
        return attrs.evolve(job, url=url, size=len(IMAGE) + (7 if fetches >= 2 else 0))

    async with RainMakerEmulator(presign=presign) as module:
        job = offer(module, server)
        server.revoke(job.url)
        async with session_for(module.connect, report_progress=False) as session:
            result = await session.update(install=lambda image: None, job=job)
        assert fetches == 2  # the confirmation, then the fresh URL after the 403
        assert result.image.data == IMAGE
        assert module.job_status[job.job_id] == "success"
