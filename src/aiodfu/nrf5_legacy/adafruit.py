"""What sets Adafruit nRF52 bootloaders and their applications apart, without I/O.

Facts from ``adafruit/Adafruit_nRF52_Bootloader`` (``dfu_transport_ble.c``,
``ble_dfu.c``, ``src/main.c``, ``src/sdk_config.h``, ``README.md``) and from the
applications that jump into it (Bluefruit's ``BLEDfu``, Meshtastic's
``BLEDfuSecure``); the protocol reference, section 13, has the details.

* The bootloader advertises ``AdaDFU`` by default (``DEVICE_NAME``; forks such
  as OTAFIX name it per board, ``4631_DFU``, ``XIAO_DFU``...) with the legacy
  DFU service UUID, and exposes a Device Information Service whose Firmware
  Revision String is ``"<bootloader version> <SoftDevice> <SD version>"``
  (e.g. ``0.9.2 s140 6.1.1``): the way to tell it from a stock SDK 11
  bootloader, which has no DIS.
* Revision 0.8 targets need Packet Receipt Notifications every 8 packets or
  fewer (the bootloader's README: "otherwise the bootloader will run out of
  memory").
* Applications enter it through the legacy buttonless service (``01`` on the
  0x1530 Control Point) or, in Meshtastic's nRF52 firmware, through the
  Secure DFU buttonless characteristic (0xFE59 / ``8ec90003-...``): write
  ``01`` and the node reboots into the legacy bootloader. Either way the
  application hands its peer data over, so the bootloader comes up at the
  *same* address, advertising undirected.
"""

from __future__ import annotations

import enum
import re

import attrs

from aiodfu.core.errors import ProtocolError
from aiodfu.nrf5_legacy.protocol import DFU_TARGET_NAME, REVISION_SDK11

ADAFRUIT_TARGET_NAME = "AdaDFU"
BOOTLOADER_NAMES = (DFU_TARGET_NAME, ADAFRUIT_TARGET_NAME)
"""Names a legacy bootloader advertises by default (stock SDK 11, Adafruit)."""

DIS_SERVICE_UUID = "0000180a-0000-1000-8000-00805f9b34fb"
DIS_MANUFACTURER_UUID = "00002a29-0000-1000-8000-00805f9b34fb"
DIS_MODEL_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
DIS_FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"

SECURE_DFU_SERVICE_UUID = "0000fe59-0000-1000-8000-00805f9b34fb"
BUTTONLESS_UUID = "8ec90003-f315-4f60-9fb8-838830daea50"
"""Secure DFU "buttonless without bonds": write + indicate."""

PRN_LIMITS = {REVISION_SDK11: 8}
"""The most packets per receipt a bootloader of this revision takes."""

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)\.(\d+)")


def prn_limit(revision: int | None) -> int | None:
    """The largest PRN interval a target of ``revision`` takes (``None``: no known limit)."""
    return PRN_LIMITS.get(revision) if revision is not None else None


def bounded_prn(requested: int, revision: int | None) -> int:
    """``requested`` within the target's limit; 0 (no receipts) counts as unbounded."""
    limit = prn_limit(revision)
    if limit is None or 0 < requested <= limit:
        return requested
    return limit


@attrs.frozen
class BootloaderInfo:
    """What an Adafruit bootloader's Device Information Service says about it."""

    firmware_revision: str
    """E.g. ``"0.9.2 s140 6.1.1"`` (``git describe``, SoftDevice name and version)."""
    manufacturer: str | None = None
    model: str | None = None

    @property
    def version(self) -> tuple[int, int, int] | None:
        match = _VERSION.match(self.firmware_revision)
        if match is None:
            return None
        major, minor, patch = (int(part) for part in match.groups())
        return major, minor, patch


# --- Secure DFU buttonless characteristic ----------------------------------------------------


class ButtonlessOp(enum.IntEnum):
    ENTER_BOOTLOADER = 0x01
    SET_ADVERTISEMENT_NAME = 0x02
    RESPONSE = 0x20


class ButtonlessResult(enum.IntEnum):
    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    OPERATION_FAILED = 0x04
    INVALID_ADVERTISEMENT_NAME = 0x05
    BUSY = 0x06
    NOT_BONDED = 0x07


def enter_bootloader() -> bytes:
    return bytes([ButtonlessOp.ENTER_BOOTLOADER])


@attrs.frozen
class ButtonlessResponse:
    """``20 <request> <result>``, indicated by the buttonless characteristic."""

    request: int
    result: int

    def encode(self) -> bytes:
        return bytes([ButtonlessOp.RESPONSE, self.request, self.result])

    @property
    def succeeded(self) -> bool:
        return self.result == ButtonlessResult.SUCCESS


def parse_buttonless_response(data: bytes) -> ButtonlessResponse:
    """Parse an indication of the buttonless characteristic; :class:`ProtocolError` if not one."""
    if len(data) != 3 or data[0] != ButtonlessOp.RESPONSE:
        raise ProtocolError(
            f"unexpected buttonless indication {data.hex(' ')}", operation="enter bootloader"
        )
    return ButtonlessResponse(data[1], data[2])
