"""What nRF5 Intel HEX files carry that a DFU image must not: UICR records and the MBR.

* Every nRF5 SDK bootloader ``.hex`` has a UICR record: BOOTLOADERADDR at
  0x10001014 (and often the MBR parameter page at 0x10001018). Flattened with
  the bootloader at 0x3C000 it would span 256 MiB; DFU never writes UICR, and
  nrfutil drops everything from 0x10000000 up (FICR and UICR).
* A SoftDevice ``.hex`` starts with the Master Boot Record, which DFU never
  sends: nrfutil starts every hex image at the MBR's end -- 0x3000 when the
  SoftDevice info structure's magic (0x51B1E5DB) sits at 0x4004..0x7004
  (what nrfutil calls "s132"), else 0x1000.

:func:`strip_like_nrfutil` is that rule exactly (``nrf5-legacy pkg`` must give
the bytes ``adafruit-nrfutil dfu genpkg`` gives); :func:`strip_for_image` is the
careful version ``load_image`` applies to any hex: UICR/FICR only when other
data lies below it, the MBR only when the file holds a SoftDevice.
"""

from __future__ import annotations

from intelhex import IntelHex, NotEnoughDataError

from aiodfu.formats.intel_hex import Removed, remove_range

CONFIG_START = 0x10000000
"""FICR, then UICR at 0x10001000: nRF5 configuration, never part of a DFU image."""
UICR_START = 0x10001000
CONFIG_END = 0x10002000
ADDRESS_END = 1 << 32
SD_INFO_MAGIC = 0x51B1E5DB
SD_INFO_MAGIC_S1X0 = 0x3004
SD_INFO_MAGIC_S132 = (0x4004, 0x5004, 0x6004, 0x7004)
MBR_END = 0x1000
MBR_END_S132 = 0x3000

UICR_REGISTERS = {
    0x10001014: "BOOTLOADERADDR",
    0x10001018: "NRFFW[1] (MBR parameter page)",
    0x10001200: "PSELRESET[0]",
    0x10001204: "PSELRESET[1]",
    0x10001208: "APPROTECT",
    0x1000120C: "NFCPINS",
}


def strip_like_nrfutil(hex_file: IntelHex) -> list[Removed]:
    """Remove what nrfutil's ``nRFHex`` leaves out of every hex image (see module doc)."""
    removed = _remove_config(hex_file, CONFIG_START, ADDRESS_END)
    return removed + remove_range(hex_file, 0, mbr_end(hex_file), _MBR_REASON)


def strip_for_image(hex_file: IntelHex) -> list[Removed]:
    """Remove nRF configuration records and a SoftDevice's MBR, only where they are that."""
    removed = []
    if hex_file.minaddr() < CONFIG_START:
        removed += _remove_config(hex_file, CONFIG_START, CONFIG_END)
    if has_softdevice(hex_file):
        removed += remove_range(hex_file, 0, mbr_end(hex_file), _MBR_REASON)
    return removed


def has_softdevice(hex_file: IntelHex) -> bool:
    return any(
        _has_magic(hex_file, address) for address in (SD_INFO_MAGIC_S1X0, *SD_INFO_MAGIC_S132)
    )


def mbr_end(hex_file: IntelHex) -> int:
    """Where nrfutil starts a hex image: after the MBR, whose size depends on the SoftDevice."""
    if not _has_magic(hex_file, SD_INFO_MAGIC_S1X0) and any(
        _has_magic(hex_file, address) for address in SD_INFO_MAGIC_S132
    ):
        return MBR_END_S132
    return MBR_END


_MBR_REASON = "nRF MBR (DFU sends a SoftDevice without it, as nrfutil does)"


def _has_magic(hex_file: IntelHex, address: int) -> bool:
    try:
        value = hex_file.gets(address, 4)
    except NotEnoughDataError:
        return False
    return int.from_bytes(value, "little") == SD_INFO_MAGIC


def _remove_config(hex_file: IntelHex, start: int, end: int) -> list[Removed]:
    removed = remove_range(hex_file, start, end, "")
    return [Removed(r.start, r.end, _config_reason(r.start, r.end)) for r in removed]


def _config_reason(start: int, end: int) -> str:
    if start < UICR_START:
        area = "nRF FICR" if end <= UICR_START else "nRF FICR/UICR"
    elif start < CONFIG_END:
        area = "nRF UICR"
    else:
        area = "nRF peripheral/configuration space"
    registers = [name for address, name in UICR_REGISTERS.items() if start <= address < end]
    named = f" {', '.join(registers)}" if registers else ""
    return f"{area}{named}: configuration a DFU image never carries (nrfutil drops it)"
