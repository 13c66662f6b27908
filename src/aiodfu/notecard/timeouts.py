"""How long the Notecard backend waits, and how it paces what it writes.

Defaults follow note-c (reference 2.2, 2.4, 2.6, 3.2): 30 s for the first
byte of a response, 1 s between its bytes, 500 ms between retries, 250 ms
pauses between 250-byte request segments, a reset that drains for 500 ms,
DFU-mode entry polled every 2.5 s for up to 2 minutes and re-sent every
10 minutes against the card's 15-minute DFU-mode timeout.
"""

from __future__ import annotations

import attrs

from aiodfu.core.timeouts import TimeoutsBase
from aiodfu.core.transfer import RetryPolicy

DFU_MODE_LIFETIME = 15 * 60.0
"""The card leaves DFU mode by itself this long after the last ``hub.set mode:dfu``."""


@attrs.frozen
class Timeouts(TimeoutsBase):
    """Seconds for each wait; override any with ``attrs.evolve``, scale all with ``scaled``.

    Checked on construction: every value positive, and the relations below.
    """

    first_byte: float = 30.0
    """From the end of a request to the first byte of its response (and after a heartbeat)."""
    inter_byte: float = 1.0
    """Between the bytes of one response, and of a binary frame."""
    transaction: float = 300.0
    """Cap on one attempt of a transaction, heartbeats included (a heartbeat flood ends here)."""
    retry_pause: float = 0.5
    """Between the attempts of a transaction."""
    segment_pause: float = 0.25
    """After each 250-byte request segment but the last (plus the segment's wire time)."""
    reset_settle: float = 0.25
    """Before a reset, so the card processes any segment already sent."""
    reset_drain: float = 0.5
    """Quiet time that ends one reset attempt (restarted by every non-CR/LF byte)."""
    reset_pause: float = 0.5
    """Between failed reset attempts."""
    open: float = 5.0
    """Opening the port (through the connector)."""
    i2c_transfer: float = 1.0
    """One serial-over-I2C bus transfer (a write, a poll or a read of at most 255 bytes)."""
    dfu_entry: float = 120.0
    """From ``hub.set mode:dfu`` until the card serves the image."""
    dfu_probe_interval: float = 2.5
    """Between ``dfu.get length:0`` probes while the card enters DFU mode."""
    dfu_keepalive: float = 600.0
    """Re-send ``hub.set mode:dfu`` this often while retrieving (the card exits after 15 min)."""

    def invariants(self) -> list[tuple[bool, str]]:
        return [
            (self.inter_byte <= self.first_byte, "inter_byte must not exceed first_byte"),
            (
                self.dfu_probe_interval < self.dfu_entry,
                "dfu_probe_interval must be shorter than dfu_entry, or no probe is repeated",
            ),
            (
                self.dfu_keepalive < DFU_MODE_LIFETIME,
                "dfu_keepalive must stay below the card's 15-minute DFU-mode lifetime",
            ),
        ]


DEFAULT_RETRY = RetryPolicy(attempts=5, initial_delay=0.5)
"""Reopening the link, and each idempotent step of an update (not one transaction's retries).

Five: a card busy with a sync may ignore a request or two, and each attempt is cheap."""
