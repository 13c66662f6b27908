"""The emulated Serial Modem's options where firmware differs, and the faults it can inject."""

from __future__ import annotations

import enum

import attrs

from aiodfu.testing.device_faults import DeviceFaults

__all__ = ["FirmwareGeneration", "SerialModemFaults", "UrcOrder"]


class FirmwareGeneration(enum.Enum):
    """Which Serial Modem firmware to imitate where generations differ (full-modem DFU)."""

    E23C2BD = "e23c2bd"
    """No OK for ``AT#XDFUINIT=2``, the final ``AT#XDFUAPPLY=2``, bootloader-mode ``AT#XRESET``."""
    PR421 = "pr421"
    """OK first (flushed), then the reboot; ``#XDFU: 2,2,0`` on the final apply."""


class UrcOrder(enum.Enum):
    """Order of ``#XDFU`` and ``#XDATAMODE`` after a chunk; hosts must accept both."""

    XDFU_FIRST = "xdfu-first"
    """As the ``e23c2bd`` source does it when the AT host is idle (the default)."""
    DATAMODE_FIRST = "datamode-first"
    """As the documentation shows it."""


@attrs.define
class SerialModemFaults(DeviceFaults):
    """Faults to inject; tests may change them while the device runs.

    The faults every device has come from
    :class:`~aiodfu.testing.device_faults.DeviceFaults`: a ``plan`` of
    triggered faults, ``silent`` (the device answers nothing at all, but keeps
    consuming what it receives) and ``unsolicited`` lines (e.g.
    ``b"\\r\\n+CEREG: 5\\r\\n"``, one sent after each final response, URC group
    or banner). The knobs below are the Serial Modem's own.

    One-shot faults are consumed as they fire: ``fail_chunks`` indices are
    removed, ``reject_commands`` counts go down, ``reboot_after_data_bytes``
    returns to ``None`` and ``unsolicited`` lines are popped.
    """

    fail_chunks: set[int] = attrs.field(factory=set)
    """0-based indices of ``AT#XDFUWRITE`` chunks (counted over the emulator's life) whose
    target stores only the first half and reports ``#XDFU: t,1,-1``."""
    reject_commands: dict[str, int] = attrs.field(factory=dict)
    """Command prefix (case-insensitive, e.g. ``"AT#XDFUWRITE"``) -> how many more times to
    answer ``ERROR`` instead of acting."""
    reboot_after_data_bytes: int | None = None
    """Reboot once this many data-mode bytes have arrived in total (RAM DFU state lost)."""
    ok_delay: float = 0.0
    """Extra seconds before the OK of ``AT#XDFUWRITE`` (data mode is already active)."""
    fail_apply: bool = False
    """``AT#XDFUAPPLY`` answers OK, then ``#XDFU: t,2,-1``."""
