"""How long the legacy DFU controller waits for each answer (protocol reference section 4).

The defaults are the reference's recommendations: the Start response comes only
after the target has erased the whole receive bank (seconds; ~10 s for 140 KB
on an nRF52), so it gets a minute; the total guard is the target's own 120 s
inactivity timer.
"""

from __future__ import annotations

import attrs

from aiodfu.core.timeouts import TimeoutsBase
from aiodfu.core.transfer import RetryPolicy


@attrs.frozen
class Timeouts(TimeoutsBase):
    """Seconds to wait for each answer; override any with ``attrs.evolve``, scale with
    :meth:`~aiodfu.core.timeouts.TimeoutsBase.scaled`."""

    connect: float = 20.0
    """Connecting and discovering services."""
    gatt: float = 10.0
    """Any single GATT read, write or subscription."""
    start: float = 60.0
    """``10 01 xx`` after Start DFU and the size record: the target erases first."""
    init: float = 30.0
    """``10 02 xx`` after ``02 01``."""
    packet_receipt: float = 10.0
    """The next Packet Receipt Notification while the credit window is full."""
    receive_complete: float = 30.0
    """``10 03 01`` after the last firmware byte (written to flash first)."""
    validate: float = 30.0
    response: float = 10.0
    """Other responses (``10 07``)."""
    disconnect: float = 10.0
    """The target dropping the link after Activate & Reset, Reset or a buttonless jump."""
    bootloader_search: float = 60.0
    """Finding the device after a buttonless jump or a reset (scanning, reconnecting)."""
    activation: float = 3.0
    """After Activate & Reset: how long to watch the target's addresses. The application
    advertising, or the bootloader answering (asked what it holds), decides at once; a
    bootloader still in DFU mode advertises continuously (every 25 ms), so its address
    silent for all of this time -- scans and direct connects -- means it left DFU mode.
    Only where the application's address is unknown: where it is known, the session waits
    up to ``bootloader_search`` for the application itself."""
    release: float = 5.0
    """Leaving the target clean when a session ends by an error or a cancel (a Reset)."""

    def invariants(self) -> list[tuple[bool, str]]:
        return [
            (self.connect <= self.bootloader_search, "connect must not exceed bootloader_search"),
        ]

    @property
    def open_limit(self) -> float:
        """The most one opening may take: connect, jump, find the bootloader, connect again."""
        return 3 * self.connect + 2 * self.gatt + self.disconnect + 2 * self.bootloader_search


DEFAULT_RETRY = RetryPolicy(attempts=4, initial_delay=0.2)
"""Attempts in a row without progress; a short first pause, since a BLE reconnect is quick."""
