"""``aiodfu rainmaker ...``: host-MCU OTA through ESP-AT RainMaker modules.

``info`` shows the module's versions, whether it can reach the cloud and the
pending job (URL redacted); ``wait`` shows the pending job; ``update``
downloads it, writes it to ``--output`` (the "install" step of a host that
stores the image for another tool to flash) and reports success -- on several
``--port`` options at once, ``--output`` then naming each file with
``{port}``. No pending job is nothing to do (exit 3). Every command first
probes the port (:mod:`aiodfu.cli.probe`) with the module's own handshake
(``AT``, ``ATE0``, ``AT+SYSLOG=1``). Also the pieces the lead wires into
``aiodfu demo`` and ``aiodfu emulate``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import click

from aiodfu.at.diagnosis import looks_like_at
from aiodfu.cli.fleet import fleet_options, run_updates
from aiodfu.cli.options import port_option, ports_option
from aiodfu.cli.output import Reporter
from aiodfu.cli.outputs import as_installed, per_device, staged
from aiodfu.cli.probe import Probe, chosen_probe, probe_option, probed_port
from aiodfu.cli.runner import NothingToDo, run
from aiodfu.cli.verify import report_demo
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import ProgressCallback
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.rainmaker import (
    EspAtError,
    FirmwareNotification,
    NoUpdateError,
    RainMakerDevice,
    RainMakerSession,
    Timeouts,
    redact,
)
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

if TYPE_CHECKING:  # the emulators are imported where used: a CLI start never loads them
    from aiodfu.testing.emulator import Emulator

F = TypeVar("F", bound=Callable[..., Any])

_VERSION_LINES = {
    "AT version:": "at_version",
    "SDK version:": "sdk_version",
    "Bin version:": "bin_version",
}
"""What ``AT+GMR`` prints (no ``+GMR:`` prefix), and the row each line becomes."""


# --- the probe ---------------------------------------------------------------------------------


def default_probe_bound(baudrate: int) -> float:
    """The probe's default bound: 4 s for the module to answer (at any baud rate)."""
    return 4.0


def probe_for(baudrate: int, bound: float) -> Probe:
    """The module's handshake (``AT``, ``ATE0``, ``AT+SYSLOG=1``) within ``bound``: a silent
    module has all of it to answer the ``AT``."""
    timeouts = attrs.evolve(Timeouts(), command=bound)

    async def check(stream: ByteStream) -> None:
        device = RainMakerDevice(
            lambda: stream, timeouts=timeouts, retry=RetryPolicy(attempts=1), baudrate=baudrate
        )
        try:
            await device.reopen()
            await device.handshake()
        finally:
            await device.aclose()

    return Probe("ESP-AT", bound, check, recognises=looks_like_at)


@asynccontextmanager
async def _session(
    port: str, baud: int, rtscts: bool, probe_timeout: float | None, **options: Any
) -> AsyncIterator[RainMakerSession]:
    probe = chosen_probe(probe_timeout, baud, default_probe_bound, probe_for)
    async with (
        probed_port(port, baud, rtscts=rtscts, probe=probe) as connector,
        RainMakerSession(connector, baudrate=baud, **options) as session,
    ):
        yield session


def _job_rows(job: FirmwareNotification) -> dict[str, object]:
    return {
        "job": job.job_id,
        "version": job.version or "unknown",
        "bytes": job.size,
        "url": redact(job.url),
    }


# --- the commands ------------------------------------------------------------------------------


@click.group("rainmaker")
def command() -> None:
    """ESP RainMaker AT host-MCU OTA through an ESP32 running ESP-AT."""


_baud = click.option("--baud", default=115200, show_default=True, type=click.IntRange(min=1))
_rtscts = click.option(
    "--rtscts/--no-rtscts", default=False, show_default=True, help="RTS/CTS flow control."
)


def _common(function: F) -> F:
    return _baud(_rtscts(probe_option(function)))


