"""A Drogue device's BLE firmware service on an emulated radio (Bumble), any bleak host can drive.

:class:`DrogueGattHost` serves the GATT firmware service of drogue-device
(:mod:`aiodfu.drogue.protocol.gatt_service`) for a :class:`~aiodfu.testing.drogue.DrogueEmulator`:
the same device state (embassy-boot partitions, the update in progress) the
serial updater loop uses, so one device is reachable over either transport,
and its state outlives every connection::

    from aiodfu.testing.ble import BleRadio, BumbleBleakClient
    from aiodfu.testing.drogue import DrogueEmulator
    from aiodfu.testing.drogue.gatt import DrogueGattHost

    async with BleRadio() as radio:
        device = DrogueEmulator(version=b"0.1.0", image=old_firmware)
        async with DrogueGattHost(device, radio) as host:
            await host.start()
            client_options = {"backend": BumbleBleakClient, "radio": radio}
            async with aiodfu.drogue.connect(host.address, client_options=client_options) as s:
                await s.update(new_firmware, version="0.2.0")
            await host.idle()
    assert device.image == new_firmware

As on the device, reads are answered from the attribute table at once,
while writes are acknowledged at once and applied in order by one task
(drogue-device handles GATT events one at a time): a host must poll
``offset`` to know a block landed. Control 1 sets the offset to 0, then
erases (``erase_time``); control 2 marks the image for swap and resets the
device at once (the link drops; it advertises again after ``reboot_time``,
the bootloader having swapped -- or, with ``new_firmware_fails_to_boot``,
reverted); control 3 marks the running image booted; other values are
ignored. A firmware write lands at the device's own offset whatever the
host thinks; a failed one (``WrongOffset``, ``Unaligned``, an injected
flash error) only leaves the offset where it was. Values longer than the
device's vectors (16-byte versions, 64-byte blocks) and controls that are
not one byte are refused with ATT error 0x0D (before any fault applies). The reference's hazard is
kept: ``next_version`` is a plain value, so writing it changes the version
the current offset is reported for.

Options: ``address`` and ``name`` (advertised with the service UUID);
``mtu`` (the u8 block size the device reports, 64 on the reference
examples); ``faults`` (:class:`DrogueGattFaults`, replaceable at any time).
Device options and faults (images, ``write_size``, ``erase_time``,
``reboot_time``, ``flash_errors``, ``new_firmware_fails_to_boot``...) are the
:class:`~aiodfu.testing.drogue.DrogueEmulator`'s.

Inspection: :attr:`requests` (every write the host made, in order, as
``(characteristic name, value)``), :attr:`connections`, :attr:`dropped` (link
drops the faults caused), :attr:`failures`
(emulator bugs), and the device's own attributes. :meth:`idle` waits until
every acknowledged write has been applied; :meth:`disconnect` drops the link
as a radio would.

Faults: the device's own (``device.faults``, a
:class:`~aiodfu.testing.drogue.DrogueFaults`, in :attr:`DrogueGattHost.FAULT_VOCABULARY`)
act at the GATT writes as they do at the serial commands, and ``link_faults``
(a :class:`~aiodfu.testing.ble.GattLinkPlan`) spoils the BLE link.

(A little over 400 lines: a fifth of them is this page and the vocabulary's.)
"""

from __future__ import annotations

# First: without Bumble this raises the ImportError that names the ``emulators`` extra.
from aiodfu.testing.ble import BlePeripheral, BleRadio, GattLinkPlan

# isort: split

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
from bumble.att import ATT_INVALID_ATTRIBUTE_LENGTH_ERROR, ATT_Error
from bumble.device import Connection
from bumble.gatt import Characteristic, CharacteristicValue, Service

