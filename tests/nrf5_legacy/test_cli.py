"""``aiodfu nrf5-legacy pkg|update|scan`` over BLE and the demo scenarios, in process.

Emulated targets come from the hidden ``--emulated`` flag (one radio per
target); every ``--json`` line is validated against the shipped events-v1
schema. The serial form (``update --port``) is tested in tests/nrf5_legacy_serial.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aiodfu.cli import main, ports
from aiodfu.cli import nrf5_legacy as nrf5_legacy_cli
from aiodfu.cli.nrf5_legacy import EMULATED_ADDRESS, command, demo
from aiodfu.cli.output import Reporter
from aiodfu.core.integrity import sha256
from aiodfu.nrf5_legacy import Package
from aiodfu.testing import random_firmware
from tests.cli.conftest import assert_valid, json_lines
from tests.nrf5_legacy.test_genpkg_identity import write_hex


def test_pkg_writes_a_package_that_reads_back(tmp_path: Path) -> None:
    app = tmp_path / "app.bin"
    app.write_bytes(random_firmware(1000, seed=31))
    out = tmp_path / "app_dfu_package.zip"
    result = CliRunner().invoke(
        command,
        [
            "pkg",
            str(out),
            "--application",
            str(app),
            "--application-version",
            "3",
            "--sd-req",
            "0x88,0x8C",
        ],
    )
    assert result.exit_code == 0, result.output
    package = Package.load(out)
    assert package.parts[0].firmware == app.read_bytes()
    packet = package.parts[0].parsed_init_packet
    assert (packet.application_version, packet.softdevice_req) == (3, (0x88, 0x8C))


def test_pkg_needs_an_image(tmp_path: Path) -> None:
    result = CliRunner().invoke(command, ["pkg", str(tmp_path / "x.zip")])
    assert result.exit_code != 0
    assert "at least one" in result.output


def test_update_an_emulated_target(tmp_path: Path) -> None:
    package = tmp_path / "p.zip"
    package.write_bytes(Package.from_images(application=random_firmware(3000, 32)).to_zip())
    result = CliRunner().invoke(
        command, ["update", EMULATED_ADDRESS, str(package), "--prn", "2", "--emulated"]
    )
    assert result.exit_code == 0, result.output
    assert "emulated target holds the application" in result.output
    assert "True" in result.output


def test_update_reports_a_bad_package_as_an_error(tmp_path: Path) -> None:
    package = tmp_path / "bad.zip"
    package.write_bytes(b"PK\x03\x04 not really a zip")
    result = CliRunner().invoke(command, ["update", EMULATED_ADDRESS, str(package), "--emulated"])
    assert result.exit_code == 1
    assert "error" in result.output


def test_scan_finds_the_emulated_dfu_target() -> None:
    result = CliRunner().invoke(command, ["scan", "--timeout", "0.3", "--emulated"])
    assert result.exit_code == 0, result.output
    assert "DfuTarg" in result.output


def test_demo_verifies_byte_for_byte() -> None:
    asyncio.run(demo(Reporter(json_lines=True), 4000, 115200))


# --- the shared CLI pieces: typed rows, several targets, the JSON schema, usage errors ----------

FIRMWARE = random_firmware(6000, seed=33)
ADDRESSES = ["C0:FF:EE:00:00:11", "C0:FF:EE:00:00:13", "C0:FF:EE:00:00:15"]


@pytest.fixture
def app_zip(tmp_path: Path) -> Path:
    path = tmp_path / "app.zip"
    path.write_bytes(Package.from_images(application=FIRMWARE).to_zip())
    return path


@pytest.fixture
def targets(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every emulated target ``--emulated`` starts, by address (to compare what each holds)."""
    started: dict[str, Any] = {}
    original = nrf5_legacy_cli._emulated

    @asynccontextmanager
    async def recording(address: str | None) -> AsyncIterator[dict[str, Any]]:
        async with original(address) as env:
            if "target" in env:
                started[address or ""] = env["target"]
            yield env

    monkeypatch.setattr(nrf5_legacy_cli, "_emulated", recording)
    return started


def test_one_target_reports_typed_rows(app_zip: Path, targets: dict[str, Any]) -> None:
    result = CliRunner().invoke(
        main, ["--json", "nrf5-legacy", "update", ADDRESSES[0], str(app_zip), "--emulated"]
    )
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert_valid(records)
    final = records[-1]
    assert final["event"] == "updated" and final["device"] == ADDRESSES[0]
    assert (final["bytes"], final["bytes_moved"], final["attempts"]) == (6000, 6000, 1)
    assert final["verified"] is True and final["verification"] == "device-crc"
    assert isinstance(final["seconds"], float) and isinstance(final["throughput"], float)
    assert final["parts"] == ["application"] and final["package"] == str(app_zip)
    assert final["sha256"] == sha256(FIRMWARE).hex()
    assert {r["label"] for r in records if r["event"] == "progress"} == {"app.zip"}
    assert targets[ADDRESSES[0]].application == FIRMWARE


