"""An asyncio AT command client for any byte stream.

One command is in flight at a time. While it is, the lines the device sends
are sorted as they arrive:

* the command's own echo (when the device echoes) is dropped;
* a final result code (``OK``, ``ERROR``, ``+CME ERROR: n`` ...) completes it;
* a line starting with the command's *information-response prefix* (for
  ``AT#XDFUINIT=?`` that is ``#XDFUINIT:``) belongs to the response;
* anything else is unsolicited (a URC, a banner, noise) and is dispatched to
  the waiters registered with :meth:`AtClient.expect`, else to listeners,
  else logged and dropped -- so a URC is never mistaken for a response.

Waits for unsolicited lines are registered *before* the request that
provokes them is sent (``with client.expect(...) as waiter``), so a fast
device can never answer before anyone listens. When the link drops, every
pending command and waiter fails at once with
:class:`~aiodfu.core.errors.LinkLostError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Self

import attrs

from aiodfu.at.lines import LineSplitter
from aiodfu.core.errors import CommandRejectedError, DfuError, LinkLostError
from aiodfu.core.resource import AsyncResource
from aiodfu.core.timeouts import deadline, wait_within
from aiodfu.transports.base import Buffer, ByteStream

LinePredicate = Callable[[str], bool]
LineListener = Callable[[str], None]

DEFAULT_ERROR_PREFIXES = ("ERROR", "+CME ERROR", "+CMS ERROR")


@attrs.frozen
class AtResponse:
    """A completed command: its information lines and the final result code."""

    command: str
    lines: tuple[str, ...]
    final: str


def response_prefix_of(command: str) -> str | None:
    """``AT#XDFUINIT=?`` -> ``#XDFUINIT:``; plain ``AT`` has none."""
    name = command[2:] if command[:2].upper() == "AT" else command
    for separator in "=?":
        name = name.split(separator, 1)[0]
    return f"{name.upper()}:" if name else None


@attrs.define
class _PendingCommand:
    text: str
    prefix: str | None
    future: asyncio.Future[AtResponse]
    lines: list[str] = attrs.field(factory=list)


class LineWaiter:
    """A registered wait for the first unsolicited line matching a predicate."""

    def __init__(self, client: AtClient, predicate: LinePredicate, operation: str) -> None:
        self._client = client
        self.predicate = predicate
        self.operation = operation
        self.future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def wait(self, timeout: float | None, *, offset: int | None = None) -> str:
        """The matching line; :class:`DfuTimeoutError` if none arrives in time."""
        return await wait_within(self.future, timeout, self.operation, offset=offset)

    def cancel(self) -> None:
        self._client._forget(self)
        if not self.future.done():
            self.future.cancel()

    def __enter__(self) -> LineWaiter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()


