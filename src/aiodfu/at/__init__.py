"""AT command framing shared by the AT-speaking backends (Serial Modem, ESP-AT)."""

from aiodfu.at.client import AtClient, AtResponse, LineWaiter, response_prefix_of
from aiodfu.at.lines import LineSplitter

__all__ = ["AtClient", "AtResponse", "LineSplitter", "LineWaiter", "response_prefix_of"]
