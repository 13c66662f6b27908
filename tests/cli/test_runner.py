"""How a command ends: exit codes, errors with hints, Bluetooth without BlueZ, Ctrl-C and
SIGTERM (with the device left where the next run can update it), and the logs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiodfu.cli import main
from aiodfu.cli.runner import ExitCode, bluetooth_unavailable
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from tests.cli.conftest import assert_valid, json_lines

AIODFU = [sys.executable, "-m", "aiodfu"]
TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} ")


def test_exit_codes_are_documented_values() -> None:
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 70, 130, 143]


def test_nothing_to_do_is_not_a_failure(runner: CliRunner, with_testonly: None) -> None:
    result = runner.invoke(main, ["--json", "testonly", "nothing"])
    assert result.exit_code == 3
    (record,) = json_lines(result.stdout)
    assert_valid([record])
    assert record == {
        "event": "nothing_to_do",
        "message": "no update pending",
        "exit_code": 3,
        "job": None,
    }
    human = runner.invoke(main, ["testonly", "nothing"])
    assert human.exit_code == 3 and "nothing to do: no update pending" in human.stdout


def test_an_unexpected_exception_is_an_internal_error_not_a_bare_traceback(
    runner: CliRunner, with_testonly: None
) -> None:
    result = runner.invoke(main, ["--json", "testonly", "crash"])
    assert result.exit_code == 70
    (record,) = json_lines(result.stdout)  # the traceback goes to stderr, never stdout
    assert_valid([record])
    assert record["type"] == "RuntimeError" and "bug in aiodfu" in record["hint"]
    assert "Traceback" in result.stderr and "a bug" in result.stderr
    human = runner.invoke(main, ["testonly", "crash"])
    assert human.exit_code == 70 and "internal error: a bug" in human.stderr
    assert human.stdout == ""


@pytest.mark.parametrize("command", ["no-bluez", "no-adapter"])
def test_bluetooth_that_cannot_be_used_is_a_typed_error_with_a_hint(
    runner: CliRunner, with_testonly: None, command: str
) -> None:
    result = runner.invoke(main, ["--json", "testonly", command])
    assert result.exit_code == 1
    (record,) = json_lines(result.stdout)
    assert_valid([record])
    assert record["type"] == "BluetoothUnavailableError"
    assert "bluetoothctl" in record["hint"]
    assert "Traceback" not in result.output
    human = runner.invoke(main, ["testonly", command])
    assert human.exit_code == 1 and "Traceback" not in human.output
    assert "error: Bluetooth is not available" in human.stderr and "hint:" in human.stderr


def test_only_bluetooth_failures_are_classified_as_such() -> None:
    assert bluetooth_unavailable(FileNotFoundError(2, "no such file")) is None
    assert bluetooth_unavailable(ValueError("x")) is None


@pytest.mark.skipif(
    os.path.exists("/run/dbus/system_bus_socket"), reason="this machine has a D-Bus system bus"
)
def test_a_real_ble_scan_without_bluez_says_so(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--json", "nrf5-legacy", "scan", "--timeout", "0.2"])
    assert result.exit_code == 1
    record = json_lines(result.stdout)[-1]
    assert record["type"] == "BluetoothUnavailableError", record


def test_usage_errors_are_json_with_exit_2(runner: CliRunner) -> None:
    for args in (["--json", "nonsense"], ["--json", "serial-modem", "update", "--bogus"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2
        (record,) = json_lines(result.stdout)
        assert_valid([record])
        assert record["type"] == "UsageError" and record["exit_code"] == 2
    human = runner.invoke(main, ["nonsense"])
    assert human.exit_code == 2 and "No such command" in human.stderr and human.stdout == ""


def test_errors_go_to_stderr_and_results_to_stdout(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(build_mcuboot_image(random_firmware(3000, seed=5))[:-50])
    result = runner.invoke(main, ["inspect", str(bad)])
    assert result.exit_code == 1
    assert result.stdout == "" and "error:" in result.stderr


# --- processes: an emulated device on a pty, updated and interrupted as a person would --------


@pytest.fixture
def slow_device(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    """A Serial Modem on a pty paced at 38400 baud (about 3.8 KB/s): slow enough to interrupt."""
    saved = tmp_path / "saved.bin"
    process = subprocess.Popen(
        [*AIODFU, "emulate", "serial-modem", "--pty", "--baud", "38400", "--save-image", saved],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    path = process.stdout.readline().removeprefix("pty: ").strip()
    yield path, process, saved
    if process.poll() is None:
        process.kill()
        process.wait()


SLOW = ["--baud", "38400", "--reset"]


def start_update(path: str, firmware: Path, *global_options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*AIODFU, *global_options, "serial-modem", "update", "--port", path, *SLOW, firmware],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_transfer(process: subprocess.Popen[str]) -> list[str]:
    """Read JSON lines until the transfer has moved some bytes."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        record = json.loads(line)
        if record["event"] == "progress" and record["phase"] == "transferring" and record["done"]:
            return lines
    pytest.fail(f"the update ended before transferring: {lines}")


