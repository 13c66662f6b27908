"""The emulated legacy DFU target: one device, two personalities, state outliving links.

See :mod:`aiodfu.testing.nrf5_legacy` for the options and what it models.
(About 500 lines: everything the device does runs in one task, in ATT
order -- its writes, notifications, erase completions, timers and reboots --
and that one ordered loop is what makes it faithful; the state machine, the
GATT tables, the applications' entries and the build config live elsewhere.)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Mapping
from typing import Any, Literal

from bumble.att import ATT_Error
from bumble.device import Connection

from aiodfu.nrf5_legacy.protocol import (
    ATT_CCCD_IMPROPERLY_CONFIGURED,
    ATT_PREPARED_WRITE_REJECTED,
    DFU_TARGET_NAME,
    REVISION_APPLICATION,
    REVISION_SDK11,
    SERVICE_UUID,
    ImageType,
    OpCode,
    Response,
    next_bootloader_address,
)
from aiodfu.testing.ble import BleRadio, GattLinkPlan
from aiodfu.testing.ble.radio import WRITE_SENT_AT
from aiodfu.testing.device_faults import DeviceFault, ErrorReply, Unsolicited
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.fault_runtime import FaultRuntime, Outcome
from aiodfu.testing.nrf5_legacy import application
from aiodfu.testing.nrf5_legacy.faults import (
    FAULT_VOCABULARY,
    LegacyDfuFaults,
    opcode_name,
    status_of,
)
from aiodfu.testing.nrf5_legacy.gatt import ApplicationProfile, DfuPeripheral
from aiodfu.testing.nrf5_legacy.state import (
    Activate,
    BeginErase,
    BootloaderConfig,
    BootloaderMachine,
    Effect,
    Notify,
    ResetTarget,
    State,
)

log = logging.getLogger("aiodfu.testing.nrf5_legacy")

DEFAULT_ADDRESS = "C0:FF:EE:00:00:01"
DFU_TIMEOUT = 120.0


class Mode(enum.Enum):
    APPLICATION = "application"
    BOOTLOADER = "bootloader"
    USB_DFU = "usb-dfu"
    """The bootloader runs serial/UF2 DFU over USB: nothing on the radio."""


class Nrf5LegacyEmulator(FaultRuntime, Emulator):
    """A legacy DFU target whose state outlives its connections; see the module docstring."""

    FAULT_VOCABULARY = FAULT_VOCABULARY
    faults: LegacyDfuFaults

    def __init__(
        self,
        radio: BleRadio,
        *,
        address: str = DEFAULT_ADDRESS,
        mode: Literal["application", "bootloader"] | Mode = Mode.BOOTLOADER,
        application: bytes | None = None,
        application_version: int = 1,
        config: BootloaderConfig | None = None,
        revision: int | None = REVISION_SDK11,
        peer_data: bool = False,
        inactivity_timeout: float | None = DFU_TIMEOUT,
        faults: LegacyDfuFaults | None = None,
        application_profile: ApplicationProfile | None = None,
        bootloader_name: str = DFU_TARGET_NAME,
        directed_advertising: bool = True,
        device_information: Mapping[str, bytes] | None = None,
        link_faults: GattLinkPlan | None = None,
    ) -> None:
        super().__init__(faults=faults or LegacyDfuFaults())
        self.link_faults = link_faults or GattLinkPlan()
        """The BLE link's faults, per connection (both personalities count as one device)."""
        self.radio = radio
        self.application_profile = application_profile or ApplicationProfile()
        self.address = address.upper()
        self.bootloader_address = self.address if peer_data else next_bootloader_address(address)
        self.mode = Mode(mode)
        self.application = application
        self.application_version: int | None = application_version if application else None
        self.softdevice: bytes | None = None
        self.bootloader: bytes | None = None
        self.config = config or BootloaderConfig()
        self.revision = revision
        self.peer_data = peer_data
        self.bootloader_name = bootloader_name
        self.directed_advertising = directed_advertising
        self.device_information = dict(device_information or {})
        self.inactivity_timeout = inactivity_timeout
        self.machine = BootloaderMachine(self.config)
        self.boots = 0
        self.pool_overflows = 0
        self.oversize_packets = 0
        self.control_point_log: list[tuple[Mode, bytes]] = []
        self._packets_total = 0
        self._disconnects_on_opcode = 0
        self._disconnect_after_done = False
        self._generation = 0
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._gatts: dict[str, DfuPeripheral] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_central: str | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Power on and advertise in the current mode."""
        if self._worker is None:
            self.check_faults()
            self._worker = asyncio.get_running_loop().create_task(self._process())
        await self._advertise()

    @property
    def image(self) -> bytes | None:
        return self.application

    @property
    def active_address(self) -> str:
        return self.address if self.mode is Mode.APPLICATION else self.bootloader_address

    @property
    def on_air(self) -> bool:
        """Whether the device is reachable over BLE (not in USB DFU mode)."""
        return self.mode is not Mode.USB_DFU

    async def aclose(self) -> None:
        self.cancel_background()
        if self._timer is not None:
            self._timer.cancel()
        for gatt in self._gatts.values():
            with contextlib.suppress(Exception):  # the radio may be closed already
                await gatt.peripheral.stop_advertising()
            await gatt.peripheral.disconnect()
        worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put_nowait(("stop", None))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.shield(worker)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        await super().aclose()

    async def enter_bootloader(self) -> None:
        """Reset with the DFU button held: DFU mode with fresh state, the app kept."""
        await self._drop_links()
        await self._boot(Mode.BOOTLOADER)

    def disconnect(self) -> None:
        """Drop the current link (as if out of range); the target keeps its state.

        The link goes down in the background; the host sees the disconnection."""
        task = asyncio.get_running_loop().create_task(self._drop_links())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drop_links(self) -> None:
        for gatt in self._gatts.values():
            await gatt.peripheral.disconnect()

    def _current(self, gatt: DfuPeripheral, connection: Any) -> bool:
        """Whether a write came over the live link to the active personality.

        Writes queued behind a link the target dropped never arrived on a real
        radio: they are discarded, so the target's byte count has no holes.
        """
        current = gatt.peripheral.connection
        return gatt.peripheral.address == self.active_address and (
            current is not None and connection is current
        )

    def _connected(self) -> bool:
        gatt = self._gatts.get(self.active_address)
        return gatt is not None and gatt.peripheral.connection is not None

    async def _gatt_for(self, address: str) -> DfuPeripheral:
        gatt = self._gatts.get(address)
        if gatt is None:
            peripheral = await self.radio.add_peripheral(address)
            gatt = DfuPeripheral(
                peripheral,
                on_control_point=self._on_control_point,
                on_packet=self._on_packet,
                on_buttonless=self._on_buttonless,
                revision=self._revision_value if self.revision is not None else None,
                packet_write_with_response=self.config.packet_write_with_response,
                device_information=self.device_information,
            )
            if self.config.att_mtu is not None:
                peripheral.limit_mtu(self.config.mtu_reply)
            peripheral.on_connect = self._on_connect
            peripheral.on_disconnect = self._on_disconnect
            peripheral.link_faults = lambda: self.link_faults
            self._gatts[address] = gatt
        return gatt

    async def _advertise(self) -> None:
        if self.mode is Mode.USB_DFU:
            for gatt in self._gatts.values():
                await gatt.peripheral.stop_advertising()
            return
        active = await self._gatt_for(self.active_address)
        for address, gatt in self._gatts.items():
            if address != active.peripheral.address:
                await gatt.peripheral.stop_advertising()
        active.host(self.application_profile if self.mode is Mode.APPLICATION else None)
        if self.mode is Mode.APPLICATION:
            profile = self.application_profile
            await active.peripheral.advertise(
                profile.name, profile.service_uuids, appearance=profile.appearance
            )
        elif self.peer_data and self.directed_advertising and self._last_central is not None:
            try:
                await active.peripheral.advertise(directed_to=self._last_central)
            except Exception as exc:  # a controller without directed advertising
                log.debug("directed advertising unavailable (%s); advertising undirected", exc)
                await active.peripheral.advertise(self.bootloader_name, [SERVICE_UUID])
        else:
            await active.peripheral.advertise(self.bootloader_name, [SERVICE_UUID])

    def _on_connect(self, connection: Connection) -> None:
        self._last_central = str(connection.peer_address).split("/")[0]
        self.arm_timers()

    def _on_disconnect(self, connection: Connection) -> None:
        # The bootloader (and the app) advertise again after a link loss; state is kept.
        self._queue.put_nowait(("advertise", self._generation))

    # --- GATT callbacks (synchronous: they only check and enqueue, keeping ATT order) ---------

    def _revision_value(self) -> bytes:
        value = REVISION_APPLICATION if self.mode is Mode.APPLICATION else self.revision or 0
        return value.to_bytes(2, "little")

    def _on_control_point(self, gatt: DfuPeripheral, connection: Any, value: bytes) -> None:
        if len(value) > self.config.control_point_max:
            raise ATT_Error(ATT_PREPARED_WRITE_REJECTED)
        if not gatt.peripheral.notifications_enabled(gatt.control_point):
            raise ATT_Error(ATT_CCCD_IMPROPERLY_CONFIGURED)
        if not value or self.unresponsive:
            return  # acknowledged by the SoftDevice, lost by a hung (or silent) bootloader
        if (
            self.faults.disconnect_on_opcode == value[0]
            and self._disconnects_on_opcode < self.faults.disconnect_on_opcode_times
        ):
            self._disconnects_on_opcode += 1
            self._queue.put_nowait(("drop", None))
            return
        self._queue.put_nowait(("cp", (gatt, connection, bytes(value))))

    def _on_packet(self, gatt: DfuPeripheral, connection: Any, value: bytes) -> None:
        if self.unresponsive:
            return
        # When the modelled link carried it: the pool drains by that, not by when we get to it.
        sent_at = WRITE_SENT_AT.get()
        self._queue.put_nowait(("packet", (gatt, connection, bytes(value), sent_at)))

    def _on_buttonless(self, gatt: DfuPeripheral, connection: Any, value: bytes) -> None:
        if not gatt.peripheral.indications_enabled(gatt.buttonless):
            raise ATT_Error(ATT_CCCD_IMPROPERLY_CONFIGURED)
        if value:
            self._queue.put_nowait(("buttonless", (gatt, connection, bytes(value))))

    # --- the one task that acts, in ATT order -------------------------------------------------

    async def _process(self) -> None:
        while True:
            kind, item = await self._queue.get()
            if kind == "stop":
                return
            try:
                await self._handle(kind, item)
            except Exception as exc:
                self.failures.append(exc)
                log.exception("nRF5 legacy emulator failed handling %s", kind)

    async def _handle(self, kind: str, item: Any) -> None:
        now = asyncio.get_running_loop().time()
        if kind == "drop":
            await self._drop_links()
        elif kind == "cp":
            gatt, connection, value = item
            if not self._current(gatt, connection):
                return
            self.control_point_log.append((self.mode, value))
            if self.mode is Mode.APPLICATION:
                await self._application_write(gatt, value, kind)
                return
            name = opcode_name(value[0])
            outcome = await self.take_command(name, shown=f"{name} {value.hex()}")
            if outcome is Outcome.HALT:
                return
            if value[0] in (OpCode.START_DFU, OpCode.INITIALIZE_DFU, OpCode.VALIDATE):
                self._restart_timer()
            if isinstance(outcome, ErrorReply):
                await self._answer_error(value[0], outcome)
                return
            now = asyncio.get_running_loop().time()  # after any latency
            await self._apply(gatt, self.machine.control_point(value, now))
        elif kind == "buttonless":
            gatt, connection, value = item
            if self._current(gatt, connection) and self.mode is Mode.APPLICATION:
                self.control_point_log.append((self.mode, value))
                await self._application_write(gatt, value, kind)
        elif kind == "packet":
            gatt, connection, value, sent_at = item
            if not self._current(gatt, connection) or self.mode is Mode.APPLICATION:
                return
            await self._packet(gatt, value, now if sent_at is None else sent_at)
        elif kind == "notify":
            generation, data = item
            if generation == self._generation:
                await self._notify(data)
        elif kind == "advertise":
            if item == self._generation and not self._connected():
                await self._advertise()
        elif kind == "erased":
            if item == self._generation:
                await self._apply(None, self.machine.erase_done())
        elif kind == "timed":
            await self.perform([item])
        elif kind == "timeout" and item == self._generation:
            log.info("DFU inactivity timer expired: resetting")
            await self._reset("inactivity timeout")

    async def _packet(self, gatt: DfuPeripheral, value: bytes, now: float) -> None:
        if len(value) > self.config.max_packet:
            self.oversize_packets += 1  # a real link layer could not carry it
            return
        if self.machine.state in (State.RX_INIT, State.WAIT_SIZES):
            self._restart_timer()
        elif self.machine.state is State.RX_DATA:
            number = self._packets_total
            self._packets_total += 1
            limit = self.faults.disconnect_after_packets
            if (
                limit is not None
                and self._packets_total > limit
                and not self._disconnect_after_done
            ):
                self._disconnect_after_done = True
                await self._drop_links()
                return
            if number in self.faults.drop_packets:
                return
            self._restart_timer()
            start = self.machine.received
            waiting = self.next_fault_offset(start, start + len(value))
            if waiting is not None:
                outcome = await self.take_offset(waiting)
                if outcome is Outcome.HALT:
                    return
                if isinstance(outcome, ErrorReply):  # the packet is not stored
                    await self._answer_error(OpCode.RECEIVE_FIRMWARE, outcome)
                    return
                now = asyncio.get_running_loop().time()
        before = self.machine.pool_overflows
        effects = self.machine.packet(value, now)
        self.pool_overflows += self.machine.pool_overflows - before
        await self._apply(gatt, effects)

    async def _apply(self, gatt: DfuPeripheral | None, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Notify):
                delay = self.faults.notification_delay
                if effect.at is not None:
                    delay += max(0.0, effect.at - asyncio.get_running_loop().time())
                if delay > 0:
                    item = (self._generation, effect.data)
                    asyncio.get_running_loop().call_later(
                        delay, self._queue.put_nowait, ("notify", item)
                    )
                else:
                    await self._notify(effect.data)
            elif isinstance(effect, BeginErase):
                if self.config.single_bank:  # bank 0 is the application's own area
                    self.application = self.application_version = None
                generation = self._generation
                asyncio.get_running_loop().call_later(
                    effect.seconds, self._queue.put_nowait, ("erased", generation)
                )
            elif isinstance(effect, ResetTarget):
                await self._reset(effect.reason)
            else:
                await self._install(effect)

    async def _notify(self, data: bytes) -> None:
        if self.unresponsive:
            return
        gatt = self._gatts.get(self.active_address)
        sent = gatt is not None and await gatt.peripheral.notify(gatt.control_point, data)
        if not sent and self.faults.reset_on_failed_notification and self.mode is Mode.BOOTLOADER:
            log.info("notification %s could not be sent: the error handler resets", data.hex())
            await self._reset("failed notification")
        elif gatt is not None and sent and self.faults.unsolicited:  # an idle moment
            await gatt.peripheral.notify(gatt.control_point, self.faults.unsolicited.pop(0))

    # --- the planned device faults (FaultRuntime's hooks) -------------------------------------

    async def _answer_error(self, opcode: int, error: ErrorReply) -> None:
        await self._notify(Response(opcode, status_of(error)).encode())

    async def fault_reboot(self) -> None:
        await self._reset("fault: reboot")

    async def fault_unsolicited(self, action: Unsolicited) -> None:
        gatt = self._gatts.get(self.active_address)
        if gatt is not None and not self.unresponsive:
            await gatt.peripheral.notify(gatt.control_point, action.data)

    async def timed_fault(self, fault: DeviceFault, where: str) -> None:
        self._queue.put_nowait(("timed", (fault, where)))  # acts in ATT order, like the rest

    async def _application_write(self, gatt: DfuPeripheral, value: bytes, kind: str) -> None:
        if kind == "cp":
            jumps = await application.legacy_request(gatt, value)
        else:
            jumps = await application.buttonless_request(gatt, self.application_profile, value)
        if jumps:
            log.info("application: jumping to the bootloader (buttonless, %s)", kind)
            await gatt.peripheral.disconnect()
            await self._boot(Mode.BOOTLOADER)

    # --- resets and boots ---------------------------------------------------------------------

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.inactivity_timeout is None:  # Adafruit up to 0.9.x: no DFU timer at all
            return
        generation = self._generation
        self._timer = asyncio.get_running_loop().call_later(
            self.inactivity_timeout, self._queue.put_nowait, ("timeout", generation)
        )

    async def _reset(self, reason: str) -> None:
        log.info("target reset (%s)", reason)
        for gatt in self._gatts.values():
            gatt.peripheral.mute()
        await self._drop_links()
        await self._boot(self._boots_into(reason))

    def _boots_into(self, reason: str) -> Mode:
        if self.application is not None:
            return Mode.APPLICATION
        return Mode.USB_DFU if reason in self.config.usb_dfu_after else Mode.BOOTLOADER

    async def _boot(self, mode: Mode) -> None:
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.boots += 1
        self.mode = mode
        self.machine = BootloaderMachine(self.config)
        if mode is Mode.BOOTLOADER:
            self._restart_timer()
        await self._advertise()

    async def _install(self, activate: Activate) -> None:
        await self._drop_links()
        image = activate.firmware
        if activate.image_type & ImageType.APPLICATION:
            self.application = image
            self.application_version = activate.application_version
        else:
            # A SoftDevice update uses the whole application area: the app is gone.
            if activate.image_type & ImageType.SOFTDEVICE:
                self.softdevice = image[: activate.softdevice_size or len(image)]
                self.application = None
                self.application_version = None
            if activate.image_type & ImageType.BOOTLOADER:
                start = activate.softdevice_size
                self.bootloader = image[start : start + (activate.bootloader_size or len(image))]
        await self._boot(self._boots_into("softdevice activated"))
