"""Serial Modem: an application, delta-modem or full-modem update of an emulated nRF91.

The device fault kinds are :class:`~aiodfu.testing.SerialModemFaults`: a
failed chunk, ``ERROR`` for a DFU command, a reboot mid-data, unsolicited
lines, a late ``OK`` to ``AT#XDFUWRITE``, a failed apply, a device that goes
silent; plus ``link:no-flow-control`` (a UART without RTS/CTS whose receive
buffer overflows). The oracle is what the emulated device runs: MCUboot's
active application, the applied delta (and the modem's new version), the
full-modem bootloader and segments -- what ``SerialModemEmulator.image`` says took effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from aiodfu.core.progress import Progress
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.serial_modem import SerialModemSession, Timeouts, UpdateType
from aiodfu.testing import (
    SerialModemEmulator,
    SerialModemFaults,
    build_full_modem_package,
    build_signed_mcuboot_image,
    build_signed_modem_bootloader,
    build_signed_modem_delta,
    random_firmware,
)
from aiodfu.transports.memory import LinkModel
from chaos.timing import fast
from chaos.trial import CANCEL, STREAM_LINK_KINDS, Fault, Held, StreamTrial

TIMEOUTS = fast(
    Timeouts(),
    0.1,
    command=0.5,
    ping=0.15,
    fota_result=0.3,
    recovery_settle=0.05,
    # Scaled, the 300 s modem restart would be the whole 30 s case bound: a stall right after
    # #XFOTA then looked like a hang (seed 3113) while the session only waited its own timeout.
    modem_reset=3.0,
    init_delta=3.0,  # the same for the delta area's erase and the wait for Ready
    ready=3.0,
)
RETRY = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05)
CHUNK = 1024

# Signed, for an MCUboot that validates signatures (the nRF Connect SDK default): the hash does
# not cover the signature TLV, so a hash-only MCUboot would boot an image whose signature the
# link spoiled (campaign seed 5457) -- its code intact, its bytes not those sent.
APP = build_signed_mcuboot_image(random_firmware(3000, seed=101), version=(2, 0, 0, 1))
# Delta and full-modem images the emulated modem authenticates (testing.serial_modem.signing).
DELTA = build_signed_modem_delta(random_firmware(3000, seed=102))
SEGMENTS = [(0x50000, random_firmware(2500, seed=104)), (0x80000, random_firmware(800, seed=105))]
BOOTLOADER = build_signed_modem_bootloader(random_firmware(1500, seed=103), SEGMENTS)
FULL = build_full_modem_package(BOOTLOADER, SEGMENTS)
IMAGES = {UpdateType.APPLICATION: APP, UpdateType.MODEM_DELTA: DELTA, UpdateType.MODEM_FULL: FULL}
SENT = {  # what the device runs once each update took effect
    UpdateType.APPLICATION: APP,
    UpdateType.MODEM_DELTA: DELTA,
    UpdateType.MODEM_FULL: BOOTLOADER + b"".join(data for _, data in SEGMENTS),
}
COMMANDS = ("AT#XDFUINIT", "AT#XDFUWRITE", "AT#XDFUAPPLY", "AT#XRESET", "AT#XMODEMRESET")
NOISE = (b"\r\n+CEREG: 5\r\n", b"\r\n#XMODEM: 1\r\n", b"\r\nOK\r\n", b"\r\n#XDATAMODE: 0\r\n")

DEVICE_KINDS = (
    "device:fail-chunk",
    "device:error-reply",
    "device:reboot",
    "device:unsolicited",
    "device:late-ok",
    "device:fail-apply",
    "device:silent",
)


class SerialModemTrial(StreamTrial):
    backend = "serial-modem"
    kinds = (*STREAM_LINK_KINDS, "link:no-flow-control", *DEVICE_KINDS, CANCEL)
    span = 4500

    def draw(self) -> Fault:
        self.update_type = self.rng.choice(list(IMAGES))
        self.image = IMAGES[self.update_type]
        self.faults = SerialModemFaults()
        self.model: LinkModel | None = None
        fault = self._draw_fault()
        return Fault(fault.kind, f"{self.update_type.cli_name} update; {fault.detail}")

    def _draw_fault(self) -> Fault:
        rng, kind = self.rng, self.kind
        if kind.startswith("link:") and kind != "link:no-flow-control":
            return self.draw_link()
        if kind == CANCEL:
            return self.draw_cancel(len(self.image))
        match kind:
            case "link:no-flow-control":
                buffer = rng.choice([256, 512, 768])
                self.model = LinkModel(flow_control=False, rx_buffer=buffer)
                detail = f"no RTS/CTS, a {buffer}-byte receive buffer"
            case "device:fail-chunk":
                chunk = rng.randrange(-(-len(self.image) // CHUNK))
                self.faults.fail_chunks = {chunk}
                detail = f"chunk {chunk} fails (#XDFU: t,1,-1)"
            case "device:error-reply":
                command, count = rng.choice(COMMANDS), rng.randint(1, 3)
                self.faults.reject_commands[command] = count
                detail = f"{command} answers ERROR {count} time(s)"
            case "device:reboot":
                at = rng.randrange(1, len(self.image))
                self.faults.reboot_after_data_bytes = at
                detail = f"the device reboots after {at} data bytes"
            case "device:unsolicited":
                lines = [rng.choice(NOISE) for _ in range(rng.randint(1, 30))]
                self.faults.unsolicited = lines
                detail = f"{len(lines)} unsolicited lines, one after each response"
            case "device:late-ok":
                delay = round(rng.uniform(0.2, 1.0), 3)
                self.faults.ok_delay = delay
                detail = f"the OK of AT#XDFUWRITE comes {delay} s late"
            case "device:fail-apply":
                self.faults.fail_apply = True
                detail = "AT#XDFUAPPLY reports #XDFU: t,2,-1"
            case "device:silent":
                at = rng.randrange(len(self.image))
                self.arm(at, self._go_silent)
                detail = f"the device goes silent once {at} bytes are done"
            case _:
                raise ValueError(kind)
        return Fault(kind, detail)

    def _go_silent(self) -> None:
        self.emulator.faults.silent = True

    async def __aenter__(self) -> Self:
        self.emulator = SerialModemEmulator(faults=self.faults, mcuboot_signatures=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.emulator.aclose()

    def _session(self, connector: Any) -> SerialModemSession:
        return SerialModemSession(
            connector, baudrate=None, timeouts=TIMEOUTS, retry=RETRY, chunk_size=CHUNK
        )

    async def _update(self, connector: Any, progress: Callable[[Progress], None] | None) -> Any:
        async with self._session(connector) as session:
            return await session.update(
                self.image, update_type=self.update_type, reset=True, progress=progress
            )

    async def update(self, progress: Callable[[Progress], None]) -> UpdateResult:
        connector = self.faulty_connector(self.emulator)
        connector.model = self.model
        result: UpdateResult = await self._update(connector, progress)
        return result

    def heal(self) -> None:
        self.emulator.faults = SerialModemFaults()

    async def update_fresh(self) -> UpdateResult:
        result: UpdateResult = await self._update(self.emulator.connect, None)
        return result

    def held(self) -> tuple[Held, str]:
        device = self.emulator
        running = device.image  # the latest update that took effect (None: none did)
        if running is None or device.mode != "normal":
            return Held.NOT_APPLIED, f"the {self.update_type.cli_name} update did not take effect"
        if running != SENT[self.update_type]:
            return Held.DIFFERENT_BYTES, "the device runs different bytes than were sent"
        return Held.INTACT, "the device runs the image sent"

    def emulator_failures(self) -> list[BaseException]:
        return list(self.emulator.failures)