def test_several_targets_at_once(app_zip: Path, tmp_path: Path, targets: dict[str, Any]) -> None:
    report = tmp_path / "report.json"
    args = ["--json", "nrf5-legacy", "update", *ADDRESSES, str(app_zip), "--emulated"]
    result = CliRunner().invoke(main, [*args, "--report", str(report)])
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert_valid(records)
    outcomes = {r["device"]: r for r in records if r["event"] == "device_result"}
    assert set(outcomes) == set(ADDRESSES)
    assert all(o["status"] == "updated" and o["verified"] is True for o in outcomes.values())
    assert {r["label"] for r in records if r["event"] == "progress"} == set(ADDRESSES)
    summary = records[-1]
    assert summary["event"] == "fleet" and (summary["devices"], summary["updated"]) == (3, 3)
    assert [r["device"] for r in json.loads(report.read_text())["results"]] == ADDRESSES
    for address in ADDRESSES:
        assert targets[address].application == FIRMWARE  # byte for byte, on every target


def test_one_failing_target_never_stops_the_others(
    app_zip: Path, targets: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiodfu.testing.nrf5_legacy import BootloaderConfig

    failing = ADDRESSES[1]

    def config(address: str) -> BootloaderConfig:  # one target's bank cannot take the image
        return BootloaderConfig(flash_rate=1e9, bank_size=4096 if address == failing else 0x3C000)

    monkeypatch.setattr(nrf5_legacy_cli, "_emulated_config", config)
    result = CliRunner().invoke(
        main, ["nrf5-legacy", "update", *ADDRESSES, str(app_zip), "--emulated"], terminal_width=80
    )
    assert result.exit_code == 1, result.output
    assert "2 of 3 devices updated, 1 failed" in result.stdout
    assert f"failed: {failing}: the target refused Start DFU" in result.stderr
    for address in ADDRESSES:
        assert address in result.stdout  # a summary row per target
        if address != failing:
            assert targets[address].application == FIRMWARE
    assert targets[failing].application is None  # it had none; a refused Start wrote nothing
    rows = [line for line in result.stderr.splitlines() if line.startswith("…")]
    assert {row.split()[0] for row in rows} == {"…" + a[-15:] for a in ADDRESSES}


def test_one_target_human_view(app_zip: Path, targets: dict[str, Any]) -> None:
    result = CliRunner().invoke(
        main, ["nrf5-legacy", "update", ADDRESSES[0], str(app_zip), "--emulated"], terminal_width=80
    )
    assert result.exit_code == 0, result.output
    assert "KiB/s" in result.stdout and "device-crc" in result.stdout
    assert "emulated target holds the application  True" in result.stdout
    for line in result.stdout.splitlines():
        assert len(line) <= 80, line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([ADDRESSES[0], "--port", "/dev/ttyACM0"], "not both"),
        ([ADDRESSES[0], "--touch", "1200"], "--touch"),
        ([ADDRESSES[0], "--baud", "9600"], "--baud"),
        (["--port", "/dev/ttyACM0", "--prn", "2"], "--prn"),
        (["--port", "/dev/ttyACM0", "--emulated"], "--emulated"),
        (["--port", "/dev/ttyACM0", "--bootloader-name", "4631_DFU"], "--bootloader-name"),
    ],
)
def test_the_two_forms_do_not_mix(app_zip: Path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(main, ["--json", "nrf5-legacy", "update", *args, str(app_zip)])
    assert result.exit_code == 2, result.output
    (record,) = json_lines(result.stdout)
    assert_valid([record])
    assert record["type"] == "UsageError" and says in record["message"]


def test_without_targets_or_ports_it_says_what_to_give(
    app_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIODFU_PORT", raising=False)
    monkeypatch.setattr(ports, "comports", list)
    result = CliRunner().invoke(main, ["nrf5-legacy", "update", str(app_zip)])
    assert result.exit_code == 2
    assert "Bluetooth TARGETs" in result.stderr and "--port" in result.stderr


def test_aiodfu_port_does_not_turn_a_ble_update_serial(
    app_zip: Path, targets: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIODFU_PORT", "/dev/nothing-here")
    result = CliRunner().invoke(
        main, ["nrf5-legacy", "update", ADDRESSES[0], str(app_zip), "--emulated"]
    )
    assert result.exit_code == 0, result.output
    assert targets[ADDRESSES[0]].application == FIRMWARE


@pytest.mark.skipif(sys.platform != "linux", reason="BlueZ over D-Bus is the Linux backend")
@pytest.mark.parametrize("json_mode", [False, True], ids=["people", "json"])
@pytest.mark.parametrize("count", [1, 2], ids=["one-target", "two-targets"])
def test_no_bluez_gives_one_error_with_a_hint(
    app_zip: Path, monkeypatch: pytest.MonkeyPatch, json_mode: bool, count: int
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/aiodfu-test-socket")
    args = ["nrf5-legacy", "update", *ADDRESSES[:count], str(app_zip)]
    result = CliRunner().invoke(main, ["--json", *args] if json_mode else args)
    assert result.exit_code == 1, result.output
    if json_mode:
        (record,) = json_lines(result.stdout)  # one error, not one failure per target
        assert_valid([record])
        assert record["type"] == "BluetoothUnavailableError" and "BlueZ" in record["hint"]
    else:
        assert "Bluetooth is not available" in result.stderr
        assert result.stderr.count("hint:") == 1 and "bluetoothctl" in result.stderr
        assert "Traceback" not in result.output


@pytest.mark.skipif(sys.platform != "linux", reason="BlueZ over D-Bus is the Linux backend")
@pytest.mark.parametrize("json_mode", [False, True], ids=["people", "json"])
def test_scan_without_bluez_gives_a_hint(monkeypatch: pytest.MonkeyPatch, json_mode: bool) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/aiodfu-test-socket")
    args = ["nrf5-legacy", "scan", "--timeout", "0.2"]
    result = CliRunner().invoke(main, ["--json", *args] if json_mode else args)
    assert result.exit_code == 1
    if json_mode:
        (record,) = json_lines(result.stdout)
        assert_valid([record])
        assert record["type"] == "BluetoothUnavailableError" and record["hint"]
    else:
        assert "hint:" in result.stderr and "bluetoothctl" in result.stderr


def test_scan_and_pkg_in_json(tmp_path: Path) -> None:
    scan = CliRunner().invoke(
        main, ["--json", "nrf5-legacy", "scan", "--timeout", "0.3", "--emulated"]
    )
    assert scan.exit_code == 0, scan.output
    records = json_lines(scan.stdout)
    assert_valid(records)
    (device,) = [r for r in records if r["event"] == "device"]
    assert device["address"] == EMULATED_ADDRESS and device["name"] == "DfuTarg"
    assert device["dfu_service"] is True and isinstance(device["rssi"], int)
    assert records[-1] == {"event": "scan", "count": 1, "seconds": 0.3, "all": False}

    # An application whose .hex carries a UICR record and an odd size: three conversion notes.
    app = write_hex(tmp_path / "app.hex", (0x1F000, random_firmware(999, 3)), (0x10001014, b"\0"))
    out = tmp_path / "p.zip"
    pkg = CliRunner().invoke(
        main, ["--json", "nrf5-legacy", "pkg", str(out), "--application", str(app)]
    )
    assert pkg.exit_code == 0, pkg.output
    (written,) = json_lines(pkg.stdout)
    assert_valid([written])
    assert written["event"] == "package_written" and written["parts"] == ["application"]
    assert written["application_bytes"] == len(Package.load(out).parts[0].firmware)
    assert isinstance(written["application_init_packet"], str)
    notes = written["application_conversions"]
    assert len(notes) == 3 and "UICR" in notes[1] and "padded" in notes[2]  # none lost


def test_pkg_usage_errors_exit_2(tmp_path: Path) -> None:
    out = str(tmp_path / "x.zip")
    for args in (["pkg", out], ["pkg", out, "--application", __file__, "--dev-type", "zz"]):
        result = CliRunner().invoke(main, ["--json", "nrf5-legacy", *args])
        assert result.exit_code == 2, result.output
        assert_valid(json_lines(result.stdout))


def test_demos_report_typed_results() -> None:
    args = ["--json", "demo", "--backend", "nrf5-legacy", "--backend", "nrf5-legacy-serial"]
    result = CliRunner().invoke(main, [*args, "--size", "8000"])
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert_valid(records)
    demos = {r["backend"]: r for r in records if r["event"] == "demo_result"}
    assert set(demos) == {"nrf5-legacy", "nrf5-legacy-serial"}
    for record in demos.values():
        assert record["identical"] is True and record["verification"] == "device-crc"
        assert isinstance(record["seconds"], float) and record["attempts"] >= 1
        assert isinstance(record["details"]["link_speed"], float)
    assert isinstance(demos["nrf5-legacy"]["details"]["pool_overflows"], int)
    assert isinstance(demos["nrf5-legacy-serial"]["details"]["retransmissions"], int)
