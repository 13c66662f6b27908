"""Sans-IO splitting of an AT device's output into lines.

Devices end their lines with CR LF (some with LF alone, some put CR LF
*before* a line as well); every variant is handled by splitting on LF,
stripping CR and surrounding white space and dropping empty lines. Bytes are
decoded as Latin-1, so garbage on the wire can never raise -- it becomes a
line that matches nothing and is ignored.

A run of bytes without LF longer than ``max_line`` is cut off and reported
as an over-long line rather than buffered without bound.
"""

from __future__ import annotations


class LineSplitter:
    """Feed bytes in, take complete lines out."""

    def __init__(self, max_line: int = 8192) -> None:
        self._buffer = bytearray()
        self._max_line = max_line

    def feed(self, data: bytes) -> list[str]:
        """Add received bytes; return the complete, non-empty lines they finish."""
        self._buffer += data
        lines: list[str] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self._max_line:
                    lines.append(self._take(len(self._buffer)))
                break
            line = self._take(end + 1)
            if line:
                lines.append(line)
        return [line for line in lines if line]

    def _take(self, count: int) -> str:
        raw = bytes(self._buffer[:count])
        del self._buffer[:count]
        return raw.decode("latin-1").strip()

    def clear(self) -> None:
        """Forget a partial line (after a resync, where it can only be garbage)."""
        self._buffer.clear()
