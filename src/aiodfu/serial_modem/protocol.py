"""The Serial Modem's DFU vocabulary: image types, URCs and banners.

Lines are matched whole (``Ready`` must not match ``Bootloader mode ready``),
and ``#XDFU:`` is accepted with or without the space firmware before commit
8065574 left out.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable

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

READY = "Ready"
BOOTLOADER_READY = "Bootloader mode ready"
INIT_ERROR = "INIT ERROR"
BANNERS = frozenset({READY, BOOTLOADER_READY, INIT_ERROR})

OP_WRITE = 1
OP_APPLY = 2


@attrs.frozen
class DfuUrc:
    """``#XDFU: <type>,<operation>,<status>``."""

    type: int
    operation: int
    status: int


_XDFU = re.compile(r"^#XDFU:\s*(\d+)\s*,\s*(\d+)\s*,\s*(-?\d+)\s*$")
_XFOTA = re.compile(r"^#XFOTA:\s*(-?\d+)\s*,\s*(-?\d+)(?:\s*,\s*(-?\d+))?\s*$")
_TYPE_LIST = re.compile(r"\(([\d,\s]*)\)")


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


@attrs.frozen
class FotaUrc:
    """``#XFOTA: <stage>,<status>[,<info>]``; stage 5 status 0 means the update took."""

    stage: int
    status: int
    info: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.stage == 5 and self.status == 0


def parse_fota_urc(line: str) -> FotaUrc | None:
    match = _XFOTA.match(line)
    if match is None:
        return None
    stage, status, info = match.groups()
    return FotaUrc(int(stage), int(status), None if info is None else int(info))


def parse_supported_types(line: str) -> frozenset[int]:
    """``#XDFUINIT: (0,1,2,3),<size>`` -> {0, 1, 2, 3}."""
    match = _TYPE_LIST.search(line)
    if match is None:
        return frozenset()
    return frozenset(int(item) for item in match.group(1).split(",") if item.strip())
