"""Finding a device again: an address match beats a device that only looks the part."""

from __future__ import annotations

import asyncio

from aiodfu.testing.ble import BleRadio, BumbleBleakScanner
from aiodfu.transports.ble_scan import Wanted, scan_for

from .conftest import ABSENT, PRESENT

DFU_SERVICE = "00001530-1212-efde-1523-785feabcd123"
LOOKALIKE = "C0:FF:EE:00:00:42"


async def test_the_wanted_address_wins_over_an_earlier_lookalike(radio: BleRadio) -> None:
    """Another board's bootloader advertises the same name and service from the start; ours
    comes up a little later (it is still rebooting): the scan returns ours."""
    lookalike = await radio.add_peripheral(LOOKALIKE)
    await lookalike.advertise("AdaDFU", [DFU_SERVICE])
    ours = await radio.add_peripheral(PRESENT)
    wanted = Wanted(addresses=(PRESENT,), names=("AdaDFU",), service_uuids=(DFU_SERVICE,))
    options = {"backend": BumbleBleakScanner, "radio": radio}

    async def boot_later() -> None:
        await asyncio.sleep(0.2)
        await ours.advertise("AdaDFU", [DFU_SERVICE])

    booting = asyncio.ensure_future(boot_later())
    found = await scan_for(wanted, timeout=1.5, scanner_options=options)
    await booting
    assert found == PRESENT


async def test_a_lookalike_is_taken_when_the_address_never_shows(radio: BleRadio) -> None:
    lookalike = await radio.add_peripheral(LOOKALIKE)
    await lookalike.advertise("AdaDFU", [DFU_SERVICE])
    wanted = Wanted(addresses=(ABSENT,), names=("AdaDFU",))
    options = {"backend": BumbleBleakScanner, "radio": radio}
    assert await scan_for(wanted, timeout=0.5, scanner_options=options) == LOOKALIKE
    assert await scan_for(Wanted(names=("Other",)), timeout=0.3, scanner_options=options) is None
