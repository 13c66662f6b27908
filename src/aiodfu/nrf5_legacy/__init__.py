"""Legacy nRF5 DFU (nRF5 SDK <= 11 bootloaders, DFU revision 0.5-0.8) over bleak or a serial port.

Packages (:class:`Package`, :class:`InitPacket`), the BLE controller
(:func:`connect`, :class:`Nrf5LegacySession`) and the serial one for Adafruit
nRF52 bootloaders (:func:`open_serial`, :class:`SerialDfuSession`). See
``docs/protocols/nrf5-legacy.md`` and ``docs/protocols/adafruit-nrf52.md``.
"""

from aiodfu.nrf5_legacy.device import Nrf5LegacyDevice
from aiodfu.nrf5_legacy.errors import (
    ActivationError,
    BootloaderEntryError,
    PackageError,
    PacketLossError,
    TargetStatusError,
)
from aiodfu.nrf5_legacy.init_packet import DfuVersion, InitPacket
from aiodfu.nrf5_legacy.package import Package, Part
from aiodfu.nrf5_legacy.protocol import ImageType, Status
from aiodfu.nrf5_legacy.serial_errors import (
    ActivationUnconfirmedError,
    BootloaderNotFoundError,
    BootloaderReturnedError,
    BootloaderStuckError,
    ImageRejectedError,
    InitPacketRejectedError,
    TargetRestartedError,
)
from aiodfu.nrf5_legacy.serial_session import SerialDfuSession, open_serial
from aiodfu.nrf5_legacy.serial_timeouts import SerialTimeouts
from aiodfu.nrf5_legacy.session import Nrf5LegacySession, connect
from aiodfu.nrf5_legacy.timeouts import Timeouts

__all__ = [
    "ActivationError",
    "ActivationUnconfirmedError",
    "BootloaderEntryError",
    "BootloaderNotFoundError",
    "BootloaderReturnedError",
    "BootloaderStuckError",
    "DfuVersion",
    "ImageRejectedError",
    "ImageType",
    "InitPacket",
    "InitPacketRejectedError",
    "Nrf5LegacyDevice",
    "Nrf5LegacySession",
    "Package",
    "PackageError",
    "PacketLossError",
    "Part",
    "SerialDfuSession",
    "SerialTimeouts",
    "Status",
    "TargetRestartedError",
    "TargetStatusError",
    "Timeouts",
    "connect",
    "open_serial",
]
