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
from functools import partial

from aiodfu.testing.at_device import ERROR, OK, AtCommand, CommandKind, int_param, parse_command
from aiodfu.testing.at_device import split_params as _split_params

__all__ = [
    "ERROR",
    "MAX_COMMAND",
    "OK",
    "BadLine",
    "EspCommand",
    "EspLineReader",
    "Kind",
    "int_param",
    "parse_line",
    "split_params",
]

MAX_COMMAND = 256
"""Bytes of one command line including ``AT`` and ``\\r\\n``."""

Kind = CommandKind
EspCommand = AtCommand
"""One parsed command; ``name`` upper-cased (``AT+HTTPCGET``), params still quoted."""

split_params = partial(_split_params, escapes=True)
"""Split at commas outside quotes (escapes stay for ``protocol.unquote``)."""


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
    return parse_command(text, escapes=True)
