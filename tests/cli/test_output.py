"""The reporter: typed snake_case JSON, one unit (KiB/s), 80-column rows and tables,
log lines above the progress rows, result_rows with the verification."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from rich.console import Console

from aiodfu.cli import units
from aiodfu.cli.bars import Bars, phase_text, shorten
from aiodfu.cli.logs import ConsoleHandler
from aiodfu.cli.output import Reporter, display, event_name, result_rows, snake, table_lines
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import Phase, Progress
from aiodfu.core.session import UpdateResult, Verification, VerificationMethod
from tests.cli.conftest import assert_valid

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def console(width: int = 80, terminal: bool = False) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=terminal, highlight=False)


def text_of(con: Console) -> str:
    return ANSI.sub("", con.file.getvalue())  # type: ignore[attr-defined]


def result(elapsed: float = 2.0) -> UpdateResult:
    return UpdateResult(
        image=FirmwareImage(b"\x01" * 40_000),
        attempts=2,
        bytes_moved=60_000,
        elapsed=elapsed,
        verification=Verification(VerificationMethod.DEVICE_CRC, "CRC-16 checked by the device"),
        details={"Device Reports": "1.2.3", "application": "4.0.0+0"},
    )


def test_keys_and_events_are_snake_case() -> None:
    assert snake("sent sha256") == "sent_sha256"
    assert snake("byte-for-byte") == "byte_for_byte"
    assert snake("dfuAddress") == "dfu_address"
    assert event_name("legacy DFU devices") == "legacy_dfu_devices"
    assert event_name("dfu.status") == "dfu.status"
    assert event_name("/tmp/app.bin") == "tmp_app.bin"  # valid, though inspect uses "inspect"


def test_result_rows_are_typed_and_carry_the_verification() -> None:
    rows = result_rows(result())
    assert rows["bytes"] == 40_000 and rows["bytes_moved"] == 60_000 and rows["attempts"] == 2
    assert rows["seconds"] == 2.0 and rows["throughput"] == 20_000.0
    assert rows["verified"] is True and rows["verification"] == "device-crc"
    assert rows["verification_detail"] == "CRC-16 checked by the device"
    assert rows["device_reports"] == "1.2.3" and rows["application"] == "4.0.0+0"
    unverified = UpdateResult(
        FirmwareImage(b"x"), 1, 1, 0.0, Verification.none("the protocol cannot"), {}
    )
    rows = result_rows(unverified)
    assert rows["verified"] is False and rows["verification"] == "none"
    assert rows["throughput"] is None


def test_json_lines_are_typed_and_valid(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = Reporter(json_lines=True)
    reporter.table("updated", {"port": "/dev/ttyACM0", **result_rows(result())})
    reporter.emit("Odd Name", **{"Some Key": 1.5, "Nan": float("nan")})
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert_valid([first, second])
    assert first["event"] == "updated" and first["seconds"] == 2.0
    assert second == {"event": "odd_name", "some_key": 1.5, "nan": None}


def test_human_values_use_one_unit() -> None:
    assert display("bytes", 131_072) == "131072 (128.0 KiB)"
    assert display("throughput", 20_480.0) == "20.0 KiB/s"
    assert display("average_speed", 2_048_000.0) == "2000 KiB/s"
    assert display("seconds", 3.614) == "3.61 s"
    assert display("verified", True) == "True"
    assert display("anything", None) == "-"
    assert units.speed(None) == "" and units.duration(75) == "1:15"
    assert units.fraction(60_000, 128 * 1024) == "58/128 KiB"
    assert units.fraction(3 << 20, 4 << 20) == "3.00/4.00 MiB"


def test_tables_fit_80_columns_and_keep_whole_digests() -> None:
    rows = {"port": "/dev/ttyACM0", **result_rows(result())}
    lines = table_lines(list(rows.items()), 80)
    assert all(len(line) <= 80 and line == line.rstrip() for line in lines)
    digest = FirmwareImage(b"\x01" * 40_000).sha256.hex()
    assert f"    {digest}" in lines  # on its own line, not cut
    assert any("KiB/s" in line for line in lines)
    assert not any("kB/s" in line for line in lines)


def test_progress_rows_fit_80_columns() -> None:
    con = console(80)
    bars = Bars(con)
    long_port = "/dev/serial/by-id/usb-SEGGER_J-Link_001050012345-if00"
    bars.update(long_port, Progress(Phase.TRANSFERRING, 600_000, 1_048_576, 40_000.0, 39_000.0, 11))
    bars.update("app.bin", Progress(Phase.TRANSFERRING, 5_000, 130_000, None, None, None, 2))
    bars.update("modem.cbor", Progress(Phase.DONE, 130_000, 130_000, 9_000.0, 9_000.0, 0.0))
    bars.finish("failed")
    lines = [line for line in text_of(con).splitlines() if line.strip()]
    assert len(lines) == 3  # one row each, printed once
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("…1050012345-if00 ")  # the end of a port path tells boards apart
    assert "failed" in lines[0] and "0.57/1.00 MiB" in lines[0]
    assert "39.1 KiB/s" in lines[0]
    assert "failed" in lines[1]  # a second attempt that did not finish
    assert "done" in lines[2] and "kB/s" not in text_of(con)


def test_a_row_says_the_attempt_and_labels_keep_what_matters() -> None:
    assert phase_text(Phase.TRANSFERRING, 1) == "transferring"
    assert phase_text(Phase.TRANSFERRING, 3) == "transfer #3"
    assert shorten("/dev/serial/by-id/usb-Nordic-if00", 12) == "…Nordic-if00"
    assert shorten("serial-modem application", 12) == "serial-mode…"
    assert shorten("C0:FF:EE:00:00:01", 12) == "…EE:00:00:01"  # a Bluetooth address keeps its end


def test_the_first_event_shows_no_speed() -> None:
    con = console(80)
    bars = Bars(con)
    bars.update("x", Progress(Phase.TRANSFERRING, 4096, 100_000, None, None, None))
    bars.finish()
    assert "KiB/s" not in text_of(con)


def test_log_lines_print_above_the_rows_not_through_them() -> None:
    con = console(80, terminal=True)
    reporter = Reporter(json_lines=False, console=console(), err_console=con)
    handler = ConsoleHandler(reporter, logging.DEBUG)
    logger = logging.getLogger("aiodfu.test.bars")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        callback = reporter.progress("app.bin")
        callback(Progress(Phase.TRANSFERRING, 10_000, 100_000))
        logger.info("a line logged while the bar is live")
        callback(Progress(Phase.DONE, 100_000, 100_000))
        reporter.finish()
    finally:
        logger.removeHandler(handler)
    output = text_of(con)
    (logged,) = [line for line in output.splitlines() if "logged while" in line]
    assert "━" not in logged and re.match(r"\d\d:\d\d:\d\d\.\d{3} INFO", logged.strip())


def test_json_progress_is_spaced_but_keeps_every_phase(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = Reporter(json_lines=True, json_interval=60.0)
    callback = reporter.progress("a")
    callback(Progress(Phase.CONNECTING, 0, 1000))
    for done in range(0, 1000, 10):
        callback(Progress(Phase.TRANSFERRING, done, 1000))
    callback(Progress(Phase.TRANSFERRING, 1000, 1000))
    callback(Progress(Phase.DONE, 1000, 1000))
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["phase"] for r in records] == ["connecting", "transferring", "transferring", "done"]
    assert records[2]["done"] == 1000
    assert_valid(records)


def test_the_demo_skip_line_keeps_the_extras_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from aiodfu.cli import demo, main

    async def needs_bumble(reporter: Reporter, size: int, baud: int) -> None:
        raise ImportError("install 'aiodfu[emulators]' for the BLE emulators")

    monkeypatch.setattr(demo, "SCENARIOS", {"nrf5-legacy": needs_bumble})
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert "'aiodfu[emulators]'" in result.stdout  # not eaten as rich markup
    records = CliRunner().invoke(main, ["--json", "demo"]).stdout.splitlines()
    assert json.loads(records[0]) == {
        "event": "skipped",
        "backend": "nrf5-legacy",
        "reason": "install 'aiodfu[emulators]' for the BLE emulators",
    }
