"""Sans-IO splitting of an AT device's output into lines (and, optionally, raw data).

Devices end their lines with CR LF (some with LF alone, some put CR LF
*before* a line as well); every variant is handled by splitting on LF,
stripping CR and surrounding white space and dropping empty lines. Bytes are
decoded as Latin-1, so garbage on the wire can never raise -- it becomes a
line that matches nothing and is ignored.

A run of bytes without LF longer than ``max_line`` is cut off and reported
as an over-long line rather than buffered without bound.

Two opt-in extensions serve devices that mix binary data into the stream
(ESP-AT's ``+HTTPCGET:<n>,<n raw bytes>``) and data prompts (``>``):

* ``data_prefixes``: a line that *starts* with one of these prefixes followed
  by ASCII digits and a comma announces that many raw bytes. They are
  returned as one :class:`DataChunk` and never searched for CR, LF, ``OK`` or
  anything else -- the length alone delimits them (the ESP-AT #860 lesson).
  With ``data_terminator`` (ESP-AT ends each chunk with CR LF) the bytes after
  the data are checked: a chunk whose terminator is missing lost its framing
  (a byte lost, added or changed on the link) and comes out ``intact=False``.
* ``prompts``: a prompt byte sequence (``>``) at the start of a line is
  returned as a :class:`Prompt` at once, because the device sends no line end
  after it and waits for the host's data.

:meth:`LineSplitter.feed` keeps returning lines only (data chunks and prompts
are dropped there); :meth:`LineSplitter.feed_items` returns everything in order.
"""

from __future__ import annotations

import attrs

_LINE_START_JUNK = b"\r\n"


@attrs.frozen
class DataChunk:
    """``length`` raw bytes announced by ``prefix`` (e.g. ``+HTTPCGET:``)."""

    prefix: str
    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    intact: bool = True
    """``False`` when the terminator expected after the data was not there."""


@attrs.frozen
class Prompt:
    """The device waits for raw data (it sent ``text``, e.g. ``>``, and no line end)."""

    text: str


Item = str | DataChunk | Prompt


class LineSplitter:
    """Feed bytes in, take complete lines (and data chunks, prompts) out."""

    def __init__(
        self,
        max_line: int = 8192,
        *,
        data_prefixes: tuple[bytes, ...] = (),
        prompts: tuple[bytes, ...] = (),
        max_data: int = 1 << 20,
        data_terminator: bytes = b"",
    ) -> None:
        self._buffer = bytearray()
        self._max_line = max_line
        self._data_prefixes = data_prefixes
        self._data_terminator = data_terminator
        self._prompts = prompts
        self._max_data = max_data

    def feed(self, data: bytes) -> list[str]:
        """Add received bytes; return the complete, non-empty lines they finish."""
        return [item for item in self.feed_items(data) if isinstance(item, str)]

    def feed_items(self, data: bytes) -> list[Item]:
        """Add received bytes; return the lines, data chunks and prompts they finish."""
        self._buffer += data
        items: list[Item] = []
        while True:
            if self._data_prefixes or self._prompts:
                special = self._take_special()
                if special is _WAIT:
                    break
                if special is not None:
                    assert not isinstance(special, _Wait)
                    items.append(special)
                    continue
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self._max_line:
                    items.append(self._take(len(self._buffer)))
                break
            line = self._take(end + 1)
            if line:
                items.append(line)
        return [item for item in items if item]

    def _take_special(self) -> DataChunk | Prompt | _Wait | None:
        """A data chunk or prompt at the start of the buffer; ``_WAIT`` if it may be one."""
        start = 0
        buffer = self._buffer
        while start < len(buffer) and buffer[start] in _LINE_START_JUNK:
            start += 1
        head = bytes(buffer[start : start + 64])
        for prompt in self._prompts:
            if head.startswith(prompt):
                del buffer[: start + len(prompt)]
                return Prompt(prompt.decode("latin-1"))
        for prefix in self._data_prefixes:
            if not head.startswith(prefix):
                if prefix.startswith(head) and len(head) < len(prefix):
                    return _WAIT  # too early to tell (no line end can be in a prefix)
                continue
            digits_at = start + len(prefix)
            comma = digits_at
            while comma < len(buffer) and 0x30 <= buffer[comma] <= 0x39:
                comma += 1
            if comma == len(buffer):
                return _WAIT if comma - digits_at < 10 else None
            if buffer[comma] != 0x2C or comma == digits_at:
                return None  # an ordinary line that happens to share the prefix
            length = int(buffer[digits_at:comma])
            if length > self._max_data:
                return None
            end = comma + 1 + length
            terminator = self._data_terminator
            if len(buffer) < end + len(terminator):
                return _WAIT
            data = bytes(buffer[comma + 1 : end])
            intact = buffer[end : end + len(terminator)] == terminator
            del buffer[: end + len(terminator) if intact else end]  # else: maybe the next frame
            return DataChunk(prefix.decode("latin-1"), data, intact)
        return None

    def _take(self, count: int) -> str:
        raw = bytes(self._buffer[:count])
        del self._buffer[:count]
        return raw.decode("latin-1").strip()

    def clear(self) -> None:
        """Forget a partial line (after a resync, where it can only be garbage)."""
        self._buffer.clear()


class _Wait:
    """Marker: the buffer may start a data chunk or prompt; wait for more bytes."""


_WAIT = _Wait()
