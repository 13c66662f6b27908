"""The emulated ESP-AT module's command-line discipline, free of I/O.

ESP-AT takes a command when ``\\r\\n`` arrives; a line that does not start
with ``AT`` or is longer than 256 bytes (terminator included) is answered
with ``ERROR``. Parameters are split at commas outside double quotes; inside
quotes ``\\,``, ``\\"`` and ``\\\\`` are escapes. Raw data after a ``>``
prompt is not this module's business: :class:`EspLineReader` stops right
after each complete line so the caller can hand the next bytes to a prompt.
"""

from __future__ import annotations

import enum

import attrs

MAX_COMMAND = 256
"""Bytes of one command line including ``AT`` and ``\\r\\n``."""

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


class Kind(enum.Enum):
    EXECUTE = "execute"  # AT+CMD
    QUERY = "query"  # AT+CMD?
    TEST = "test"  # AT+CMD=?
    SET = "set"  # AT+CMD=<params>


@attrs.frozen
class EspCommand:
    """One parsed command; ``name`` upper-cased (``AT+HTTPCGET``), params still quoted."""

    name: str
    kind: Kind
    params: tuple[str, ...] = ()


class BadLine(enum.IntEnum):
    """Why a line is refused: the ``ERR CODE`` subcategory the module reports."""

    NO_AT = 0x03
    TOO_LONG = 0x04


class EspLineReader:
    """Collects command bytes into lines ending in ``\\r\\n``."""

    def __init__(self) -> None:
        self._line = bytearray()

    def reset(self) -> None:
        self._line.clear()

    def feed(self, data: bytes) -> tuple[int, bytes | None]:
        """Consume a prefix of ``data``: ``(consumed, complete line without CR LF or None)``."""
        end = data.find(b"\n")
        if end < 0:
            self._line += data
            return len(data), None
        self._line += data[: end + 1]
        line = bytes(self._line)
        self._line.clear()
        return end + 1, line[:-2] if line.endswith(b"\r\n") else line[:-1]


def parse_line(line: bytes) -> EspCommand | BadLine:
    """Parse one line (without its terminator) or say why the module refuses it."""
    if len(line) + 2 > MAX_COMMAND:
        return BadLine.TOO_LONG
    text = line.decode("latin-1")
    if text[:2].upper() != "AT":
        return BadLine.NO_AT
    head, sep, rest = text.partition("=")
    if not sep:
        if head.endswith("?"):
            return EspCommand(head[:-1].upper(), Kind.QUERY)
        return EspCommand(head.upper(), Kind.EXECUTE)
    if rest == "?":
        return EspCommand(head.upper(), Kind.TEST)
    return EspCommand(head.upper(), Kind.SET, split_params(rest))


def split_params(text: str) -> tuple[str, ...]:
    """Split at commas outside quotes (escapes stay for ``protocol.unquote``)."""
    params: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if char == "\\" and quoted:
            escaped = True
            current.append(char)
            continue
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            params.append("".join(current))
            current = []
        else:
            current.append(char)
    params.append("".join(current))
    return tuple(params)


def int_param(text: str, low: int, high: int) -> int | None:
    """A decimal parameter within ``[low, high]``; ``None`` otherwise."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if low <= value <= high else None
