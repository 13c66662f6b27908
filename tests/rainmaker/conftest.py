"""Shared pieces for the RainMaker tests: fast timeouts, a loopback server, an offered job."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest

from aiodfu.core.transfer import RetryPolicy
from aiodfu.rainmaker import FirmwareNotification, RainMakerSession, Timeouts
from aiodfu.testing.rainmaker import FirmwareServer, RainMakerEmulator

FAST_TIMEOUTS = attrs.evolve(
    Timeouts(),
    command=1.0,
    notification=0.5,
    prompt=1.0,
    data_result=1.0,
    first_chunk=2.0,
    chunk_gap=2.0,
    result=1.0,
    ready=1.0,
    http_timeout_ms=2000,
)
FAST_RETRY = RetryPolicy(attempts=5, initial_delay=0.001, max_delay=0.01)

TRICKY = b"\r\nOK\r\n\r\nERROR\r\n+HTTPCGET:5,abc\r\n\x00\x00\r\n>busy p...\r\nready\r\n"


def firmware(size: int, seed: int = 1) -> bytes:
    """Random bytes with the sequences a line-based parser would trip on, sprinkled in."""
    import random

    rng = random.Random(seed)
    data = bytearray(rng.randbytes(size))
    for at in range(0, max(size - len(TRICKY), 0), 997):
        data[at : at + len(TRICKY)] = TRICKY
    return bytes(data[:size])


IMAGE = firmware(40_000)


def session_for(connector, **options) -> RainMakerSession:  # type: ignore[no-untyped-def]
    options.setdefault("timeouts", FAST_TIMEOUTS)
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("baudrate", None)
    return RainMakerSession(connector, **options)


@pytest.fixture
async def server() -> AsyncIterator[FirmwareServer]:
    async with FirmwareServer() as running:
        yield running


def offer(
    module: RainMakerEmulator,
    server: FirmwareServer,
    image: bytes = IMAGE,
    version: str | None = "2.0.1",
    job_id: str = "cpuJraj3cxmAXuw8ER2GAe",
) -> FirmwareNotification:
    job = FirmwareNotification(
        type=0, size=len(image), url=server.add("host.bin", image), version=version, job_id=job_id
    )
    module.offer(job, image)
    return job


@pytest.fixture
async def module() -> AsyncIterator[RainMakerEmulator]:
    async with RainMakerEmulator(seed=3) as emulator:
        yield emulator
    assert not emulator.failures
