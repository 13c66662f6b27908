"""``aiodfu serial-modem ...``: update, inspect and reset Nordic Serial Modems.

Every command first probes the port (:mod:`aiodfu.cli.probe`): one ``AT`` with a
short timeout, then -- if the device is silent, perhaps stuck in a data mode --
the same filler and ``AT`` the session's handshake sends, all within
:func:`default_probe_bound`. ``update`` takes several ``--port`` options (or a
glob) and updates the devices concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click

from aiodfu.at.diagnosis import looks_like_at
from aiodfu.cli.fleet import fleet_options, run_updates
from aiodfu.cli.options import port_option, ports_option
from aiodfu.cli.output import Reporter
from aiodfu.cli.probe import Probe, chosen_probe, probe_option, probed_port, wire_time
from aiodfu.cli.runner import run
from aiodfu.cli.verify import report_demo
from aiodfu.core.errors import ImageError, ImageFileNotFoundError
from aiodfu.core.image import FirmwareImage, ImageKind
from aiodfu.core.progress import ProgressCallback
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.formats import identify, load_image
from aiodfu.serial_modem import (
    Mode,
    SerialModemDevice,
    SerialModemSession,
    Timeouts,
    UpdateType,
    build_payload,
)
from aiodfu.serial_modem.payload import infer_type
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

if TYPE_CHECKING:  # the emulators are imported where used: a CLI start never loads them
    from aiodfu.testing.emulator import Emulator

log = logging.getLogger("aiodfu.cli")

_TYPES = [member.cli_name for member in UpdateType]
_FILLER = 4096
"""The filler the handshake sends to end a data mode the device may be stuck in
(:attr:`SerialModemDevice.flush_size`'s default)."""
_FORCE_HINT = (
    "--force sends it anyway: the device checks the image itself (MCUboot when it swaps it "
    "in at the next reset, the modem when it applies a delta patch)."
)


# --- the probe ---------------------------------------------------------------------------------


def default_probe_bound(baudrate: int) -> float:
    """The probe's default bound: two ``AT`` of about 1.6 s, the filler between them and its
    settling time -- 4.2 s at 115200 baud."""
    return 3.5 + 2 * wire_time(_FILLER, baudrate)


def probe_for(baudrate: int, bound: float) -> Probe:
    """The session's own handshake (``AT``; if silent, filler and ``AT`` again) within ``bound``."""
    spare = max(bound - 2 * wire_time(_FILLER, baudrate), 0.2)
    ping, settle = spare * 0.45, spare * 0.1  # a silent device takes all of ``bound``
    defaults = Timeouts()
    timeouts = attrs.evolve(
        defaults,
        ping=ping,
        command=ping,
        recovery_settle=settle,
        release=max(defaults.release, ping + settle + 1),
    )

    async def check(stream: ByteStream) -> Mode:
        device = SerialModemDevice(
            lambda: stream, timeouts=timeouts, baudrate=baudrate, retry=RetryPolicy(attempts=2)
        )
        try:
            await device.reopen()
            await device.handshake()
            return device.mode
        finally:
            await device.aclose()

    return Probe(
        protocol="AT",
        bound=bound,
        check=check,
        recognises=looks_like_at,
        extra_hint="RTS/CTS flow control is on by default: --no-rtscts if the lines are not wired",
    )


@asynccontextmanager
async def _session(
    port: str, baud: int, rtscts: bool, probe_timeout: float | None, **options: Any
) -> AsyncIterator[SerialModemSession]:
    probe = chosen_probe(probe_timeout, baud, default_probe_bound, probe_for)
    async with (
        probed_port(port, baud, rtscts=rtscts, probe=probe) as connector,
        SerialModemSession(connector, baudrate=baud, flow_control=rtscts, **options) as session,
    ):
        yield session


# --- the commands ------------------------------------------------------------------------------


@click.group("serial-modem")
def command() -> None:
    """Nordic Serial Modem AT DFU over UART."""


_baud = click.option("--baud", default=115200, show_default=True, type=click.IntRange(min=1))
_rtscts = click.option(
    "--rtscts/--no-rtscts", default=True, show_default=True, help="RTS/CTS flow control."
)


def _load(file: Path, force: bool, type_name: str | None) -> tuple[FirmwareImage, UpdateType]:
    """The image and its update type, checked as the session will before anything is sent.

    With ``force``, a file whose checks fail -- a bad hash, or one that does not even
    parse, such as a truncated MCUboot image -- is loaded as it is, its kind told by its
    magic; the device checks it (MCUboot at swap, the modem for a delta). Without it, the
    error's hint says so (a full-modem package must always parse: ``--force`` cannot help).
    """
    try:
        image = _read(file, force)
        update_type = UpdateType.from_cli_name(type_name) if type_name else infer_type(image)
        build_payload(image, update_type, force=force)
    except ImageFileNotFoundError:
        raise
    except ImageError as exc:
        named = UpdateType.from_cli_name(type_name) if type_name else None
        full_modem = UpdateType.MODEM_FULL in (named, _KIND_TYPES.get(identify(file.read_bytes())))
        if not force and not full_modem:
            exc.hint = _FORCE_HINT  # type: ignore[attr-defined]
        raise
    return image, update_type


_KIND_TYPES = {ImageKind.MODEM_FULL: UpdateType.MODEM_FULL}


def _read(file: Path, force: bool) -> FirmwareImage:
    if not force:
        return load_image(file)
    try:
        return load_image(file, verify=False)
    except ImageFileNotFoundError:
        raise
    except ImageError as exc:
        log.warning("%s does not parse (%s); --force sends it as it is", file, exc.message)
        image = load_image(file, kind=ImageKind.RAW)
        return attrs.evolve(image, kind=identify(image.data))


@command.command("update")
@ports_option("serial-modem")
@_baud
@_rtscts
@click.option("--type", "type_name", type=click.Choice(_TYPES), help="Default: from the file.")
@click.option("--reset", is_flag=True, help="Activate after applying (AT#XRESET / AT#XMODEMRESET).")
@click.option(
    "--force",
    is_flag=True,
    help="Send an image that fails its checks, even one that does not parse (types 0, 1, 3): "
    "the device checks it itself.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    help="Fixed chunk size in bytes. Default: sized from the link's baud rate and round trip.",
)
@probe_option
@fleet_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def update(
    ctx: click.Context,
    ports: tuple[str, ...],
    baud: int,
    rtscts: bool,
    type_name: str | None,
    reset: bool,
    force: bool,
    chunk_size: int | None,
    probe_timeout: float | None,
    report: Path | None,
    jobs: int | None,
    file: Path,
) -> None:
    """Send FILE to the device (or to every --port at once) and apply it."""
    image, update_type = _load(file, force, type_name)

    async def update_one(port: str, progress: ProgressCallback | None) -> UpdateResult:
        options = {"chunk_size": chunk_size}
        async with _session(port, baud, rtscts, probe_timeout, **options) as session:
            return await session.update(
                image, update_type=update_type, reset=reset, force=force, progress=progress
            )

    run_updates(
        ctx,
        ports,
        update_one,
        report=report,
        jobs=jobs,
        extra_rows={"file": str(file)},
        label=file.name,
    )


Action = Callable[[SerialModemSession], Awaitable[dict[str, object]]]


def _device_command(name: str, summary: str, action: Action) -> None:
    """Add ``serial-modem NAME --port ...``: open a session, run ``action``, report its rows."""

    @command.command(name, help=summary)
    @port_option("serial-modem")
    @_baud
    @_rtscts
    @probe_option
    @click.pass_context
    def device_command(
        ctx: click.Context, port: str, baud: int, rtscts: bool, probe_timeout: float | None
    ) -> None:
        async def job(reporter: Reporter) -> None:
            async with _session(port, baud, rtscts, probe_timeout) as session:
                rows = await action(session)
            reporter.table(name, {"port": port, **rows})

        run(ctx, job)


async def _ping(session: SerialModemSession) -> dict[str, object]:
    return {"mode": (await session.ping()).value}


async def _info(session: SerialModemSession) -> dict[str, object]:
    """What the device says about itself: its mode, versions, DFU types and bootloader slot."""
    info = await session.info()
    rows: dict[str, object] = {
        "mode": info.mode.value,
        "application": info.application,
        "modem_firmware": info.modem_firmware,
        "supported_types": [
            kind.cli_name if isinstance(kind, UpdateType) else str(kind)
            for kind in info.supported_types
        ],
        "bootloader_slot": info.bootloader_slot,
    }
    return {**rows, "note": info.note} if info.note else rows


async def _reset(session: SerialModemSession) -> dict[str, object]:
    await session.reset()
    return {"state": "rebooted"}


async def _modem_reset(session: SerialModemSession) -> dict[str, object]:
    await session.modem_reset()
    return {"state": "modem restarted"}


_device_command("ping", "Check the device answers AT and say which mode it is in.", _ping)
_device_command(
    "info",
    "What the device runs: its mode, application and modem firmware versions, the DFU types "
    "its build supports and the active bootloader slot.",
    _info,
)
_device_command(
    "reset", "AT#XRESET: reboot the device, activating an applied application update.", _reset
)
_device_command(
    "modem-reset",
    "AT#XMODEMRESET: restart the modem, activating an applied delta update.",
    _modem_reset,
)


# --- what the shared commands use ----------------------------------------------------------------


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    """Update the emulated modem's application over a modelled UART and verify it."""
    from aiodfu.testing.images import build_mcuboot_image, random_firmware
    from aiodfu.testing.serial_modem import SerialModemEmulator

    old = build_mcuboot_image(random_firmware(4096, seed=1), version=(1, 0, 0, 0))
    new = build_mcuboot_image(random_firmware(size, seed=2), version=(2, 0, 0, 7))
    emulator = SerialModemEmulator(
        app_image=old, link_model=LinkModel(baud=baud), command_latency=0.002
    )
    reporter.say(
        f"Serial Modem: application update of {len(new)} bytes over an emulated {baud}-baud UART"
    )
    async with (
        emulator,
        SerialModemSession(
            emulator.connect, baudrate=baud, retry=RetryPolicy(attempts=3)
        ) as session,
    ):
        result = await session.update(
            new,
            update_type=UpdateType.APPLICATION,
            reset=True,
            progress=reporter.progress("serial-modem application"),
        )
    report_demo(
        reporter,
        "serial-modem",
        new,
        emulator.active_app,
        result=result,
        details={"device_reports": result.details.get("application", "?")},
    )


def emulator_factory(image: bytes | None, model: LinkModel) -> Emulator:
    """``aiodfu emulate serial-modem``: ``--image`` is the application it runs before updates."""
    from aiodfu.testing.serial_modem import SerialModemEmulator

    return SerialModemEmulator(app_image=image, link_model=model)
