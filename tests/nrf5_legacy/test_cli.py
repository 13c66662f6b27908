"""``aiodfu nrf5-legacy pkg|update|scan`` and the demo scenario, in process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from aiodfu.cli.nrf5_legacy import EMULATED_ADDRESS, command, demo
from aiodfu.cli.output import Reporter
from aiodfu.nrf5_legacy import Package
from aiodfu.testing import random_firmware


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
