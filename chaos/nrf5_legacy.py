"""Legacy nRF5 DFU over BLE: an application update of an emulated SDK 11 target.

The target starts either in its bootloader or running an application (the
session then enters DFU mode through buttonless entry). Faults are the
emulator's :class:`~aiodfu.testing.nrf5_legacy.LegacyDfuFaults` -- the link
dropped after N data packets or when a Control Point opcode is written, a
data packet lost on the air, slow notifications -- and a link dropped at a
random moment (``link:drop-timed``: timing-dependent, so its replay is close
but not exact). The oracle: the target runs the application sent, in
application mode.

The target's own faults are drawn from its ``FAULT_VOCABULARY``
(``device:error``, ``device:reboot``, ``device:silence``,
``device:unsolicited``, ``device:latency``: a triggered fault at a Control
Point opcode or a data offset), the BLE link's from
:func:`~aiodfu.testing.ble.random_gatt_plan` (``link:ble-...``: lost, corrupted,
delayed or garbage notifications, a stall, a drop at an ATT operation).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, Self

from aiodfu.core.progress import Progress
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import Nrf5LegacySession, Package, Timeouts
from aiodfu.nrf5_legacy.protocol import OpCode
from aiodfu.testing import random_firmware
from aiodfu.testing.ble import BleRadio, BumbleBleakClient, BumbleBleakScanner, GattLinkPlan
from aiodfu.testing.nrf5_legacy import BootloaderConfig, LegacyDfuFaults, Mode, Nrf5LegacyEmulator
from chaos.timing import fast
from chaos.trial import BLE_LINK_KINDS, CANCEL, Fault, Held, Trial, device_kinds

TIMEOUTS = fast(Timeouts(), 0.05, connect=1.0, bootloader_search=2.0, activation=1.0)
"""Scaled by 0.05, except what Bumble's in-process connects need: ``activation`` (the window
that watches the target after Activate & Reset) is at least one connect, or it could not
even reach a bootloader that still answers (seed 12188 judged such a window's silence)."""
RETRY = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05)
OLD = random_firmware(1000, seed=201)
NEW = random_firmware(2000, seed=202)  # 100 packets of 20 bytes
PACKETS = len(NEW) // 20
OPCODES = (
    OpCode.START_DFU,
    OpCode.INITIALIZE_DFU,
    OpCode.PACKET_RECEIPT_REQUEST,
    OpCode.RECEIVE_FIRMWARE,
    OpCode.VALIDATE,
    OpCode.ACTIVATE_AND_RESET,
)


