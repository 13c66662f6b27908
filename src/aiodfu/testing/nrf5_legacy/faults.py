"""Faults the emulated legacy DFU target can inject (replaceable at any time)."""

from __future__ import annotations

import attrs


@attrs.frozen
class LegacyDfuFaults:
    """Faults to inject; replace :attr:`Nrf5LegacyEmulator.faults` at any time."""

    drop_packets: frozenset[int] = frozenset()
    """Firmware data packets lost before reaching the target (numbered from 0 over the
    emulator's life, so each is lost once)."""
    disconnect_after_packets: int | None = None
    """Drop the link once after this many data packets (counted over the emulator's life)."""
    disconnect_on_opcode: int | None = None
    """Drop the link when this Control Point opcode is written, before acting on it."""
    disconnect_on_opcode_times: int = 1
    """How many times (over the emulator's life) ``disconnect_on_opcode`` drops the link."""
    notification_delay: float = 0.0
    reset_on_failed_notification: bool = True
    """SDK 11's ``APP_ERROR_CHECK`` resets the chip when a notification cannot be sent."""
