"""The Wi-Fi MCU's own OTA: follow +RMOTA and restart the module with AT+RST when it succeeded."""

from __future__ import annotations

import asyncio

from aiodfu.testing.rainmaker import FirmwareServer, RainMakerEmulator

from .conftest import IMAGE, offer, session_for


async def test_success_restarts_the_module_when_asked(module: RainMakerEmulator) -> None:
    async with session_for(module.connect, restart_module=True) as session:
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, module.module_ota, 1)
        loop.call_later(0.03, module.module_ota, 2)
        assert await session.wait_module_ota(2.0) == 2
        assert session.module_restarts == 1
        assert await session.device.command("AT")  # echo off again after the reboot
    assert sum(line == "AT+RST" for line in module.commands) == 1
    assert not module.echo


async def test_without_the_option_the_module_is_left_alone(module: RainMakerEmulator) -> None:
    async with session_for(module.connect) as session:
        asyncio.get_running_loop().call_later(0.01, module.module_ota, 4)
        assert await session.wait_module_ota(2.0) == 5  # the firmware prints 5 for "delayed"
        assert session.module_restarts == 0
    assert "AT+RST" not in module.commands


async def test_restart_waits_until_the_host_update_is_over(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    offer(module, server)
    async with session_for(module.connect, restart_module=True) as session:
        module.module_ota(1)  # the module boots with "succeeded" recorded: 1 comes first
        module.module_ota(2)  # arrives before any host OTA is pending
        await asyncio.sleep(0.01)
        result = await session.update(install=lambda image: None)
    assert result.image.data == IMAGE
    assert module.commands.index("AT+RST") < module.commands.index("AT+RMOTAFETCH")
    assert module.job_status["cpuJraj3cxmAXuw8ER2GAe"] == "success"
