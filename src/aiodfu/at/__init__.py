"""AT command framing shared by the AT-speaking backends (Serial Modem, ESP-AT)."""

from aiodfu.at.client import AtClient, AtCommandError, AtResponse, LineWaiter, response_prefix_of
from aiodfu.at.device import AtDevice
from aiodfu.at.lines import DataChunk, LineSplitter, Prompt

__all__ = [
    "AtClient",
    "AtCommandError",
    "AtDevice",
    "AtResponse",
    "DataChunk",
    "LineSplitter",
    "LineWaiter",
    "Prompt",
    "response_prefix_of",
]