def _fetch_timeout(default: float) -> Callable[[F], F]:
    return click.option(
        "--fetch-timeout",
        default=default,
        show_default=True,
        type=click.FloatRange(min=0, min_open=True),
        help="How long to wait for the job's +RMFWNOTIFY after AT+RMOTAFETCH before "
        "reporting none.",
    )


_NOTIFICATION = Timeouts().notification


async def _versions(session: RainMakerSession) -> dict[str, object]:
    """``AT+GMR``: the AT firmware's version lines; None each where the module refuses it."""
    rows: dict[str, object] = dict.fromkeys(_VERSION_LINES.values())
    device = session.device

    def keep(line: str) -> None:
        for start, key in _VERSION_LINES.items():
            if line.startswith(start):
                rows[key] = line.removeprefix(start).strip()

    remove = device.client.add_listener(keep)
    try:
        await device.robustly(lambda: device.command("AT+GMR"), "AT+GMR")
    except EspAtError:
        pass  # a build without it: left unknown
    finally:
        remove()
    return rows


@command.command("info")
@port_option("rainmaker")
@_common
@click.option(
    "--fetch/--no-fetch",
    default=True,
    show_default=True,
    help="Ask the cloud for a pending job (AT+RMOTAFETCH); this also tells whether the module "
    "is connected to RainMaker.",
)
@_fetch_timeout(10.0)
@click.pass_context
def info(
    ctx: click.Context,
    port: str,
    baud: int,
    rtscts: bool,
    probe_timeout: float | None,
    fetch: bool,
    fetch_timeout: float,
) -> None:
    """The module's AT firmware versions, whether it reaches the RainMaker cloud (node
    initialised, Wi-Fi, MQTT) and the pending host-MCU job, if any (URL redacted)."""
    timeouts = attrs.evolve(Timeouts(), notification=fetch_timeout)

    async def job(reporter: Reporter) -> None:
        rows: dict[str, object] = {"port": port}
        async with _session(port, baud, rtscts, probe_timeout, timeouts=timeouts) as session:
            rows.update(await _versions(session))
            if fetch:
                rows.update(await _cloud(session, fetch_timeout))
            status = session.device.module_ota_status
            rows["module_ota_status"] = status
        reporter.table("info", rows)

    run(ctx, job)


async def _cloud(session: RainMakerSession, seconds: float) -> dict[str, object]:
    """Whether the module reaches the cloud, and the pending job it names."""
    empty: dict[str, object] = dict.fromkeys(("job", "job_version", "job_size", "job_url"))
    try:
        found = await session.fetch()
    except NoUpdateError:
        return {"cloud": "connected", **empty, "note": f"no pending job seen within {seconds:g} s"}
    except EspAtError as exc:
        code = f" (ERR CODE {exc.err_code})" if exc.err_code is not None else ""
        state = f"not ready: node not initialised, no Wi-Fi or no MQTT connection{code}"
        return {"cloud": state, **empty}
    return {
        "cloud": "connected",
        "job": found.job_id,
        "job_version": found.version or "unknown",
        "job_size": found.size,
        "job_url": redact(found.url),
    }


@command.command("wait")
@port_option("rainmaker")
@_common
@click.option("--push", is_flag=True, help="Wait for a pushed job instead of AT+RMOTAFETCH.")
@_fetch_timeout(_NOTIFICATION)
@click.pass_context
def wait(
    ctx: click.Context,
    port: str,
    baud: int,
    rtscts: bool,
    probe_timeout: float | None,
    push: bool,
    fetch_timeout: float,
) -> None:
    """Show the pending host-MCU OTA job (its URL's query string redacted); with no job
    pending, there is nothing to do (exit 3)."""

    async def job(reporter: Reporter) -> None:
        options = {
            "retry": RetryPolicy(attempts=4),
            "timeouts": attrs.evolve(Timeouts(), notification=fetch_timeout),
        }
        async with _session(port, baud, rtscts, probe_timeout, **options) as session:
            if push:
                found = await anext(session.notifications())
            else:
                try:
                    found = await session.fetch()
                except NoUpdateError as exc:
                    raise NothingToDo(exc.message, job=None) from exc
        reporter.table("job", _job_rows(found))

    run(ctx, job)


