"""``aiodfu emulate serial-modem --pty`` driven by ``aiodfu serial-modem`` in other processes,
as a user would from two terminals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiodfu.testing.images import build_mcuboot_image, random_firmware

AIODFU = [sys.executable, "-m", "aiodfu"]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    saved = tmp_path / "saved.bin"
    process = subprocess.Popen(
        [*AIODFU, "emulate", "serial-modem", "--pty", "--save-image", str(saved)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("pty: "), first
    yield first.removeprefix("pty: ").strip(), process, saved
    if process.poll() is None:
        process.kill()
        process.wait()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AIODFU, *args], capture_output=True, text=True, timeout=60)


def test_update_through_the_cli_and_save_the_applied_image(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, process, saved = emulator
    image = build_mcuboot_image(random_firmware(30_000, seed=3), version=(4, 0, 0, 0))
    firmware = tmp_path / "app.bin"
    firmware.write_bytes(image)

    ping = run("--json", "serial-modem", "ping", "--port", path)
    assert ping.returncode == 0, ping.stderr
    assert json.loads(ping.stdout.splitlines()[-1])["mode"] == "normal"

    update = run("--json", "serial-modem", "update", "--port", path, "--reset", str(firmware))
    assert update.returncode == 0, update.stdout + update.stderr
    records = [json.loads(line) for line in update.stdout.splitlines()]
    assert records[-1]["event"] == "updated"
    assert records[-1]["application"] == "4.0.0+0"
    assert any(r["event"] == "progress" and r["phase"] == "transferring" for r in records)

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert saved.read_bytes() == image


def test_interrupt_stops_serving(emulator) -> None:  # type: ignore[no-untyped-def]
    path, process, _saved = emulator
    assert os.path.exists(path)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_drogue_update_through_the_cli_saves_the_active_image(tmp_path: Path) -> None:
    """The image saved on exit is the one the device booted, confirmed (after swap and Sync)."""
    old, new = random_firmware(5_000, seed=31), random_firmware(20_003, seed=32)
    (tmp_path / "old.bin").write_bytes(old)
    (tmp_path / "new.bin").write_bytes(new)
    saved = tmp_path / "saved.bin"
    process = subprocess.Popen(
        [
            *AIODFU,
            "emulate",
            "drogue",
            "--pty",
            "--image",
            str(tmp_path / "old.bin"),
            "--save-image",
            str(saved),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        path = process.stdout.readline().removeprefix("pty: ").strip()
        update = run(
            "--json",
            "drogue",
            "update",
            "--port",
            path,
            "--version",
            "0.2.0",
            str(tmp_path / "new.bin"),
        )
        assert update.returncode == 0, update.stdout + update.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    held = saved.read_bytes()
    assert held[: len(new)] == new
    assert held[len(new) :] == b"\xff" * (len(held) - len(new))  # padded to the write size
    assert len(held) % 8 == 0
