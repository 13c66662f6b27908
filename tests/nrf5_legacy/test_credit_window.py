"""The credit window, batch by batch: packets go in batches, never beyond what receipts allow.

``PartTransfer.move`` writes as many packets at once as the window allows
(one guarded GATT batch). A scripted target records every batch and sends
receipts the way the bootloader does (one per PRN packets, the byte count
accepted), at moments hypothesis chooses; every batch must end within
``window`` packets of the last confirmed count (the image's last packet
excepted), batches must follow each other without a gap or an overlap, and a
failure inside a batch counts exactly the packets before it as sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodfu.core.errors import LinkLostError
from aiodfu.core.progress import ProgressTracker
from aiodfu.nrf5_legacy.package import Part
from aiodfu.nrf5_legacy.protocol import ImageType
from aiodfu.nrf5_legacy.transfers import PartTransfer

PACKET = 20


class ScriptedTarget:
    """Takes packet batches; owes a receipt every ``prn`` packets and pays one when waited for
    (or early, as ``early`` says)."""

    def __init__(self, prn: int, early: list[bool], fail_at: int | None = None) -> None:
        self.prn = prn
        self.early = early
        self.fail_at = fail_at
        self.receipts: list[int] = []
        self.owed: list[int] = []
        self.received = 0
        self.packets = 0
        self.batches: list[tuple[int, int, int]] = []
        """(offset, end, confirmed when written) of every batch."""
        self.confirmed = 0

    async def write_control(self, data: bytes, operation: str) -> None:
        return None

    def raise_data_error(self, offset: int) -> None:
        return None

    async def wait_receipt(self, offset: int) -> None:
        assert self.owed, f"waited at {offset} for a receipt with none in flight: a deadlock"
        self._pay()

    async def write_packets(self, data: bytes, size: int, offset: int) -> None:
        assert offset == self.received, "batches must be contiguous"
        self.batches.append((offset, offset + len(data), self.confirmed))
        for start in range(0, len(data), size):
            if self.fail_at is not None and offset + start >= self.fail_at:
                raise LinkLostError("dropped", operation="Receive firmware", offset=offset + start)
            self.received += min(size, len(data) - start)
            self.packets += 1
            if self.prn and self.packets % self.prn == 0:
                self.owed.append(self.received)
        if self.owed and self.early and self.early.pop(0):
            self._pay()

    def _pay(self) -> None:
        self.confirmed = self.owed.pop(0)
        self.receipts.append(self.confirmed)


def _transfer(size: int, prn: int, window: int, target: ScriptedTarget) -> PartTransfer:
    firmware = (bytes(range(256)) * (size // 256 + 1))[:size]
    part = Part(ImageType.APPLICATION, firmware, b"")
    device: Any = None  # move() talks to the target only
    transfer = PartTransfer(part, device, packet_size=PACKET, prn=prn, window=window, resume=False)
    transfer.target = target  # type: ignore[assignment]
    return transfer


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 40 * PACKET),
    prn=st.integers(0, 10),
    window=st.integers(1, 12),
    early=st.lists(st.booleans(), max_size=60),
)
async def test_every_batch_stays_within_the_credit_window(
    size: int, prn: int, window: int, early: list[bool]
) -> None:
    target = ScriptedTarget(prn, early)
    transfer = _transfer(size, prn, window, target)
    await transfer._stream_from(target, 0)  # type: ignore[arg-type]
    for chunk in transfer.plan(0):
        await transfer.move(chunk)
    assert target.received == size
    limit = transfer.window * PACKET
    for offset, end, confirmed in target.batches:
        assert end - offset <= limit  # one guarded batch never outlasts a window of packets
        last_packet = end == size and end - offset <= PACKET
        assert prn == 0 or end - confirmed <= limit or last_packet, (offset, end, confirmed)
    if transfer.window >= 2 and size > PACKET:  # room for two packets: they go together
        assert max(end - offset for offset, end, _ in target.batches) > PACKET


@pytest.mark.parametrize("fail_at", [0, 3 * PACKET, 5 * PACKET])
async def test_a_failure_inside_a_batch_counts_the_packets_before_it(fail_at: int) -> None:
    target = ScriptedTarget(prn=0, early=[], fail_at=fail_at)
    transfer = _transfer(8 * PACKET, 0, 8, target)
    progress: list[int] = []
    transfer.tracker = ProgressTracker(8 * PACKET, lambda event: progress.append(event.done))
    await transfer._stream_from(target, 0)  # type: ignore[arg-type]
    with pytest.raises(LinkLostError):
        await transfer.move(next(iter(transfer.plan(0))))
    assert target.batches == [(0, 8 * PACKET, 0)]  # one batch for the whole chunk
    assert transfer.tracker.done == fail_at
