"""Ports for the quick probe's tests, and running the ``aiodfu`` command beside them.

:func:`quiet_pty` is a pseudo-terminal with nothing behind it (what the host
writes is read and dropped, nothing comes back) or, with ``noise``, one that
keeps sending bytes that are no protocol's -- what a port at the wrong baud
rate delivers. :func:`aiodfu` runs the command in a thread, so emulators and
these ports keep being served by the test's own event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from click.testing import CliRunner, Result

from aiodfu.cli import main
from tests.cli.conftest import assert_valid, json_lines

NOISE = bytes(range(0x80, 0x100))
"""Bytes with the high bit set and no line end: a UART read at the wrong rate looks like this."""


@contextlib.asynccontextmanager
async def quiet_pty(noise: bytes | None = None, every: float = 0.05) -> AsyncIterator[str]:
    """A pty path with nothing behind it; with ``noise``, it sends those bytes ``every`` s."""
    master, slave = os.openpty()
    os.set_blocking(master, False)
    loop = asyncio.get_running_loop()

    def drain() -> None:
        with contextlib.suppress(OSError):
            os.read(master, 65536)

    async def chatter() -> None:
        assert noise is not None
        while True:
            with contextlib.suppress(OSError):  # no reader yet, or a full buffer
                os.write(master, noise)
            await asyncio.sleep(every)

    loop.add_reader(master, drain)
    task = asyncio.create_task(chatter()) if noise else None
    try:
        yield os.ttyname(slave)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)


async def aiodfu(*args: str) -> Result:
    """``aiodfu ARGS`` in process, in a thread (it runs its own event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


async def aiodfu_json(*args: str) -> tuple[Result, list[dict[str, object]]]:
    """``aiodfu --json ARGS``: the result and its stdout lines, each parsed as JSON."""
    result = await aiodfu("--json", *args)
    return result, json_lines(result.stdout)


def assert_no_answer_reported(
    result: Result, records: list[dict[str, object]], configured: Result, bound: float, given: str
) -> None:
    """A silent port: a typed error naming the probe's bound and what to check.

    ``configured`` ran with ``--probe-timeout given``: its message names that bound instead.
    """

    assert result.exit_code == 1
    assert_valid(records)
    assert records[-1]["type"] == "NoAnswerError"
    assert f"within {bound:.1f} s" in str(records[-1]["message"])
    for advice in ("aiodfu ports", "powered", "cable", "--baud"):
        assert advice in str(records[-1]["hint"])
    assert f"within {given} s" in json_lines(configured.stdout)[-1]["message"]


def assert_noise_reported(result: Result, records: list[dict[str, object]], what: str) -> None:
    """Noise on the port: reported as not the protocol (``what``) and a likely wrong baud rate."""

    assert result.exit_code == 1
    assert_valid(records)
    assert records[-1]["type"] == "UnrecognisedBytesError"
    assert what in str(records[-1]["message"])
    assert "wrong baud rate?" in str(records[-1]["message"])
