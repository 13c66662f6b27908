"""``aiodfu serial-modem`` against emulated devices on ptys: info, update of one device or
several at once, ``--force``, and the quick probe's diagnosis of a silent or noisy port.

The emulators are served by the test's event loop; the command runs in a thread
(:func:`tests.cli.ptys.aiodfu`). Every ``--json`` line is checked against the schema.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from aiodfu.cli import serial_modem as cli
from aiodfu.cli.probe import PROBE_LIMIT
from aiodfu.serial_modem import Mode
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from aiodfu.testing.pty import serve_pty
from aiodfu.testing.serial_modem import SerialModemEmulator
from aiodfu.transports.serial import open_failure
from tests.cli.conftest import assert_valid
from tests.cli.ptys import NOISE, aiodfu, aiodfu_json, quiet_pty

OLD = build_mcuboot_image(random_firmware(4_000, seed=51), version=(1, 0, 0, 0))
NEW = build_mcuboot_image(random_firmware(12_000, seed=52), version=(3, 1, 4, 1))


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    path = tmp_path / "app.bin"
    path.write_bytes(NEW)
    return path


async def served(stack: AsyncExitStack, device: SerialModemEmulator) -> str:
    await stack.enter_async_context(device)
    return await stack.enter_async_context(serve_pty(device))


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exits:
        yield exits


# --- info ----------------------------------------------------------------------------------------


async def test_info_reports_mode_versions_types_and_bootloader_slot(stack: AsyncExitStack) -> None:
    device = SerialModemEmulator(app_image=OLD, supported_types=(0, 1, 3))
    path = await served(stack, device)
    result, records = await aiodfu_json("serial-modem", "info", "--port", path)
    assert result.exit_code == 0, result.output
    assert_valid(records)
    (info,) = records
    assert info == {
        "event": "info",
        "port": path,
        "mode": "normal",
        "application": "1.0.0+0",
        "modem_firmware": device.modem_version,
        "supported_types": ["application", "modem-delta", "mcuboot-bootloader"],
        "bootloader_slot": device.active_bootloader_slot,
    }


async def test_info_without_a_bootloader_slot_and_for_people(stack: AsyncExitStack) -> None:
    path = await served(stack, SerialModemEmulator(supported_types=(0, 1)))
    result = await aiodfu("serial-modem", "info", "--port", path)
    assert result.exit_code == 0, result.output
    assert "supported types  application, modem-delta" in result.stdout
    assert "bootloader slot  -" in result.stdout  # the build has no s1 partition: no answer


async def test_info_in_bootloader_mode(stack: AsyncExitStack) -> None:
    device = SerialModemEmulator()
    device.mode = Mode.BOOTLOADER  # as after AT#XDFUINIT=2
    path = await served(stack, device)
    result, records = await aiodfu_json("serial-modem", "info", "--port", path)
    assert result.exit_code == 0, result.output
    assert_valid(records)
    assert records[-1]["mode"] == "bootloader"
    assert records[-1]["supported_types"] == ["modem-full"]
    assert records[-1]["application"] is None


async def test_info_frees_a_modem_stuck_in_data_mode_within_the_probe(
    stack: AsyncExitStack,
) -> None:
    """A device an earlier host left mid-chunk swallows AT: the probe's filler ends that data
    mode, so the probe does not mistake it for an absent device."""
    device = SerialModemEmulator(app_image=OLD)
    await stack.enter_async_context(device)
    stream = device.connect()
    await stream.write(b"AT#XDFUINIT=0,9000\r")
    await stream.write(b"AT#XDFUWRITE=0,0,3000\r")  # and then nothing: the host went away
    await stream.aclose()
    path = await stack.enter_async_context(serve_pty(device))
    result, records = await aiodfu_json("serial-modem", "info", "--port", path)
    assert result.exit_code == 0, result.output
    assert records[-1]["mode"] == "normal" and not device.in_data_mode


# --- update ------------------------------------------------------------------------------------


async def test_update_reports_typed_rows(stack: AsyncExitStack, firmware: Path) -> None:
    device = SerialModemEmulator(app_image=OLD)
    path = await served(stack, device)
    result, records = await aiodfu_json(
        "serial-modem", "update", "--port", path, "--reset", str(firmware)
    )
    assert result.exit_code == 0, result.output
    assert_valid(records)
    final = records[-1]
    assert final["event"] == "updated" and final["file"] == str(firmware)
    assert final["device"] == path and final["bytes"] == len(NEW)
    assert final["verified"] is True and final["verification"] == "device-digest"
    assert isinstance(final["seconds"], float) and final["application"] == "3.1.4+1"
    assert device.active_app == NEW


async def test_update_of_several_ports_at_once(
    stack: AsyncExitStack, firmware: Path, tmp_path: Path
) -> None:
    devices = [SerialModemEmulator(app_image=OLD) for _ in range(3)]
    devices[1].faults.fail_apply = True  # one device rejects the image; the others go on
    paths = [await served(stack, device) for device in devices]
    report = tmp_path / "report.json"
    args = [arg for path in paths for arg in ("--port", path)]
    result, records = await aiodfu_json(
        "serial-modem", "update", *args, "--reset", "--report", str(report), str(firmware)
    )
    assert result.exit_code == 1, result.output
    assert_valid(records)
    outcomes = {r["device"]: r["status"] for r in records if r["event"] == "device_result"}
    assert outcomes == {paths[0]: "updated", paths[1]: "failed", paths[2]: "updated"}
    assert records[-1]["event"] == "fleet" and records[-1]["updated"] == 2
    assert devices[0].active_app == NEW and devices[2].active_app == NEW
    assert devices[1].active_app == OLD
    assert json.loads(report.read_text())["failed"] == 1


async def test_update_then_reset_activates_and_modem_reset_reports(
    stack: AsyncExitStack, firmware: Path
) -> None:
    device = SerialModemEmulator(app_image=OLD)
    path = await served(stack, device)
    applied, applied_records = await aiodfu_json(
        "serial-modem", "update", "--port", path, str(firmware)
    )
    assert applied.exit_code == 0, applied.output
    assert applied_records[-1]["verified"] is False  # not activated: nothing checked it yet
    assert device.active_app == OLD
    reset, reset_records = await aiodfu_json("serial-modem", "reset", "--port", path)
    modem, modem_records = await aiodfu_json("serial-modem", "modem-reset", "--port", path)
    assert (reset.exit_code, modem.exit_code) == (0, 0), reset.output + modem.output
    assert_valid(applied_records + reset_records + modem_records)
    assert reset_records[-1] == {"event": "reset", "port": path, "state": "rebooted"}
    assert modem_records[-1]["state"] == "modem restarted"
    assert device.active_app == NEW


# --- --force -----------------------------------------------------------------------------------


@pytest.fixture
def truncated(tmp_path: Path) -> Path:
    path = tmp_path / "truncated.bin"
    path.write_bytes(NEW[:-50])
    return path


async def test_a_truncated_image_is_refused_with_a_hint_to_force(
    stack: AsyncExitStack, truncated: Path
) -> None:
    device = SerialModemEmulator(app_image=OLD)
    path = await served(stack, device)
    result, records = await aiodfu_json("serial-modem", "update", "--port", path, str(truncated))
    assert result.exit_code == 1
    assert_valid(records)
    assert records[-1]["type"] == "ImageError" and "truncated" in records[-1]["message"]
    assert "--force" in records[-1]["hint"]
    assert not device.commands  # refused before the port was even opened


async def test_force_sends_a_truncated_image_and_the_device_judges_it(
    stack: AsyncExitStack, truncated: Path
) -> None:
    device = SerialModemEmulator(app_image=OLD)
    path = await served(stack, device)
    sent = await aiodfu("serial-modem", "update", "--port", path, "--force", str(truncated))
    assert sent.exit_code == 0, sent.output
    assert device.received[0] == NEW[:-50]  # sent as it is, byte for byte
    rejected, records = await aiodfu_json(
        "serial-modem", "update", "--port", path, "--force", "--reset", str(truncated)
    )
    assert rejected.exit_code == 1
    assert_valid(records)
    assert records[-1]["type"] == "ActivationFailedError"
    assert "MCUboot did not take the new image" in records[-1]["message"]
    assert device.active_app == OLD  # MCUboot kept the running application


# --- the quick probe ---------------------------------------------------------------------------


def test_the_default_probe_bound_is_about_five_seconds() -> None:
    assert cli.default_probe_bound(115_200) <= PROBE_LIMIT
    assert cli.default_probe_bound(9_600) > cli.default_probe_bound(115_200)  # the filler's time


async def test_a_silent_port_is_reported_within_the_probe_bound() -> None:
    async with quiet_pty() as path:
        result, records = await aiodfu_json("serial-modem", "ping", "--port", path)
    assert result.exit_code == 1
    assert_valid(records)
    error = records[-1]
    assert error["type"] == "NoAnswerError" and error["operation"] == "probe"
    bound = cli.default_probe_bound(115_200)
    assert f"no answer from {path} within {bound:.1f} s" in error["message"]
    for advice in ("aiodfu ports", "powered", "cable", "--baud", "--no-rtscts", "-vv"):
        assert advice in error["hint"]


async def test_the_configured_probe_bound_is_the_one_that_applies(firmware: Path) -> None:
    async with quiet_pty() as path:
        result, records = await aiodfu_json(
            "serial-modem", "update", "--port", path, "--probe-timeout", "1.5", str(firmware)
        )
    assert result.exit_code == 1
    assert records[-1]["type"] == "NoAnswerError"
    assert "within 1.5 s" in records[-1]["message"]


async def test_noise_is_reported_as_a_likely_wrong_baud_rate_and_shown_with_vv() -> None:
    async with quiet_pty(noise=NOISE) as path:
        result, records = await aiodfu_json("serial-modem", "ping", "--port", path)
        verbose = await aiodfu("-vv", "serial-modem", "ping", "--port", path)
    assert result.exit_code == 1
    assert_valid(records)
    error = records[-1]
    assert error["type"] == "UnrecognisedBytesError"
    assert "are not AT" in error["message"] and "wrong baud rate?" in error["message"]
    assert "--baud" in error["hint"]
    assert verbose.exit_code == 1
    assert "are not AT: 80 81 82 83" in verbose.stderr  # -vv shows the bytes themselves


async def test_a_missing_port_fails_at_once_and_says_its_errno_once(tmp_path: Path) -> None:
    missing = tmp_path / "ttyACM9"
    result, records = await aiodfu_json("serial-modem", "ping", "--port", str(missing))
    assert result.exit_code == 1
    assert_valid(records)
    message = str(records[-1]["message"])
    assert message == f"cannot open serial port {missing}: No such file or directory (open)"
    assert "aiodfu ports" in str(records[-1]["hint"])


def test_open_failure_names_the_system_error_once() -> None:
    import serial

    with pytest.raises(serial.SerialException) as caught:
        serial.Serial("/nonexistent/ttyACM9")
    assert str(caught.value).count("Errno") == 2  # what pyserial says
    assert open_failure(caught.value) == "No such file or directory"
    assert open_failure(OSError("no errno here")) == "no errno here"
