"""One output file per device for the pull backends' ``update`` (aiodfu.cli.outputs)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from aiodfu.cli.outputs import per_device


def test_one_device_writes_the_output_itself() -> None:
    assert per_device(["/dev/ttyUSB0"], Path("host.bin")) == {"/dev/ttyUSB0": Path("host.bin")}


def test_several_devices_fill_in_the_port_name() -> None:
    paths = per_device(["/dev/ttyUSB0", "/dev/ttyUSB1"], Path("out/host-{port}.bin"))
    assert paths == {
        "/dev/ttyUSB0": Path("out/host-ttyUSB0.bin"),
        "/dev/ttyUSB1": Path("out/host-ttyUSB1.bin"),
    }


@pytest.mark.parametrize(
    ("devices", "output", "message"),
    [
        (["/dev/a", "/dev/b"], "host.bin", "must contain {port}"),
        (["/dev/x/tty0", "/dev/y/tty0"], "host-{port}.bin", "same name"),
    ],
)
def test_files_that_would_collide_are_refused(
    devices: list[str], output: str, message: str
) -> None:
    with pytest.raises(click.UsageError, match=message):
        per_device(devices, Path(output))
