"""Serial Modem AT DFU: throughput against the modelled link and device, CPU, Nordic's host.

* **Throughput** -- an application image over a paced link (8N1, a 4 KiB
  receive buffer with RTS/CTS) against an emulator with 5 ms of latency per
  command, with chunks sized from the link (the default) and with Nordic's
  fixed 4096-byte chunks. *Of link limit* is the payload's wire time over the
  elapsed time. *Of device limit* is the least time any host could take on
  that device over the elapsed time: see :func:`device_limit`.
* **CPU seconds per MiB** on an unthrottled in-memory link, split by
  :class:`~benchmarks.cpu.CpuSplit` into aiodfu's host code, the emulator and
  link model, and the runtime both share.
* **Concurrency** -- 50 sessions against 50 emulators in one process.
* **Nordic's host** -- Nordic's own ``sm_dfu_host.py`` and aiodfu's CLI, each
  in its own process, updating the same emulated device over a pty paced at
  the baud rate, one after the other in this run. Timed on the device's side,
  from ``AT#XDFUINIT`` to ``AT#XDFUAPPLY`` (so interpreter start-up is not
  counted), and the ratio of the two given. The script is fetched at run time
  (:data:`NORDIC_HOST`); where it cannot be had or run, the row says why.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from aiodfu.serial_modem import SerialModemSession, UpdateType
from aiodfu.serial_modem.sizing import GRANULE
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from aiodfu.testing.pty import serve_pty
from aiodfu.testing.serial_modem import SerialModemEmulator
from aiodfu.transports.memory import LinkModel
from benchmarks.common import (
    Stopwatch,
    VendorFile,
    VendorUnavailable,
    console,
    print_table,
    process_cpu,
)
from benchmarks.cpu import CpuSplit

MIB = 1 << 20
RX_BUFFER = 4096
DATAMODE_BUFFER = 4096
NORDIC_HOST = VendorFile(
    repo="nrfconnect/ncs-serial-modem",
    path="app/scripts/sm_dfu_host.py",
    commit="e23c2bde08a83e8a2908f78ee19f2b2ff5c6e46e",
    env_file="AIODFU_SM_DFU_HOST",
    env_repo="AIODFU_NCS_SERIAL_MODEM",
)
"""Nordic's reference host, at the commit the protocol reference describes."""


@attrs.frozen
class Device:
    """A modelled device: what it costs per command and per flash flush."""

    name: str
    command_latency: float
    flash_write_rate: float | None


REALISTIC = Device("latency 5 ms", 0.005, None)
WITH_FLASH = Device("latency 5 ms + flash 200 kB/s", 0.005, 200_000.0)
UNTHROTTLED = Device("unthrottled", 0.0, None)


@attrs.frozen
class Run:
    """One verified update: wall and process CPU seconds, and the chunk sizes the device saw."""

    wall: float
    cpu: float
    chunks: tuple[int, ...]


def make_image(size: int, seed: int = 1) -> bytes:
    return build_mcuboot_image(random_firmware(size - 0x200 - 40, seed=seed))


def make_emulator(image: bytes, device: Device, model: LinkModel | None) -> SerialModemEmulator:
    return SerialModemEmulator(
        link_model=model,
        command_latency=device.command_latency,
        flash_write_rate=device.flash_write_rate,
        datamode_buffer=DATAMODE_BUFFER,
        slot_size=len(image) + MIB,
    )


def chunk_lengths(emulator: SerialModemEmulator) -> tuple[int, ...]:
    return tuple(
        int(command.rsplit(",", 1)[1])
        for command in emulator.commands
        if command.startswith("AT#XDFUWRITE=")
    )


def describe(chunks: Sequence[int]) -> str:
    """The chunk sizes used, the last (shorter) chunk aside."""
    sizes = chunks[:-1] or chunks
    low, high = min(sizes), max(sizes)
    return str(low) if low == high else f"{low}-{high}"


async def update_once(
    image: bytes, baud: int | None, device: Device, chunk_size: int | None = None
) -> Run:
    """One verified application update through an in-memory link."""
    model = LinkModel(baud=baud, rx_buffer=RX_BUFFER, tx_buffer=RX_BUFFER)
    emulator = make_emulator(image, device, model)
    session = SerialModemSession(emulator.connect, baudrate=baud, chunk_size=chunk_size)
    async with emulator, session:
        with Stopwatch() as watch:
            await session.update(image, update_type=UpdateType.APPLICATION)
    if emulator.applied.get(0) != image:
        raise AssertionError("the emulated device holds a different image")
    return Run(watch.wall, watch.cpu, chunk_lengths(emulator))


