"""Many devices from one process: the CLI's fleet runner updating 100 emulated Serial Modems.

Each device is a :class:`SerialModemEmulator` on its own in-memory link; the
fleet runner (:func:`aiodfu.cli.fleet.update_all`, what ``update --port A
--port B ...`` runs) updates them all concurrently with ``reset`` so every
device verifies its image (MCUboot's hash check, reported through
``#XFOTA``), and every image is then compared byte for byte. The reporter is
the CLI's own in ``--json`` mode (its lines kept in memory), so the cost of
progress reporting is counted too.

* CPU per device: one device alone vs. 100 at once on an unthrottled link
  (host and emulators share the process, so this is the sum of both).
* Wall time on a 1 Mbaud link: 100 devices at once vs. one device, as a
  measure of how well one process overlaps them.
"""

from __future__ import annotations

import io

from aiodfu.cli.fleet import FleetReport, Status, update_all
from aiodfu.cli.output import Reporter
from aiodfu.core.progress import ProgressCallback
from aiodfu.core.session import UpdateResult
from aiodfu.serial_modem import SerialModemSession, UpdateType
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from aiodfu.testing.serial_modem import SerialModemEmulator
from aiodfu.transports.memory import LinkModel
from benchmarks.common import Stopwatch, print_table

KIB = 1024


async def update_devices(
    count: int, image: bytes, baud: int | None
) -> tuple[FleetReport, float, float]:
    """Update ``count`` emulated devices at once; (report, wall s, CPU s). Raises unless every
    device confirmed a verified update and holds ``image`` byte for byte."""
    devices = {
        f"emulated-{index:03d}": SerialModemEmulator(
            link_model=LinkModel(baud=baud), reboot_time=0.01
        )
        for index in range(count)
    }

    async def update_one(name: str, progress: ProgressCallback | None) -> UpdateResult:
        device = devices[name]
        async with device, SerialModemSession(device.connect, baudrate=baud) as session:
            return await session.update(
                image, update_type=UpdateType.APPLICATION, reset=True, progress=progress
            )

    reporter = Reporter(json_lines=True, json_stream=io.StringIO())
    with Stopwatch() as watch:
        report = await update_all(list(devices), update_one, reporter=reporter)
    failed = [o for o in report.outcomes if o.status is not Status.UPDATED]
    if failed:
        raise AssertionError(f"{len(failed)} devices failed: {failed[0].error}")
    for outcome in report.outcomes:
        assert outcome.result is not None
        if not outcome.result.verification.verified:
            raise AssertionError(f"{outcome.device}: the update was not verified")
        if devices[outcome.device].active_app != image:
            raise AssertionError(f"{outcome.device} runs a different image")
    return report, watch.wall, watch.cpu


async def run(quick: bool) -> None:
    count = 100
    size = 16 * KIB if quick else 64 * KIB
    image = build_mcuboot_image(random_firmware(size - 0x200 - 40, seed=1))
    await update_devices(1, image, None)  # warm-up
    single_cpu = min([(await update_devices(1, image, None))[2] for _ in range(3)])
    _, fleet_wall, fleet_cpu = await update_devices(count, image, None)
    per_device = fleet_cpu / count
    _, paced_single_wall, _ = await update_devices(1, image, 1_000_000)
    _, paced_fleet_wall, _ = await update_devices(count, image, 1_000_000)
    print_table(
        f"Fleet: {count} emulated Serial Modems updated from one process, "
        f"{len(image) / KIB:.0f} KiB each, every image verified",
        ["measure", "value"],
        [
            ("CPU s per device, one device alone (host + emulator)", f"{single_cpu:.4f}"),
            (f"CPU s per device, {count} at once", f"{per_device:.4f}"),
            ("at once / alone, CPU per device", f"{per_device / single_cpu:.2f}"),
            (f"wall s, {count} at once, unthrottled links", f"{fleet_wall:.2f}"),
            ("wall s, one device, 1 Mbaud link", f"{paced_single_wall:.2f}"),
            (f"wall s, {count} at once, 1 Mbaud links", f"{paced_fleet_wall:.2f}"),
            (
                f"{count} at once / one device, wall, 1 Mbaud",
                f"{paced_fleet_wall / paced_single_wall:.1f}",
            ),
        ],
    )
