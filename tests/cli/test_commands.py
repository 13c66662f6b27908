"""The aiodfu command, in process: version, inspect, demo, --json, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiodfu import __version__
from aiodfu.cli import main
from aiodfu.testing.images import build_full_modem_package, build_mcuboot_image, random_firmware


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_inspect_mcuboot_reports_version_and_hash(runner: CliRunner, tmp_path: Path) -> None:
    image = build_mcuboot_image(random_firmware(3000, seed=5), version=(3, 4, 5, 6))
    path = tmp_path / "app.bin"
    path.write_bytes(image)
    result = runner.invoke(main, ["--json", "inspect", str(path)])
    assert result.exit_code == 0, result.output
    (record,) = json_lines(result.output)
    text = json.dumps(record)
    assert "mcuboot" in text
    assert "3.4.5+6" in text


def test_inspect_full_modem_lists_segments(runner: CliRunner, tmp_path: Path) -> None:
    package = build_full_modem_package(b"\x01" * 100, [(0x50000, b"\x02" * 300)])
    path = tmp_path / "firmware.update.image.cbor"
    path.write_bytes(package)
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "modem-full" in result.output
    assert "address 0x00050000, 300 bytes" in result.output


def test_inspect_corrupt_file_is_a_clear_error_not_a_traceback(
    runner: CliRunner, tmp_path: Path
) -> None:
    image = bytearray(build_mcuboot_image(random_firmware(3000, seed=5)))
    del image[-50:]
    path = tmp_path / "broken.bin"
    path.write_bytes(bytes(image))
    result = runner.invoke(main, ["--json", "inspect", str(path)])
    assert result.exit_code == 1
    (record,) = json_lines(result.output)
    assert record["event"] == "error"
    assert record["type"] == "ImageError"
    assert "Traceback" not in result.output


def test_demo_verifies_byte_for_byte(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--json", "demo", "--size", "20000", "--baud", "2000000"])
    assert result.exit_code == 0, result.output
    records = json_lines(result.output)
    # Schema v1: one demo_result event per backend, snake_case keys, a boolean verdict.
    (summary,) = [
        r for r in records if r["event"] == "demo_result" and r["backend"] == "serial-modem"
    ]
    assert summary["identical"] is True
    assert summary["sent_sha256"] == summary["device_sha256"]
    progress = [r for r in records if r["event"] == "progress"]
    assert progress[-1]["phase"] == "done"


def test_update_on_a_port_that_does_not_exist_fails_typed(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "app.bin"
    path.write_bytes(build_mcuboot_image(random_firmware(1000)))
    result = runner.invoke(
        main, ["--json", "serial-modem", "update", "--port", str(tmp_path / "nope"), str(path)]
    )
    assert result.exit_code == 1
    records = json_lines(result.output)
    assert records[-1]["event"] == "error"
    assert "nope" in str(records[-1]["message"])
