"""BLE without radios: Bumble devices on an in-process link, driven through bleak.

Bumble is a complete host stack (HCI, L2CAP, ATT, GATT) in Python with an
in-memory "radio", :class:`bumble.link.LocalLink`. This module puts emulated
peripherals and a central on one such radio and gives bleak a backend over
the central, so code written for :class:`bleak.BleakClient` -- ours and
yours -- runs unchanged against an emulated device::

    async with BleRadio() as radio:
        peripheral = await radio.add_peripheral("C0:FF:EE:00:00:01")
        ...                                   # add services, advertise
        client = BleakClient("C0:FF:EE:00:00:01", backend=BumbleBleakClient, radio=radio)
        async with client:
            await client.write_gatt_char(uuid, b"\\x01", response=True)

Pieces:

* :class:`BleRadio` -- the link and the devices on it (create it inside a running
  event loop: Bumble's controllers create futures when built).
* :class:`BlePeripheral` -- a GATT server device: services, advertising,
  connection tracking, notifications, disconnecting from the device side.
* :class:`BumbleBleakClient` / :class:`BumbleBleakScanner` -- bleak backends
  (``backend=`` of :class:`bleak.BleakClient` / :class:`bleak.BleakScanner`);
  extra keyword arguments ``radio`` (required) and ``link_model``.
* :class:`GattLinkPlan` / :class:`GattLinkFaults` -- link faults per connection (lost,
  corrupted, delayed and garbage notifications, stalls, a drop at any ATT operation),
  recorded and drawn from a seed by :func:`random_gatt_plan`
  (:mod:`~aiodfu.testing.ble.link_faults`).
* :class:`BleLinkModel` -- what Bumble does not model: the connection interval
  and the packets per connection event. Write-without-response packets take
  slots in connection events, a write request waits for its response in the
  next event, and notifications reach the central at the next event. The
  default (interval 0) delivers at once, which keeps tests fast.

Bumble is lenient where a radio is not (it delivers writes longer than
ATT_MTU - 3 whole): emulated targets enforce their own size limits.

Modules: :mod:`~aiodfu.testing.ble.radio` (the radio, its controllers,
peripherals), :mod:`~aiodfu.testing.ble.bleak_backend` (the bleak backends) and
:mod:`~aiodfu.testing.ble.link_model` (connection timing). Importing any of
them without Bumble raises an :class:`ImportError` naming ``aiodfu[emulators]``,
before anything imports Bumble: an emulator package that imports this one
first (as :mod:`aiodfu.testing.nrf5_legacy` does) gets the same message.
"""

from __future__ import annotations

try:
    import bumble  # noqa: F401  (only whether it is there)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without Bumble
    raise ImportError(
        "the emulated BLE link needs Bumble: pip install 'aiodfu[emulators]'"
    ) from exc

from aiodfu.testing.ble.bleak_backend import BumbleBleakClient, BumbleBleakScanner
from aiodfu.testing.ble.link_faults import (
    BLE_LINK_FAULT_KINDS,
    FiredGattFault,
    GattLinkFaults,
    GattLinkPlan,
    random_gatt_plan,
)
from aiodfu.testing.ble.link_model import DEFAULT_ATT_MTU, BleLinkModel, ConnectionEvents
from aiodfu.testing.ble.radio import BlePeripheral, BleRadio

__all__ = [
    "BLE_LINK_FAULT_KINDS",
    "DEFAULT_ATT_MTU",
    "BleLinkModel",
    "BlePeripheral",
    "BleRadio",
    "BumbleBleakClient",
    "BumbleBleakScanner",
    "ConnectionEvents",
    "FiredGattFault",
    "GattLinkFaults",
    "GattLinkPlan",
    "random_gatt_plan",
]
