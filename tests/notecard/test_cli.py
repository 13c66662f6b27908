"""``aiodfu notecard status|update|nofu`` against an emulated card on a pty or an emulated I2C bus,
plus the demo and the emulator factory the shared CLI registers."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiodfu.cli import notecard as cli
from aiodfu.cli import ports as port_list
from aiodfu.cli.notecard import command, demo, emulator_factory
from aiodfu.cli.output import Reporter
from aiodfu.cli.probe import PROBE_LIMIT
from aiodfu.notecard import i2c as i2c_module
from aiodfu.testing.i2c import EmulatedI2cBus, I2cBusModel
from aiodfu.testing.notecard import NotecardEmulator, notecard_i2c_bus
from aiodfu.testing.pty import serve_pty
from aiodfu.transports.memory import LinkModel
from tests.cli.conftest import assert_valid
from tests.cli.ptys import (
    NOISE,
    aiodfu,
    aiodfu_json,
    assert_no_answer_reported,
    assert_noise_reported,
    quiet_pty,
)

from .conftest import IMAGE


@pytest.fixture
def served() -> Iterator[tuple[NotecardEmulator, str]]:
    """A card on a pty, served by its own event loop in a thread (the CLI runs its own loop)."""
    card = NotecardEmulator(image=IMAGE, image_version="3.1.4")
    ready: list[str] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with serve_pty(card) as path:
            ready.append(path)
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(5)
    yield card, ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)
    loop.close()
    assert not card.failures


def test_update_writes_the_verified_image_and_closes_out(
    served: tuple[NotecardEmulator, str], tmp_path: Path
) -> None:
    card, path = served
    output = tmp_path / "host.bin"
    result = CliRunner().invoke(command, ["update", "--port", path, "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert output.read_bytes() == IMAGE
    assert card.mode == "completed"
    assert "binary" in result.output


def test_status_reports_the_image_and_the_version(served: tuple[NotecardEmulator, str]) -> None:
    card, path = served
    result = CliRunner().invoke(command, ["status", "--port", path, "--report-version", "1.0.9"])
    assert result.exit_code == 0, result.output
    assert "ready" in result.output and "3.1.4" in result.output
    assert card.reported_version == "1.0.9"


def test_nofu_configures_card_dfu(served: tuple[NotecardEmulator, str]) -> None:
    card, path = served
    result = CliRunner().invoke(command, ["nofu", "--port", path, "--name", "stm32", "--on"])
    assert result.exit_code == 0, result.output
    assert card.card_dfu == {"name": "stm32", "on": True}


def test_update_without_an_image_is_nothing_to_do(
    served: tuple[NotecardEmulator, str], tmp_path: Path
) -> None:
    card, path = served
    card.image = None
    card.mode = "idle"
    output = tmp_path / "host.bin"
    result = CliRunner().invoke(command, ["update", "--port", path, "--output", str(output)])
    assert result.exit_code == 3  # nothing to do: not a failure
    assert "no image ready" in result.output and not output.exists()


async def test_demo_verifies_byte_for_byte() -> None:
    await demo(Reporter(json_lines=True), 20_000, 1_000_000)


def test_emulator_factory_offers_the_file() -> None:
    card = emulator_factory(b"firmware", LinkModel(baud=9600))
    assert isinstance(card, NotecardEmulator)
    assert card.image == b"firmware" and card.mode == "ready"
    assert card.link_model.baud == 9600


@pytest.fixture
def i2c_card(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[NotecardEmulator, list[str]]]:
    """``--i2c PATH`` opens an emulated bus (in the CLI's own event loop) instead of i2c-dev."""
    card = NotecardEmulator(image=IMAGE, image_version="3.1.4")
    opened: list[str] = []

    def linux_bus(path: str, *, timeout: float) -> EmulatedI2cBus:
        opened.append(path)
        return notecard_i2c_bus(card, address=0x19, model=I2cBusModel(clock_hz=None))

    monkeypatch.setattr(i2c_module, "LinuxI2cBus", linux_bus)
    yield card, opened
    assert not card.failures


def test_update_over_i2c_at_another_address(
    i2c_card: tuple[NotecardEmulator, list[str]], tmp_path: Path
) -> None:
    card, opened = i2c_card
    output = tmp_path / "host.bin"
    arguments = ["update", "--i2c", "/dev/i2c-7", "--address", "0x19", "--output", str(output)]
    result = CliRunner().invoke(command, arguments)
    assert result.exit_code == 0, result.output
    assert output.read_bytes() == IMAGE and card.mode == "completed"
    assert opened and set(opened) == {"/dev/i2c-7"}
    assert "/dev/i2c-7 @ 0x19" in result.output


def test_status_and_nofu_over_i2c(i2c_card: tuple[NotecardEmulator, list[str]]) -> None:
    card, _ = i2c_card
    status = CliRunner().invoke(command, ["status", "--i2c", "/dev/i2c-1", "--address", "25"])
    nofu = CliRunner().invoke(
        command, ["nofu", "--i2c", "/dev/i2c-1", "--address", "0x19", "--name", "esp32", "--on"]
    )
    assert status.exit_code == 0, status.output
    assert "ready" in status.output and "3.1.4" in status.output
    assert nofu.exit_code == 0, nofu.output
    assert card.card_dfu == {"name": "esp32", "on": True}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["status"], "--port PATH or --i2c DEVICE"),
        (["status", "--port", "/dev/null", "--i2c", "/dev/i2c-1"], "not both"),
        (["status", "--i2c", "/dev/i2c-1", "--address", "0x90"], "not a 7-bit"),
        (["status", "--i2c", "/dev/i2c-1", "--address", "card"], "not a number"),
    ],
)
def test_link_options_are_checked(
    arguments: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(port_list, "list_ports", list)  # no port to fall back on
    monkeypatch.delenv("AIODFU_PORT", raising=False)
    result = CliRunner().invoke(command, arguments)
    assert result.exit_code == 2 and message in result.output


def test_emulate_saves_the_image_the_card_delivered(tmp_path: Path) -> None:
    """``aiodfu emulate notecard --image F --save-image P``: after a host retrieved F and closed out
    the DFU (the card deletes its copy), P is F -- not "the device holds no image"."""
    offered, saved, output = tmp_path / "host.bin", tmp_path / "saved.bin", tmp_path / "got.bin"
    offered.write_bytes(IMAGE)
    aiodfu = [sys.executable, "-m", "aiodfu"]
    emulate = [*aiodfu, "emulate", "notecard", "--pty", "--image", str(offered)]
    process = subprocess.Popen(
        [*emulate, "--save-image", str(saved)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        path = process.stdout.readline().removeprefix("pty: ").strip()
        update = subprocess.run(
            [*aiodfu, "notecard", "update", "--port", path, "--output", str(output)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert update.returncode == 0, update.stdout + update.stderr
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert output.read_bytes() == IMAGE and saved.read_bytes() == IMAGE
    assert "no image" not in rest and f"saved {len(IMAGE)} bytes" in rest


def test_update_streams_to_a_part_file_and_moves_it_into_place(
    served: tuple[NotecardEmulator, str], tmp_path: Path
) -> None:
    card, path = served
    output = tmp_path / "host.bin"
    output.write_bytes(b"the image installed last time")
    result = CliRunner().invoke(command, ["update", "--port", path, "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert output.read_bytes() == IMAGE and list(tmp_path.glob("*.part")) == []
    assert card.mode == "completed"


def test_a_failed_update_leaves_an_earlier_output_as_it_was(
    served: tuple[NotecardEmulator, str], tmp_path: Path
) -> None:
    card, path = served
    card.body["md5"] = "0" * 32  # the card announces another image than it serves
    output = tmp_path / "host.bin"
    output.write_bytes(b"the image installed last time")
    result = CliRunner().invoke(command, ["update", "--port", path, "--output", str(output)])
    assert result.exit_code != 0
    assert output.read_bytes() == b"the image installed last time"
    assert list(tmp_path.glob("*.part")) == [] and card.mode == "error"


# --- info, JSON, several cards at once, the quick probe (the card served by the test's loop) ------


async def test_info_reports_card_firmware_dfu_mode_and_the_pending_image() -> None:
    card = NotecardEmulator(image=IMAGE, image_version="3.1.4", firmware_version="8.1.3")
    async with card, serve_pty(card) as path:
        result, records = await aiodfu_json("notecard", "info", "--port", path)
    assert result.exit_code == 0, result.output
    assert_valid(records)
    (info,) = records
    body = card.body
    assert info["event"] == "info" and info["port"] == path
    assert info["card_firmware"] == "notecard-8.1.3"
    assert info["dfu_mode"] == "ready" and info["downloads"] == "on"
    assert info["image_name"] == body["name"] and info["image_size"] == len(IMAGE)
    assert info["image_md5"] == hashlib.md5(IMAGE).hexdigest()
    assert info["image_version"] == "3.1.4"


async def test_info_without_an_image_and_every_command_in_json(tmp_path: Path) -> None:
    card = NotecardEmulator(image=None)
    async with card, serve_pty(card) as path:
        info, info_records = await aiodfu_json("notecard", "info", "--port", path)
        status, status_records = await aiodfu_json(
            "notecard", "status", "--port", path, "--downloads", "off"
        )
        nofu, nofu_records = await aiodfu_json("notecard", "nofu", "--port", path, "--on")
        empty, empty_records = await aiodfu_json(
            "notecard", "update", "--port", path, "--output", str(tmp_path / "x.bin")
        )
    assert (info.exit_code, status.exit_code, nofu.exit_code) == (0, 0, 0)
    assert empty.exit_code == 3
    assert_valid(info_records + status_records + nofu_records + empty_records)
    assert info_records[-1]["image_name"] is None and info_records[-1]["image_size"] is None
    assert status_records[-1]["downloads"] == "off"
    assert empty_records[-1]["event"] == "nothing_to_do"
    assert "no image ready" in str(empty_records[-1]["message"])


async def test_update_reports_typed_rows(tmp_path: Path) -> None:
    card = NotecardEmulator(image=IMAGE, image_version="3.1.4")
    output = tmp_path / "host.bin"
    async with card, serve_pty(card) as path:
        result, records = await aiodfu_json(
            "notecard", "update", "--port", path, "--output", str(output)
        )
    assert result.exit_code == 0, result.output
    assert_valid(records)
    final = records[-1]
    assert final["event"] == "retrieved" and final["output"] == str(output)
    assert final["bytes"] == len(IMAGE) and final["verified"] is True
    assert final["verification"] == "host-digest" and final["mode"] in ("binary", "base64")
    assert card.mode == "completed"


async def test_update_of_several_cards_at_once(tmp_path: Path) -> None:
    cards = [NotecardEmulator(image=IMAGE), NotecardEmulator(image=None)]
    output = tmp_path / "host-{port}.bin"
    async with cards[0], cards[1], serve_pty(cards[0]) as one, serve_pty(cards[1]) as two:
        unnamed, _ = await aiodfu_json(
            "notecard", "update", "--port", one, "--port", two, "--output", str(tmp_path / "x")
        )
        result, records = await aiodfu_json(
            "notecard", "update", "--port", one, "--port", two, "--output", str(output)
        )
    assert unnamed.exit_code == 2  # several cards into one file: refused
    assert result.exit_code == 0, result.output  # one updated, one with nothing to do
    assert_valid(records)
    outcomes = {r["device"]: r["status"] for r in records if r["event"] == "device_result"}
    assert outcomes == {one: "updated", two: "nothing_to_do"}
    assert (tmp_path / f"host-{Path(one).name}.bin").read_bytes() == IMAGE
    assert not (tmp_path / f"host-{Path(two).name}.bin").exists()


def _part_files(directory: Path) -> list[Path]:
    return list(directory.glob("*.part"))


async def test_each_card_of_several_gets_its_own_part_file(tmp_path: Path) -> None:
    """A card whose image fails verification leaves its earlier file; the other's is replaced."""
    good, bad = NotecardEmulator(image=IMAGE), NotecardEmulator(image=IMAGE)
    bad.body["md5"] = "0" * 32  # the card announces another image than it serves
    async with good, bad, serve_pty(good) as one, serve_pty(bad) as two:
        files = {port: tmp_path / f"host-{Path(port).name}.bin" for port in (one, two)}
        for file in files.values():
            file.write_bytes(b"the image installed last time")
        result, records = await aiodfu_json(
            "notecard",
            "update",
            "--port",
            one,
            "--port",
            two,
            "--output",
            str(tmp_path / "host-{port}.bin"),
        )
    assert result.exit_code == 1, result.output
    assert_valid(records)
    outcomes = {r["device"]: r["status"] for r in records if r["event"] == "device_result"}
    assert outcomes == {one: "updated", two: "failed"}
    assert files[one].read_bytes() == IMAGE
    assert files[two].read_bytes() == b"the image installed last time"
    assert _part_files(tmp_path) == []
    assert (good.mode, bad.mode) == ("completed", "error")


def test_the_default_probe_bound_is_about_five_seconds() -> None:
    assert cli.default_probe_bound(115_200) <= PROBE_LIMIT


async def test_a_silent_port_is_reported_within_the_probe_bound() -> None:
    async with quiet_pty() as path:
        result, records = await aiodfu_json("notecard", "info", "--port", path)
        configured = await aiodfu(
            "--json", "notecard", "info", "--port", path, "--probe-timeout", "1.5"
        )
    assert_no_answer_reported(result, records, configured, cli.default_probe_bound(115_200), "1.5")


async def test_noise_is_reported_as_a_likely_wrong_baud_rate() -> None:
    async with quiet_pty(noise=NOISE) as path:
        result, records = await aiodfu_json("notecard", "info", "--port", path)
    assert_noise_reported(result, records, "not Notecard JSON")
