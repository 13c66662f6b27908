"""The GATT transport: a Protocol, and its bleak implementation where a dropped connection
raises at once instead of hanging.

Backends type against :class:`GattTransport` (address, MTU, largest write
without response, reads, writes, notifications, each bounded and raced
against disconnection); :class:`GattLink` implements it over bleak. Finding
peripherals (scanning, bootloaders that reboot to another address) is
:mod:`aiodfu.transports.ble_scan`.

bleak's own calls may wait a long time (or forever, on some platforms) when the
peripheral vanishes mid-operation. :class:`GattLink` races every operation
against a disconnect event and a deadline, and turns every failure into the
:class:`~aiodfu.core.errors.DfuError` tree:

* the link dropped -> :class:`~aiodfu.core.errors.LinkLostError` (transient);
* the peripheral answered with an ATT error -> :class:`AttError` with the ATT
  code as ``status``;
* silence -> :class:`~aiodfu.core.errors.DfuTimeoutError`.

Open one with :meth:`GattLink.connect` (an address or a ``BLEDevice``; extra
keyword arguments go to :class:`bleak.BleakClient`, e.g. ``backend=``), or wrap
a connected ``BleakClient`` with :meth:`GattLink.wrap`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar, runtime_checkable

from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError, BleakGATTProtocolError

from aiodfu.core.errors import DeviceError, DfuError, DfuTimeoutError, LinkLostError
from aiodfu.core.resource import AsyncResource
from aiodfu.core.timeouts import deadline

log = logging.getLogger("aiodfu.transports.gatt")

T = TypeVar("T")
NotificationHandler = Callable[[bytes], None]

_LIVENESS_POLL = 0.25
"""How often a wrapped client (whose disconnect callback is not ours) is checked."""
_CLEANUP_TIMEOUT = 5.0
"""Bound on disconnecting a client that failed to connect or is being closed."""


@contextlib.contextmanager
def stack_cancel_is_link_loss(operation: str, offset: int | None = None) -> Iterator[None]:
    """Turn a :class:`asyncio.CancelledError` nobody asked for into :class:`LinkLostError`.

    BLE stacks (Bumble among them) cancel the future of a pending GATT request
    when the link drops, and that cancellation surfaces in the caller's task
    although nobody cancelled it (``current_task().cancelling() == 0``). A
    cancellation that was requested -- by the caller, or by a timeout of ours
    -- propagates unchanged.
    """
    try:
        yield
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling() == 0:
            raise LinkLostError(
                "the BLE link dropped (the stack abandoned the pending request)",
                operation=operation,
                offset=offset,
            ) from None
        raise


class AttError(DeviceError):
    """The peripheral rejected a GATT request with an ATT error; ``status`` is its code."""


@runtime_checkable
class GattTransport(Protocol):
    """One connection to a GATT server, as a DFU backend uses it.

    :class:`GattLink` (bleak) is the implementation; a backend types against
    this protocol, so another stack or a test double can stand in. Every
    operation is bounded by its ``timeout`` and raced against disconnection:
    a dropped link is :class:`~aiodfu.core.errors.LinkLostError`, an ATT
    error :class:`AttError`, silence :class:`~aiodfu.core.errors.DfuTimeoutError`.
    """

    @property
    def address(self) -> str: ...

    @property
    def mtu(self) -> int:
        """The negotiated ATT MTU (23 without an exchange)."""
        ...

    @property
    def is_connected(self) -> bool: ...

    def has_characteristic(self, uuid: str) -> bool: ...

    def max_write_without_response(self, uuid: str) -> int:
        """The largest write without response ``uuid`` takes in one packet (ATT_MTU - 3)."""
        ...

    async def read(self, uuid: str, *, timeout: float, operation: str) -> bytes: ...

    async def write(
        self, uuid: str, data: bytes, *, response: bool, timeout: float, operation: str
    ) -> None: ...

    async def write_commands(
        self,
        uuid: str,
        data: bytes,
        piece: int,
        *,
        timeout: float,
        operation: str,
        offset: int = 0,
    ) -> None:
        """Write ``data`` as consecutive writes without response of ``piece`` bytes each.

        ``timeout`` bounds the whole batch. An error says where its write began
        (``offset`` + the bytes before it): the pieces before it were sent.
        """
        ...

    async def subscribe(
        self, uuid: str, handler: NotificationHandler, *, timeout: float, operation: str
    ) -> None: ...

    async def wait_disconnected(self, timeout: float, operation: str) -> None: ...

    async def guard(
        self,
        call: Awaitable[T],
        timeout: float | None,
        operation: str,
        *,
        offset: int | None = None,
    ) -> T:
        """Await ``call`` (e.g. a notification) under a deadline, raced against disconnection."""
        ...

    async def aclose(self) -> None: ...


class GattLink(AsyncResource):
    """One BLE connection: reads, writes and notifications, each raced against disconnection."""

    def __init__(self, client: BleakClient, *, owns_client: bool) -> None:
        self.client = client
        self._owns_client = owns_client
        self.disconnected = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[None] | None = None
        """Done when the link drops: what every operation races against (one future for all,
        not a task per operation -- writes come one per 20-byte packet)."""

    def _mark_lost(self) -> None:
        self.disconnected.set()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    @classmethod
    async def connect(
        cls, target: str | BLEDevice, *, timeout: float = 20.0, **client_options: Any
    ) -> GattLink:
        """Connect to ``target`` within ``timeout`` seconds."""
        link: GattLink | None = None

        def on_disconnect(_: BleakClient) -> None:
            if link is not None:
                link._mark_lost()

        client = BleakClient(
            target, disconnected_callback=on_disconnect, timeout=timeout, **client_options
        )
        link = cls(client, owns_client=True)
        address = target if isinstance(target, str) else target.address
        try:
            # The client's own timeout cancels its connection attempt cleanly; this outer
            # deadline is the guard against a backend that does not honour it.
            async with deadline(timeout * 1.5 + 1.0, "connect"):
                with stack_cancel_is_link_loss("connect"):
                    try:
                        await client.connect()
                    except TimeoutError as exc:
                        if isinstance(exc, DfuTimeoutError):
                            raise
                        raise DfuTimeoutError(
                            f"could not connect to {address} within {timeout:g} s",
                            operation="connect",
                        ) from None
        except BleakError as exc:
            raise LinkLostError(
                f"could not connect to {address}: {exc}", operation="connect"
            ) from exc
        except (TimeoutError, LinkLostError):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLEANUP_TIMEOUT):
                    await client.disconnect()
            raise
        return link

    @classmethod
    def wrap(cls, client: BleakClient) -> GattLink:
        """Use a connected client (its disconnect callback is not ours: poll its state)."""
        link = cls(client, owns_client=False)
        link._watch = asyncio.get_running_loop().create_task(link._poll_connected())
        return link

    async def _poll_connected(self) -> None:
        # The client's disconnect callback belongs to its creator: polling is the portable way.
        while self.client.is_connected:  # noqa: ASYNC110
            await asyncio.sleep(_LIVENESS_POLL)
        self._mark_lost()

    @property
    def address(self) -> str:
        return str(self.client.address)

    @property
    def mtu(self) -> int:
        """The negotiated ATT MTU (23 when there was no exchange)."""
        return int(self.client.mtu_size)

    @property
    def is_connected(self) -> bool:
        return not self.disconnected.is_set() and bool(self.client.is_connected)

    def has_characteristic(self, uuid: str) -> bool:
        return self.client.services.get_characteristic(uuid) is not None

    def max_write_without_response(self, uuid: str) -> int:
        characteristic = self.client.services.get_characteristic(uuid)
        if characteristic is None:
            raise AttError(f"characteristic {uuid} not found", operation="write")
        return int(characteristic.max_write_without_response_size)

    async def read(self, uuid: str, *, timeout: float, operation: str) -> bytes:
        return bytes(await self._run(self.client.read_gatt_char(uuid), timeout, operation))

    async def write(
        self, uuid: str, data: bytes, *, response: bool, timeout: float, operation: str
    ) -> None:
        await self._run(
            self.client.write_gatt_char(uuid, data, response=response), timeout, operation
        )

    async def write_commands(
        self,
        uuid: str,
        data: bytes,
        piece: int,
        *,
        timeout: float,
        operation: str,
        offset: int = 0,
    ) -> None:
        """Write ``data`` as consecutive writes without response of ``piece`` bytes each.

        One guarded operation for the whole batch, not one per piece: a legacy
        nRF5 update writes 20-byte packets, and the guard (deadline, race
        against the link's loss) per packet was most of the host's CPU. An
        error is located at the piece whose write failed; those before it went.
        """
        written = 0
        write = self.client.write_gatt_char

        async def pieces() -> None:
            nonlocal written
            for start in range(0, len(data), piece):
                await write(uuid, data[start : start + piece], response=False)
                written = start + piece

        try:
            await self._run(pieces(), timeout, operation)
        except DfuError as exc:
            exc.locate(offset=offset + min(written, len(data)))
            raise

    async def subscribe(
        self, uuid: str, handler: NotificationHandler, *, timeout: float, operation: str
    ) -> None:
        def deliver(_: Any, data: bytearray) -> None:
            handler(bytes(data))

        await self._run(self.client.start_notify(uuid, deliver), timeout, operation)

    async def wait_disconnected(self, timeout: float, operation: str) -> None:
        """Wait until the peripheral drops the link (after a reset request)."""
        async with deadline(timeout, operation):
            await self.disconnected.wait()

    async def guard(
        self,
        call: Awaitable[T],
        timeout: float | None,
        operation: str,
        *,
        offset: int | None = None,
    ) -> T:
        """Await ``call`` (e.g. a notification) under a deadline, raced against disconnection."""
        return await self._run(call, timeout, operation, offset=offset)

    async def _run(
        self,
        call: Awaitable[T],
        timeout: float | None,
        operation: str,
        *,
        offset: int | None = None,
    ) -> T:
        if self.disconnected.is_set():
            if asyncio.iscoroutine(call):
                call.close()
            raise LinkLostError("the BLE link is down", operation=operation, offset=offset)
        task = asyncio.ensure_future(call)
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
        race: set[asyncio.Future[Any]] = {task, self._lost}
        try:
            # deadline() and stack_cancel_is_link_loss() spelt out: this runs once per packet.
            async with asyncio.timeout(timeout):
                await asyncio.wait(race, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError as exc:
            if isinstance(exc, DfuTimeoutError):
                raise
            raise DfuTimeoutError(
                f"no answer within {timeout:g} s", operation=operation, offset=offset
            ) from None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling() == 0:
                raise LinkLostError(
                    "the BLE link dropped (the stack abandoned the pending request)",
                    operation=operation,
                    offset=offset,
                ) from None
            raise
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if not task.done() or task.cancelled():
            raise LinkLostError(
                "the BLE link dropped during the operation", operation=operation, offset=offset
            )
        error = task.exception()
        if error is None:
            return task.result()
        if isinstance(error, BleakGATTProtocolError):
            raise AttError(
                f"ATT error 0x{error.code:02X}", operation=operation, status=error.code
            ) from error
        if isinstance(error, (BleakError, ConnectionError, EOFError)):
            raise LinkLostError(f"BLE operation failed: {error}", operation=operation) from error
        if isinstance(error, DfuError):
            raise error
        raise error

    async def aclose(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self._owns_client:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLEANUP_TIMEOUT):
                    await self.client.disconnect()
        self._mark_lost()
