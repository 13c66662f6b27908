"""The fixtures aiodfu's pytest plugin gives its users."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiodfu.serial_modem import SerialModemSession
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from aiodfu.testing.pytest_plugin import EmulatorRegistry
from aiodfu.testing.serial_modem import SerialModemEmulator
from aiodfu.transports.serial import open_serial

IMAGE = build_mcuboot_image(random_firmware(9000, seed=21), version=(1, 2, 3, 4))


async def test_emulator_fixture_over_memory(serial_modem_emulator: SerialModemEmulator) -> None:
    async with SerialModemSession(serial_modem_emulator.connect) as session:
        await session.update(IMAGE, reset=True)
    assert serial_modem_emulator.active_app == IMAGE


async def test_pty_fixture_with_a_real_serial_port(
    serial_modem_pty: str, serial_modem_emulator: SerialModemEmulator
) -> None:
    async def connector():  # type: ignore[no-untyped-def]
        return await open_serial(serial_modem_pty, 115200)

    async with SerialModemSession(connector) as session:
        await session.update(IMAGE, reset=True)
    assert serial_modem_emulator.active_app == IMAGE


async def test_registry_fails_the_test_when_an_emulator_crashed() -> None:
    registry = EmulatorRegistry()
    emulator = registry(SerialModemEmulator())
    emulator.failures.append(RuntimeError("boom"))
    with pytest.raises(pytest.fail.Exception, match="boom"):
        await registry.close_and_check()


def test_without_pytest_asyncio_a_fixture_says_what_is_missing(tmp_path: Path) -> None:
    test_file = tmp_path / "test_user.py"
    test_file.write_text("def test_uses_it(serial_modem_emulator):\n    pass\n")
    plugin = "aiodfu.testing.pytest_plugin"
    runner = (  # pytest-asyncio made unimportable; only aiodfu's plugin loaded
        "import sys; sys.modules['pytest_asyncio'] = None; import pytest; "
        f"sys.exit(pytest.main(['-p', {plugin!r}, '-p', 'no:cacheprovider', {str(test_file)!r}]))"
    )
    environment = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [sys.executable, "-c", runner],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "needs pytest-asyncio" in result.stdout
    assert "fixture 'serial_modem_emulator' not found" not in result.stdout
