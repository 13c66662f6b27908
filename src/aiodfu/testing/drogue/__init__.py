"""An emulated Drogue IoT device: embedded-update's updater on embassy-boot, over serial or BLE.

* :mod:`~aiodfu.testing.drogue.emulator` -- :class:`DrogueEmulator`, the device and
  its serial updater loop (any serial host can drive it, over memory or a pty);
* :mod:`~aiodfu.testing.drogue.boot` -- embassy-boot's partitions and state word, its
  transitions as a table;
* :mod:`~aiodfu.testing.drogue.gatt` -- :class:`DrogueGattHost`, the same device's GATT
  firmware service on an emulated radio (needs the ``emulators`` extra: Bumble), imported
  on first use.
"""

from typing import Any

from aiodfu.testing.drogue.boot import BootMagic, BootOutcome
from aiodfu.testing.drogue.emulator import DrogueEmulator, DrogueFaults

__all__ = [
    "BootMagic",
    "BootOutcome",
    "DrogueEmulator",
    "DrogueFaults",
    "DrogueGattFaults",
    "DrogueGattHost",
]

_GATT_NAMES = {"DrogueGattHost", "DrogueGattFaults", "DEFAULT_ADDRESS"}


def __getattr__(name: str) -> Any:
    """The GATT host (which needs Bumble) only when it is asked for."""
    if name not in _GATT_NAMES:
        raise AttributeError(f"module 'aiodfu.testing.drogue' has no attribute {name!r}")
    from aiodfu.testing.drogue import gatt

    return getattr(gatt, name)