def interrupt_update(
    path: str, firmware: Path, signum: signal.Signals
) -> tuple[int | None, list[dict[str, object]]]:
    update = start_update(path, firmware, "--json")
    lines = wait_for_transfer(update)
    update.send_signal(signum)
    rest, _stderr = update.communicate(timeout=30)
    return update.returncode, [json.loads(line) for line in lines + rest.splitlines()]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_update_says_so_and_what_to_do(
    slow_device: tuple[str, subprocess.Popen[str], Path],
    tmp_path: Path,
    signum: signal.Signals,
    code: int,
) -> None:
    path, _emulator, _saved = slow_device
    firmware = tmp_path / "app.bin"
    firmware.write_bytes(build_mcuboot_image(random_firmware(40_000, seed=9)))
    returncode, records = interrupt_update(path, firmware, signum)
    assert returncode == code
    assert_valid(records)
    last = records[-1]
    assert last["event"] == "interrupted" and last["signal"] == signum.name
    assert last["exit_code"] == code
    unfinished = last["unfinished"]
    assert isinstance(unfinished, list) and unfinished[0]["phase"] == "transferring"
    message = str(last["message"])
    assert "released the device" in message and "run the same command again" in message


def test_the_same_command_run_again_updates_an_interrupted_device(
    slow_device: tuple[str, subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    """What the interrupt message promises: the device was released, the next run works."""
    path, emulator, saved = slow_device
    firmware = tmp_path / "app.bin"
    firmware.write_bytes(build_mcuboot_image(random_firmware(40_000, seed=9)))
    returncode, _records = interrupt_update(path, firmware, signal.SIGINT)
    assert returncode == 130
    small = build_mcuboot_image(random_firmware(6_000, seed=10), version=(5, 0, 0, 1))
    firmware.write_bytes(small)
    again = start_update(path, firmware, "--json")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, out + err
    assert json.loads(out.splitlines()[-1])["application"] == "5.0.0+1"
    emulator.send_signal(signal.SIGTERM)
    assert emulator.wait(timeout=10) == 0
    assert saved.read_bytes() == small


def test_ctrl_c_on_a_terminal_view_prints_the_row_once_and_what_to_do(
    slow_device: tuple[str, subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    path, _emulator, _saved = slow_device
    firmware = tmp_path / "app.bin"
    firmware.write_bytes(build_mcuboot_image(random_firmware(40_000, seed=11)))
    update = start_update(path, firmware, "-v")
    assert update.stderr is not None
    deadline = time.monotonic() + 30
    seen = ""
    while "transferring" not in seen and time.monotonic() < deadline:  # -v logs the phase
        seen += update.stderr.readline()
    update.send_signal(signal.SIGINT)
    out, err = update.communicate(timeout=30)
    err = seen + err
    assert update.returncode == 130
    rows = [line for line in err.splitlines() if line.startswith("app.bin ")]
    assert len(rows) == 1 and "interrupted" in rows[0]  # the row, once, saying how it ended
    flat = " ".join(err.split())  # rich wraps the message at the console's width
    assert "interrupted: interrupted by SIGINT while app.bin transferring" in flat
    assert "run the same command again" in flat
    assert out == ""


# --- logging -----------------------------------------------------------------------------------


def test_verbose_logs_phases_with_timestamps_and_vv_the_wire(
    emulated_pty: str, tmp_path: Path, runner: CliRunner
) -> None:
    firmware = tmp_path / "app.bin"
    firmware.write_bytes(build_mcuboot_image(random_firmware(5_000, seed=12)))
    quiet = runner.invoke(main, ["serial-modem", "update", "--port", emulated_pty, str(firmware)])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr.count("\n") <= 2  # just the progress row: no log lines without -v

    verbose = runner.invoke(
        main, ["-v", "serial-modem", "update", "--port", emulated_pty, str(firmware)]
    )
    assert verbose.exit_code == 0, verbose.output
    logged = [line for line in verbose.stderr.splitlines() if TIMESTAMP.match(line)]
    phases = " ".join(logged)
    for phase in ("connecting", "transferring", "done"):
        assert f"app.bin: {phase}" in phases
    assert not any(" DEBUG " in line for line in logged)

    log_file = tmp_path / "aiodfu.log"
    wire = runner.invoke(
        main, ["-vv", "--log-file", str(log_file), "serial-modem", "ping", "--port", emulated_pty]
    )
    assert wire.exit_code == 0, wire.output
    assert any(TIMESTAMP.match(line) and "> AT" in line for line in wire.stderr.splitlines())
    assert "mode" in wire.stdout and "> AT" not in wire.stdout  # logs never on stdout
    written = log_file.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} DEBUG", written, re.MULTILINE)
    assert "> AT" in written


def test_the_log_file_gets_wire_lines_even_without_v(
    emulated_pty: str, tmp_path: Path, runner: CliRunner
) -> None:
    log_file = tmp_path / "quiet.log"
    result = runner.invoke(
        main, ["--log-file", str(log_file), "serial-modem", "ping", "--port", emulated_pty]
    )
    assert result.exit_code == 0, result.output
    assert "> AT" in log_file.read_text() and "> AT" not in result.stderr
