"""No presigned URL in any log record at any level, nor in any exception."""

from __future__ import annotations

import logging

import pytest

from aiodfu.rainmaker import DownloadFailedError
from aiodfu.testing.rainmaker import FirmwareServer, RainMakerEmulator

from .conftest import offer, session_for

SECRETS = ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "FAKE,TOKEN")


def assert_clean(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records  # the debug trace did run
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        for secret in SECRETS:
            assert secret not in text, f"{record.name}: {text}"


async def test_no_url_in_logs_through_a_full_update_with_recovery(
    module: RainMakerEmulator, server: FirmwareServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    offer(module, server)
    module.faults.error_after_chunks = 3
    async with session_for(module.connect) as session:
        await session.update(install=lambda image: None)
        await session.device.command("AT+HTTPURLCFG?")  # the module prints the URL back
    assert any("+RMFWNOTIFY" in record.getMessage() for record in caplog.records)
    assert_clean(caplog)


async def test_no_url_in_logs_or_exceptions_when_the_download_fails(
    module: RainMakerEmulator, server: FirmwareServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    job = offer(module, server)
    server.faults.status = 404
    async with session_for(module.connect) as session:
        with pytest.raises(DownloadFailedError) as info:
            await session.update(install=lambda image: None)
    error = info.value
    for text in (str(error), repr(error), str(error.__cause__), repr(job)):
        for secret in SECRETS:
            assert secret not in text
    assert_clean(caplog)


async def test_no_url_on_the_serial_echo_path(
    server: FirmwareServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with RainMakerEmulator(echo=True) as module:
        offer(module, server)
        async with session_for(module.connect) as session:
            await session.update(install=lambda image: None)
        assert all("Signature" not in line for line in module.commands)
    assert_clean(caplog)
