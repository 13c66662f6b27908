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

from aiodfu.cli import rainmaker as cli
from aiodfu.cli.probe import PROBE_LIMIT
from aiodfu.cli.rainmaker import command
from aiodfu.cli.runner import Context
from aiodfu.testing.pty import serve_pty
from aiodfu.testing.rainmaker import FirmwareVersions, RainMakerEmulator
from tests.cli.conftest import assert_valid
from tests.cli.ptys import (
    NOISE,
    aiodfu,
    aiodfu_json,
    assert_no_answer_reported,
    assert_noise_reported,
    quiet_pty,
)

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


# --- info, nothing to do, several modules, the quick probe (the module served by the test's loop) -

ESP_AT_2_4 = FirmwareVersions(  # what ESP-AT v2.4 on a WROOM-32 prints
    at="2.4.0.0(s-4c6eb65 - ESP32 - May 20 2022 03:12:58)",
    sdk="qa-test-v4.3.3-20220423",
    compile_time="(4cb0a6e):May 23 2022 03:43:12",
    bin="2.4.0(WROOM-32)",
)


async def test_info_reports_versions_cloud_and_the_pending_job() -> None:
    module = RainMakerEmulator(
        serve_image=firmware(5_000, seed=8), job_version="2.0.0", versions=ESP_AT_2_4
    )
    async with module, serve_pty(module) as path:
        result, records = await aiodfu_json("rainmaker", "info", "--port", path)
    assert result.exit_code == 0, result.output
    assert_valid(records)
    (info,) = records
    assert info["at_version"] == "2.4.0.0(s-4c6eb65 - ESP32 - May 20 2022 03:12:58)"
    assert info["sdk_version"] == "qa-test-v4.3.3-20220423"
    assert info["bin_version"] == "2.4.0(WROOM-32)"
    assert info["cloud"] == "connected" and info["job"] == module.job_id
    assert info["job_version"] == "2.0.0" and info["job_size"] == 5_000
    assert str(info["job_url"]).endswith("?<redacted>")


async def test_info_shows_the_emulated_modules_own_versions() -> None:
    """The emulator answers AT+GMR itself (no test double): info shows each version line."""
    module = RainMakerEmulator(serve_image=firmware(5_000, seed=8))
    async with module, serve_pty(module) as path:
        result, records = await aiodfu_json("rainmaker", "info", "--port", path)
        plain = await aiodfu("rainmaker", "info", "--port", path)
    assert result.exit_code == 0, result.output
    assert_valid(records)
    versions = FirmwareVersions()
    assert records[-1]["at_version"] == versions.at
    assert records[-1]["sdk_version"] == versions.sdk
    assert records[-1]["bin_version"] == versions.bin
    assert plain.exit_code == 0, plain.output
    assert versions.at in plain.output and versions.sdk in plain.output
    assert versions.bin in plain.output


async def test_info_of_a_module_off_the_cloud_and_without_version_query() -> None:
    module = RainMakerEmulator(
        serve_image=firmware(5_000, seed=8), cloud_connected=False, versions=None
    )
    async with module, serve_pty(module) as path:
        result, records = await aiodfu_json("rainmaker", "info", "--port", path)
    assert result.exit_code == 0, result.output
    assert_valid(records)
    info = records[-1]
    assert info["at_version"] is None  # AT+GMR refused: unknown, not a failure
    assert str(info["cloud"]).startswith("not ready") and info["job"] is None


async def test_no_pending_job_is_nothing_to_do(tmp_path: Path) -> None:
    module = RainMakerEmulator(serve_image=None)
    output = tmp_path / "host.bin"
    async with module, serve_pty(module) as path:
        info, info_records = await aiodfu_json(
            "rainmaker", "info", "--port", path, "--fetch-timeout", "0.5"
        )
        wait, wait_records = await aiodfu_json(
            "rainmaker", "wait", "--port", path, "--fetch-timeout", "0.5"
        )
        update, update_records = await aiodfu_json(
            "rainmaker", "update", "--port", path, "--output", str(output), "--fetch-timeout", "0.5"
        )
    assert info.exit_code == 0 and info_records[-1]["job"] is None
    assert "no pending job seen within 0.5 s" in str(info_records[-1]["note"])
    assert (wait.exit_code, update.exit_code) == (3, 3)
    assert_valid(info_records + wait_records + update_records)
    assert wait_records[-1]["event"] == update_records[-1]["event"] == "nothing_to_do"
    assert not output.exists()


async def test_update_of_several_modules_at_once(tmp_path: Path) -> None:
    image = firmware(20_000, seed=9)
    modules = [RainMakerEmulator(serve_image=image), RainMakerEmulator(serve_image=image)]
    output = tmp_path / "host-{port}.bin"
    async with (
        modules[0],
        modules[1],
        serve_pty(modules[0]) as one,
        serve_pty(modules[1]) as two,
    ):
        result, records = await aiodfu_json(
            "rainmaker", "update", "--port", one, "--port", two, "--output", str(output)
        )
    assert result.exit_code == 0, result.output
    assert_valid(records)
    results = [r for r in records if r["event"] == "device_result"]
    assert {r["device"] for r in results} == {one, two}
    assert all(r["status"] == "updated" and r["bytes"] == len(image) for r in results)
    for path in (one, two):
        assert (tmp_path / f"host-{Path(path).name}.bin").read_bytes() == image
    assert all(module.job_status[module.job_id] == "success" for module in modules)


def test_the_default_probe_bound_is_about_five_seconds() -> None:
    assert cli.default_probe_bound(115_200) <= PROBE_LIMIT


async def test_a_silent_port_is_reported_within_the_probe_bound(tmp_path: Path) -> None:
    async with quiet_pty() as path:
        result, records = await aiodfu_json(
            "rainmaker", "update", "--port", path, "--output", str(tmp_path / "x.bin")
        )
        configured = await aiodfu(
            "--json", "rainmaker", "info", "--port", path, "--probe-timeout", "1.5"
        )
    assert_no_answer_reported(result, records, configured, cli.default_probe_bound(115_200), "1.5")


async def test_noise_is_reported_as_a_likely_wrong_baud_rate() -> None:
    async with quiet_pty(noise=NOISE) as path:
        result, records = await aiodfu_json("rainmaker", "wait", "--port", path)
    assert_noise_reported(result, records, "not ESP-AT")