def device_limit(size: int, baud: int, device: Device) -> float:
    """The least time any host could take to move ``size`` bytes to ``device``.

    Every byte's wire time, plus the part of each flash write the link cannot
    hide. The device stops reading while it writes a full data-mode buffer;
    meanwhile the link still fills the UART's receive buffer (``RX_BUFFER``
    bytes) before RTS/CTS stops the host. So every write but the last costs
    ``max(0, write time - receive buffer's wire time)`` beyond the wire time,
    and the last, after the final byte, all of its time. (With a 4 KiB receive
    buffer a 200 kB/s flash hides entirely at 1,000,000 baud and below.)
    """
    wire = size * 10 / baud
    if device.flash_write_rate is None:
        return wire
    rate = device.flash_write_rate
    writes = math.ceil(size / DATAMODE_BUFFER)
    write = DATAMODE_BUFFER / rate
    unhidden = max(0.0, write - RX_BUFFER * 10 / baud)
    last = (size - (writes - 1) * DATAMODE_BUFFER) / rate
    return wire + (writes - 1) * unhidden + last


async def throughput(size: int) -> None:
    image = make_image(size)
    cases: list[tuple[int, Device, int | None, str]] = [
        (115_200, REALISTIC, None, ">= 0.95 of link"),
        (115_200, WITH_FLASH, None, ">= 0.95 of device"),
        (1_000_000, REALISTIC, GRANULE, "(Nordic's chunk)"),
        (1_000_000, REALISTIC, None, ">= 0.95 of link"),
        (1_000_000, WITH_FLASH, GRANULE, "(Nordic's chunk)"),
        (1_000_000, WITH_FLASH, None, ">= 0.95 of device"),
    ]
    rows = []
    for baud, device, chunk_size, goal in cases:
        run = await update_once(image, baud, device, chunk_size)
        wire = len(image) * 10 / baud
        chunks = describe(run.chunks) + (" (auto)" if chunk_size is None else "")
        rows.append(
            (
                f"{baud} baud, {device.name}",
                chunks,
                f"{len(image) / run.wall / 1024:.1f} KiB/s",
                f"{wire / run.wall:.3f}",
                f"{device_limit(len(image), baud, device) / run.wall:.3f}",
                goal,
            )
        )
    print_table(
        f"Serial Modem application update, {len(image) / MIB:.2f} MiB",
        ["link and device", "chunk", "payload rate", "of link limit", "of device limit", "goal"],
        rows,
    )


async def cpu_cost(size: int) -> None:
    image = make_image(size)
    await update_once(image, None, UNTHROTTLED)  # warm-up
    columns: list[list[tuple[str, str]]] = []
    for chunk_size in (None, GRANULE):
        _run, split = await CpuSplit.measure(
            lambda c=chunk_size: update_once(image, None, UNTHROTTLED, c)
        )
        columns.append(split.per_mib(len(image)).rows())
    print_table(
        f"Serial Modem CPU s per MiB, {len(image) / MIB:.2f} MiB, unthrottled link",
        ["CPU s per MiB of", "sized chunks", "4096-byte chunks"],
        [(label, auto, fixed) for (label, auto), (_, fixed) in zip(*columns, strict=True)],
    )


async def concurrency(size: int, sessions: int) -> None:
    image = make_image(size)

    async def alone() -> float:
        """Process CPU of a whole update (connect, update, close), as in the concurrent run."""
        with Stopwatch() as one:
            await update_once(image, None, UNTHROTTLED)
        return one.cpu

    single = statistics.median([await alone() for _ in range(5)])
    with Stopwatch() as watch:
        await asyncio.gather(*(update_once(image, None, UNTHROTTLED) for _ in range(sessions)))
    per_session = watch.cpu / sessions
    print_table(
        f"Serial Modem, {sessions} concurrent sessions, {len(image) / MIB:.2f} MiB each",
        ["measure", "value"],
        [
            ("all verified: wall s", f"{watch.wall:.2f}"),
            ("process CPU s per session, concurrent", f"{per_session:.4f}"),
            ("process CPU s, one session alone (median of 5)", f"{single:.4f}"),
            ("concurrent / single CPU per session", f"{per_session / single:.3f}"),
        ],
    )


# --- Nordic's host, side by side ---------------------------------------------------------------


@attrs.frozen
class Host:
    """A host program: the command that updates ``file`` on ``port`` at ``baud``."""

    name: str
    command: Callable[[str, int, Path], list[str]]


def nordic_host(script: Path) -> Host:
    def command(port: str, baud: int, file: Path) -> list[str]:
        return [sys.executable, str(script), "--port", port, "--baudrate", str(baud),
                "--file", str(file), "--type", "application"]  # fmt: skip

    return Host("Nordic sm_dfu_host.py", command)


