"""How long the Serial Modem backend waits for each answer.

The defaults follow the protocol reference's recommendations, which cover
both firmware generations (``e23c2bd`` and after PR #421): a delta-modem INIT
may erase for minutes, a full-modem reboot takes seconds, the modem applies
a delta patch during ``AT#XMODEMRESET``.
"""

from __future__ import annotations

import attrs

from aiodfu.core.timeouts import TimeoutsBase
from aiodfu.core.transfer import RetryPolicy


@attrs.frozen
class Timeouts(TimeoutsBase):
    """Seconds to wait for each answer; override any with ``attrs.evolve`` (or ``scaled``)."""

    command: float = 5.0
    """``OK``/``ERROR`` for ordinary commands, including ``AT#XDFUWRITE``."""
    init_delta: float = 300.0
    """``OK`` to ``AT#XDFUINIT=1``: the modem may erase its DFU area first."""
    bootloader_banner: float = 30.0
    """``Bootloader mode ready`` after ``AT#XDFUINIT=2``."""
    write_result: float = 10.0
    """``#XDFU: t,1,s`` after a chunk's last byte (plus the chunk's wire time)."""
    apply_result: float = 60.0
    """``#XDFU: t,2,s`` after ``AT#XDFUAPPLY``."""
    ready: float = 120.0
    """The ``Ready`` banner after a reset or the final full-modem apply."""
    fota_result: float = 5.0
    """``#XFOTA`` after ``Ready``: silence here means MCUboot kept the old image."""
    modem_reset: float = 300.0
    """``#XMODEMRESET`` result: the modem applies a delta patch meanwhile."""
    ping: float = 3.0
    """``OK`` to a plain ``AT`` while synchronising."""
    recovery_settle: float = 1.0
    """Quiet time after the filler bytes of a recovery before probing the device."""
    release: float = 10.0
    """How long a session that ended by an error or a cancellation may spend ending the data
    mode it left pending (filler, then ``AT``) before it lets the error through."""

    def invariants(self) -> list[tuple[bool, str]]:
        return [
            (
                self.release > self.recovery_settle + self.ping,
                "release must leave time for the settle and the AT that confirm it",
            )
        ]


DEFAULT_RETRY = RetryPolicy(attempts=3)
"""Attempts in a row without progress: a Serial Modem restarts its image from zero each time,
so a fourth try at the same point would only repeat the third."""