@command.command("update")
@ports_option("rainmaker")
@_common
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where the downloaded image is installed ({port}: the port's name, with several ports).",
)
@click.option("--resume/--no-resume", default=True, show_default=True, help="Range resume.")
@click.option("--retries", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--reject-version", multiple=True, help="Report these versions rejected.")
@click.option(
    "--expected-sha256",
    metavar="HEX",
    help="Install only an image with this SHA-256 (else reported failed).",
)
@click.option(
    "--require-verified",
    is_flag=True,
    help="Refuse an image nothing can verify (no --expected-sha256, no hash of its own).",
)
@_fetch_timeout(_NOTIFICATION)
@fleet_options
@click.pass_context
def update(
    ctx: click.Context,
    ports: tuple[str, ...],
    baud: int,
    rtscts: bool,
    probe_timeout: float | None,
    fetch_timeout: float,
    output: Path,
    resume: bool,
    retries: int,
    reject_version: tuple[str, ...],
    expected_sha256: str | None,
    require_verified: bool,
    report: Path | None,
    jobs: int | None,
) -> None:
    """Download the pending job, verify it, write it to OUTPUT, report success (or the failure).

    The image streams to OUTPUT.part and is moved to OUTPUT once verified; a failed update
    leaves OUTPUT as it was. With no job pending, there is nothing to do (exit 3).
    """
    outputs = per_device(ports, output)

    async def update_one(port: str, progress: ProgressCallback | None) -> UpdateResult:
        sink, install = staged(outputs[port])
        options = {
            "retry": RetryPolicy(attempts=retries),
            "resume": resume,
            "timeouts": attrs.evolve(Timeouts(), notification=fetch_timeout),
        }
        try:
            async with _session(port, baud, rtscts, probe_timeout, **options) as session:
                result = await session.update(
                    install=install,
                    sink=sink,
                    accept=lambda found: (
                        found.version not in reject_version or f"version {found.version} refused"
                    ),
                    progress=progress,
                    expected_sha256=expected_sha256,
                    require_verified=require_verified,
                )
        except NoUpdateError as exc:
            raise NothingToDo(exc.message, job=None) from exc
        return as_installed(result)

    extra: dict[str, object] | None = {"output": str(output)} if len(ports) == 1 else None
    run_updates(
        ctx, ports, update_one, report=report, jobs=jobs, extra_rows=extra, label=output.name
    )


# --- what the shared commands use ----------------------------------------------------------------


def emulator_factory(image: bytes | None, model: LinkModel) -> Emulator:
    """``aiodfu emulate rainmaker --image FILE``: FILE is served as a pending host-MCU job."""
    from aiodfu.testing.rainmaker import RainMakerEmulator

    return RainMakerEmulator(serve_image=image, link_model=model)


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    """Download a job through the emulated module over a paced UART and verify it."""
    from aiodfu.testing.images import random_firmware
    from aiodfu.testing.rainmaker import RainMakerEmulator

    image = random_firmware(size, seed=6)
    emulator = RainMakerEmulator(serve_image=image, link_model=LinkModel(baud=baud), seed=6)
    installed: list[bytes] = []
    reporter.say(f"RainMaker: host-MCU OTA of {size} bytes over an emulated {baud}-baud UART")

    def install(received: FirmwareImage) -> None:
        installed.append(received.data)

    async with emulator, RainMakerSession(emulator.connect, baudrate=baud) as session:
        result = await session.update(install=install, progress=reporter.progress("rainmaker"))
    report_demo(
        reporter,
        "rainmaker",
        image,
        installed[0] if installed else None,
        result=result,
        details={"job_status": emulator.job_status.get(emulator.job_id, "?")},
    )
