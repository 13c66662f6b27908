"""The emulated module on a pseudo-terminal, driven through the real serial transport."""

from __future__ import annotations

from aiodfu.rainmaker import open as open_rainmaker
from aiodfu.testing.pty import serve_pty
from aiodfu.testing.rainmaker import FirmwareServer, RainMakerEmulator

from .conftest import FAST_RETRY, FAST_TIMEOUTS, IMAGE, offer


async def test_update_over_a_pty(server: FirmwareServer) -> None:
    module = RainMakerEmulator(seed=9)
    job = offer(module, server)
    installed: list[bytes] = []
    async with (
        serve_pty(module) as path,
        open_rainmaker(path, timeouts=FAST_TIMEOUTS, retry=FAST_RETRY) as session,
    ):
        await session.update(install=lambda image: installed.append(image.data))
    assert installed == [IMAGE]
    assert module.job_status[job.job_id] == "success"
    assert not module.failures
