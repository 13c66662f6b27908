"""The Serial Modem benchmark's arithmetic and its fetching of Nordic's host (no timing)."""

from __future__ import annotations

import os
import subprocess

import pytest
from benchmarks.common import VendorFile, VendorUnavailable, process_cpu
from benchmarks.serial_modem import REALISTIC, WITH_FLASH, Device, describe, device_limit

MIB = 1 << 20


def test_without_flash_the_device_limit_is_the_wire_time() -> None:
    assert device_limit(MIB, 1_000_000, REALISTIC) == pytest.approx(MIB * 10 / 1_000_000)


def test_a_flash_the_receive_buffer_hides_costs_only_its_last_write() -> None:
    # 4096 bytes at 200 kB/s take 20.5 ms; the 4 KiB receive buffer fills in 41 ms at 1 Mbaud.
    wire = MIB * 10 / 1_000_000
    assert device_limit(MIB, 1_000_000, WITH_FLASH) == pytest.approx(wire + 4096 / 200_000)


def test_a_flash_slower_than_the_receive_buffer_shows_in_every_write() -> None:
    slow = Device("flash 20 kB/s", 0.0, 20_000.0)
    write, hidden = 4096 / 20_000, 4096 * 10 / 1_000_000
    expected = MIB * 10 / 1_000_000 + (MIB // 4096 - 1) * (write - hidden) + write
    assert device_limit(MIB, 1_000_000, slow) == pytest.approx(expected)


def test_chunk_sizes_are_described_without_the_short_last_one() -> None:
    assert describe([4096, 4096, 100]) == "4096"
    assert describe([73_728, 98_304, 98_304, 5000]) == "73728-98304"
    assert describe([3000]) == "3000"


VENDOR = VendorFile(
    repo="example/none",
    path="app/scripts/host.py",
    commit="0" * 40,
    env_file="AIODFU_TEST_HOST_FILE",
    env_repo="AIODFU_TEST_HOST_REPO",
)


def test_a_vendor_file_named_by_the_environment_is_copied(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "mine.py"
    source.write_text("print('hello')\n")
    monkeypatch.setenv("AIODFU_TEST_HOST_FILE", str(source))
    into = tmp_path / "scratch"
    into.mkdir()
    fetched = VENDOR.fetch(into)
    assert fetched == into / "host.py" and fetched.read_text() == "print('hello')\n"


def test_a_vendor_file_is_read_from_a_git_clone(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "repo"
    (repo / "app" / "scripts").mkdir(parents=True)
    (repo / "app" / "scripts" / "host.py").write_text("# from git\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    monkeypatch.delenv("AIODFU_TEST_HOST_FILE", raising=False)
    monkeypatch.setenv("AIODFU_TEST_HOST_REPO", str(repo))
    fetched = VENDOR.fetch(tmp_path)  # the pinned commit is absent: HEAD
    assert fetched.read_text() == "# from git\n"


def test_a_vendor_file_that_cannot_be_had_says_why(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("AIODFU_TEST_HOST_FILE", raising=False)
    monkeypatch.setenv("AIODFU_TEST_HOST_REPO", str(tmp_path / "no-such-clone"))
    monkeypatch.setattr("urllib.request.urlopen", _offline)
    with pytest.raises(VendorUnavailable) as raised:
        VENDOR.fetch(tmp_path)
    message = str(raised.value)
    assert "$AIODFU_TEST_HOST_FILE not set" in message
    assert "AIODFU_TEST_HOST_REPO" in message and "offline" in message


def _offline(*args: object, **kwargs: object) -> None:
    raise OSError("offline")


def test_process_cpu_reads_a_running_process() -> None:
    seconds = process_cpu(os.getpid())
    assert seconds is None or seconds >= 0
    assert process_cpu(2**22 + 12345) is None  # above pid_max: no such process
