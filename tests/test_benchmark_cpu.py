"""The benchmarks' CPU split attributes functions to the right side."""

from __future__ import annotations

import pytest
from benchmarks.cpu import CpuSplit, shares, side_of


@pytest.mark.parametrize(
    ("filename", "side"),
    [
        ("/src/aiodfu/serial_modem/device.py", "host"),
        ("/src/aiodfu/core/transfer.py", "host"),
        ("/src/aiodfu/testing/serial_modem/emulator.py", "device"),
        ("/src/aiodfu/transports/memory.py", "device"),
        ("/venv/lib/python3.11/site-packages/bumble/host.py", "ble"),
        ("/venv/lib/python3.11/site-packages/bleak/__init__.py", "ble"),
        ("/src/aiodfu/testing/ble/radio.py", "ble"),
        ("/src/aiodfu/transports/gatt.py", "host"),
        ("/usr/lib/python3.11/asyncio/base_events.py", "runtime"),
        ("~", "runtime"),
    ],
)
def test_side_of(filename: str, side: str) -> None:
    assert side_of(filename) == side


async def test_a_measured_split_adds_up() -> None:
    async def work() -> int:
        from aiodfu.notecard.cobs import encode  # pure Python: its time is the host's

        return sum(len(encode(bytes(range(256)) * 64)) for _ in range(20))

    result, split = await CpuSplit.measure(work)
    assert result > 0
    assert split.host + split.device + split.ble + split.runtime == pytest.approx(split.total)
    assert split.host > 0
    assert split.per_mib(2 * 1024 * 1024).total == pytest.approx(split.total / 2)


def test_a_builtins_time_goes_to_its_callers_sides() -> None:
    host = ("/src/aiodfu/nrf5_legacy/transfers.py", 1, "move")
    bumble = ("/venv/site-packages/bumble/hci.py", 1, "to_string")
    loop = ("/usr/lib/python3.11/selectors.py", 1, "select")
    join = ("~", 0, "<method 'join' of 'str' objects>")
    stats = {
        host: (1, 1, 0.5, 0.5, {}),
        bumble: (1, 1, 0.25, 0.25, {}),
        loop: (1, 1, 0.125, 0.125, {}),
        # 3 s in join: 1 s of it called from the host, 2 s from Bumble
        join: (2, 2, 3.0, 3.0, {host: (1, 1, 1.0, 1.0), bumble: (1, 1, 2.0, 2.0)}),
    }
    assert shares(stats) == {"host": 1.5, "device": 0.0, "ble": 2.25, "runtime": 0.125}
