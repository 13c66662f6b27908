"""Drogue IoT: an update of an emulated embassy-boot device, over serial frames and over BLE GATT.

Both transports reach the same :class:`~aiodfu.testing.DrogueEmulator` state.
Device fault kinds are its :class:`~aiodfu.testing.DrogueFaults` (a flash
write that fails, new firmware that never boots so the bootloader reverts,
garbage before a Status that desynchronises the stream, a device that goes
silent) and ``device:back-to-back`` (a second update right after a first:
the device re-sends its Status on its own timer meanwhile). Over BLE the
link faults are :class:`~aiodfu.testing.DrogueGattFaults` (the
link dropped after a request, a request lost), a drop at a random moment, and
:func:`~aiodfu.testing.random_gatt_plan`'s (``link:ble-stall``,
``link:ble-disconnect``: the service notifies nothing); its device faults are
also drawn from :attr:`DrogueGattHost.FAULT_VOCABULARY <aiodfu.testing.DrogueGattHost>`
(``device:error``, ``device:reboot``, ``device:silence``, ``device:latency``:
a triggered fault at a write or an image offset).

Neither transport can verify the image end to end (protocols/drogue-dfu.md:
the firmware ignores the Swap checksum and the GATT service does not even
carry one), so an unverified success is honest here; the oracle still says
whether the device runs the image sent, confirmed.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, Self

import attrs

from aiodfu.core.progress import Progress
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.drogue import DrogueSession, Timeouts, connect, serial_connector
from aiodfu.drogue import open as open_port
from aiodfu.testing import (
    BootMagic,
    DeviceFault,
    DrogueEmulator,
    DrogueFaults,
    Latency,
    random_firmware,
    serve_pty,
)
from aiodfu.testing.ble import BleLinkModel, BleRadio, BumbleBleakClient, GattLinkPlan
from aiodfu.testing.drogue.gatt import DrogueGattFaults, DrogueGattHost
from aiodfu.transports.memory import LinkModel
from chaos.timing import fast
from chaos.trial import (
    CANCEL,
    STREAM_LINK_KINDS,
    Fault,
    Held,
    StreamTrial,
    Trial,
    device_kinds,
)

TIMEOUTS = fast(Timeouts(), 0.05, reboot=2.0, resync_gap=0.02, reconnect_pause=0.01)
DEVICE_TIMEOUT_MS = 300
"""The device's own wait for a command, scaled down like the host's (15 s on real firmware)."""
PACED_BAUD = 115_200
PACED_TIMEOUTS = fast(TIMEOUTS, 1.0, status=2.0, resync_gap=Timeouts().resync_gap)
PACED_DEVICE_TIMEOUT_MS = 1500
"""Over the paced port (back-to-back) a 1 KiB frame spends ~90 ms on the wire and the scaling
does not shrink it: a Status out and a Write back are ~180 ms of the device's wait, and a quiet
gap shorter than a frame is no frame boundary. So the waits keep the real firmware's
proportions to the wire -- the device waits 1.5 s, the host 2 s for a Status, and a frame
boundary is the library's own 0.2 s of quiet -- instead of the in-memory cases' 0.3 s, 1 s and
0.02 s, which left a loaded machine a few tens of milliseconds of slack (seed 30291; its cause
was the paced pty slowing with its loop's load, fixed in :mod:`aiodfu.testing.pty`)."""
GATT_TIMEOUTS = fast(
    TIMEOUTS, 1.0, gatt_operation=0.5, offset_settle=0.3, offset_poll_interval=0.005, gatt_reset=0.3
)
# The fresh session is the judge's check, not the case: full-length GATT timeouts, so a loaded
# machine's slow Bumble connect is not taken for a device no session can reach (seed 2432).
GATT_FRESH_TIMEOUTS = fast(TIMEOUTS, 1.0, connect=1.5, gatt_operation=1.0, gatt_reset=0.3)
RETRY = RetryPolicy(attempts=6, initial_delay=0.005, max_delay=0.02)
MAX_EVERY_ANSWER_LATENCY = 0.05
"""Latency on every answer is capped: about 150 GATT requests at 0.3 s each would outlast the
case's 30 s bound, and a device that is merely slow is not a hang (seed 2101)."""
OLD, OLD_VERSION = random_firmware(2000, seed=301), b"0.1.0"
INTERIM, INTERIM_VERSION = random_firmware(2048, seed=302), "0.1.5"
NEW, NEW_VERSION = random_firmware(4096, seed=303), "0.2.0"  # a multiple of 8: held as is
SERIAL_MTU = 512
GATT_REQUESTS = 150  # an update of NEW in 64-byte blocks serves about this many reads and writes

SHARED_DEVICE_KINDS = (
    "device:flash-error",
    "device:fails-to-boot",
    "device:back-to-back",
)


def _device(
    faults: DrogueFaults, *, timeout_ms: int = DEVICE_TIMEOUT_MS, **options: Any
) -> DrogueEmulator:
    """A device running OLD, with the updater's pauses and timeouts shortened."""
    return DrogueEmulator(
        image=OLD,
        version=OLD_VERSION,
        mtu=SERIAL_MTU,
        backoff_ms=0,
        timeout_ms=timeout_ms,
        watchdog_time=0.01,
        faults=faults,
        **options,
    )


def _accepts(call: Any, name: str) -> bool:
    return name in inspect.signature(call).parameters


class _DrogueTrial(Trial):
    """What both transports share: the device, its faults, the oracle."""

    unverifiable_ok = True
    back_to_back = False
    pause = 0.0
    quiet_span = 1.0
    """The longest quiet between the two updates of ``device:back-to-back``: about three of
    the device's own waits, so it re-sends its Status meanwhile in most cases."""
    device: DrogueEmulator
    faults: DrogueFaults
    block: int

    def draw_device(self) -> Fault | None:
        """The device fault kinds both transports have; None for the others."""
        rng, kind = self.rng, self.kind
        match kind:
            case "device:flash-error":
                offset = rng.randrange(len(NEW) // self.block) * self.block
                self.faults.flash_errors = {offset}
                return Fault(kind, f"the flash write at offset {offset} fails once")
            case "device:fails-to-boot":
                self.faults.new_firmware_fails_to_boot = True
                return Fault(
                    kind, "the new firmware hangs; the watchdog resets, the bootloader reverts"
                )
            case "device:back-to-back":
                self.back_to_back = True
                self.pause = round(rng.uniform(0.0, 1.0) * self.quiet_span, 3)
                return Fault(
                    kind,
                    f"an update to {INTERIM_VERSION} first, in a session of its own, "
                    f"then {self.pause} s of quiet",
                )
            case "host:cancel":
                return self.draw_cancel(len(NEW))
        return None

    async def update(self, progress: Callable[[Progress], None]) -> UpdateResult:
        if self.back_to_back:
            async with self.session(healthy=True) as session:
                await session.update(INTERIM, version=INTERIM_VERSION)
            await asyncio.sleep(self.pause)  # the device reports on its own timer meanwhile
        async with self.session(healthy=False) as session:
            result: UpdateResult = await session.update(NEW, version=NEW_VERSION, progress=progress)
        return result

    async def update_fresh(self) -> UpdateResult:
        async with self.session(healthy=True) as session:
            result: UpdateResult = await session.update(NEW, version=NEW_VERSION)
        return result

    def session(self, *, healthy: bool) -> DrogueSession:
        raise NotImplementedError

    def held(self) -> tuple[Held, str]:
        device = self.device
        if device.version != NEW_VERSION.encode():
            return Held.NOT_APPLIED, f"the device runs version {device.version!r}"
        if device.boot_state is not BootMagic.BOOT:
            return Held.NOT_APPLIED, (
                f"the new firmware is not confirmed (boot state {device.boot_state.name}): "
                "the next reset reverts it"
            )
        if device.image[: len(NEW)] != NEW:
            return Held.DIFFERENT_BYTES, "the device runs different bytes than were sent"
        return Held.INTACT, "the device runs the image sent, confirmed"

    def emulator_failures(self) -> list[BaseException]:
        return list(self.device.failures)


class DrogueSerialTrial(_DrogueTrial, StreamTrial):
    backend = "drogue-serial"
    kinds = (
        *STREAM_LINK_KINDS,
        *SHARED_DEVICE_KINDS,
        "device:extra-bytes",
        "device:silent",
        CANCEL,
    )
    span = (len(NEW) // SERIAL_MTU + 4) * 1024
    upstream_span = (len(NEW) // SERIAL_MTU + 4) * 1024
    block = SERIAL_MTU
    quiet_span = 3 * PACED_DEVICE_TIMEOUT_MS / 1000  # back-to-back runs over the paced port

    def draw(self) -> Fault:
        fault = self._draw_fault()
        firmware = []
        if self.checksum_aware:
            firmware.append("checksum-aware firmware")
        if self.partial_reads:
            firmware.append("single-read() receiver")
        return Fault(fault.kind, "; ".join([*firmware, fault.detail]))

    def _draw_fault(self) -> Fault:
        self.faults = DrogueFaults()
        # Drawn either way, so a seed means the same case whatever this aiodfu offers.
        checksum_aware = self.rng.random() < 0.3
        partial_reads = self.rng.random() < 0.25
        self.checksum_aware = checksum_aware and _accepts(DrogueEmulator, "verify_checksum")
        # The single-read() receiver never gets a whole frame from a paced port (back-to-back).
        self.partial_reads = partial_reads and self.kind != "device:back-to-back"
        # Firmware that checks the Swap SHA-256 makes the update verifiable end to end.
        self.unverifiable_ok = not self.checksum_aware
        if self.kind.startswith("link:"):
            return self.draw_link()
        fault = self.draw_device()
        if fault is not None:
            return fault
        match self.kind:
            case "device:extra-bytes":
                garbage = self.rng.randbytes(self.rng.randint(1, 40))
                self.arm(self.rng.randrange(len(NEW)), lambda: self._extra(garbage))
                return Fault(self.kind, f"{len(garbage)} garbage bytes before a Status mid-update")
            case "device:silent":
                at = self.rng.randrange(len(NEW))
                self.arm(at, self._silent)
                return Fault(self.kind, f"the device stops reporting once {at} bytes are done")
        raise ValueError(self.kind)

    def _extra(self, garbage: bytes) -> None:
        self.device.faults.extra_bytes = garbage

    def _silent(self) -> None:
        self.device.faults.silent = True

    async def __aenter__(self) -> Self:
        options: dict[str, Any] = {"partial_reads": self.partial_reads}
        if self.checksum_aware:
            options["verify_checksum"] = True
        if self.back_to_back:
            options["timeout_ms"] = PACED_DEVICE_TIMEOUT_MS
        self.device = _device(self.faults, **options)
        self._pty = None
        if self.back_to_back:
            # A 115200-baud port the host closes and opens again, whose buffer keeps what the
            # device sent meanwhile, where the host may open it mid-frame -- as on a real UART
            # (an in-memory link starts clean every time).
            self._pty = serve_pty(self.device, model=LinkModel(baud=PACED_BAUD))
            self.port = await self._pty.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._pty is not None:
                await self._pty.__aexit__(None, None, None)
        finally:
            await self.device.aclose()

    def session(self, *, healthy: bool) -> DrogueSession:
        options: dict[str, Any] = {"timeouts": TIMEOUTS, "retry": RETRY}
        if self.checksum_aware:
            options["firmware_checks_sha256"] = True
        if self.back_to_back:
            return open_port(self.port, **{**options, "timeouts": PACED_TIMEOUTS})
        connector: Any = self.device.connect if healthy else self.faulty_connector(self.device)
        return DrogueSession(serial_connector(connector), **options)

    def heal(self) -> None:
        self.device.faults = DrogueFaults()


class DrogueGattTrial(_DrogueTrial):
    backend = "drogue-gatt"
    kinds = (
        "link:drop-after-request",
        "link:lose-request",
        "link:drop-timed",
        "link:ble-stall",
        "link:ble-disconnect",
        *SHARED_DEVICE_KINDS,
        *device_kinds(DrogueGattHost.FAULT_VOCABULARY),
        CANCEL,
    )
    block = 64

    def draw(self) -> Fault:
        self.faults = DrogueFaults()
        self.gatt_faults = DrogueGattFaults()
        self.link_plan = GattLinkPlan()
        self.drop_at: float | None = None
        fault = self.draw_device()
        if fault is not None:
            return fault
        rng = self.rng
        match self.kind:
            case kind if kind.startswith("link:ble-"):
                self.link_plan = self.draw_ble_link(GATT_REQUESTS, 0)
                return Fault(self.kind, self.link_plan.description)
            case kind if kind.startswith("device:"):
                planned = _slow_not_stuck(
                    self.draw_device_fault(DrogueGattHost.FAULT_VOCABULARY, len(NEW))
                )
                self.faults.plan.append(planned)
                return Fault(self.kind, str(planned))
            case "link:drop-after-request":
                count = rng.randint(1, GATT_REQUESTS)
                self.gatt_faults = DrogueGattFaults(disconnect_after=count)
                return Fault(self.kind, f"the link drops after request {count}")
            case "link:lose-request":
                number = rng.randint(1, GATT_REQUESTS)
                self.gatt_faults = DrogueGattFaults(lose_request=number)
                return Fault(
                    self.kind, f"request {number} never reaches the device; the link drops"
                )
            case "link:drop-timed":
                self.drop_at = round(rng.uniform(0.0, 1.0), 3)
                return Fault(self.kind, f"the link drops {self.drop_at} s into the session")
        raise ValueError(self.kind)

    async def __aenter__(self) -> Self:
        self.device = _device(self.faults)
        self.radio = BleRadio()
        await self.radio.__aenter__()
        self.host = DrogueGattHost(self.device, self.radio)
        await self.host.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.host.aclose()
            await self.device.aclose()
        finally:
            await self.radio.aclose()

    def session(self, *, healthy: bool) -> DrogueSession:
        self.host.faults = DrogueGattFaults() if healthy else self.gatt_faults
        self.host.link_faults = GattLinkPlan() if healthy else self.link_plan
        # ATT MTU 247: the 64-byte blocks GATT_REQUESTS and ``block`` count on (at the default
        # 23 the blocks are 16 bytes, and a device answering 0.3 s late takes 80 s).
        client = {
            "backend": BumbleBleakClient,
            "radio": self.radio,
            "link_model": BleLinkModel(mtu=247),
        }
        timeouts = GATT_FRESH_TIMEOUTS if healthy else GATT_TIMEOUTS
        return connect(self.host.address, timeouts=timeouts, retry=RETRY, client_options=client)

    async def update(self, progress: Callable[[Progress], None]) -> UpdateResult:
        timer = None
        if self.drop_at is not None:
            loop = asyncio.get_running_loop()
            timer = loop.call_later(self.drop_at, lambda: loop.create_task(self.host.disconnect()))
        try:
            result = await super().update(progress)
            await self.host.idle()
        finally:
            if timer is not None:
                timer.cancel()
        return result

    async def update_fresh(self) -> UpdateResult:
        result = await super().update_fresh()
        await self.host.idle()
        return result

    def heal(self) -> None:
        self.device.faults = DrogueFaults()
        self.host.faults = DrogueGattFaults()
        self.host.link_faults = GattLinkPlan()

    def fired(self) -> list[str]:
        return [str(f) for f in (*self.faults.fired, *self.link_plan.fired)]

    def emulator_failures(self) -> list[BaseException]:
        return [*self.device.failures, *self.host.failures]


def _slow_not_stuck(fault: DeviceFault) -> DeviceFault:
    """``fault``, with latency on every answer capped at :data:`MAX_EVERY_ANSWER_LATENCY`."""
    action = fault.action
    if isinstance(action, Latency) and action.answers is None:
        seconds = min(action.seconds, MAX_EVERY_ANSWER_LATENCY)
        return attrs.evolve(fault, action=attrs.evolve(action, seconds=seconds))
    return fault
