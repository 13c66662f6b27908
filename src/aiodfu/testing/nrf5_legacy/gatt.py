"""The emulated target's GATT side: the legacy DFU service, and the application's own services.

:class:`DfuPeripheral` is one address on the radio with the DFU service
(Control Point, Packet, Revision) whose writes go to the emulator's callbacks;
it loads the attribute table of whichever firmware runs there (an application
has its own services before its buttonless entries -- the legacy DFU service,
the Secure DFU buttonless service 0xFE59, or both -- a bootloader the DFU
service, and a Device Information Service if it is Adafruit's).
:class:`ApplicationProfile` is how the application presents itself;
:data:`MESHTASTIC` is a Meshtastic nRF52 node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs
from bumble.gatt import Characteristic, CharacteristicValue, Service

from aiodfu.nrf5_legacy.adafruit import BUTTONLESS_UUID, DIS_SERVICE_UUID, SECURE_DFU_SERVICE_UUID
from aiodfu.nrf5_legacy.protocol import (
    CONTROL_POINT_UUID,
    PACKET_UUID,
    REVISION_UUID,
    SERVICE_UUID,
)
from aiodfu.testing.ble import BlePeripheral

HEART_RATE_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
BATTERY_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
DEVICE_INFORMATION_SERVICE = "0000180a-0000-1000-8000-00805f9b34fb"


@attrs.frozen
class ApplicationProfile:
    """How the emulated application presents itself; SDK 11's ``ble_app_hrs`` by default.

    It advertises ``name``, ``appearance`` and ``service_uuids`` -- never the DFU
    service, which (revision 0.1, for buttonless entry) is found only in GATT,
    after the application's own services. The heart-rate, battery and
    device-information services carry their usual characteristics; any other
    UUID is an empty primary service.
    """

    name: str = "Nordic_HRM"
    service_uuids: tuple[str, ...] = (
        HEART_RATE_SERVICE,
        BATTERY_SERVICE,
        DEVICE_INFORMATION_SERVICE,
    )
    appearance: int | None = 833
    """``BLE_APPEARANCE_HEART_RATE_SENSOR_HEART_RATE_BELT``."""
    buttonless: tuple[Literal["legacy", "secure"], ...] = ("legacy",)
    """Its ways into the bootloader: the legacy DFU service (revision 0.1, ``01`` on
    its Control Point) and/or the Secure DFU buttonless characteristic (0xFE59)."""
    buttonless_response: bool = False
    """Indicate ``20 01 01`` before resetting, as the Secure DFU buttonless spec has it;
    Meshtastic's ``BLEDfuSecure`` resets without a word (False)."""

    def services(self) -> list[Service]:
        return [Service(uuid, _characteristics(uuid)) for uuid in self.service_uuids]


MESHTASTIC_SERVICE = "6ba1b218-15a8-461f-9fa8-5dcae273eafd"
MESHTASTIC = ApplicationProfile(
    name="Meshtastic_1a2b",
    service_uuids=(MESHTASTIC_SERVICE, DEVICE_INFORMATION_SERVICE, BATTERY_SERVICE),
    appearance=None,
    buttonless=("secure",),
)
"""A Meshtastic nRF52 node built with ``BLE_DFU_SECURE``: only the 0xFE59 entry.
(The real one requires an encrypted, authenticated link on it; pairing is not
modelled by the Bumble test backend, so the emulated one leaves it open.)"""


def _readable(uuid: str, value: bytes, notify: bool = False) -> Characteristic[bytes]:
    props = Characteristic.Properties.READ | (Characteristic.Properties.NOTIFY if notify else 0)
    return Characteristic(uuid, props, Characteristic.READABLE, value)


def _characteristics(service: str) -> list[Characteristic[Any]]:
    """What ``ble_app_hrs`` puts in each of its services (fresh objects for each table)."""
    sig = "-0000-1000-8000-00805f9b34fb"
    table: dict[str, list[Characteristic[Any]]] = {
        HEART_RATE_SERVICE: [
            _readable("00002a37" + sig, b"\x00\x48", notify=True),  # measurement: 72 bpm
            _readable("00002a38" + sig, b"\x03"),  # body sensor location: finger
        ],
        BATTERY_SERVICE: [_readable("00002a19" + sig, b"\x64", notify=True)],
        DEVICE_INFORMATION_SERVICE: [_readable("00002a29" + sig, b"NordicSemiconductor")],
    }
    return table.get(service.lower(), [])


WriteHandler = Callable[["DfuPeripheral", Any, bytes], None]


class DfuPeripheral:
    """One address of the target: its DFU service, and the table of the firmware running there.

    ``on_control_point`` and ``on_packet`` take (this peripheral, the connection,
    the value); they must be synchronous (see :mod:`aiodfu.testing.ble`).
    ``revision`` reads the Revision characteristic; ``None`` leaves it out.
    """

    def __init__(
        self,
        peripheral: BlePeripheral,
        *,
        on_control_point: WriteHandler,
        on_packet: WriteHandler,
        on_buttonless: WriteHandler,
        revision: Callable[[], bytes] | None,
        packet_write_with_response: bool = False,
        device_information: Mapping[str, bytes] | None = None,
    ) -> None:
        self.peripheral = peripheral
        props = Characteristic.Properties
        self.control_point: Characteristic[bytes] = Characteristic(
            CONTROL_POINT_UUID,
            props.WRITE | props.NOTIFY,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=lambda conn, value: on_control_point(self, conn, value)),
        )
        packet: Characteristic[bytes] = Characteristic(
            PACKET_UUID,
            props.WRITE_WITHOUT_RESPONSE | (props.WRITE if packet_write_with_response else 0),
            Characteristic.WRITEABLE,
            CharacteristicValue(write=lambda conn, value: on_packet(self, conn, value)),
        )
        characteristics: list[Characteristic[Any]] = [self.control_point, packet]
        if revision is not None:
            characteristics.append(
                Characteristic(
                    REVISION_UUID,
                    props.READ,
                    Characteristic.READABLE,
                    CharacteristicValue(read=lambda conn: revision()),
                )
            )
        self.dfu_service = Service(SERVICE_UUID, characteristics)
        self.buttonless: Characteristic[bytes] = Characteristic(
            BUTTONLESS_UUID,
            props.WRITE | props.INDICATE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=lambda conn, value: on_buttonless(self, conn, value)),
        )
        self.bootloader_services = [self.dfu_service]
        if device_information:
            self.bootloader_services.append(
                Service(DIS_SERVICE_UUID, [_readable(u, v) for u, v in device_information.items()])
            )
        self._hosting: ApplicationProfile | bool | None = None

    def host(self, application: ApplicationProfile | None) -> None:
        """Load the table of the firmware that boots here: ``application``'s, or (``None``)
        the bootloader's. Call it while disconnected (a reboot)."""
        hosting = application if application is not None else False
        if hosting == self._hosting:
            return
        if application is None:
            services = self.bootloader_services
        else:
            services = application.services()
            if "legacy" in application.buttonless:
                services.append(self.dfu_service)
            if "secure" in application.buttonless:
                services.append(Service(SECURE_DFU_SERVICE_UUID, [self.buttonless]))
        self.peripheral.set_services(services)
        self._hosting = hosting
