"""One harness per emulator for the device-fault tests: build, update, check, heal, update again.

Each :class:`Backend` runs one session against a device carrying a fault and
says what it ended with; the tests then require a verified success with the
exact image, or a typed error -- and, either way, that a fresh session on the
healed device installs a second image, compared byte for byte.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from aiodfu.core.errors import DfuError
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import Package
from aiodfu.rainmaker import FirmwareNotification
from aiodfu.testing import (
    AdafruitSerialEmulator,
    AdafruitSerialFaults,
    DeviceFaults,
    DrogueEmulator,
    DrogueFaults,
    FaultVocabulary,
    FaultyDevice,
    FaultyLinks,
    FirmwareServer,
    LinkPlan,
    NotecardEmulator,
    NotecardFaults,
    NotecardStorage,
    RainMakerEmulator,
    RainMakerFaults,
    SerialModemEmulator,
    SerialModemFaults,
    build_mcuboot_image,
    random_firmware,
)
from aiodfu.testing.drogue import BootMagic
from tests.drogue.conftest import OLD, OLD_VERSION
from tests.drogue.conftest import session_for as drogue_session
from tests.notecard.conftest import card_for as notecard_session
from tests.nrf5_legacy_serial.conftest import USB
from tests.nrf5_legacy_serial.conftest import session_for as adafruit_session
from tests.rainmaker.conftest import firmware
from tests.rainmaker.conftest import session_for as rainmaker_session
from tests.serial_modem.conftest import session_for as serial_modem_session

RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02)
LATENCY = 0.005
"""Every device spends this long on each command, so a short update still lasts long enough
for a time-triggered fault to land in it."""


class Backend(abc.ABC):
    """An emulator and its session, for one backend."""

    name: ClassVar[str]
    vocabulary: ClassVar[FaultVocabulary]
    span: ClassVar[int]
    """About how many image bytes one update moves."""
    data_command: ClassVar[str]
    wire: ClassVar[tuple[int, int]]
    """Bytes an update surely puts on the wire (host to device, device to host): where a link
    fault must land to fire."""
    """The command that carries the image (a fault placed there hits the transfer)."""

    device: Any
    links: FaultyLinks | None = None
    """Set by :func:`run_case` for the faulty session only: its links carry the link faults."""

    def connector(self) -> Any:
        return self.device.connect if self.links is None else self.links

    @abc.abstractmethod
    def faults(self, plan: list[Any]) -> DeviceFaults:
        """A fresh faults value of this emulator, with ``plan``."""

    @abc.abstractmethod
    def running(self, plan: list[Any]) -> Any:
        """An async context manager starting the device with ``plan`` (and what it needs)."""

    @abc.abstractmethod
    async def update(self) -> UpdateResult:
        """One session with the first image."""

    @abc.abstractmethod
    def assert_holds_first(self, result: UpdateResult) -> None:
        """The device runs (or the host installed) exactly the first image, confirmed."""

    @abc.abstractmethod
    async def update_fresh(self) -> None:
        """A fresh session on the healed device installs the second image, byte for byte."""

    def heal(self) -> None:
        self.device.faults = self.faults([])

    @property
    def emulator(self) -> FaultyDevice:
        device: FaultyDevice = self.device
        return device


class SerialModem(Backend):
    name = "serial-modem"
    vocabulary = SerialModemEmulator.FAULT_VOCABULARY
    span = 8000
    data_command = "AT#XDFUWRITE"
    wire = (8000, 250)
    first = build_mcuboot_image(random_firmware(8000, seed=41), version=(2, 0, 0, 1))
    second = build_mcuboot_image(random_firmware(5000, seed=42), version=(3, 0, 0, 1))

    def faults(self, plan: list[Any]) -> DeviceFaults:
        return SerialModemFaults(plan=plan)

    @asynccontextmanager
    async def running(self, plan: list[Any]) -> AsyncIterator[None]:
        self.device = SerialModemEmulator(
            faults=SerialModemFaults(plan=plan), command_latency=LATENCY, reboot_time=0.02
        )
        async with self.device:
            yield

    async def _update(self, image: bytes) -> UpdateResult:
        async with serial_modem_session(self.connector(), chunk_size=2048, retry=RETRY) as session:
            return await asyncio.wait_for(session.update(image, reset=True), 60)

    async def update(self) -> UpdateResult:
        return await self._update(self.first)

    def assert_holds_first(self, result: UpdateResult) -> None:
        assert result.verification.verified
        assert self.device.active_app == self.first
        assert self.device.image == self.first

    async def update_fresh(self) -> None:
        result = await self._update(self.second)
        assert result.verification.verified
        assert self.device.active_app == self.second


JOB = "faultJob0001"


class RainMaker(Backend):
    name = "rainmaker"
    vocabulary = RainMakerEmulator.FAULT_VOCABULARY
    span = 12_000
    data_command = "AT+HTTPCGET"
    wire = (300, 12_000)
    first = firmware(12_000, seed=43)
    second = firmware(7000, seed=44)

    def faults(self, plan: list[Any]) -> DeviceFaults:
        return RainMakerFaults(plan=plan)

    @asynccontextmanager
    async def running(self, plan: list[Any]) -> AsyncIterator[None]:
        async with FirmwareServer() as server:
            self.server = server
            self.device = RainMakerEmulator(
                seed=5,
                faults=RainMakerFaults(plan=plan),
                command_latency=LATENCY,
                reboot_time=0.02,
                presign=self._presign,
            )
            self._offer(self.first, JOB)
            async with self.device:
                yield

    def _presign(self, job: FirmwareNotification) -> FirmwareNotification:
        image = self.first if job.job_id == JOB else self.second
        url = self.server.add("host.bin", image)
        return FirmwareNotification(
            type=0, size=job.size, url=url, version="2.0", job_id=job.job_id
        )

    def _offer(self, image: bytes, job_id: str) -> None:
        url = self.server.add("host.bin", image)
        job = FirmwareNotification(type=0, size=len(image), url=url, version="2.0", job_id=job_id)
        self.device.offer(job, image)

    async def _update(self, image: bytes) -> tuple[UpdateResult, list[bytes]]:
        installed: list[bytes] = []
        digest = hashlib.sha256(image).digest()
        async with rainmaker_session(self.connector(), retry=RETRY) as session:
            result = await asyncio.wait_for(
                session.update(
                    install=lambda got: installed.append(got.data), expected_sha256=digest
                ),
                60,
            )
        return result, installed

    async def update(self) -> UpdateResult:
        result, self.installed = await self._update(self.first)
        return result

    def assert_holds_first(self, result: UpdateResult) -> None:
        assert result.verification.verified
        assert self.installed == [self.first]
        assert self.device.job_status[JOB] == "success"

    async def update_fresh(self) -> None:
        self._offer(self.second, "freshJob0002")
        result, installed = await self._update(self.second)
        assert result.verification.verified
        assert installed == [self.second]
        assert self.device.job_status["freshJob0002"] == "success"


class Drogue(Backend):
    name = "drogue"
    vocabulary = DrogueEmulator.FAULT_VOCABULARY
    span = 9000
    data_command = "Write"
    wire = (16_000, 16_000)
    first = random_firmware(9000, seed=45)
    second = random_firmware(6000, seed=46)

    def faults(self, plan: list[Any]) -> DeviceFaults:
        return DrogueFaults(plan=plan)

    @asynccontextmanager
    async def running(self, plan: list[Any]) -> AsyncIterator[None]:
        self.device = DrogueEmulator(
            image=OLD,
            version=OLD_VERSION,
            mtu=512,
            backoff_ms=0,
            timeout_ms=300,
            watchdog_time=0.01,
            reboot_time=0.02,
            command_latency=LATENCY,
            faults=DrogueFaults(plan=plan),
        )
        async with self.device:
            yield

    async def _update(self, image: bytes, version: str) -> UpdateResult:
        async with drogue_session(self.connector(), retry=RETRY) as session:
            return await asyncio.wait_for(session.update(image, version=version), 60)

    async def update(self) -> UpdateResult:
        return await self._update(self.first, "0.2.0")

    def assert_holds_first(self, result: UpdateResult) -> None:
        assert self.device.image == self.first
        assert self.device.version == b"0.2.0"
        assert self.device.boot_state is BootMagic.BOOT  # confirmed: no revert at the next reset

    async def update_fresh(self) -> None:
        await self._update(self.second, "0.3.0")
        assert self.device.image == self.second
        assert self.device.boot_state is BootMagic.BOOT


class Notecard(Backend):
    """A card that keeps its image in the modem's file system (so ``hub.set`` enters and leaves
    DFU mode), retrieved in binary chunks (so ``card.binary`` and ``card.binary.get`` too)."""

    name = "notecard"
    vocabulary = NotecardEmulator.FAULT_VOCABULARY
    span = 10_000
    data_command = "dfu.get"
    wire = (2500, 15_000)
    first = random_firmware(10_000, seed=47)
    second = random_firmware(6000, seed=48)

    def faults(self, plan: list[Any]) -> DeviceFaults:
        return NotecardFaults(plan=plan)

    @asynccontextmanager
    async def running(self, plan: list[Any]) -> AsyncIterator[None]:
        self.device = NotecardEmulator(
            image=self.first,
            storage=NotecardStorage.MODEM_FS,
            request_latency=LATENCY,
            reboot_time=0.02,
            faults=NotecardFaults(plan=plan),
        )
        async with self.device:
            yield

    async def _update(self) -> tuple[UpdateResult, list[bytes]]:
        installed: list[bytes] = []
        async with notecard_session(
            self.connector(), retry=RETRY, chunk_size=2048, binary=True
        ) as card:
            result = await asyncio.wait_for(
                card.update(install=lambda got: installed.append(got.data)), 60
            )
        return result, installed

    async def update(self) -> UpdateResult:
        result, self.installed = await self._update()
        return result

    def assert_holds_first(self, result: UpdateResult) -> None:
        assert result.verification.verified
        assert self.installed == [self.first]
        assert self.device.mode == "completed" and self.device.delivered == self.first

    async def update_fresh(self) -> None:
        self.device.offer(self.second)  # Notehub offers the next image
        result, installed = await self._update()
        assert result.verification.verified
        assert installed == [self.second]
        assert self.device.mode == "completed" and self.device.delivered == self.second


class AdafruitSerial(Backend):
    """A native-USB Adafruit nRF52840 board in DFU mode (its old application valid)."""

    name = "nrf5-legacy-serial"
    vocabulary = AdafruitSerialEmulator.FAULT_VOCABULARY
    span = 9000
    data_command = "RECEIVE_FIRMWARE_IMAGE"
    wire = (9000, 100)
    first = random_firmware(9000, seed=47)
    second = random_firmware(6000, seed=48)

    def faults(self, plan: list[Any]) -> DeviceFaults:
        return AdafruitSerialFaults(plan=plan)

    @asynccontextmanager
    async def running(self, plan: list[Any]) -> AsyncIterator[None]:
        self.device = AdafruitSerialEmulator(
            USB,
            application=random_firmware(3000, seed=49),
            in_bootloader=True,
            faults=AdafruitSerialFaults(plan=plan),
            command_latency=LATENCY,
            reboot_time=0.02,
        )
        async with self.device:
            yield

    async def _update(self, image: bytes) -> UpdateResult:
        package = Package.from_images(application=image, device_type=0x0052)
        connector = self.connector()
        async with adafruit_session(self.device, connector=connector, reenumerates=True) as session:
            return await asyncio.wait_for(session.update(package), 60)

    async def update(self) -> UpdateResult:
        return await self._update(self.first)

    def assert_holds_first(self, result: UpdateResult) -> None:
        assert result.verification.verified
        assert self.device.running == "application"
        assert self.device.application == self.first

    async def update_fresh(self) -> None:
        result = await self._update(self.second)
        assert result.verification.verified
        assert self.device.running == "application"
        assert self.device.application == self.second


BACKENDS: dict[str, type[Backend]] = {
    backend.name: backend for backend in (SerialModem, RainMaker, Drogue, Notecard, AdafruitSerial)
}


async def run_case(
    backend: Backend, plan: list[Any], links: dict[int, LinkPlan] | None = None
) -> tuple[str, list[str]]:
    """Update under the device faults ``plan`` and the link faults ``links`` (per connection);
    a verified success or a typed error; then a fresh session on healthy links.

    Returns how the faulty session ended and what fired (for the caller's own checks).
    """
    async with backend.running(plan):
        if links is not None:
            backend.links = FaultyLinks(backend.device, links)
        try:
            result = await backend.update()
        except DfuError as exc:
            ended = f"typed error: {type(exc).__name__}"
        else:
            backend.assert_holds_first(result)
            ended = "verified success"
        fired = [str(fault) for fault in backend.device.faults.fired]
        if backend.links is not None:
            fired += [f"link {number}: {fault}" for number, fault in backend.links.fired]
        assert not backend.emulator.failures, backend.emulator.failures
        backend.heal()
        backend.links = None
        await backend.update_fresh()
        assert not backend.emulator.failures, backend.emulator.failures
    return ended, fired