class AtClient(AsyncResource):
    """See the module docstring. Use as an async context manager, or call :meth:`start`."""

    def __init__(
        self,
        stream: ByteStream,
        *,
        terminator: bytes = b"\r",
        error_prefixes: tuple[str, ...] = DEFAULT_ERROR_PREFIXES,
        redact: Callable[[str], str] = lambda text: text,
        logger: logging.Logger | None = None,
    ) -> None:
        self.stream = stream
        self.terminator = terminator
        self._error_prefixes = error_prefixes
        self._redact = redact
        self._log = logger or logging.getLogger("aiodfu.at")
        self._splitter = LineSplitter()
        self._lock = asyncio.Lock()
        self._pending: _PendingCommand | None = None
        self._waiters: list[LineWaiter] = []
        self._listeners: list[LineListener] = []
        self._reader: asyncio.Task[None] | None = None
        self._failure: DfuError | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    @property
    def closed(self) -> bool:
        return self._failure is not None

    async def aclose(self) -> None:
        self._fail(LinkLostError("AT client closed"))
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(DfuError):
            await self.stream.aclose()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    # --- sending -----------------------------------------------------------------------------

    async def command(
        self,
        command: str,
        *,
        timeout: float,
        response_prefix: str | None = None,
        offset: int | None = None,
    ) -> AtResponse:
        """Send ``command`` and wait up to ``timeout`` for its final result code.

        Raises :class:`CommandRejectedError` (status = the device's error
        line) on an error result, :class:`DfuTimeoutError` on silence.
        ``response_prefix`` defaults to the one derived from the command.
        """
        prefix = response_prefix if response_prefix is not None else response_prefix_of(command)
        async with self._lock:
            self._raise_if_failed()
            loop = asyncio.get_running_loop()
            pending = _PendingCommand(command, prefix, loop.create_future())
            self._pending = pending
            try:
                async with deadline(timeout, command, offset=offset):
                    await self._write_line(command)
                    response = await pending.future
            finally:
                self._pending = None
        if response.final != "OK":
            raise CommandRejectedError(
                f"the device answered {response.final!r}",
                operation=command,
                offset=offset,
                status=response.final,
            )
        return response

    async def send_line(self, text: str) -> None:
        """Send ``text`` and the terminator without waiting for anything."""
        self._raise_if_failed()
        await self._write_line(text)

    async def write(self, data: Buffer) -> None:
        """Send raw bytes (data mode); callers bound the wait with their own deadline."""
        self._raise_if_failed()
        await self.stream.write(data)

    async def _write_line(self, text: str) -> None:
        self._log.debug("> %s", self._redact(text))
        await self.stream.write(text.encode("latin-1") + self.terminator)

    # --- receiving ---------------------------------------------------------------------------

    def expect(self, predicate: LinePredicate, operation: str) -> LineWaiter:
        """Register a wait for an unsolicited line; register it before sending the trigger."""
        waiter = LineWaiter(self, predicate, operation)
        if self._failure is not None:
            waiter.future.set_exception(self._failure)
            waiter.future.exception()  # mark retrieved: wait() re-raises it
        else:
            self._waiters.append(waiter)
        return waiter

    def add_listener(self, listener: LineListener) -> Callable[[], None]:
        """Call ``listener`` with unsolicited lines no waiter took; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def fail_pending(self, error: DfuError) -> None:
        """Fail the command and the waits in flight (e.g. the device rebooted under them)."""
        futures: list[asyncio.Future[AtResponse] | asyncio.Future[str]] = [
            waiter.future for waiter in self._iter_waiters()
        ]
        if self._pending is not None:
            futures.append(self._pending.future)
        for future in futures:
            if not future.done():
                future.set_exception(error)
                future.exception()  # the awaiting side still gets it; no "never retrieved" noise

    def discard_partial_line(self) -> None:
        self._splitter.clear()

    def _forget(self, waiter: LineWaiter) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def _iter_waiters(self) -> Iterator[LineWaiter]:
        waiters, self._waiters = self._waiters, []
        return (waiter for waiter in waiters if not waiter.future.done())

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.stream.read()
                for line in self._splitter.feed(data):
                    self._dispatch(line)
        except LinkLostError as exc:
            self._fail(exc)
        except DfuError as exc:
            self._fail(LinkLostError(f"reading from the device failed: {exc}"))

    def _dispatch(self, line: str) -> None:
        self._log.debug("< %s", self._redact(line))
        pending = self._pending
        if pending is not None and not pending.future.done():
            if line.upper() == pending.text.upper():
                return  # echo
            if line == "OK" or line.startswith(self._error_prefixes):
                pending.future.set_result(AtResponse(pending.text, tuple(pending.lines), line))
                return
            if pending.prefix and line.upper().startswith(pending.prefix):
                pending.lines.append(line)
                return
        for waiter in self._waiters:
            if not waiter.future.done() and waiter.predicate(line):
                waiter.future.set_result(line)
                self._waiters.remove(waiter)
                return
        for listener in list(self._listeners):
            listener(line)
        if not self._listeners:
            self._log.debug("ignored unsolicited line %r", self._redact(line))

    def _fail(self, error: DfuError) -> None:
        if self._failure is None:
            self._failure = error
        self.fail_pending(error)

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise LinkLostError(self._failure.message)