class Nrf5LegacyTrial(Trial):
    backend = "nrf5-legacy"
    kinds = (
        "link:drop-after-packets",
        "link:drop-on-opcode",
        "link:lose-packet",
        "link:drop-timed",
        "device:slow-notifications",
        *device_kinds(Nrf5LegacyEmulator.FAULT_VOCABULARY),
        *BLE_LINK_KINDS,
        CANCEL,
    )

    def draw(self) -> Fault:
        rng = self.rng
        self.with_app = rng.random() < 0.5
        self.faults = LegacyDfuFaults()
        self.link_plan = GattLinkPlan()
        self.drop_at: float | None = None
        self._drops: set[asyncio.Future[Any]] = set()
        start = "running an application (buttonless entry)" if self.with_app else "in DFU mode"
        match self.kind:
            case "link:drop-after-packets":
                packets = rng.randrange(PACKETS)
                self.faults = LegacyDfuFaults(disconnect_after_packets=packets)
                detail = f"the link drops after {packets} data packets"
            case "link:drop-on-opcode":
                opcode = rng.choice(OPCODES)
                self.faults = LegacyDfuFaults(disconnect_on_opcode=opcode)
                detail = f"the link drops as {opcode.name} (0x{opcode:02x}) is written"
            case "link:lose-packet":
                lost = frozenset(rng.sample(range(PACKETS), rng.randint(1, 2)))
                self.faults = LegacyDfuFaults(drop_packets=lost)
                detail = f"data packets {sorted(lost)} are lost on the air"
            case "link:drop-timed":
                self.drop_at = round(rng.uniform(0.0, 0.4), 3)
                detail = f"the link drops {self.drop_at} s into the session"
            case "device:slow-notifications":
                delay = round(rng.uniform(0.01, 0.15), 3)
                self.faults = LegacyDfuFaults(notification_delay=delay)
                detail = f"every notification is {delay} s late"
            case "host:cancel":
                detail = self.draw_cancel(len(NEW)).detail
            case kind if kind.startswith("link:ble-"):
                self.link_plan = self.draw_ble_link(150, 20, link=2 if self.with_app else 1)
                detail = self.link_plan.description
            case kind if kind.startswith("device:"):
                fault = self.draw_device_fault(Nrf5LegacyEmulator.FAULT_VOCABULARY, len(NEW))
                self.faults = LegacyDfuFaults(plan=[fault])
                detail = str(fault)
            case _:
                raise ValueError(self.kind)
        return Fault(self.kind, f"target {start}; {detail}")

    async def __aenter__(self) -> Self:
        self.radio = BleRadio()
        await self.radio.__aenter__()
        self.target = Nrf5LegacyEmulator(
            self.radio,
            mode=Mode.APPLICATION if self.with_app else Mode.BOOTLOADER,
            application=OLD if self.with_app else None,
            config=BootloaderConfig(flash_rate=1e9),
            faults=self.faults,
            link_faults=self.link_plan,
        )
        await self.target.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.target.aclose()
        finally:
            await self.radio.aclose()

    def _session(self, address: str) -> Nrf5LegacySession:
        return Nrf5LegacySession(
            address,
            timeouts=TIMEOUTS,
            retry=RETRY,
            client_options={"backend": BumbleBleakClient, "radio": self.radio},
            scanner_options={"backend": BumbleBleakScanner, "radio": self.radio},
        )

    async def _update(self, address: str, progress: Callable[[Progress], None] | None) -> Any:
        async with self._session(address) as session:
            return await session.update(Package.from_images(application=NEW), progress=progress)

    async def update(self, progress: Callable[[Progress], None]) -> UpdateResult:
        timer = None
        if self.drop_at is not None:
            loop = asyncio.get_running_loop()
            timer = loop.call_later(self.drop_at, self._drop)
        try:
            result: UpdateResult = await self._update(self.target.active_address, progress)
        finally:
            if timer is not None:
                timer.cancel()
        return result

    def _drop(self) -> None:
        disconnect: Callable[[], Any] = self.target.disconnect
        dropped = disconnect()  # a coroutine in older aiodfu, else None
        if inspect.isawaitable(dropped):
            self._drops.add(asyncio.ensure_future(dropped))

    def heal(self) -> None:
        self.target.faults = LegacyDfuFaults()
        self.target.link_faults = GattLinkPlan()

    def fired(self) -> list[str]:
        return [str(f) for f in (*self.faults.fired, *self.link_plan.fired)]

    async def update_fresh(self) -> UpdateResult:
        # A caller names its device by the application's address when it has one: a session
        # told only the bootloader's cannot know where the application it resets into is.
        target = self.target
        address = target.address if target.application is not None else target.active_address
        result: UpdateResult = await self._update(address, None)
        return result

    def held(self) -> tuple[Held, str]:
        target = self.target
        if target.mode is not Mode.APPLICATION:
            return (
                Held.NOT_APPLIED,
                f"the target is still in its bootloader ({target.machine.state})",
            )
        if target.application in (None, OLD):
            return Held.NOT_APPLIED, "the target runs its old application"
        if target.application != NEW:
            return Held.DIFFERENT_BYTES, "the target runs different bytes than were sent"
        return Held.INTACT, "the target runs the application sent"

    def emulator_failures(self) -> list[BaseException]:
        return list(self.target.failures)
