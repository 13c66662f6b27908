"""The embedded-update protocol, sans-IO: its two messages, their three encodings, the service.

One package rather than one ``protocol.py`` because the protocol has one
schema and several wire forms that each need a page of code, and host,
emulator and property tests share all of them:

* :mod:`~aiodfu.drogue.protocol.messages` -- Status and the four Commands, with
  the field table every codec walks;
* :mod:`~aiodfu.drogue.protocol.postcard` -- the serial encoding;
* :mod:`~aiodfu.drogue.protocol.cbor` -- serde_cbor's packed and named forms (HTTP, MQTT, LoRaWAN);
* :mod:`~aiodfu.drogue.protocol.gatt_service` -- drogue-device's BLE firmware service
  (UUIDs, value layouts, control codes);
* :mod:`~aiodfu.drogue.protocol.target` -- the update service's decision logic (which
  Command answers a Status).
"""

from aiodfu.drogue.protocol.messages import (
    Command,
    Status,
    Swap,
    Sync,
    UpdateStatus,
    Wait,
    Write,
)
from aiodfu.drogue.protocol.target import Target

__all__ = ["Command", "Status", "Swap", "Sync", "Target", "UpdateStatus", "Wait", "Write"]
