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

Options for dialects such as ESP-AT (all off by default):

* ``data_prefixes`` -- binary-safe ``<prefix><n>,<n raw bytes>`` chunks (see
  :class:`~aiodfu.at.lines.LineSplitter`), handed to the ``on_data`` callback
  of the command in flight; raw data is never logged. With ``data_terminator``
  a chunk that lost its framing is never handed over: the command fails with a
  (transient) :class:`~aiodfu.core.errors.ProtocolError` instead.
* ``busy_lines`` / ``busy_retry`` -- a busy reply (``busy p...``) means the
  device dropped the command; it is sent again after a pause, within the
  command's own deadline.
* ``error_detail_prefixes`` -- a line such as ``ERR CODE:0x010a7194`` just
  before ``ERROR`` is kept on the response and on the :class:`AtCommandError`.
* ``extra_finals`` -- final result codes besides ``OK`` (``SET OK``).
* :meth:`AtClient.command_with_data` -- the ``>`` prompt flow.
* ``redact`` -- applied to every line before it is logged.

Waits for unsolicited lines are registered *before* the request that
provokes them is sent (``with client.expect(...) as waiter``), so a fast
device can never answer before anyone listens. When the link drops, every
pending command and waiter fails at once with
:class:`~aiodfu.core.errors.LinkLostError`, and :meth:`AtClient.wait_lost`
returns: link loss is an event of its own (wsproto's ``receive_data(None)``),
so a wait for something other than a line can be raced against it.

Over 400 lines on purpose: this is one object -- the read loop and the
dispatch of every kind of line to the command in flight, its waiters and its
listeners -- and its pieces share its state; what stands alone (responses,
line waiters, line splitting, diagnosis) lives in its own module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any, Self

import attrs

from aiodfu.at.lines import DataChunk, LineSplitter, Prompt
from aiodfu.at.responses import AtCommandError, AtResponse, response_prefix_of
from aiodfu.at.waiters import LinePredicate, LineWaiter
from aiodfu.core.errors import (
    DfuError,
    LinkLostError,
    ProtocolError,
    UsageError,
)
from aiodfu.core.resource import AsyncResource
from aiodfu.core.timeouts import deadline, wait_within
from aiodfu.transports.base import Buffer, ByteStream

LineListener = Callable[[str], None]
DataListener = Callable[[bytes], None]

DEFAULT_ERROR_PREFIXES = ("ERROR", "+CME ERROR", "+CMS ERROR")


@attrs.define
class _PendingCommand:
    text: str
    prefix: str | None
    future: asyncio.Future[AtResponse]
    lines: list[str] = attrs.field(factory=list)
    on_data: DataListener | None = None
    prompt: asyncio.Future[None] | None = None
    activity: asyncio.Future[None] | None = None
    detail: str | None = None
    echo: str | None = None
    failure: BaseException | None = None


def _futures(*futures: asyncio.Future[Any]) -> set[asyncio.Future[Any]]:
    return set(futures)


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
        data_prefixes: tuple[str, ...] = (),
        prompts: tuple[str, ...] = (),
        busy_lines: tuple[str, ...] = (),
        busy_retry: float = 0.05,
        error_detail_prefixes: tuple[str, ...] = (),
        extra_finals: tuple[str, ...] = (),
        max_line: int = 8192,
        data_terminator: str = "",
    ) -> None:
        self.stream = stream
        self.terminator = terminator
        self._error_prefixes = error_prefixes
        self._redact = redact
        self._log = logger or logging.getLogger("aiodfu.at")
        self._splitter = LineSplitter(
            max_line,
            data_prefixes=tuple(prefix.encode("latin-1") for prefix in data_prefixes),
            prompts=tuple(prompt.encode("latin-1") for prompt in prompts),
            data_terminator=data_terminator.encode("latin-1"),
        )
        self._busy_lines = busy_lines
        self._busy_retry = busy_retry
        self._detail_prefixes = error_detail_prefixes
        self._finals = ("OK", *extra_finals)
        self.busy_replies = 0
        """How many busy replies made the client send a command again."""
        self._lock = asyncio.Lock()
        self._pending: _PendingCommand | None = None
        self._waiters: list[LineWaiter] = []
        self._listeners: list[LineListener] = []
        self._reader: asyncio.Task[None] | None = None
        self._failure: DfuError | None = None
        self._lost: asyncio.Future[DfuError] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    @property
    def closed(self) -> bool:
        return self._failure is not None

    async def wait_lost(self) -> DfuError:
        """Return, once the link has ended (lost, or :meth:`aclose`), the error that ended it.

        Cancelling this wait does not affect other waiters.
        """
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
            if self._failure is not None:
                self._lost.set_result(self._failure)
        return await asyncio.shield(self._lost)

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
        timeout: float | None,
        response_prefix: str | None = None,
        offset: int | None = None,
        on_data: DataListener | None = None,
        idle_timeout: float | None = None,
    ) -> AtResponse:
        """Send ``command`` and wait up to ``timeout`` for its final result code.

        Raises :class:`AtCommandError` (a :class:`CommandRejectedError`;
        status = the device's error line or error detail) on an error result,
        :class:`DfuTimeoutError` on silence. ``response_prefix`` defaults to the
        one derived from the command. ``on_data`` receives the command's raw
        data chunks; ``idle_timeout`` bounds the silence between any two pieces
        of its answer (for streams whose total length only the data bounds).
        One of the two must be given: nothing waits on a device unbounded.
        """
        if timeout is None and idle_timeout is None:
            raise UsageError(f"{command}: give a timeout or an idle_timeout")
        return await self._run(
            command, None, timeout, response_prefix, offset, on_data, idle_timeout
        )

    async def command_with_data(
        self,
        command: str,
        data: Buffer,
        *,
        timeout: float,
        prompt_timeout: float | None = None,
        offset: int | None = None,
    ) -> AtResponse:
        """The prompt flow: send ``command``, await the prompt, send ``data``, await the result.

        An ``OK`` before the prompt is not final (ESP-AT answers ``OK``, then
        ``>``); an error result before it is. ``data`` is never logged.
        """
        return await self._run(
            command, (bytes(data), prompt_timeout or timeout), timeout, None, offset, None, None
        )

    async def _run(
        self,
        command: str,
        payload: tuple[bytes, float] | None,
        timeout: float | None,
        response_prefix: str | None,
        offset: int | None,
        on_data: DataListener | None,
        idle_timeout: float | None,
    ) -> AtResponse:
        prefix = response_prefix if response_prefix is not None else response_prefix_of(command)
        async with self._lock:
            self._raise_if_failed()
            loop = asyncio.get_running_loop()
            try:
                async with deadline(timeout, command, offset=offset):
                    while True:
                        pending = _PendingCommand(
                            command, prefix, loop.create_future(), on_data=on_data
                        )
                        if payload is not None:
                            pending.prompt = loop.create_future()
                        self._pending = pending
                        await self._write_line(command)
                        if payload is not None:
                            data, prompt_timeout = payload
                            await self._await_prompt(pending, prompt_timeout, offset)
                            if not pending.future.done():
                                await self.stream.write(data)
                        response = await self._await_final(pending, idle_timeout, offset)
                        if response.final not in self._busy_lines:
                            break
                        self.busy_replies += 1
                        self._log.debug("%s: device busy; sending again", self._redact(command))
                        await asyncio.sleep(self._busy_retry)
            finally:
                self._pending = None
        if pending.failure is not None:
            raise pending.failure
        if response.final not in self._finals:
            raise AtCommandError(
                f"the device answered {response.final!r}", response=response, offset=offset
            )
        return response

    async def _await_prompt(
        self, pending: _PendingCommand, seconds: float, offset: int | None
    ) -> None:
        assert pending.prompt is not None
        await wait_within(
            asyncio.wait(
                _futures(pending.prompt, pending.future), return_when=asyncio.FIRST_COMPLETED
            ),
            seconds,
            f"{pending.text} prompt",
            offset=offset,
        )
        if not pending.future.done():
            pending.prompt.result()

    async def _await_final(
        self, pending: _PendingCommand, idle_timeout: float | None, offset: int | None
    ) -> AtResponse:
        if idle_timeout is None:
            return await pending.future
        loop = asyncio.get_running_loop()
        while not pending.future.done():
            pending.activity = loop.create_future()
            await wait_within(
                asyncio.wait(
                    _futures(pending.future, pending.activity), return_when=asyncio.FIRST_COMPLETED
                ),
                idle_timeout,
                pending.text,
                offset=offset,
            )
        return pending.future.result()

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
        waiter = LineWaiter(predicate, operation, self._forget)
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
        futures: list[asyncio.Future[AtResponse] | asyncio.Future[str] | asyncio.Future[None]] = [
            waiter.future for waiter in self._iter_waiters()
        ]
        if self._pending is not None:
            futures.append(self._pending.future)
            if self._pending.prompt is not None:
                futures.append(self._pending.prompt)
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
                for item in self._splitter.feed_items(data):
                    if isinstance(item, str):
                        self._dispatch(item)
                    elif isinstance(item, DataChunk):
                        self._dispatch_data(item)
                    else:
                        self._dispatch_prompt(item)
        except LinkLostError as exc:
            self._fail(exc)
        except DfuError as exc:
            self._fail(LinkLostError(f"reading from the device failed: {exc}"))

    def _dispatch_data(self, chunk: DataChunk) -> None:
        self._log.debug("< %s%d,<%d data bytes>", chunk.prefix, len(chunk.data), len(chunk.data))
        pending = self._pending
        if pending is None or pending.future.done() or pending.on_data is None:
            self._log.debug("dropped %d data bytes no command asked for", len(chunk.data))
            return
        self._touch(pending)
        try:
            if not chunk.intact:
                raise ProtocolError(
                    f"a {chunk.prefix} chunk of {len(chunk.data)} bytes lost its framing "
                    "(bytes lost, added or changed on the link); its data was dropped",
                    operation=pending.text,
                )
            pending.on_data(chunk.data)
        except Exception as exc:  # the consumer refused the data: end the command with it
            pending.failure = exc
            pending.future.set_result(AtResponse(pending.text, tuple(pending.lines), "ERROR"))

    def _dispatch_prompt(self, prompt: Prompt) -> None:
        self._log.debug("< %s", prompt.text)
        pending = self._pending
        if pending is not None and pending.prompt is not None and not pending.prompt.done():
            pending.prompt.set_result(None)
            return
        self._log.debug("ignored a prompt no command waits for")

    @staticmethod
    def _touch(pending: _PendingCommand) -> None:
        if pending.activity is not None and not pending.activity.done():
            pending.activity.set_result(None)

    def _dispatch(self, line: str) -> None:
        self._log.debug("< %s", self._redact(line))
        pending = self._pending
        if pending is not None and not pending.future.done():
            if line.upper() == pending.text.upper():
                pending.echo = line
                return
            self._touch(pending)
            awaiting_prompt = pending.prompt is not None and not pending.prompt.done()
            if line in self._finals and awaiting_prompt:
                return  # ESP-AT: OK, then the prompt
            if (
                line in self._finals
                or line in self._busy_lines
                or line.startswith(self._error_prefixes)
            ):
                response = AtResponse(
                    pending.text, tuple(pending.lines), line, pending.detail, pending.echo
                )
                pending.future.set_result(response)
                return
            if self._detail_prefixes and line.startswith(self._detail_prefixes):
                pending.detail = line
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
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(self._failure)
        self.fail_pending(error)

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise LinkLostError(self._failure.message)