from aiodfu.core.resource import AsyncResource
from aiodfu.drogue.protocol.gatt_service import (
    CONTROL_UUID,
    FIRMWARE_UUID,
    MAX_BLOCK,
    MTU_UUID,
    NEXT_VERSION_UUID,
    OFFSET_UUID,
    SERVICE_UUID,
    VERSION_UUID,
    Control,
    encode_offset,
)
from aiodfu.drogue.protocol.target import MAX_VERSION
from aiodfu.testing.device_faults import DEVICE_FAULT_KINDS, ErrorReply
from aiodfu.testing.drogue.emulator import FLASH_ERRORS, DrogueEmulator
from aiodfu.testing.fault_runtime import Outcome
from aiodfu.testing.faults import FaultVocabulary

log = logging.getLogger("aiodfu.testing.drogue.gatt")

T = TypeVar("T")

__all__ = ["DEFAULT_ADDRESS", "DrogueGattFaults", "DrogueGattHost"]

DEFAULT_ADDRESS = "C0:FF:EE:00:D0:01"
DEFAULT_NAME = "Drogue"


@attrs.define
class DrogueGattFaults:
    """Faults of the BLE link; the device's own are :class:`~aiodfu.testing.drogue.DrogueFaults`."""

    disconnect_after: int | None = None
    """Drop the link once, right after serving this many requests (reads and writes, counted
    over the host's life): the request is served, its answer may or may not arrive."""
    lose_request: int | None = None
    """The request with this number (from 1, over the host's life) never reaches the device:
    the link drops instead, and a write is not applied."""
    drop_on_connect: int = 0
    """Drop this many of the next connections as soon as they are made, while the host is
    still discovering services (each drop counts one off)."""