def aiodfu_host(chunk_size: int | None) -> Host:
    def command(port: str, baud: int, file: Path) -> list[str]:
        fixed = [] if chunk_size is None else ["--chunk-size", str(chunk_size)]
        return [sys.executable, "-m", "aiodfu", "serial-modem", "update",
                "--port", port, "--baud", str(baud), *fixed, str(file)]  # fmt: skip

    return Host(
        "aiodfu CLI" + ("" if chunk_size is None else f", --chunk-size {chunk_size}"), command
    )


@attrs.frozen
class HostRun:
    """A host process's update from ``AT#XDFUINIT`` to ``AT#XDFUAPPLY`` as the device saw it:
    seconds, the host process's CPU seconds meanwhile (``None`` without ``/proc``), chunks."""

    seconds: float
    cpu: float | None
    chunks: tuple[int, ...]


async def host_over_pty(host: Host, file: Path, image: bytes, baud: int) -> HostRun:
    """Run ``host`` against a fresh emulator on a paced pty (VendorUnavailable if it fails)."""
    emulator = make_emulator(image, REALISTIC, LinkModel(baud=baud))
    marks: dict[str, tuple[float, float | None]] = {}
    timeout = 30 + 4 * len(image) * 10 / baud
    async with serve_pty(emulator) as port:
        process = await asyncio.create_subprocess_exec(
            *host.command(port, baud, file),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

        async def watch_commands() -> None:
            """Note the time and the host's CPU when INIT and APPLY reach the device."""
            loop, seen = asyncio.get_running_loop(), 0
            while True:
                for command in emulator.commands[seen:]:
                    for prefix in ("AT#XDFUINIT=", "AT#XDFUAPPLY="):
                        if command.startswith(prefix) and prefix not in marks:
                            marks[prefix] = (loop.time(), process_cpu(process.pid))
                seen = len(emulator.commands)
                await asyncio.sleep(0.001)

        watcher = asyncio.create_task(watch_commands())
        try:
            _out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise VendorUnavailable(f"did not finish within {timeout:.0f} s") from None
        finally:
            watcher.cancel()
    if process.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise VendorUnavailable(f"exit status {process.returncode}: {last[0]}")
    if emulator.applied.get(0) != image:
        raise AssertionError(f"{host.name}: the emulated device holds a different image")
    (started, cpu_before), (ended, cpu_after) = marks["AT#XDFUINIT="], marks["AT#XDFUAPPLY="]
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return HostRun(ended - started, cpu, chunk_lengths(emulator))


async def versus_nordic(sizes: dict[int, int]) -> None:
    with tempfile.TemporaryDirectory(prefix="aiodfu-bench-") as scratch:
        directory = Path(scratch)
        try:
            nordic: Host | str = nordic_host(NORDIC_HOST.fetch(directory))
        except VendorUnavailable as exc:
            nordic = str(exc)
        hosts = [nordic, aiodfu_host(GRANULE), aiodfu_host(None)]
        notes = [] if isinstance(nordic, Host) else [f"Nordic's host skipped: {nordic}"]
        rows: list[Sequence[object]] = []
        for baud, size in sizes.items():
            image = make_image(size, seed=3)
            file = directory / "app_update.bin"
            file.write_bytes(image)
            label = f"{baud}, {len(image) // 1024} KiB"
            reference: HostRun | None = None
            for host in hosts:
                if not isinstance(host, Host):
                    rows.append((label, "Nordic sm_dfu_host.py", "skipped (see below)"))
                    continue
                try:
                    run = await host_over_pty(host, file, image, baud)
                except VendorUnavailable as exc:
                    rows.append((label, host.name, "failed (see below)"))
                    notes.append(f"{host.name} at {baud} baud failed: {exc}")
                    continue
                if host is nordic:
                    reference = run
                cpu = "-" if run.cpu is None else f"{run.cpu / (len(image) / MIB):.2f}"
                rows.append(
                    (
                        label,
                        host.name,
                        describe(run.chunks),
                        f"{run.seconds:.2f} s",
                        f"{len(image) * 10 / baud / run.seconds:.3f}",
                        cpu,
                        "-" if reference is None else f"{reference.seconds / run.seconds:.2f}",
                    )
                )
    print_table(
        "Serial Modem hosts side by side: own processes, same emulator (5 ms latency), paced pty",
        [
            "baud, image",
            "host",
            "chunk",
            "INIT to APPLY",
            "of link",
            "host process CPU s/MiB",
            "speed vs Nordic",
        ],
        rows,
    )
    for note in notes:
        console.print(note)


async def run(quick: bool) -> None:
    size = MIB // 4 if quick else MIB
    await throughput(size)
    await cpu_cost(size)
    await concurrency(size, 50)
    await versus_nordic(
        {115_200: 64 * 1024, 1_000_000: MIB // 4} if quick else {115_200: MIB // 4, 1_000_000: MIB}
    )
