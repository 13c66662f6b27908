"""Legacy nRF5 DFU over serial: an application update of an emulated Adafruit nRF52 board.

The board (:class:`~aiodfu.testing.nrf5_legacy_serial.AdafruitSerialEmulator`)
is a native-USB nRF52840 or a UART nRF52832, running its application (the
session enters the bootloader with the 1200-baud touch) or already in DFU
mode; its flash is a hundred times faster than real, timing relations kept.
Faults are the shared link faults, a reset pressed mid-transfer, a cancel,
and the board's own faults drawn from its vocabulary
(:mod:`aiodfu.testing.nrf5_legacy_serial_faults`: an error returned by the
handler of a chosen DFU packet or at an image offset, a reboot, a hung main
loop, stray bytes, slow processing; at a packet, an offset or a time). The
oracle: the board runs the application sent.

A UART board's reset shows only as an unexpected acknowledgement, and real
hosts reset such a board with DTR before trying again, so the fresh session
here does too (the emulator's ``reset``), as ``tests/nrf5_legacy_serial`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import attrs

from aiodfu.core.progress import Progress
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import Package, SerialDfuSession, SerialTimeouts
from aiodfu.testing import DEVICE_FAULT_KINDS, random_device_fault, random_firmware
from aiodfu.testing.nrf5_legacy_serial import (
    FEATHER_NRF52832,
    FEATHER_NRF52840,
    AdafruitBoard,
    AdafruitSerialEmulator,
    AdafruitSerialFaults,
)
from chaos.trial import CANCEL, STREAM_LINK_KINDS, Fault, Held, StreamTrial

TIMEOUTS = SerialTimeouts().scaled(0.25)
RETRY = RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.05)
OLD = random_firmware(2000, seed=601)
NEW = random_firmware(6000, seed=602)
PACKAGE = Package.from_images(application=NEW, device_type=0x0052)


def _fast(board: AdafruitBoard) -> AdafruitBoard:
    return attrs.evolve(board, page_erase=board.page_erase / 100, word_write=board.word_write / 100)


BOARDS = {
    "nRF52840 (native USB)": _fast(FEATHER_NRF52840),
    "nRF52832 (UART)": _fast(FEATHER_NRF52832),
}


class Nrf5LegacySerialTrial(StreamTrial):
    backend = "nrf5-legacy-serial"
    kinds = (
        *STREAM_LINK_KINDS,
        "device:reset",
        *(f"device:{kind}" for kind in DEVICE_FAULT_KINDS),
        CANCEL,
    )
    span = 6600  # the image in SLIP-framed HCI packets
    upstream_span = 300  # acknowledgements

    def draw(self) -> Fault:
        rng = self.rng
        self.board_name = rng.choice(list(BOARDS))
        self.in_bootloader = rng.random() < 0.5
        self.reset_at: int | None = None
        fault = self._draw_fault()
        start = "in DFU mode" if self.in_bootloader else "running its application"
        return Fault(fault.kind, f"{self.board_name}, {start}; {fault.detail}")

    def _draw_fault(self) -> Fault:
        if self.kind.startswith("link:"):
            return self.draw_link()
        if self.kind == CANCEL:
            return self.draw_cancel(len(NEW))
        if self.kind != "device:reset":
            vocabulary = AdafruitSerialEmulator.FAULT_VOCABULARY
            kind = self.kind.removeprefix("device:")
            fault = random_device_fault(
                self.rng, vocabulary, len(NEW), kinds=[kind], triggers=("command", "offset", "time")
            )
            self.faults = AdafruitSerialFaults(plan=[fault])
            return Fault(self.kind, str(fault))
        self.reset_at = self.rng.randrange(len(NEW))
        self.arm(self.reset_at, self._press_reset)
        return Fault(self.kind, f"reset pressed once {self.reset_at} bytes are done")

    def _press_reset(self) -> None:
        self.board.reset()

    async def __aenter__(self) -> Self:
        self.board = AdafruitSerialEmulator(
            BOARDS[self.board_name],
            application=OLD,
            in_bootloader=self.in_bootloader,
            faults=getattr(self, "faults", None),
            reboot_time=0.01,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.board.aclose()

    async def _update(self, connector: Any, progress: Callable[[Progress], None] | None) -> Any:
        session = SerialDfuSession(
            connector,
            enter=self.board.touch_1200,
            native_usb=self.board.board.native_usb,
            reenumerates=self.board.board.native_usb,  # an in-memory USB port goes away
            timeouts=TIMEOUTS,
            retry=RETRY,
        )
        async with session:
            return await session.update(PACKAGE, progress=progress)

    async def update(self, progress: Callable[[Progress], None]) -> UpdateResult:
        result: UpdateResult = await self._update(self.faulty_connector(self.board), progress)
        return result

    def heal(self) -> None:
        """Link faults end with the faulty connector; a reset is one-shot; the board's own
        faults are replaced by none."""
        self.board.faults = AdafruitSerialFaults()

    async def update_fresh(self) -> UpdateResult:
        def dtr_reset_then_connect() -> Any:
            if not self.board.board.native_usb:
                self.board.reset()
            return self.board.connect()

        result: UpdateResult = await self._update(dtr_reset_then_connect, None)
        return result

    def held(self) -> tuple[Held, str]:
        if self.board.running != "application":
            return Held.NOT_APPLIED, "the board is still in its bootloader"
        if self.board.application in (None, OLD):
            return Held.NOT_APPLIED, "the board runs its old application"
        if self.board.application != NEW:
            return Held.DIFFERENT_BYTES, "the board runs different bytes than were sent"
        return Held.INTACT, "the board runs the application sent"

    def fired(self) -> list[str]:
        faults: AdafruitSerialFaults | None = getattr(self, "faults", None)  # kept past heal()
        return [*super().fired(), *(f"board: {f}" for f in (faults.fired if faults else []))]

    def emulator_failures(self) -> list[BaseException]:
        return list(self.board.failures)
