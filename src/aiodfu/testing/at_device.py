"""The device side of an AT command line, shared by the emulated AT devices.

Both AT emulators -- the Nordic Serial Modem (:mod:`aiodfu.testing.serial_modem`)
and the ESP-AT RainMaker module (:mod:`aiodfu.testing.rainmaker`) -- take a
command line the way AT firmware does: the name up to ``=`` or ``?``
(upper-cased), the kind of command (``AT+X`` execute, ``AT+X?`` query,
``AT+X=?`` test, ``AT+X=<params>`` set), and parameters split at commas
outside double quotes. What differs between dialects is an option here
(ESP-AT keeps ``\\,``-style escapes inside quotes; the Serial Modem trims
blanks around parameters) or stays in the dialect's own module (how bytes
become lines, the grammar check, line limits). All of it is free of I/O,
except :class:`AtEmulator`: the shared device faults
(:class:`~aiodfu.testing.faulty_device.FaultyDevice`) as both AT emulators
take them, one command line at a time.
"""

from __future__ import annotations

import abc
import enum

import attrs

from aiodfu.testing.device_faults import ErrorReply
from aiodfu.testing.faulty_device import FaultyDevice, Outcome

__all__ = [
    "ERROR",
    "OK",
    "AtCommand",
    "AtEmulator",
    "CommandKind",
    "info",
    "int_param",
    "parse_command",
    "split_params",
]

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def info(text: str) -> bytes:
    """An information line framed as AT firmware frames them: ``\\r\\n<text>\\r\\n``."""
    return b"\r\n" + text.encode("latin-1") + b"\r\n"


class CommandKind(enum.Enum):
    EXECUTE = "execute"  # AT+CMD
    QUERY = "query"  # AT+CMD?
    TEST = "test"  # AT+CMD=?
    SET = "set"  # AT+CMD=<params>


@attrs.frozen
class AtCommand:
    """One parsed command line; ``name`` is upper-cased (``AT#XDFUWRITE``, ``AT+HTTPCGET``)."""

    name: str
    kind: CommandKind
    params: tuple[str, ...] = ()
    text: str = ""
    """The line as received."""


def parse_command(text: str, *, escapes: bool = False, strip: bool = False) -> AtCommand:
    """Split a line starting with ``AT`` into name, kind and parameters (see ``split_params``)."""
    head, sep, rest = text.partition("=")
    if not sep:
        if head.endswith("?"):
            return AtCommand(head[:-1].upper(), CommandKind.QUERY, text=text)
        return AtCommand(head.upper(), CommandKind.EXECUTE, text=text)
    if rest == "?":
        return AtCommand(head.upper(), CommandKind.TEST, text=text)
    params = split_params(rest, escapes=escapes, strip=strip)
    return AtCommand(head.upper(), CommandKind.SET, params, text)


def split_params(text: str, *, escapes: bool = False, strip: bool = False) -> tuple[str, ...]:
    """Split at commas outside double quotes; quotes (and escapes) stay in the parameters.

    ``escapes``: inside quotes a backslash escapes the next character (ESP-AT).
    ``strip``: blanks around each parameter are dropped (the Serial Modem's parser).
    """
    params: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if escapes and char == "\\" and quoted:
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
    return tuple(param.strip() for param in params) if strip else tuple(params)


def int_param(text: str, low: int = 0, high: int | None = None) -> int | None:
    """A decimal parameter within ``[low, high]``; ``None`` when it is not one."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if low <= value and (high is None or value <= high) else None


class AtEmulator(FaultyDevice):
    """An emulated AT device: every command line is recorded, then the device faults act on it.

    The dialect says what an :class:`~aiodfu.testing.device_faults.ErrorReply`
    is in its protocol (:meth:`answer_fault`).
    """

    commands: list[str]
    """Every command line received, in order (as the emulator chooses to show it)."""

    async def take_line(self, text: str, *, shown: str | None = None) -> bool:
        """Record the command line ``text`` and let the faults act; whether to go on with it.

        ``shown`` is how the line is recorded (e.g. with a URL redacted).
        """
        shown = text if shown is None else shown
        self.commands.append(shown)
        outcome = await self.take_command(text, shown=shown)
        if isinstance(outcome, ErrorReply):
            return await self.answer_fault(outcome, text)
        return outcome is Outcome.PROCEED

    @abc.abstractmethod
    async def answer_fault(self, error: ErrorReply, text: str) -> bool:
        """Answer an injected error to the command ``text``; whether the command still runs."""
