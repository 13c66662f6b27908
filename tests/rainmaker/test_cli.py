"""``aiodfu rainmaker wait|update`` against the emulator factory on a pty in another process."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiodfu.cli.rainmaker import command
from aiodfu.cli.runner import Context

from .conftest import firmware

SERVE = """
import asyncio, signal, sys
from aiodfu.cli.rainmaker import emulator_factory
from aiodfu.testing.pty import serve_pty
from aiodfu.transports.memory import LinkModel

async def main():
    emulator = emulator_factory(open(sys.argv[1], "rb").read(), LinkModel())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve_pty(emulator) as path:
        print(f"pty: {path}", flush=True)
        await stop.wait()
    print(emulator.job_status.get(emulator.job_id), flush=True)

asyncio.run(main())
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], bytes]]:
    image = firmware(30_000, seed=4)
    source = tmp_path / "host.bin"
    source.write_bytes(image)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(source)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("pty: "), first
    yield first.removeprefix("pty: ").strip(), process, image
    if process.poll() is None:
        process.kill()
        process.wait()


def invoke(*args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(command, list(args), obj=Context(json_lines=True))
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_wait_then_update_writes_the_image_and_reports_success(
    served: tuple[str, subprocess.Popen[str], bytes], tmp_path: Path
) -> None:
    path, process, image = served
    shown = invoke("wait", "--port", path)[-1]
    assert shown["job"] == "aiodfuEmulatedJob01"
    assert str(shown["url"]).endswith("?<redacted>")
    output = tmp_path / "installed.bin"
    records = invoke("update", "--port", path, "--output", str(output))
    assert records[-1]["event"] == "updated"
    assert output.read_bytes() == image
    process.terminate()
    assert process.communicate(timeout=10)[0].strip() == "success"


def test_update_with_a_wrong_digest_installs_nothing_and_reports_failure(
    served: tuple[str, subprocess.Popen[str], bytes], tmp_path: Path
) -> None:
    path, process, image = served
    output = tmp_path / "installed.bin"
    result = CliRunner().invoke(
        command,
        ["update", "--port", path, "--output", str(output), "--expected-sha256", "00" * 32],
        obj=Context(json_lines=True),
    )
    assert result.exit_code != 0
    assert not output.exists()
    records = invoke(
        "update",
        "--port",
        path,
        "--output",
        str(output),
        "--expected-sha256",
        hashlib.sha256(image).hexdigest(),
    )
    assert records[-1]["verification"].startswith("host-digest")
    assert output.read_bytes() == image
    process.terminate()
    assert process.communicate(timeout=10)[0].strip() == "success"


def test_a_failed_update_leaves_an_earlier_output_as_it_was(
    served: tuple[str, subprocess.Popen[str], bytes], tmp_path: Path
) -> None:
    """The download streams to OUTPUT.part; only a verified image replaces OUTPUT."""
    path, process, image = served
    output = tmp_path / "installed.bin"
    output.write_bytes(b"the image installed last time")
    result = CliRunner().invoke(
        command,
        ["update", "--port", path, "--output", str(output), "--expected-sha256", "00" * 32],
        obj=Context(json_lines=True),
    )
    assert result.exit_code != 0
    assert output.read_bytes() == b"the image installed last time"
    assert list(tmp_path.glob("*.part")) == []
    records = invoke("update", "--port", path, "--output", str(output))
    assert output.read_bytes() == image and list(tmp_path.glob("*.part")) == []
    assert "path" not in records[-1]  # OUTPUT is where the image is
    process.terminate()
    process.communicate(timeout=10)
