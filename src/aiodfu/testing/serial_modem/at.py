"""The emulated Serial Modem's AT line discipline, free of I/O.

This is what ``sm_at_host.c`` does with bytes in command mode: nothing is
buffered until ``A`` then ``T`` (any case) arrive, the configured terminator
ends a line unless it sits inside double quotes, backspace/DEL edit the
line, and a line that outgrows the 8192-byte buffer is answered with
``ERROR`` at the byte that overflows it. A complete line passes the SM's
grammar check and is split with the discipline both AT emulators share
(:mod:`aiodfu.testing.at_device`). The emulator keeps this parsing of its
own, rather than the host's, so it checks the host independently.
"""

from __future__ import annotations

import re

from aiodfu.testing.at_device import ERROR, OK, AtCommand, CommandKind, info, int_param
from aiodfu.testing.at_device import parse_command as _parse_command

__all__ = [
    "ERROR",
    "MAX_LINE",
    "OK",
    "AtCommand",
    "AtLineReader",
    "CommandKind",
    "info",
    "parse_command",
    "parse_uint",
]

MAX_LINE = 8192
"""The AT buffer's limit; a byte arriving when the line holds ``MAX_LINE - 2`` is an overflow."""

_CR, _LF, _QUOTE, _BACKSPACE, _DEL = 0x0D, 0x0A, 0x22, 0x08, 0x7F
_START = re.compile(rb"[Aa]")
_TERMINATORS = (b"\r", b"\n", b"\r\n")


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


_GRAMMAR = re.compile(r"AT(?:E[01])?|AT[+%#][A-Za-z0-9_]+(?:\?|=\?|=.*)?", re.DOTALL | re.I)


def parse_command(text: str) -> AtCommand | None:
    """Parse a line per the SM's grammar check; ``None`` when it fails (the SM answers ERROR)."""
    if not _GRAMMAR.fullmatch(text):
        return None
    return _parse_command(text, strip=True)


def parse_uint(text: str) -> int | None:
    """A decimal parameter as ``at_parser_num_get`` reads it; ``None`` if it is not one."""
    return int_param(text)
