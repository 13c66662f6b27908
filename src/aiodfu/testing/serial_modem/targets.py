"""Where the emulated Serial Modem's DFU data lands: a chunk in flight, the delta area, modem flash.

Bytes are moved with bulk ``bytearray`` operations only: a 1 MiB image must stay cheap.
"""

from __future__ import annotations

import attrs

__all__ = ["DELTA_OFFSET_DIRTY", "DataChunk", "DeltaArea", "ModemFlash"]

DELTA_OFFSET_DIRTY = 2621440
"""``NRF_MODEM_DELTA_DFU_OFFSET_DIRTY``: the offset reported when the area needs an erase."""


@attrs.define
class DataChunk:
    """One ``AT#XDFUWRITE`` data-mode session: what is still expected and what reached the target.

    ``accept_limit`` is how many bytes the target takes before failing (the
    whole chunk unless a ``fail_chunks`` fault hit it); ``addr`` advances as
    type-2 firmware bytes are written, as the SM does since commit 15c8295.
    """

    type: int
    addr: int
    length: int
    accept_limit: int
    remaining: int = attrs.field(init=False)
    ring: bytearray = attrs.field(factory=bytearray)
    accepted: int = 0
    failed: bool = False
    forced_status: int | None = None
    """The status an injected fault reports (a failure, so the chunk fails too)."""

    def __attrs_post_init__(self) -> None:
        self.remaining = self.length

    @property
    def status(self) -> int:
        """The ``#XDFU: t,1,<status>`` value: -1 on any target failure or a short write."""
        if self.failed or self.accepted != self.length:
            return -1 if self.forced_status is None else self.forced_status
        return 0


class DeltaArea:
    """The modem's delta DFU area: written by appending, at the modem's own offset.

    It lives in modem flash, so it survives reboots; a partial patch stays
    until an erase, and new writes land after it.
    """

    def __init__(self) -> None:
        self.data = bytearray()
        self.dirty = False

    @property
    def offset(self) -> int:
        """What ``AT#XFOTA=7`` reports: bytes stored, or the dirty marker."""
        return DELTA_OFFSET_DIRTY if self.dirty else len(self.data)

    def erase(self) -> None:
        self.data = bytearray()
        self.dirty = False


class ModemFlash:
    """The modem flash as the full-modem firmware phase programs it: addressed runs of bytes.

    Runs are kept merged (contiguous or overlapping writes become one run,
    later writes winning), so the common case -- each chunk continuing the
    last one -- is a plain ``bytearray`` extend.
    """

    def __init__(self) -> None:
        self._runs: dict[int, bytearray] = {}
        self._last: int | None = None  # start of the run written last

    def clear(self) -> None:
        self._runs.clear()
        self._last = None

    def __bool__(self) -> bool:
        return bool(self._runs)

    def write(self, address: int, data: bytes | bytearray) -> None:
        if not data:
            return
        end = address + len(data)
        last = self._last
        if (
            last is not None
            and last + len(self._runs[last]) == address
            and not any(address < start < end for start in self._runs)
        ):
            self._runs[last] += data
            return
        touching = [
            start
            for start, run in self._runs.items()
            if start <= end and address <= start + len(run)
        ]
        first = min([address, *touching])
        stop = max([end, *(start + len(self._runs[start]) for start in touching)])
        merged = bytearray(stop - first)
        for start in touching:
            run = self._runs.pop(start)
            merged[start - first : start - first + len(run)] = run
        merged[address - first : end - first] = data
        self._runs[first] = merged
        self._last = first

    def read(self, address: int, length: int) -> bytes | None:
        """The ``length`` bytes at ``address``, or ``None`` where any of them were never written."""
        for start, run in self._runs.items():
            if start <= address and address + length <= start + len(run):
                return bytes(run[address - start : address - start + length])
        return None

    def segments(self) -> list[tuple[int, bytes]]:
        """``(address, bytes)`` per contiguous run, in address order."""
        return [(start, bytes(self._runs[start])) for start in sorted(self._runs)]
