"""Nordic Serial Modem AT DFU (``AT#XDFUINIT`` / ``AT#XDFUWRITE`` / ``AT#XDFUAPPLY``) over UART.

Updates the nRF91 application (0), the modem by delta patch (1) or in full
(2), and the MCUboot second-stage bootloader (3). See ``docs/protocols/serial-modem.md``.
"""

from aiodfu.serial_modem.device import SerialModemDevice
from aiodfu.serial_modem.errors import ActivationFailedError, ApplyFailedError
from aiodfu.serial_modem.info import DeviceInfo
from aiodfu.serial_modem.payload import Payload, build_payload
from aiodfu.serial_modem.protocol import Mode, UpdateType
from aiodfu.serial_modem.session import DEFAULT_CHUNK_SIZE, SerialModemSession, open
from aiodfu.serial_modem.timeouts import Timeouts

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ActivationFailedError",
    "ApplyFailedError",
    "DeviceInfo",
    "Mode",
    "Payload",
    "SerialModemDevice",
    "SerialModemSession",
    "Timeouts",
    "UpdateType",
    "build_payload",
    "open",
]