class DrogueGattHost(AsyncResource):
    """The firmware service of ``device`` on ``radio``; see the module docstring."""

    FAULT_VOCABULARY = FaultVocabulary(
        "drogue-gatt",
        commands=(("Start", 1), ("Write", 8), ("Swap", 1), ("Sync", 1)),
        errors=(None, *FLASH_ERRORS),
        offset_errors=(None, *FLASH_ERRORS),
        kinds=tuple(kind for kind in DEVICE_FAULT_KINDS if kind != "unsolicited"),
        error_commands=("Write", "Swap"),
        unobservable=(("silence", "Sync"),),
    )
    """The device's faults over GATT: its commands are the writes (control 1 ``Start``,
    firmware blocks ``Write offset=... length=...``, control 2 ``Swap``, control 3
    ``Sync``); nothing is notified, so nothing can be unsolicited. A flash error at
    ``Start`` or ``Sync`` is logged in the device's ``errors`` and changes nothing a host
    can see at once: draws leave them out, and silence at ``Sync`` (the write is
    acknowledged, the firmware stays unconfirmed, and nothing over GATT says so)."""

    def __init__(
        self,
        device: DrogueEmulator,
        radio: BleRadio,
        *,
        address: str = DEFAULT_ADDRESS,
        name: str = DEFAULT_NAME,
        mtu: int = MAX_BLOCK,
        faults: DrogueGattFaults | None = None,
        link_faults: GattLinkPlan | None = None,
    ) -> None:
        if not 0 <= mtu <= 0xFF:
            raise ValueError(f"the mtu characteristic is a u8, not {mtu}")
        self.device = device
        self.radio = radio
        self.address = address.upper()
        self.name = name
        self.mtu = mtu
        self.faults = faults or DrogueGattFaults()
        self.link_faults = link_faults or GattLinkPlan()
        """The BLE link's faults, per connection (replace to heal)."""
        self.requests: list[tuple[str, bytes]] = []
        self.connections = 0
        self.dropped = 0
        self.failures: list[BaseException] = []
        self._served = 0
        self._peripheral: BlePeripheral | None = None
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._advertising = asyncio.Lock()

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Power on, add the service and advertise."""
        if self._peripheral is None:
            for fault in self.device.faults.plan:
                self.FAULT_VOCABULARY.check(fault)
            peripheral = await self.radio.add_peripheral(self.address, self.name)
            peripheral.add_service(self._service())
            peripheral.on_connect = self._on_connect
            peripheral.on_disconnect = self._on_disconnect
            peripheral.link_faults = lambda: self.link_faults
            self.device.reboot_listeners.append(self._rebooted)
            self._peripheral = peripheral
            self._worker = asyncio.get_running_loop().create_task(self._process())
        await self._advertise()

    async def idle(self) -> None:
        """Wait until every write acknowledged so far has been applied (while started)."""
        await self._queue.join()

    async def disconnect(self) -> None:
        """Drop the link (out of range); the device keeps its state and advertises again."""
        if self._peripheral is not None:
            await self._peripheral.disconnect()

    async def aclose(self) -> None:
        if self._rebooted in self.device.reboot_listeners:
            self.device.reboot_listeners.remove(self._rebooted)
        self.device.cancel_background()
        away = [t for t in self._side_tasks if not t.done()]  # a reset in progress, first
        for task in away:
            task.cancel()
        if away:
            await asyncio.wait(away, timeout=2.0)
        if self._peripheral is not None:
            with contextlib.suppress(Exception):  # the reset may have stopped it mid-command
                await self._peripheral.stop_advertising()
            await self._peripheral.disconnect()
        # Cancel, and ask to stop as well: Bumble may swallow a CancelledError mid-command,
        # and the worker then still ends at the stop request.
        self._queue.put_nowait(("stop", b""))
        tasks = {t for t in (self._worker, *self._side_tasks) if t is not None}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        self._worker = None

    # --- the attribute table ------------------------------------------------------------------

    def _service(self) -> Service:
        props = Characteristic.Properties

        def readable(uuid: str, read: Any) -> Characteristic[bytes]:
            return Characteristic(
                uuid, props.READ, Characteristic.READABLE, CharacteristicValue(read=read)
            )

        def writable(uuid: str, what: str, limit: int, read: Any = None) -> Characteristic[bytes]:
            def write(connection: Connection, value: bytes) -> Any:  # None or an awaitable
                return self._on_write(what, bytes(value), limit)

            properties = props.WRITE | (props.READ if read else 0)
            permissions = Characteristic.WRITEABLE | (Characteristic.READABLE if read else 0)
            return Characteristic(
                uuid, properties, permissions, CharacteristicValue(write=write, read=read)
            )

        return Service(
            SERVICE_UUID,
            [
                readable(VERSION_UUID, lambda c: self._served_value(self.device.version)),
                readable(MTU_UUID, lambda c: self._served_value(bytes([self.mtu]))),
                writable(CONTROL_UUID, "control", 1),
                writable(NEXT_VERSION_UUID, "next_version", MAX_VERSION, self._read_next_version),
                readable(
                    OFFSET_UUID,
                    lambda c: self._served_value(encode_offset(self.device.next_offset)),
                ),
                writable(FIRMWARE_UUID, "firmware", MAX_BLOCK),
            ],
        )

    def _read_next_version(self, connection: Connection) -> bytes | Awaitable[bytes]:
        return self._served_value(self.device.next_version or b"")

    def _served_value(self, value: bytes) -> bytes | Awaitable[bytes]:
        if self._lost():
            return self._vanish(value)
        self._count_request()
        return value

    def _on_write(self, what: str, value: bytes, limit: int) -> Awaitable[None] | None:
        if len(value) > limit or (what == "control" and len(value) != 1):
            raise ATT_Error(ATT_INVALID_ATTRIBUTE_LENGTH_ERROR)
        if self._lost():
            return self._vanish(None)
        if self.device.unresponsive:  # acknowledged by the stack, lost by a hung device
            self._count_request()
            return None
        self.requests.append((what, value))
        if what == "next_version":
            self.device.next_version = value or None  # the attribute table holds it at once
        else:
            self._queue.put_nowait((what, value))
        self._count_request()
        return None

    def _lost(self) -> bool:
        if self.faults.lose_request != self._served + 1:
            return False
        self._served += 1
        self.dropped += 1
        log.info("request %d lost: dropping the link", self._served)
        return True

    async def _vanish(self, answer: T) -> T:
        """Drop the link before answering: the answer goes nowhere."""
        await self.disconnect()
        return answer

    def _count_request(self) -> None:
        self._served += 1
        if self.faults.disconnect_after == self._served:
            log.info("dropping the link after %d requests", self._served)
            self.dropped += 1
            self._spawn(self.disconnect())

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # --- the application: one event at a time ------------------------------------------------

    async def _process(self) -> None:
        while True:
            what, value = await self._queue.get()
            if what == "stop":
                self._queue.task_done()
                return
            try:
                await self._apply(what, value)
            except Exception as exc:
                self.failures.append(exc)
                log.exception("Drogue GATT emulator failed handling %s", what)
            finally:
                self._queue.task_done()

    async def _apply(self, what: str, value: bytes) -> None:
        device = self.device
        if what == "advertise":
            if not device.booting:  # after a reset it advertises once back (_away)
                await self._advertise()
            return
        if device.unresponsive:
            return  # acknowledged before the device hung or reset: lost
        offset = device.next_offset
        if what == "firmware":
            name = f"Write offset={offset} length={len(value)}"
        else:
            name = _CONTROL_NAMES.get(value[0], f"Control {value[0]}")
        outcome = await device.take_command(name)
        if what == "firmware" and outcome is Outcome.PROCEED:
            waiting = device.next_fault_offset(offset, offset + len(value))
            if waiting is not None:
                outcome = await device.take_offset(waiting)
        if outcome is Outcome.HALT:
            return
        failure = None
        if isinstance(outcome, ErrorReply):
            failure = "Flash" if outcome.code is None else str(outcome.code)
        if what == "firmware":
            device.write_block(
                device.next_offset, value, device.next_version or b"", failure=failure
            )
            return
        action = _CONTROLS.get(value[0])
        if action is None:
            log.debug("control %d ignored", value[0])
        elif failure is not None:
            device.errors.append(f"{failure}: injected failure ({name})")
        else:
            await action(self)

    async def _start(self) -> None:
        self.device.next_offset = 0  # the offset reads 0 before the erase finishes
        await asyncio.sleep(self.device.erase_time)
        self.device.start_update(self.device.next_version or b"")

    async def _swap(self) -> None:
        self.device.bootloader.mark_updated()
        self.device.reset()  # the link drops: see _rebooted

    async def _mark_booted(self) -> None:
        self.device.bootloader.mark_booted()

    def _rebooted(self, away: float) -> None:
        """The device reset (control 2, or a fault): queued events are lost at once, the
        link drops, and it advertises again once back."""
        if self._peripheral is not None:
            self._peripheral.mute()
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
        self._spawn(self._away(away))

    async def _away(self, away: float) -> None:
        peripheral = self._peripheral
        if peripheral is None:
            return
        await peripheral.stop_advertising()
        await peripheral.disconnect()
        await asyncio.sleep(away)
        await self._advertise()

    async def _advertise(self) -> None:
        async with self._advertising:  # the worker and a reset's return may both get here
            peripheral = self._peripheral
            if peripheral is None or peripheral.connection is not None:
                return
            if not peripheral.is_advertising:
                await peripheral.advertise(self.name, [SERVICE_UUID])

    def _on_connect(self, connection: Connection) -> None:
        self.connections += 1
        self.device.arm_timers()
        if self.faults.drop_on_connect > 0:
            self.faults.drop_on_connect -= 1
            self.dropped += 1
            log.info("dropping connection %d during service discovery", self.connections)
            self._spawn(self.disconnect())

    def _on_disconnect(self, connection: Connection) -> None:
        self._queue.put_nowait(("advertise", b""))


_CONTROLS: dict[int, Callable[[DrogueGattHost], Awaitable[None]]] = {
    Control.START: DrogueGattHost._start,
    Control.SWAP: DrogueGattHost._swap,
    Control.MARK_BOOTED: DrogueGattHost._mark_booted,
}
"""The control characteristic, one row per code; any other value is ignored, as on the device."""

_CONTROL_NAMES: dict[int, str] = {
    Control.START: "Start",
    Control.SWAP: "Swap",
    Control.MARK_BOOTED: "Sync",
}
"""How each control is named for :class:`~aiodfu.testing.device_faults.OnCommand`."""
