"""The device-link lifecycle every backend shares: connect, reopen, robustly, release."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aiodfu.core.errors import (
    CommandRejectedError,
    DfuTimeoutError,
    LinkLostError,
    RetriesExhaustedError,
)
from aiodfu.core.link import DeviceLink, LinkedSession
from aiodfu.core.transfer import RetryPolicy

FAST = RetryPolicy(attempts=3, initial_delay=0.0)


class Link:
    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class Device(DeviceLink[Link]):
    """A DeviceLink that records every hook call and fails as told."""

    def __init__(self, *, failing_opens: int = 0, release_time: float = 0.0, **kwargs: object):
        self.opened: list[Link] = []
        self.calls: list[str] = []
        self.failing_opens = failing_opens
        self.release_time = release_time
        self.release_error: Exception | None = None

        def connector() -> Link:
            if self.failing_opens:
                self.failing_opens -= 1
                raise LinkLostError("port busy")
            link = Link(len(self.opened) + 1)
            self.opened.append(link)
            return link

        super().__init__(connector, retry=FAST, open_timeout=1.0, **kwargs)  # type: ignore[arg-type]

    def is_alive(self, link: Link) -> bool:
        return not link.closed

    async def handshake(self) -> None:
        self.calls.append(f"handshake {self.link.number}")

    async def on_release(self) -> None:
        self.calls.append(f"release {self.link.number}")
        await asyncio.sleep(self.release_time)
        if self.release_error is not None:
            raise self.release_error


class Session(LinkedSession[Device]):
    def __init__(self, device: Device) -> None:
        self.device = device


async def test_connect_reopens_per_the_retry_policy() -> None:
    device = Device(failing_opens=2)
    async with Session(device):
        assert device.connected
        assert device.calls == ["handshake 1"]
    assert device.opened[0].closed
    assert not device.connected


async def test_connect_gives_up_with_a_connection_error_when_every_open_failed() -> None:
    device = Device(failing_opens=10)
    with pytest.raises(RetriesExhaustedError) as info:
        await device.connect()
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value.__cause__, LinkLostError)


async def test_robustly_resyncs_after_a_transient_failure_and_runs_the_step_again() -> None:
    device = Device()
    await device.connect()
    outcomes: list[Exception | str] = [DfuTimeoutError("silent"), "answer"]

    async def step() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert await device.robustly(step, "query") == "answer"
    assert device.opened[0].closed  # the default resync reopens the link ...
    assert device.calls == ["handshake 1", "handshake 2"]  # ... and hand-shakes again
    await device.aclose()


async def test_robustly_lets_a_final_error_through_at_once() -> None:
    device = Device()
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        raise CommandRejectedError("no", status="ERROR")

    with pytest.raises(CommandRejectedError):
        await device.robustly(step, "command")
    assert calls == 1
    await device.aclose()


async def test_robustly_connects_first_when_no_link_is_open() -> None:
    device = Device()

    async def step() -> int:
        return device.link.number

    assert await device.robustly(step, "step") == 1
    await device.aclose()


async def test_releasing_runs_release_on_a_typed_error_and_reraises_it() -> None:
    device = Device()
    await device.connect()
    with pytest.raises(DfuTimeoutError):
        async with device.releasing():
            raise DfuTimeoutError("silent")
    assert device.calls[-1] == "release 1"
    await device.aclose()


async def test_releasing_does_nothing_on_success() -> None:
    device = Device()
    await device.connect()
    async with device.releasing():
        pass
    assert "release 1" not in device.calls
    await device.aclose()


async def test_a_cancelled_block_is_released_and_the_cancellation_propagates() -> None:
    device = Device(release_time=0.05)
    await device.connect()
    started = asyncio.Event()

    async def update() -> None:
        async with device.releasing():
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(update())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert device.calls[-1] == "release 1"
    await device.aclose()


async def test_a_release_that_hangs_is_abandoned_after_its_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    device = Device(release_time=60, release_timeout=0.05)
    await device.connect()
    with caplog.at_level(logging.WARNING, "aiodfu.link"), pytest.raises(LinkLostError):
        async with device.releasing():
            raise LinkLostError("gone")
    assert "did not settle" in caplog.text
    await device.aclose()


async def test_a_release_that_fails_is_logged_and_never_masks_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    device = Device()
    device.release_error = DfuTimeoutError("still silent")
    await device.connect()
    with caplog.at_level(logging.WARNING, "aiodfu.link"), pytest.raises(CommandRejectedError):
        async with device.releasing():
            raise CommandRejectedError("no")
    assert "could not leave the device clean" in caplog.text
    await device.aclose()


async def test_release_without_a_link_does_nothing() -> None:
    device = Device()
    await device.release()
    assert device.calls == []


async def test_a_second_cancellation_during_release_propagates() -> None:
    device = Device(release_time=60, release_timeout=30)
    await device.connect()
    releasing = asyncio.Event()

    async def update() -> None:
        async with device.releasing():
            raise LinkLostError("gone")

    original = device.on_release

    async def on_release() -> None:
        releasing.set()
        await original()

    device.on_release = on_release  # type: ignore[method-assign]
    task = asyncio.create_task(update())
    await releasing.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await device.aclose()
