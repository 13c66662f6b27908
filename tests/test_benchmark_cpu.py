"""The benchmarks' CPU split attributes functions to the right side."""

from __future__ import annotations

import pytest
from benchmarks.cpu import CpuSplit, side_of


@pytest.mark.parametrize(
    ("filename", "side"),
    [
        ("/src/aiodfu/serial_modem/device.py", "host"),
        ("/src/aiodfu/core/transfer.py", "host"),
        ("/src/aiodfu/testing/serial_modem/emulator.py", "device"),
        ("/src/aiodfu/transports/memory.py", "device"),
        ("/venv/lib/python3.11/site-packages/bumble/host.py", "device"),
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
    assert split.host + split.device + split.runtime == pytest.approx(split.total)
    assert split.host > 0
    assert split.per_mib(2 * 1024 * 1024).total == pytest.approx(split.total / 2)
