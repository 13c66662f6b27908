"""Many devices at once: the fleet runner against several emulated Serial Modems.

A test-only ``update`` command, written as a backend's command looks once it
adopts ``ports_option``, ``fleet_options`` and ``run_updates``, updates
emulated devices named like ports; one of them rejects the image.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aiodfu.cli import main
from aiodfu.cli.fleet import Status, fleet_options, run_updates, update_all
from aiodfu.cli.options import ports_option
from aiodfu.core.progress import ProgressCallback
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.formats import load_image
from aiodfu.serial_modem import SerialModemSession, UpdateType
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from aiodfu.testing.serial_modem import SerialModemEmulator, SerialModemFaults
from aiodfu.transports.memory import LinkModel
from tests.cli.conftest import assert_valid, fixture_commands, json_lines
from tests.serial_modem.conftest import FAST_TIMEOUTS

NO_RETRY = RetryPolicy(attempts=1)
IMAGE = build_mcuboot_image(random_firmware(12_000, seed=7), version=(2, 0, 0, 1))

DEVICES: dict[str, SerialModemEmulator] = {}


def make_devices(count: int, failing: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    DEVICES.clear()
    for index in range(count):
        faults = SerialModemFaults(fail_apply=index in failing)
        DEVICES[f"emulated-{index}"] = SerialModemEmulator(
            link_model=LinkModel(baud=2_000_000), faults=faults
        )
    return list(DEVICES)


async def update_emulated(name: str, progress: ProgressCallback | None) -> UpdateResult:
    device = DEVICES[name]
    # A silent device fails fast: one attempt with the suite's short timeouts.
    quick = {"timeouts": FAST_TIMEOUTS, "retry": NO_RETRY} if device.faults.silent else {}
    async with device, SerialModemSession(device.connect, baudrate=2_000_000, **quick) as session:
        return await session.update(
            IMAGE, update_type=UpdateType.APPLICATION, reset=True, progress=progress
        )


@fixture_commands.command("update")
@ports_option("serial-modem")
@fleet_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def update(
    ctx: click.Context, ports: tuple[str, ...], report: Path | None, jobs: int | None, file: Path
) -> None:
    image = load_image(file)
    assert image.data == IMAGE

    run_updates(ctx, ports, update_emulated, report=report, jobs=jobs, extra_rows={"file": "x"})


@pytest.fixture
def firmware(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "app.bin"
    path.write_bytes(IMAGE)
    yield path
    DEVICES.clear()


def port_args(names: list[str]) -> list[str]:
    return [arg for name in names for arg in ("--port", name)]


def test_one_failure_never_stops_the_others_and_sets_the_exit_code(
    firmware: Path, tmp_path: Path, with_testonly: None
) -> None:
    names = make_devices(5, failing={2})
    report = tmp_path / "report.json"
    args = ["--json", "testonly", "update", *port_args(names), "--report", str(report)]
    result = CliRunner().invoke(main, [*args, str(firmware)])
    assert result.exit_code == 1, result.output
    records = json_lines(result.stdout)
    assert_valid(records)
    outcomes = {r["device"]: r for r in records if r["event"] == "device_result"}
    assert set(outcomes) == set(names)
    for name in names:
        if name == "emulated-2":
            assert outcomes[name]["status"] == "failed"
            assert "apply" in outcomes[name]["error"]["message"].lower()
        else:
            assert outcomes[name]["status"] == "updated" and outcomes[name]["verified"] is True
            assert DEVICES[name].active_app == IMAGE  # byte for byte, on every other device
    summary = records[-1]
    assert summary["event"] == "fleet"
    assert (summary["devices"], summary["updated"], summary["failed"]) == (5, 4, 1)
    assert summary["exit_code"] == 1 and summary["report"] == str(report)
    written = json.loads(report.read_text())
    assert [r["device"] for r in written["results"]] == names  # in the order given
    assert written["results"][2]["error"]["message"]
    progress = {r["label"] for r in records if r["event"] == "progress"}
    assert progress == set(names)  # one progress row per device


def test_all_updated_exits_zero_with_a_summary_that_fits_80_columns(
    firmware: Path, with_testonly: None
) -> None:
    names = make_devices(3)
    result = CliRunner().invoke(
        main, ["testonly", "update", *port_args(names), str(firmware)], terminal_width=80
    )
    assert result.exit_code == 0, result.output
    assert "3 of 3 devices updated" in result.stdout
    assert all(DEVICES[name].active_app == IMAGE for name in names)
    for line in result.stdout.splitlines() + result.stderr.splitlines():
        assert len(line) <= 80, line
    for name in names:
        assert name in result.stdout  # a summary row per device


def test_failures_show_in_the_summary_and_on_stderr(firmware: Path, with_testonly: None) -> None:
    names = make_devices(2, failing={0})
    result = CliRunner().invoke(main, ["testonly", "update", *port_args(names), str(firmware)])
    assert result.exit_code == 1
    assert "1 of 2 devices updated" in result.stdout
    assert "failed: emulated-0" in result.stderr
    retries = [line for line in result.stderr.splitlines() if "attempt 1 failed" in line]
    assert retries and all("emulated-0: " in line for line in retries)  # logs name the device


def test_one_port_keeps_the_single_device_view(firmware: Path, with_testonly: None) -> None:
    (name,) = make_devices(1)
    result = CliRunner().invoke(
        main, ["--json", "testonly", "update", "--port", name, str(firmware)]
    )
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert_valid(records)
    final = records[-1]
    assert final["event"] == "updated" and final["device"] == name and final["file"] == "x"
    assert final["bytes"] == len(IMAGE) and final["verified"] is True
    assert final["verification"] == "device-digest"
    assert isinstance(final["seconds"], float) and final["attempts"] == 1
    assert DEVICES[name].active_app == IMAGE


def test_one_failing_port_alone_fails_like_any_command(firmware: Path, with_testonly: None) -> None:
    (name,) = make_devices(1, failing={0})
    result = CliRunner().invoke(
        main, ["--json", "testonly", "update", "--port", name, str(firmware)]
    )
    assert result.exit_code == 1
    records = json_lines(result.stdout)
    assert_valid(records)
    assert records[-1]["event"] == "error" and records[-1]["exit_code"] == 1


async def test_update_all_limits_concurrency_and_keeps_order() -> None:
    names = make_devices(4, failing={1})
    running = 0
    most = 0

    async def job(name: str, progress: ProgressCallback | None) -> UpdateResult:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            return await update_emulated(name, progress)
        finally:
            running -= 1

    report = await update_all(names, job, limit=2)
    assert most == 2
    assert [o.device for o in report.outcomes] == names
    assert [o.status for o in report.outcomes] == [
        Status.UPDATED,
        Status.FAILED,
        Status.UPDATED,
        Status.UPDATED,
    ]
    assert int(report.exit_code) == 1
    DEVICES.clear()


async def test_the_fleet_benchmark_verifies_every_device() -> None:
    """The benchmark's own checks (each device verified, byte for byte), on a few devices."""
    from benchmarks.fleet import update_devices

    report, _wall, _cpu = await update_devices(5, IMAGE, None)
    assert report.count(Status.UPDATED) == 5 and int(report.exit_code) == 0


def test_a_hint_shared_by_failed_devices_is_shown_once(firmware: Path, with_testonly: None) -> None:
    names = make_devices(3)
    for silent in (names[0], names[2]):  # a silent device: "did not answer" and its hint
        DEVICES[silent].faults = SerialModemFaults(silent=True)
    result = CliRunner().invoke(main, ["testonly", "update", *port_args(names), str(firmware)])
    assert result.exit_code == 1
    hints = [line for line in result.stderr.splitlines() if line.startswith("hint")]
    assert len(hints) == 1, result.stderr
    assert hints[0].startswith("hint (2 devices): ")
