"""The transport seam: what the updater needs from a link to a Drogue device.

The updater plays the update service of ``embedded-update``: it reads the
device's :class:`~aiodfu.drogue.protocol.messages.Status` and answers with one
:class:`~aiodfu.drogue.protocol.messages.Command`. Over serial both travel as frames
(:mod:`aiodfu.drogue.serial`); a GATT link would read the firmware service's
characteristics into a Status and turn each command into characteristic
writes, as drgdfu's ``GattBoard`` does -- the updater does not care which.
"""

from __future__ import annotations

from typing import Protocol

from aiodfu.drogue.protocol.messages import Command, Status


class UpdateLink(Protocol):
    """One open connection to a device, in strict Status -> Command lock-step."""

    @property
    def max_block(self) -> int:
        """The largest ``Write.data`` the transport itself can carry."""
        ...

    @property
    def carries_checksum(self) -> bool:
        """Whether ``Swap.checksum`` reaches the device (serial: yes; GATT: no field for it)."""
        ...

    @property
    def acknowledged(self) -> bool:
        """Whether the Status read last shows the device took the command sent before it.

        Serial: the Status frame echoes that command frame's tag. GATT: the command's
        writes were answered (write with response).
        """
        ...

    async def read_status(self, *, boundary_gap: float | None = None) -> Status:
        """The device's next Status (callers bound the wait).

        On a byte stream, a quiet line of ``boundary_gap`` seconds inside a frame marks
        the start of the next one (what came before was a frame begun before this link).

        Raises :class:`~aiodfu.drogue.errors.MalformedMessageError` for a frame that
        does not decode, :class:`~aiodfu.core.errors.LinkLostError` when the link is gone.
        """
        ...

    async def send(self, command: Command) -> None:
        """Deliver one command, the answer to the Status read last."""
        ...

    async def resync(self, quiet: float) -> None:
        """Discard input until the link has been quiet for ``quiet`` seconds."""
        ...

    @property
    def closed(self) -> bool:
        """The link is gone (closed here, or lost)."""
        ...

    async def aclose(self) -> None: ...
