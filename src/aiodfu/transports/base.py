"""The byte-stream transport every serial backend talks through.

A :class:`ByteStream` is a reliable, ordered duplex byte pipe (a UART, a
pseudo-terminal, an in-memory pair). A closed or failed link surfaces as
:class:`~aiodfu.core.errors.LinkLostError` from ``read`` or ``write`` --
never as an empty read the caller has to interpret.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

Buffer = bytes | bytearray | memoryview


@runtime_checkable
class ByteStream(Protocol):
    """A duplex byte stream; see the module docstring for the error contract."""

    async def read(self, max_bytes: int = 65536) -> bytes:
        """Return at least one byte, waiting as long as it takes (callers bound the wait)."""
        ...

    async def write(self, data: Buffer) -> None:
        """Queue ``data``, waiting while the link applies back-pressure."""
        ...

    async def aclose(self) -> None:
        """Close the stream; idempotent."""
        ...

    @property
    def closed(self) -> bool: ...
