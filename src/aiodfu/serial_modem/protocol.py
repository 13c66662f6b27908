"""The Serial Modem's DFU vocabulary, for both ends: image types, operations, modes, URCs, banners.

Each line the device sends has a *format* (what the device prints, used by
the emulator) and a *parse* (what the host accepts), kept side by side so they
cannot drift; round-trip tests hold them together. Parsing is more lenient
than formatting where the reference says hosts must be: lines are matched
whole (``Ready`` must not match ``Bootloader mode ready``), and ``#XDFU:`` is
accepted with or without the space firmware before commit 8065574 left out.
The framing of a line on the wire (a leading ``\\r\\n`` or not) is the
device's business; commands are not here either, since the emulator parses
them with its own AT grammar and so checks the host independently.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable

import attrs


class UpdateType(enum.IntEnum):
    """The ``<type>`` of ``AT#XDFUINIT`` and friends."""

    APPLICATION = 0
    MODEM_DELTA = 1
    MODEM_FULL = 2
    MCUBOOT_BOOTLOADER = 3

    @property
    def cli_name(self) -> str:
        return _CLI_NAMES[self]

    @classmethod
    def from_cli_name(cls, name: str) -> UpdateType:
        for member, cli_name in _CLI_NAMES.items():
            if cli_name == name:
                return member
        raise ValueError(f"unknown update type {name!r}")


_CLI_NAMES = {
    UpdateType.APPLICATION: "application",
    UpdateType.MODEM_DELTA: "modem-delta",
    UpdateType.MODEM_FULL: "modem-full",
    UpdateType.MCUBOOT_BOOTLOADER: "mcuboot-bootloader",
}


class Operation(enum.IntEnum):
    """The ``<operation>`` of a ``#XDFU`` URC (``0``, initialise, is never emitted)."""

    WRITE = 1
    APPLY = 2


OP_WRITE = Operation.WRITE
OP_APPLY = Operation.APPLY


class Mode(enum.StrEnum):
    """Which firmware answers on the UART: the Serial Modem, or its full-modem bootloader mode."""

    NORMAL = "normal"
    BOOTLOADER = "bootloader"


# --- banners ---------------------------------------------------------------------------------

READY = "Ready"
BOOTLOADER_READY = "Bootloader mode ready"
INIT_ERROR = "INIT ERROR"
BANNERS = frozenset({READY, BOOTLOADER_READY, INIT_ERROR})


def banner_for(mode: Mode) -> str:
    """The banner a boot into ``mode`` prints."""
    return BOOTLOADER_READY if mode is Mode.BOOTLOADER else READY


def parse_banner(line: str) -> Mode | None:
    """The mode a boot banner announces; ``None`` for any other line (``INIT ERROR`` included)."""
    return {READY: Mode.NORMAL, BOOTLOADER_READY: Mode.BOOTLOADER}.get(line)


# --- #XDFU -----------------------------------------------------------------------------------


@attrs.frozen
class DfuUrc:
    """``#XDFU: <type>,<operation>,<status>``; status 0 is success, -1 failure."""

    type: int
    operation: int
    status: int

    def format(self, *, legacy: bool = False) -> str:
        """The line as the device prints it (``legacy``: without the space, before 8065574)."""
        space = "" if legacy else " "
        return f"#XDFU:{space}{self.type},{self.operation},{self.status}"


_XDFU = re.compile(r"^#XDFU:\s*(\d+)\s*,\s*(\d+)\s*,\s*(-?\d+)\s*$")


def parse_dfu_urc(line: str) -> DfuUrc | None:
    match = _XDFU.match(line)
    if match is None:
        return None
    return DfuUrc(*(int(group) for group in match.groups()))


def dfu_urc_predicate(update_type: int, operation: int) -> Callable[[str], bool]:
    """A line predicate for the ``#XDFU`` URC of one type and operation."""

    def predicate(line: str) -> bool:
        urc = parse_dfu_urc(line)
        return urc is not None and urc.type == update_type and urc.operation == operation

    return predicate


# --- #XFOTA ----------------------------------------------------------------------------------


@attrs.frozen
class FotaUrc:
    """``#XFOTA: <stage>,<status>[,<info>]``; stage 5 status 0 means the update took."""

    stage: int
    status: int
    info: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.stage == 5 and self.status == 0

    def format(self) -> str:
        tail = "" if self.info is None else f",{self.info}"
        return f"#XFOTA: {self.stage},{self.status}{tail}"


FOTA_COMPLETE = FotaUrc(5, 0)
"""The result of an update that took: the swap, or the delta patch, completed."""

_XFOTA = re.compile(r"^#XFOTA:\s*(-?\d+)\s*,\s*(-?\d+)(?:\s*,\s*(-?\d+))?\s*$")


def parse_fota_urc(line: str) -> FotaUrc | None:
    match = _XFOTA.match(line)
    if match is None:
        return None
    stage, status, info = match.groups()
    return FotaUrc(int(stage), int(status), None if info is None else int(info))


# --- #XDATAMODE and #XMODEMRESET -------------------------------------------------------------


def format_datamode(status: int) -> str:
    """``#XDATAMODE: <status>``: data mode ended (``0``; ``-1`` if its handler aborted)."""
    return f"#XDATAMODE: {status}"


_XDATAMODE = re.compile(r"^#XDATAMODE:\s*(-?\d+)\s*$")


def parse_datamode(line: str) -> int | None:
    match = _XDATAMODE.match(line)
    return None if match is None else int(match.group(1))


def format_modem_reset(step: int = 0, error: int | None = None) -> str:
    """``#XMODEMRESET: 0``, or ``#XMODEMRESET: <step>,<err>`` when a step failed."""
    return "#XMODEMRESET: 0" if error is None else f"#XMODEMRESET: {step},{error}"


_XMODEMRESET = re.compile(r"^#XMODEMRESET:\s*(-?\d+)(?:\s*,\s*(-?\d+))?\s*$")


def parse_modem_reset(line: str) -> tuple[int, int | None] | None:
    """``(0, None)`` on success, ``(step, error)`` when a step failed; ``None`` if not one."""
    match = _XMODEMRESET.match(line)
    if match is None:
        return None
    step, error = match.groups()
    return int(step), None if error is None else int(error)


# --- test-command answers --------------------------------------------------------------------


def format_supported_types(command: str, types: Iterable[int], *rest: str) -> str:
    """``#XDFUINIT: (0,1,2,3),<size>``: the answer to ``AT#XDFUINIT=?`` and friends."""
    listed = "(" + ",".join(str(value) for value in sorted(types)) + ")"
    return f"{command}: " + ",".join((listed, *rest))


_TYPE_LIST = re.compile(r"\(([\d,\s]*)\)")


def parse_supported_types(line: str) -> frozenset[int]:
    """``#XDFUINIT: (0,1,2,3),<size>`` -> {0, 1, 2, 3}."""
    match = _TYPE_LIST.search(line)
    if match is None:
        return frozenset()
    return frozenset(int(item) for item in match.group(1).split(",") if item.strip())
