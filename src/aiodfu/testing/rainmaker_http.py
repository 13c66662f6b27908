"""Deprecated: moved to :mod:`aiodfu.testing.rainmaker` (``server`` and ``http_client``).

``from aiodfu.testing import FirmwareServer, HttpFaults`` or
``from aiodfu.testing.rainmaker import ...`` instead; this module only re-exports.
"""

from aiodfu.testing.rainmaker.http_client import HttpFailure, http_get
from aiodfu.testing.rainmaker.server import LOOPBACK, FirmwareServer, HttpFaults, HttpRequest

__all__ = ["LOOPBACK", "FirmwareServer", "HttpFailure", "HttpFaults", "HttpRequest", "http_get"]
