"""The ``aiodfu drogue`` commands, the demo scenario and the emulator factory."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiodfu.cli import ports as port_list
from aiodfu.cli.drogue import command, demo, emulator_factory
from aiodfu.cli.output import Reporter
from aiodfu.core.integrity import sha256
from aiodfu.testing.drogue import BootMagic, DrogueEmulator
from aiodfu.testing.pty import serve_pty
from aiodfu.transports.memory import LinkModel
from tests.cli.conftest import assert_valid

from .conftest import NEW, OLD, emulator


def test_metadata_prints_drgdfu_json_with_sha256(tmp_path: Path) -> None:
    file = tmp_path / "app.bin"
    file.write_bytes(NEW)
    result = CliRunner().invoke(command, ["metadata", "--version", "0.2.0", str(file)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "version": "0.2.0",
        "size": len(NEW),
        "checksum": sha256(NEW).hex(),
    }


def test_metadata_rejects_a_version_the_device_cannot_hold(tmp_path: Path) -> None:
    file = tmp_path / "app.bin"
    file.write_bytes(NEW)
    result = CliRunner().invoke(command, ["metadata", "--version", "x" * 17, str(file)])
    assert result.exit_code == 2 and "16 bytes" in result.output


def test_update_command_over_a_pty(tmp_path: Path) -> None:
    file = tmp_path / "app.bin"
    file.write_bytes(NEW)
    device = emulator(timeout_ms=200)  # a Status sent before the port opened may be lost
    ready = threading.Event()
    stop = threading.Event()
    path: list[str] = []

    async def serve() -> None:
        async with serve_pty(device) as pty:
            path.append(pty)
            ready.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    try:
        assert ready.wait(5)
        result = CliRunner().invoke(
            command, ["update", "--port", path[0], "--version", "0.2.0", str(file)]
        )
    finally:
        stop.set()
        thread.join(10)
    assert result.exit_code == 0, result.output
    assert device.image == NEW and device.boot_state is BootMagic.BOOT
    assert "booted" in result.output


def test_emulator_factory_serves_the_given_image() -> None:
    device = emulator_factory(OLD, LinkModel(baud=115200))
    assert isinstance(device, DrogueEmulator)
    assert device.image == OLD and device.version == b"0.1.0"
    assert device.link_model.baud == 115200


async def test_demo_verifies_byte_for_byte(capsys: pytest.CaptureFixture[str]) -> None:
    with Reporter(json_lines=True) as reporter:
        await demo(reporter, 5000, 1_000_000)
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (table,) = [e for e in events if e["event"] == "demo_result" and e["backend"] == "drogue"]
    assert table["identical"] is True and table["details"]["device_state"] == "BOOT"
    assert_valid(events)


def test_update_over_ble_against_the_emulated_device(tmp_path: Path) -> None:
    file = tmp_path / "app.bin"
    file.write_bytes(NEW)
    args = ["update", "--ble", "C0:FF:EE:00:D0:07", "--emulated", "--version", "0.2.0", str(file)]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    assert "booted" in result.output
    assert "emulated device holds the image" in result.output and "True" in result.output


@pytest.mark.parametrize(
    "where",
    [[], ["--port", "/dev/null", "--ble", "C0:FF:EE:00:D0:07"], ["--port", "x", "--emulated"]],
    ids=["neither", "both", "emulated-serial"],
)
def test_update_needs_exactly_one_transport(
    tmp_path: Path, where: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(port_list, "list_ports", list)  # no port to fall back on
    monkeypatch.delenv("AIODFU_PORT", raising=False)
    file = tmp_path / "app.bin"
    file.write_bytes(NEW)
    result = CliRunner().invoke(command, ["update", *where, "--version", "0.2.0", str(file)])
    assert result.exit_code == 2
    assert "--ble" in result.output
