"""The device-fault harness for the BLE emulators: the nRF5 legacy target and Drogue over GATT.

As :mod:`tests.testing.device_fault_backends` does for the byte-stream devices,
each :class:`BleBackend` runs one session against a device carrying device
faults (its ``plan``) and BLE link faults (a :class:`GattLinkPlan`), and
:func:`run_ble_case` requires a verified success with the exact image or a
typed error -- then heals both and requires a fresh session to install a
second image, compared byte for byte.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from aiodfu.core.errors import DfuError
from aiodfu.core.transfer import RetryPolicy
from aiodfu.drogue import connect
from aiodfu.nrf5_legacy import Nrf5LegacySession, Package
from aiodfu.testing import (
    DrogueFaults,
    DrogueGattHost,
    FaultVocabulary,
    GattLinkPlan,
    random_firmware,
)
from aiodfu.testing.ble import BleLinkModel, BleRadio, BumbleBleakClient, BumbleBleakScanner
from aiodfu.testing.drogue import BootMagic
from aiodfu.testing.nrf5_legacy import BootloaderConfig, LegacyDfuFaults, Mode, Nrf5LegacyEmulator
from tests.drogue.conftest import FAST_RETRY, emulator
from tests.drogue.gatt_fixtures import GATT_TIMEOUTS
from tests.nrf5_legacy.conftest import FAST, FAST_FLASH

LATENCY = 0.005


class BleBackend(abc.ABC):
    name: ClassVar[str]
    vocabulary: ClassVar[FaultVocabulary]
    span: ClassVar[int]
    data_command: ClassVar[str]
    operations: ClassVar[int]
    """About how many ATT operations the first connection of an update carries."""
    notifications: ClassVar[int]
    """About how many notifications it carries (0: the device notifies nothing)."""
    dfu_link: ClassVar[int] = 1
    """The connection that carries the update (the nRF5 target starts in its application)."""

    radio: BleRadio
    link_plan: GattLinkPlan

    @abc.abstractmethod
    def running(self, plan: list[Any], link_plan: GattLinkPlan) -> Any:
        """Start the device with the device faults ``plan`` and the link faults ``link_plan``."""

    @abc.abstractmethod
    async def update(self) -> None:
        """One session with the first image; on success, the device must hold it, confirmed."""

    @abc.abstractmethod
    async def update_fresh(self) -> None:
        """A fresh session on the healed device installs the second image, byte for byte."""

    @abc.abstractmethod
    def heal(self) -> None: ...

    @property
    @abc.abstractmethod
    def fired(self) -> list[str]: ...

    @property
    @abc.abstractmethod
    def failures(self) -> list[BaseException]: ...


class Nrf5Ble(BleBackend):
    name = "nrf5-legacy"
    vocabulary = Nrf5LegacyEmulator.FAULT_VOCABULARY
    span = 2000
    data_command = "RECEIVE_FIRMWARE"
    operations = 120
    notifications = 12
    dfu_link = 2
    first = random_firmware(2000, seed=51)
    second = random_firmware(1200, seed=52)
    old = random_firmware(400, seed=53)

    @asynccontextmanager
    async def running(self, plan: list[Any], link_plan: GattLinkPlan) -> AsyncIterator[None]:
        async with BleRadio() as radio:
            self.radio = radio
            self.device = Nrf5LegacyEmulator(
                radio,
                config=BootloaderConfig(flash_rate=FAST_FLASH),
                application=self.old,
                mode=Mode.APPLICATION,
                faults=LegacyDfuFaults(plan=plan),
                link_faults=link_plan,
                inactivity_timeout=2.0,
            )
            self.device.command_latency = LATENCY
            await self.device.start()
            try:
                yield
            finally:
                await self.device.aclose()

    async def _update(self, image: bytes) -> None:
        session = Nrf5LegacySession(
            self.device.address,
            timeouts=FAST,
            retry=RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05),
            client_options={"backend": BumbleBleakClient, "radio": self.radio},
            scanner_options={"backend": BumbleBleakScanner, "radio": self.radio},
            prn=4,
        )
        async with session:
            await asyncio.wait_for(session.update(Package.from_images(application=image)), 60)
        assert self.device.application == image
        assert self.device.mode is Mode.APPLICATION

    async def update(self) -> None:
        await self._update(self.first)

    async def update_fresh(self) -> None:
        await self._update(self.second)

    def heal(self) -> None:
        self.device.faults = LegacyDfuFaults()
        self.device.link_faults = GattLinkPlan()

    @property
    def fired(self) -> list[str]:
        return [str(f) for f in (*self.device.faults.fired, *self.device.link_faults.fired)]

    @property
    def failures(self) -> list[BaseException]:
        return self.device.failures


class DrogueGatt(BleBackend):
    name = "drogue-gatt"
    vocabulary = DrogueGattHost.FAULT_VOCABULARY
    span = 3072
    data_command = "Write"
    operations = 150
    notifications = 0
    first = random_firmware(3072, seed=54)
    second = random_firmware(2048, seed=55)

    @asynccontextmanager
    async def running(self, plan: list[Any], link_plan: GattLinkPlan) -> AsyncIterator[None]:
        async with BleRadio() as radio:
            self.radio = radio
            device = emulator(
                reboot_time=0.02, command_latency=LATENCY, faults=DrogueFaults(plan=plan)
            )
            self.host = DrogueGattHost(device, radio, link_faults=link_plan)
            await self.host.start()
            try:
                yield
            finally:
                await self.host.aclose()

    async def _update(self, image: bytes, version: str) -> None:
        client = {
            "backend": BumbleBleakClient,
            "radio": self.radio,
            "link_model": BleLinkModel(mtu=247),
        }
        session = connect(
            self.host.address, timeouts=GATT_TIMEOUTS, retry=FAST_RETRY, client_options=client
        )
        async with session:
            await asyncio.wait_for(session.update(image, version=version), 60)
        await asyncio.wait_for(self.host.idle(), 5)  # mark-booted applied (acknowledged at once)
        device = self.host.device
        assert device.image == image
        assert device.version == version.encode()
        assert device.boot_state is BootMagic.BOOT

    async def update(self) -> None:
        await self._update(self.first, "0.2.0")

    async def update_fresh(self) -> None:
        await self._update(self.second, "0.3.0")

    def heal(self) -> None:
        self.host.device.faults = DrogueFaults()
        self.host.link_faults = GattLinkPlan()

    @property
    def fired(self) -> list[str]:
        return [str(f) for f in (*self.host.device.faults.fired, *self.host.link_faults.fired)]

    @property
    def failures(self) -> list[BaseException]:
        return [*self.host.failures, *self.host.device.failures]


BLE_BACKENDS: dict[str, type[BleBackend]] = {b.name: b for b in (Nrf5Ble, DrogueGatt)}


async def run_ble_case(
    backend: BleBackend, plan: list[Any], link_plan: GattLinkPlan | None = None
) -> tuple[str, list[str]]:
    """Update under the device faults ``plan`` and the link faults ``link_plan``: a verified
    success with the exact image or a typed error; then, healed, a fresh session succeeds."""
    async with backend.running(plan, link_plan or GattLinkPlan()):
        try:
            await backend.update()
        except DfuError as exc:
            ended = f"typed error: {type(exc).__name__}"
        else:
            ended = "verified success"
        fired = backend.fired
        assert not backend.failures, backend.failures
        backend.heal()
        await backend.update_fresh()
        assert not backend.failures, backend.failures
    return ended, fired
