"""AT command framing shared by the AT-speaking backends (Serial Modem, ESP-AT)."""

from aiodfu.at.client import AtClient
from aiodfu.at.device import AtDevice
from aiodfu.at.lines import DataChunk, LineSplitter, Prompt
from aiodfu.at.responses import AtCommandError, AtResponse, response_prefix_of
from aiodfu.at.waiters import LineWaiter

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
