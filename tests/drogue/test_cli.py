"""The ``aiodfu drogue`` commands, the demo scenario and the emulator factory."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiodfu.cli import drogue as cli
from aiodfu.cli import main
from aiodfu.cli import ports as port_list
from aiodfu.cli.drogue import command, demo, emulator_factory
from aiodfu.cli.output import Reporter
from aiodfu.cli.probe import PROBE_LIMIT
from aiodfu.core.integrity import sha256
from aiodfu.drogue import Write
from aiodfu.drogue import open as drogue_open
from aiodfu.testing.drogue import BootMagic, DrogueEmulator
from aiodfu.testing.pty import serve_pty
from aiodfu.transports.memory import LinkModel
from tests.cli.conftest import assert_valid, json_lines
from tests.cli.ptys import (
    NOISE,
    aiodfu,
    aiodfu_json,
    assert_no_answer_reported,
    assert_noise_reported,
    quiet_pty,
)

from .conftest import FAST_RETRY, FAST_TIMEOUTS, NEW, OLD, emulator


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


# --- info, several ports, the quick probe (the device on a pty, the command in a thread) -------


async def test_info_over_a_pty_nudges_a_device_that_spoke_before_the_port_opened() -> None:
    """The firmware's defaults: a 15-s wait for a command after each Status, a 1-s backoff.
    The Status sent before the port opened is lost; the probe's Wait brings the next at once."""
    device = DrogueEmulator(version=b"0.1.0", image=OLD, timeout_ms=15_000, backoff_ms=1000)
    async with device, serve_pty(device) as path:
        await asyncio.sleep(0.2)  # the device has spoken; nobody was listening
        result, records = await aiodfu_json("drogue", "info", "--port", path)
    assert result.exit_code == 0, result.output
    assert_valid(records)
    assert records[-1] == {
        "event": "info",
        "port": path,
        "version": "0.1.0",
        "next_version": None,
        "offset": None,
        "mtu": device.mtu,
    }


async def test_info_shows_an_update_in_progress() -> None:
    device = emulator(timeout_ms=200)
    async with device, serve_pty(device) as path:
        async with drogue_open(path, timeouts=FAST_TIMEOUTS, retry=FAST_RETRY) as session:
            status = await session.device.status()
            await session.device.send(Write(b"0.2.0", status.correlation_id, 0, NEW[:512]))
            await session.device.status()  # the device took the block
        result = await aiodfu("drogue", "info", "--port", path)
    assert result.exit_code == 0, result.output
    assert "next version  0.2.0" in result.stdout and "offset        512" in result.stdout


def test_info_over_ble_against_the_emulated_device() -> None:
    args = ["--json", "drogue", "info", "--ble", "C0:FF:EE:00:D0:08", "--emulated"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert_valid(records)
    assert records[-1]["version"] == "0.1.0" and records[-1]["ble"] == "C0:FF:EE:00:D0:08"


async def test_update_of_several_ports_at_once(tmp_path: Path) -> None:
    file = tmp_path / "app.bin"
    file.write_bytes(NEW)
    devices = [emulator(timeout_ms=200) for _ in range(2)]
    async with devices[0], devices[1], serve_pty(devices[0]) as one, serve_pty(devices[1]) as two:
        result, records = await aiodfu_json(
            "drogue", "update", "--port", one, "--port", two, "--version", "0.2.0", str(file)
        )
    assert result.exit_code == 0, result.output
    assert_valid(records)
    results = [r for r in records if r["event"] == "device_result"]
    assert {r["device"] for r in results} == {one, two}
    assert all(r["status"] == "updated" and r["bytes"] == len(NEW) for r in results)
    assert records[-1]["event"] == "fleet" and records[-1]["updated"] == 2
    for device in devices:
        assert device.image == NEW and device.boot_state is BootMagic.BOOT


def test_the_default_probe_bound_is_about_five_seconds() -> None:
    assert cli.default_probe_bound(115_200) <= PROBE_LIMIT


async def test_a_silent_port_is_reported_within_the_probe_bound() -> None:
    async with quiet_pty() as path:
        result, records = await aiodfu_json("drogue", "info", "--port", path)
        configured = await aiodfu(
            "--json", "drogue", "info", "--port", path, "--probe-timeout", "1"
        )
    assert_no_answer_reported(result, records, configured, cli.default_probe_bound(115_200), "1.0")


async def test_noise_is_reported_as_a_likely_wrong_baud_rate() -> None:
    async with quiet_pty(noise=NOISE) as path:
        result, records = await aiodfu_json("drogue", "info", "--port", path)
    assert_noise_reported(result, records, "not Drogue Status frames")


def test_metadata_with_json_is_an_event(tmp_path: Path) -> None:
    file = tmp_path / "app.bin"
    file.write_bytes(NEW)
    result = CliRunner().invoke(
        main, ["--json", "drogue", "metadata", "--version", "0.2.0", str(file)]
    )
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert_valid(records)
    assert records == [
        {"event": "metadata", "version": "0.2.0", "size": len(NEW), "checksum": sha256(NEW).hex()}
    ]
