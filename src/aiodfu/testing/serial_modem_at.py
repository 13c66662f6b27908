"""The emulated Serial Modem's AT line discipline and output framing, free of I/O.

This is what ``sm_at_host.c`` does with bytes in command mode: nothing is
buffered until ``A`` then ``T`` (any case) arrive, the configured terminator
ends a line unless it sits inside double quotes, backspace/DEL edit the
line, and a line that outgrows the 8192-byte buffer is answered with
``ERROR`` at the byte that overflows it. The device side of
:mod:`aiodfu.testing.serial_modem` is built on it; it is separate so the
byte rules can be read (and tested) on their own.
"""

from __future__ import annotations

import enum
import re

import attrs

__all__ = [
    "BOOTLOADER_READY",
    "ERROR",
    "MAX_LINE",
    "OK",
    "READY",
    "AtCommand",
    "AtLineReader",
    "CommandKind",
    "info",
    "parse_command",
    "parse_uint",
]

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
READY = b"Ready\r\n"
BOOTLOADER_READY = b"Bootloader mode ready\r\n"

MAX_LINE = 8192
"""The AT buffer's limit; a byte arriving when the line holds ``MAX_LINE - 2`` is an overflow."""

_CR, _LF, _QUOTE, _BACKSPACE, _DEL = 0x0D, 0x0A, 0x22, 0x08, 0x7F
_START = re.compile(rb"[Aa]")
_TERMINATORS = (b"\r", b"\n", b"\r\n")


def info(text: str) -> bytes:
    """An information response or URC line framed as the SM frames them: ``\\r\\n<text>\\r\\n``."""
    return b"\r\n" + text.encode() + b"\r\n"


class AtLineReader:
    """Collects command-mode bytes into AT lines.

    :meth:`feed` looks at a buffer and says how many bytes it consumed and
    whether they completed a line (or overflowed the buffer). It stops right
    after a complete line, because the bytes that follow may belong to data
    mode (``AT#XDFUWRITE``), not to the next command.
    """

    def __init__(self, terminator: bytes = b"\r") -> None:
        if terminator not in _TERMINATORS:
            raise ValueError(f"terminator must be one of {_TERMINATORS!r}, not {terminator!r}")
        self.terminator = terminator
        self._line = bytearray()
        self._in_quotes = False

    def reset(self) -> None:
        """Forget a partial line (the device rebooted)."""
        self._line.clear()
        self._in_quotes = False

    def feed(self, data: bytes | bytearray) -> tuple[int, bytes | None, bool]:
        """Consume a prefix of ``data``: ``(consumed, line or None, overflowed)``."""
        line = self._line
        limit = MAX_LINE - 2
        index, end = 0, len(data)
        while index < end:
            if not line:
                found = _START.search(data, index)  # skip garbage in one C call
                if found is None:
                    return end, None, False
                line.append(data[found.start()])
                index = found.start() + 1
                continue
            byte = data[index]
            index += 1
            if len(line) == 1:
                if byte in b"Tt":
                    line.append(byte)
                else:  # the reference drops this byte too, even an 'A'
                    line.clear()
                continue
            if len(line) >= limit:
                self.reset()
                return index, None, True
            if byte in (_BACKSPACE, _DEL):
                removed = line.pop()
                if removed == _QUOTE:
                    self._in_quotes = not self._in_quotes
                continue
            if not self._in_quotes and self._terminates(byte):
                text = bytes(line[:-1] if byte == _LF and self.terminator == b"\r\n" else line)
                self.reset()
                return index, text, False
            line.append(byte)
            if byte == _QUOTE:
                self._in_quotes = not self._in_quotes
        return end, None, False

    def _terminates(self, byte: int) -> bool:
        if self.terminator == b"\r":
            return byte == _CR
        if self.terminator == b"\n":
            return byte == _LF
        return byte == _LF and self._line[-1] == _CR


class CommandKind(enum.Enum):
    SET = "set"  # AT#XCMD, AT#XCMD=<params>
    READ = "read"  # AT#XCMD?
    TEST = "test"  # AT#XCMD=?


@attrs.frozen
class AtCommand:
    """One parsed command line; ``name`` is upper-cased, e.g. ``AT#XDFUWRITE``."""

    text: str
    name: str
    kind: CommandKind
    params: tuple[str, ...] = ()


_GRAMMAR = re.compile(r"AT(?:E[01])?|AT[+%#][A-Za-z0-9_]+(?:\?|=\?|=.*)?", re.DOTALL | re.I)


def parse_command(text: str) -> AtCommand | None:
    """Parse a line per the SM's grammar check; ``None`` when it fails (the SM answers ERROR)."""
    if not _GRAMMAR.fullmatch(text):
        return None
    head, sep, rest = text.partition("=")
    if not sep:
        if head.endswith("?"):
            return AtCommand(text, head[:-1].upper(), CommandKind.READ)
        return AtCommand(text, head.upper(), CommandKind.SET)
    if rest == "?":
        return AtCommand(text, head.upper(), CommandKind.TEST)
    return AtCommand(text, head.upper(), CommandKind.SET, _split_params(rest))


def _split_params(text: str) -> tuple[str, ...]:
    params: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            params.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    params.append("".join(current).strip())
    return tuple(params)


def parse_uint(text: str) -> int | None:
    """A decimal parameter as ``at_parser_num_get`` reads it; ``None`` if it is not one."""
    return int(text) if text.isascii() and text.isdigit() else None
