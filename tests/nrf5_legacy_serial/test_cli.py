"""The command line: ``aiodfu nrf5-legacy-serial update`` against ``aiodfu emulate --pty``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from click.testing import CliRunner

from aiodfu.cli import main
from aiodfu.nrf5_legacy import Package
from aiodfu.testing.nrf5_legacy_serial import AdafruitSerialEmulator
from aiodfu.testing.pty import serve_pty

from .conftest import NEW_APP, OLD_APP, USB, app_package


async def test_emulate_and_update_through_the_command_line(tmp_path: Path) -> None:
    package = tmp_path / "app.zip"
    package.write_bytes(app_package().to_zip())
    saved = tmp_path / "held.bin"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    emulate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodfu", "emulate", "nrf5-legacy-serial", "--pty",
        "--save-image", str(saved), stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert emulate.stdout is not None
    line = (await asyncio.wait_for(emulate.stdout.readline(), 30)).decode()
    assert line.startswith("pty: ")
    update = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodfu", "--json", "nrf5-legacy-serial", "update",
        "--port", line[5:].strip(), str(package), stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(update.communicate(), 90)
    emulate.send_signal(signal.SIGINT)
    await asyncio.wait_for(emulate.wait(), 30)
    assert update.returncode == 0, output.decode()
    assert b'"device-crc' in output
    assert saved.read_bytes() == NEW_APP


def test_a_package_for_another_bootloader_is_refused_before_any_byte(tmp_path: Path) -> None:
    package = tmp_path / "generic.zip"
    package.write_bytes(Package.from_images(application=NEW_APP).to_zip())  # type 0xFFFF
    result = CliRunner().invoke(
        main, ["nrf5-legacy-serial", "update", "--port", "/dev/null-nothing", str(package)]
    )
    assert result.exit_code == 1
    assert "0x0052" in result.output


async def test_update_serial_over_a_pty_with_a_touch(tmp_path: Path) -> None:
    package = tmp_path / "app.zip"
    package.write_bytes(app_package().to_zip())
    board = AdafruitSerialEmulator(USB, application=OLD_APP)
    async with serve_pty(board) as path:
        args = ["nrf5-legacy-serial", "update", "--port", path, "--touch", "1200", str(package)]
        result = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert result.exit_code == 0, result.output
    assert board.application == NEW_APP
