"""``aiodfu emulate serial-modem --save-image`` saves what the device runs (issue 11)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from aiodfu.testing.images import build_mcuboot_image, random_firmware

AIODFU = [sys.executable, "-m", "aiodfu"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AIODFU, *args], capture_output=True, text=True, timeout=60)


def test_an_image_mcuboot_rejects_is_not_saved(tmp_path: Path) -> None:
    old = build_mcuboot_image(random_firmware(4_000, seed=41), version=(1, 0, 0, 0))
    bad = random_firmware(9_000, seed=42)  # not an MCUboot image: sent only with --force
    (tmp_path / "old.bin").write_bytes(old)
    (tmp_path / "bad.bin").write_bytes(bad)
    saved = tmp_path / "saved.bin"
    process = subprocess.Popen(
        [
            *AIODFU,
            "emulate",
            "serial-modem",
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
        first = process.stdout.readline()
        assert first.startswith("pty: "), first
        path = first.removeprefix("pty: ").strip()
        update = run(
            "--json", "serial-modem", "update", "--port", path, "--reset", "--force",
            "--type", "application", str(tmp_path / "bad.bin"),
        )  # fmt: skip
        assert update.returncode != 0, update.stdout
        assert "MCUboot did not take the new image" in update.stdout + update.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert saved.read_bytes() == old
    records = [json.loads(line) for line in update.stdout.splitlines() if line.startswith("{")]
    assert not any(record.get("event") == "updated" for record in records)
