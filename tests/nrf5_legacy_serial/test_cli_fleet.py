"""``aiodfu nrf5-legacy update --port``: the serial form, one board or several at once.

Emulated Adafruit boards are served on ptys in this process (fast flash
timing); the command runs as a user runs it, through the ``aiodfu`` group.
Every ``--json`` line is validated against the shipped events-v1 schema, and
every board's application is compared byte for byte with the one sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner, Result

from aiodfu.cli import main, ports
from aiodfu.core.integrity import sha256
from aiodfu.testing.nrf5_legacy_serial import AdafruitSerialEmulator
from aiodfu.testing.pty import serve_pty
from tests.cli.conftest import assert_valid, json_lines

from .conftest import NEW_APP, OLD_APP, USB, app_package


@pytest.fixture
def package(tmp_path: Path) -> Path:
    path = tmp_path / "app.zip"
    path.write_bytes(app_package().to_zip())
    return path


@asynccontextmanager
async def served(*boards: AdafruitSerialEmulator) -> AsyncIterator[list[str]]:
    """Each board on a pty of its own: the paths, in order."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(serve_pty(board)) for board in boards]


async def invoke(args: list[str], **options: object) -> Result:
    """The ``aiodfu`` command in a thread, so the boards keep serving in this loop."""
    return await asyncio.to_thread(CliRunner().invoke, main, args, **options)  # type: ignore[arg-type]


def port_args(paths: list[str]) -> list[str]:
    return [arg for path in paths for arg in ("--port", path)]


async def test_several_ports_one_failing_in_json(package: Path, tmp_path: Path) -> None:
    """Two boards wait in their bootloader; the third runs its application and nobody
    touches it: it fails, the others are updated, and the third stays updatable."""
    waiting = [AdafruitSerialEmulator(USB) for _ in range(2)]
    running = AdafruitSerialEmulator(USB, application=OLD_APP)
    report = tmp_path / "report.json"
    async with served(*waiting, running) as paths:
        args = ["--json", "nrf5-legacy", "update", *port_args(paths), "--native-usb"]
        result = await invoke([*args, "--report", str(report), str(package)])
        assert result.exit_code == 1, result.output
        records = json_lines(result.stdout)
        assert_valid(records)
        outcomes = {r["device"]: r for r in records if r["event"] == "device_result"}
        assert [outcomes[p]["status"] for p in paths] == ["updated", "updated", "failed"]
        for path in paths[:2]:
            assert outcomes[path]["verified"] is True
            assert outcomes[path]["verification"] == "device-crc"
            assert outcomes[path]["sha256"] == sha256(NEW_APP).hex()
        error = outcomes[paths[2]]["error"]
        assert error["type"] == "BootloaderNotFoundError" and error["hint"]
        summary = records[-1]
        assert summary["event"] == "fleet" and (summary["updated"], summary["failed"]) == (2, 1)
        assert summary["exit_code"] == 1 and summary["report"] == str(report)
        assert [r["device"] for r in json.loads(report.read_text())["results"]] == paths
        assert {r["label"] for r in records if r["event"] == "progress"} == set(paths)
        assert all(board.application == NEW_APP for board in waiting)  # byte for byte
        assert running.application == OLD_APP

        again = await invoke(
            ["nrf5-legacy", "update", "--port", paths[2], "--touch", "1200", str(package)]
        )
        assert again.exit_code == 0, again.output
        assert running.application == NEW_APP


async def test_a_glob_and_the_summary_at_80_columns(
    package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # short names: the summary shows each whole
    boards = [AdafruitSerialEmulator(USB, application=OLD_APP) for _ in range(3)]
    async with served(*boards) as paths:
        for index, path in enumerate(paths):  # names a glob can match without other ptys
            (tmp_path / f"board-{index}").symlink_to(path)
        args = ["nrf5-legacy", "update", "--port", "board-*", "--touch", "1200", "--native-usb"]
        result = await invoke([*args, str(package)], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "3 of 3 devices updated" in result.stdout
    for index in range(3):
        assert f"board-{index}" in result.stdout
    for line in result.stdout.splitlines():
        assert len(line) <= 80, line
    assert all(board.application == NEW_APP for board in boards)


async def test_one_port_from_aiodfu_port(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    board = AdafruitSerialEmulator(USB)
    async with served(board) as (path,):
        monkeypatch.setenv("AIODFU_PORT", path)
        result = await invoke(["--json", "nrf5-legacy", "update", str(package)])
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert_valid(records)
    final = records[-1]
    assert final["event"] == "updated" and final["device"] == path
    assert final["package"] == str(package) and final["parts"] == ["application"]
    assert (final["bytes"], final["attempts"], final["verified"]) == (len(NEW_APP), 1, True)
    assert isinstance(final["seconds"], float) and isinstance(final["throughput"], float)
    assert "after the stop packet" in final["part1"]
    assert {r["label"] for r in records if r["event"] == "progress"} == {"app.zip"}
    assert board.application == NEW_APP


async def test_the_one_adafruit_port_is_found(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = AdafruitSerialEmulator(USB)
    async with served(board) as (path,):
        found = SimpleNamespace(device=path, vid=0x239A, pid=0x0029, manufacturer="Adafruit")
        monkeypatch.setattr(ports, "comports", lambda: [found])
        monkeypatch.delenv("AIODFU_PORT", raising=False)
        result = await invoke(["nrf5-legacy", "update", str(package)])
    assert result.exit_code == 0, result.output
    assert path in result.stdout and "device-crc" in result.stdout
    assert board.application == NEW_APP


def test_two_candidate_ports_are_a_usage_error(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = [
        SimpleNamespace(device=f"/dev/ttyACM{n}", vid=0x239A, pid=0x0029, manufacturer="Adafruit")
        for n in range(2)
    ]
    monkeypatch.setattr(ports, "comports", lambda: found)
    monkeypatch.delenv("AIODFU_PORT", raising=False)
    for command in (["nrf5-legacy", "update"], ["nrf5-legacy-serial", "update"]):
        result = CliRunner().invoke(main, ["--json", *command, str(package)])
        assert result.exit_code == 2, result.output
        (record,) = json_lines(result.stdout)
        assert_valid([record])
        assert "/dev/ttyACM0, /dev/ttyACM1" in record["message"]
