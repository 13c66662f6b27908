"""Legacy nRF5 BLE DFU (nRF5 SDK <= 11 bootloaders, DFU revision 0.5-0.8) over bleak.

Packages (:class:`Package`, :class:`InitPacket`) and the controller
(:func:`connect`, :class:`Nrf5LegacySession`). See ``docs/protocols/nrf5-legacy.md``.
"""

from aiodfu.nrf5_legacy.device import Nrf5LegacyDevice
from aiodfu.nrf5_legacy.errors import (
    ActivationError,
    PackageError,
    PacketLossError,
    TargetStatusError,
)
from aiodfu.nrf5_legacy.init_packet import DfuVersion, InitPacket
from aiodfu.nrf5_legacy.package import Package, Part
from aiodfu.nrf5_legacy.protocol import ImageType, Status
from aiodfu.nrf5_legacy.session import Nrf5LegacySession, connect
from aiodfu.nrf5_legacy.timeouts import Timeouts

__all__ = [
    "ActivationError",
    "DfuVersion",
    "ImageType",
    "InitPacket",
    "Nrf5LegacyDevice",
    "Nrf5LegacySession",
    "Package",
    "PackageError",
    "PacketLossError",
    "Part",
    "Status",
    "TargetStatusError",
    "Timeouts",
    "connect",
]
