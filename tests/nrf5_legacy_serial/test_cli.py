"""The command line: ``aiodfu nrf5-legacy-serial update`` and ``aiodfu nrf5-legacy update --port``
against ``aiodfu emulate nrf5-legacy-serial --pty``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aiodfu.cli import main
from aiodfu.core.integrity import sha256
from aiodfu.nrf5_legacy import Package
from aiodfu.testing.nrf5_legacy_serial import AdafruitSerialEmulator
from aiodfu.testing.pty import serve_pty
from tests.cli.conftest import assert_valid, json_lines

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


async def _serve(saved: Path, *extra: str) -> tuple[asyncio.subprocess.Process, str]:
    """``aiodfu --json emulate nrf5-legacy-serial --pty`` as a user runs it: its first line."""
    emulate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodfu", "--json", "emulate", "nrf5-legacy-serial", "--pty",
        "--save-image", str(saved), *extra, stdout=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    assert emulate.stdout is not None
    first = json.loads(await asyncio.wait_for(emulate.stdout.readline(), 30))
    assert_valid([first])
    assert first["event"] == "serving"
    return emulate, first["pty"]


async def _stop(emulate: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    emulate.send_signal(signal.SIGINT)
    rest, _ = await asyncio.wait_for(emulate.communicate(), 30)
    records = json_lines(rest.decode())
    assert_valid(records)
    return records


ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


@pytest.mark.parametrize("spelling", ["nrf5-legacy", "nrf5-legacy-serial"])
async def test_update_port_over_the_emulate_pty_in_json(tmp_path: Path, spelling: str) -> None:
    """Both spellings of the serial update, every line of both processes against the schema."""
    package = tmp_path / "app.zip"
    package.write_bytes(app_package().to_zip())
    saved = tmp_path / "held.bin"
    emulate, pty = await _serve(saved)
    update = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodfu", "--json", spelling, "update", "--port", pty,
        str(package), stdout=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(update.communicate(), 90)
    assert update.returncode == 0, output.decode()
    records = json_lines(output.decode())
    assert_valid(records)
    final = records[-1]
    assert final["event"] == "updated" and final["device"] == pty
    assert final["verification"] == "device-crc" and final["sha256"] == sha256(NEW_APP).hex()
    assert (await _stop(emulate))[-1] == {"event": "saved", "path": str(saved), "size": 21000}
    assert saved.read_bytes() == NEW_APP


async def test_sigterm_mid_transfer_leaves_the_board_updatable(tmp_path: Path) -> None:
    package = tmp_path / "app.zip"
    package.write_bytes(app_package().to_zip())
    saved = tmp_path / "held.bin"
    emulate, pty = await _serve(saved, "--baud", "57600")  # ~4 s of transfer
    command = [sys.executable, "-m", "aiodfu", "--json", "nrf5-legacy", "update", "--port", pty]
    update = await asyncio.create_subprocess_exec(
        *command, str(package), stdout=asyncio.subprocess.PIPE, env=ENV
    )
    assert update.stdout is not None
    lines = []
    while True:  # until the data is flowing
        line = await asyncio.wait_for(update.stdout.readline(), 60)
        assert line, b"".join(lines)
        lines.append(line)
        record = json.loads(line)
        if record["event"] == "progress" and record["done"] > 0:
            break
    update.send_signal(signal.SIGTERM)
    rest, _ = await asyncio.wait_for(update.communicate(), 60)
    assert update.returncode == 143
    records = json_lines(b"".join(lines).decode() + rest.decode())
    assert_valid(records)
    interrupted = records[-1]
    assert interrupted["event"] == "interrupted" and interrupted["signal"] == "SIGTERM"
    assert interrupted["unfinished"][0]["phase"] == "transferring"

    again = await asyncio.create_subprocess_exec(
        *command, str(package), stdout=asyncio.subprocess.PIPE, env=ENV
    )
    output, _ = await asyncio.wait_for(again.communicate(), 90)
    assert again.returncode == 0, output.decode()
    await _stop(emulate)
    assert saved.read_bytes() == NEW_APP
