"""Every line ``aiodfu --json`` prints is JSON valid against the shipped events-v1 schema.

Covered here: every event the shared CLI writes -- progress, results, errors
(usage, typed, internal, Bluetooth), nothing_to_do, interrupted (in
test_runner), demo_result and skipped, port/ports, inspect, serving/saved,
device_result/fleet (in test_fleet) -- and the backend commands already on the
typed rows (``serial-modem ping``). A backend command joins this list when it
reports through ``result_rows`` (docs/json.md, "For backend authors").
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from aiodfu.cli import main
from aiodfu.cli.json_schema import SCHEMA_VERSION, load_schema, schema_text
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from tests.cli.conftest import assert_valid, json_lines

AIODFU = [sys.executable, "-m", "aiodfu"]


def test_the_schema_is_a_valid_2020_12_schema_and_the_command_prints_it(
    runner: CliRunner,
) -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(f":v{SCHEMA_VERSION}")
    result = runner.invoke(main, ["json-schema"])
    assert result.exit_code == 0 and json.loads(result.stdout) == schema
    assert result.stdout == schema_text()


@pytest.mark.parametrize(
    "bad",
    [
        {"event": "updated", "seconds": "3.61"},  # a number with its unit as a string
        {"event": "updated", "sent sha256": "00"},  # a key with a space
        {"event": "progress", "label": "x"},  # a progress event missing its numbers
        {"event": "Odd Event"},
        {"event": "error", "type": "X", "message": "m", "exit_code": 4},
    ],
)
def test_the_schema_rejects_what_issue_13_found(bad: dict[str, object]) -> None:
    with pytest.raises(AssertionError):
        assert_valid([bad])


def test_demo_of_every_backend(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--json", "demo", "--size", "6000", "--baud", "1000000"])
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert_valid(records)
    kinds = {record["event"] for record in records}
    assert "progress" in kinds and "demo_result" in kinds
    for record in records:
        if record["event"] == "demo_result":
            assert record["identical"] is True and isinstance(record["bytes"], int)


def test_inspect(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "app.bin"
    path.write_bytes(build_mcuboot_image(random_firmware(3000, seed=5)))
    result = runner.invoke(main, ["--json", "inspect", str(path)])
    (record,) = json_lines(result.stdout)
    assert_valid([record])
    assert record["event"] == "image" and record["size"] == path.stat().st_size


def test_errors_of_every_kind(runner: CliRunner, tmp_path: Path, with_testonly: None) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(build_mcuboot_image(random_firmware(3000, seed=5))[:-50])
    invocations = [
        ["--json", "inspect", str(bad)],
        ["--json", "inspect", str(tmp_path / "missing.bin")],
        ["--json", "demo", "--size", "0"],
        ["--json", "no-such-command"],
        ["--json", "testonly", "crash"],
        ["--json", "testonly", "nothing"],
        ["--json", "testonly", "no-bluez"],
        ["--json", "testonly", "ping", "--port", str(tmp_path / "no-port")],
    ]
    for args in invocations:
        result = runner.invoke(main, args)
        assert result.exit_code != 0, args
        records = json_lines(result.stdout)
        assert_valid(records)
        assert records[-1]["exit_code"] == result.exit_code


def test_emulate_and_a_backend_command_over_its_pty(tmp_path: Path, runner: CliRunner) -> None:
    saved = tmp_path / "saved.bin"
    process = subprocess.Popen(
        [*AIODFU, "--json", "emulate", "serial-modem", "--pty", "--save-image", str(saved)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())  # JSON from the very first line
        assert first["event"] == "serving" and first["protocol"] == "serial-modem"
        ping = runner.invoke(main, ["--json", "serial-modem", "ping", "--port", first["pty"]])
        assert ping.exit_code == 0, ping.output
        assert_valid(json_lines(ping.stdout))
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=10)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    records = [first, *json_lines(rest)]
    assert_valid(records)
    assert records[-1] == {"event": "saved", "path": None, "size": 0}
