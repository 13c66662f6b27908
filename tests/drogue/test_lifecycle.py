"""The session lifecycle (core DeviceLink): cancelling ``update()`` mid-transfer leaves the device
where a fresh session updates it -- over a memory link, a pty and GATT; a link dropped during
service discovery is a lost link, retried, not a stray CancelledError (issue 10, defect 4)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from aiodfu.core.progress import Progress
from aiodfu.core.session import UpdateResult
from aiodfu.drogue import DrogueSession
from aiodfu.drogue import open as open_serial_session
from aiodfu.testing.drogue import BootMagic
from aiodfu.testing.drogue.gatt import DrogueGattFaults
from aiodfu.testing.pty import serve_pty

from .conftest import FAST_RETRY, FAST_TIMEOUTS, NEW, NEW_VERSION, emulator, session_for
from .gatt_fixtures import HostFactory, SessionFactory, make_host, make_session, radio

__all__ = ["make_host", "make_session", "radio"]  # fixtures used by name


async def cancel_mid_transfer(session: DrogueSession, image: bytes, after: int) -> None:
    """Start an update, cancel it once ``after`` bytes are confirmed, and see it cancelled."""
    reached = asyncio.Event()

    def progress(event: Progress) -> None:
        if event.done >= after:
            reached.set()

    task = asyncio.create_task(session.update(image, version="0.2.0", progress=progress))
    await asyncio.wait_for(reached.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def cancel_then_update(
    make: Callable[[], DrogueSession], image: bytes, after: int
) -> UpdateResult:
    async with make() as session:
        await cancel_mid_transfer(session, image, after)
    async with make() as session:
        return await asyncio.wait_for(session.update(image, version="0.2.0"), 30)


@pytest.mark.parametrize("after", [1, 3000, 8000])
async def test_cancelled_update_then_a_fresh_session_over_a_memory_link(after: int) -> None:
    device = emulator()
    async with device:
        result = await cancel_then_update(lambda: session_for(device.connect), NEW, after)
    assert device.image == NEW and device.version == NEW_VERSION
    assert device.boot_state is BootMagic.BOOT
    assert result.details["state"] == "booted" and not device.failures


async def test_cancelled_update_then_a_fresh_session_over_a_pty() -> None:
    device = emulator()
    async with serve_pty(device) as path:

        def make() -> DrogueSession:
            return open_serial_session(path, timeouts=FAST_TIMEOUTS, retry=FAST_RETRY)

        await cancel_then_update(make, NEW, 4000)
    assert device.image == NEW and device.boot_state is BootMagic.BOOT
    assert not device.failures


async def test_cancelled_update_then_a_fresh_session_over_gatt(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    host = await make_host()
    image = NEW[:2048]
    await cancel_then_update(lambda: make_session(host), image, 700)
    await host.idle()
    assert host.device.image == image and host.device.boot_state is BootMagic.BOOT


async def test_link_dropped_during_service_discovery_is_retried(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    host = await make_host(faults=DrogueGattFaults(drop_on_connect=1))
    image = NEW[:1024]
    async with make_session(host) as session:
        result = await asyncio.wait_for(session.update(image, version="0.2.0"), 30)
    await host.idle()
    assert host.dropped == 1 and host.connections >= 2
    assert host.device.image == image and result.details["state"] == "booted"
