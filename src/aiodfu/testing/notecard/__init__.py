"""An emulated Blues Notecard: serial (UART, AUX, USB, a pty) and serial-over-I2C.

:class:`NotecardEmulator` is the card (its JSON request interface and DFU
state, see :mod:`aiodfu.testing.notecard.emulator`; its faults,
:mod:`aiodfu.testing.notecard.faults`);
:func:`notecard_i2c_bus` puts it on an emulated I2C bus
(:mod:`aiodfu.testing.notecard.i2c`).
"""

from aiodfu.testing.notecard.emulator import NotecardEmulator
from aiodfu.testing.notecard.faults import NotecardFaults
from aiodfu.testing.notecard.i2c import CARD_MAX_TRANSFER, NotecardI2cTarget, notecard_i2c_bus
from aiodfu.testing.notecard.state import BINARY_STORE_CAPACITY, StatusStyle, Storage

__all__ = [
    "BINARY_STORE_CAPACITY",
    "CARD_MAX_TRANSFER",
    "NotecardEmulator",
    "NotecardFaults",
    "NotecardI2cTarget",
    "StatusStyle",
    "Storage",
    "notecard_i2c_bus",
]
