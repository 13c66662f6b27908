"""How long legacy DFU over a serial port waits, and what it assumes about the flash.

Serial DFU has no replies but link-layer acks, which the bootloader sends on
*receipt*, before it processes a packet. The host therefore paces itself by
acks where they reflect the bootloader's work (the erase after Start stalls
the whole chip, so the next packet is not acknowledged until it is done; on
native USB no byte is read while flash is written) and by the flash timing
below where they do not (a UART board keeps acknowledging during a page write
while its 3-slot packet queue fills).
"""

from __future__ import annotations

import attrs

from aiodfu.core.timeouts import TimeoutsBase
from aiodfu.core.transfer import RetryPolicy


@attrs.frozen
class SerialTimeouts(TimeoutsBase):
    """Seconds; override any with ``attrs.evolve``, scale all with ``scaled``."""

    open: float = 5.0
    """Opening the port."""
    ack: float = 0.2
    """Retransmit a packet when no ack came within this (plus the frame's time on the wire)."""
    packet: float = 3.0
    """Give up on a packet that no ack confirmed within this (a page write stalls < 0.4 s)."""
    page_erase: float = 0.09
    """Erasing one 4 KiB page (nRF52832 up to 89.7 ms, nRF52840 85 ms): Start erases the image's
    pages before the bootloader reads the next packet."""
    page_write: float = 0.1
    """Writing one 4 KiB page on a UART board, during which packets are acked but not taken
    (adafruit-nrfutil's figure: 1024 words of 100 us)."""
    sync: float = 1.0
    """Probing for a bootloader before deciding none is running."""
    validate: float = 3.0
    """After the stop packet: how long the same bootloader session may keep answering before
    the image counts as rejected (its CRC check takes milliseconds)."""
    settle: float = 0.75
    """How long a probe waits for an ack after the stop packet before counting the bootloader
    silent. Silence shows it is gone (activating, or running the new image) only once it has
    lasted until ``validate``: a bootloader busy with a slow packet is silent for a while too."""
    reenumerate: float = 5.0
    """For the port to come back after a 1200-baud touch or a reboot of a native-USB board."""

    def invariants(self) -> list[tuple[bool, str]]:
        return [
            (self.ack < self.packet, "ack must stay below packet"),
            (self.ack < self.sync, "ack must stay below sync"),
            (self.ack < self.settle, "ack must stay below settle"),
        ]


DEFAULT_RETRY = RetryPolicy(attempts=4, initial_delay=0.2)
"""Attempts in a row without progress (as over BLE); a clean restart costs a reboot each time."""
