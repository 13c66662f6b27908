"""Drogue IoT firmware update (``embedded-update`` protocol, embassy-boot devices).

The host plays the update service: it answers the device's Status with
Write / Swap / Sync commands, resumes from the device's own offset after a
lost link, and confirms the new firmware once the device boots it. Serial
(postcard in 1024-byte frames, :func:`open`) and BLE (drogue-device's GATT
firmware service, :func:`connect`) are two implementations of
:class:`~aiodfu.drogue.link.UpdateLink` under one updater. See ``docs/protocols/drogue.md``.
"""

from aiodfu.drogue.errors import (
    DeviceRevertedError,
    MalformedMessageError,
    OffsetBeyondImageError,
    UnexpectedStatusError,
    WriteRejectedError,
)
from aiodfu.drogue.gatt import GattUpdateLink, connect, gatt_connector
from aiodfu.drogue.link import UpdateLink
from aiodfu.drogue.protocol.messages import Command, Status, Swap, Sync, UpdateStatus, Wait, Write
from aiodfu.drogue.protocol.target import Target
from aiodfu.drogue.serial import FRAME_SIZE, SERIAL_MTU, SerialUpdateLink
from aiodfu.drogue.session import DrogueSession, open, serial_connector
from aiodfu.drogue.timeouts import Timeouts

__all__ = [
    "FRAME_SIZE",
    "SERIAL_MTU",
    "Command",
    "DeviceRevertedError",
    "DrogueSession",
    "GattUpdateLink",
    "MalformedMessageError",
    "OffsetBeyondImageError",
    "SerialUpdateLink",
    "Status",
    "Swap",
    "Sync",
    "Target",
    "Timeouts",
    "UnexpectedStatusError",
    "UpdateLink",
    "UpdateStatus",
    "Wait",
    "Write",
    "WriteRejectedError",
    "connect",
    "gatt_connector",
    "open",
    "serial_connector",
]
