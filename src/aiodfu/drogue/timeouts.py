"""How long the Drogue backend waits for each answer."""

from __future__ import annotations

import attrs

from aiodfu.core.timeouts import TimeoutsBase
from aiodfu.core.transfer import RetryPolicy


@attrs.frozen
class Timeouts(TimeoutsBase):
    """Seconds to wait for each step; override any with ``attrs.evolve``, scale all with
    :meth:`~aiodfu.core.timeouts.TimeoutsBase.scaled`.

    The device re-sends its Status when no command comes within its own
    ``timeout_ms`` (15 s by default), and sleeps ``backoff_ms / 1000`` s after
    every command, so ``status`` must cover both plus an erase at offset 0.
    Construction checks the invariants below (:meth:`invariants`): every value
    positive, and each wait nested inside the one that bounds it.
    """

    connect: float = 10.0
    """Opening the transport."""
    status: float = 20.0
    """The next Status, after connecting or after a command."""
    send: float = 5.0
    """Handing one command to the transport."""
    reboot: float = 60.0
    """From Swap until the device reports again from its new (or reverted) firmware."""
    resync_gap: float = 0.2
    """Quiet time that marks a frame boundary (over one 1024-byte frame at 115200 baud): it
    ends a resync after a bad frame, and inside a frame it means the frame's start was missed."""
    release: float = 5.0
    """How long a session that ends by an error or cancellation may take to let the device go."""
    reconnect_pause: float = 0.5
    """Pause between reconnection attempts while the device reboots."""
    gatt_operation: float = 5.0
    """GATT: one characteristic read or write."""
    offset_settle: float = 15.0
    """GATT: how long the offset is polled for a block to land (the first one waits for the
    DFU partition's erase). Keep it below ``status``: past it the Status is reported as read,
    and an offset that did not move is a rejected write."""
    offset_poll_interval: float = 0.05
    """GATT: pause between two reads of the offset while a block lands."""
    gatt_reset: float = 2.0
    """GATT: how long after control 2 (swap and reset) the device has to drop the link."""

    def invariants(self) -> list[tuple[bool, str]]:
        return [
            (
                self.offset_settle < self.status,
                "offset_settle must stay below status: past it a block that did not land "
                "is reported as a rejected write, before the status wait gives up",
            ),
            (
                self.resync_gap < self.status,
                "resync_gap must stay below status: a resync waits for a quiet line, then "
                "for the next Status",
            ),
            (
                self.offset_poll_interval < self.offset_settle,
                "offset_poll_interval must stay below offset_settle (at least one poll)",
            ),
            (
                self.reconnect_pause < self.reboot and self.gatt_reset < self.reboot,
                "reconnect_pause and gatt_reset must stay below reboot, which bounds the "
                "whole wait for the device to come back",
            ),
        ]


DEFAULT_RETRY = RetryPolicy(attempts=5)
"""Attempts in a row without progress: five, since a reboot mid-update takes a few to ride out."""
