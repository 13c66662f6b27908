"""Byte-stream transports: serial ports and an in-memory pair with a link model."""

from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkFaults, LinkModel, MemoryLink, MemoryStream

__all__ = ["ByteStream", "LinkFaults", "LinkModel", "MemoryLink", "MemoryStream"]
