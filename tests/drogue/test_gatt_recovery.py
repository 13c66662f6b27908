"""Link loss at random points over BLE: the update resumes from the device's offset and ends with
an identical image, or fails typed within its timeouts -- never a hang."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodfu.drogue import connect
from aiodfu.drogue.protocol.gatt_service import Control
from aiodfu.testing.ble import BleLinkModel, BleRadio, BumbleBleakClient
from aiodfu.testing.drogue import BootMagic
from aiodfu.testing.drogue.gatt import DrogueGattFaults, DrogueGattHost

from .conftest import FAST_RETRY, NEW, emulator
from .gatt_fixtures import GATT_TIMEOUTS

IMAGE = NEW[:4096]
REQUESTS = 140  # an update of IMAGE in 64-byte blocks serves more reads and writes than this
HYPOTHESIS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


async def update_with_a_drop(faults: DrogueGattFaults) -> DrogueGattHost:
    async with BleRadio() as radio:
        host = DrogueGattHost(emulator(), radio, faults=faults)
        await host.start()
        client = {"backend": BumbleBleakClient, "radio": radio, "link_model": BleLinkModel(mtu=247)}
        session = connect(
            host.address, timeouts=GATT_TIMEOUTS, retry=FAST_RETRY, client_options=client
        )
        try:
            async with session:
                await asyncio.wait_for(session.update(IMAGE, version="0.2.0"), 30)
            await host.idle()
        finally:
            await host.aclose()
    assert not host.failures and not host.device.failures
    return host


@given(drop_after=st.integers(min_value=2, max_value=REQUESTS))
@HYPOTHESIS
async def test_link_loss_anywhere_resumes_with_identical_image(drop_after: int) -> None:
    host = await update_with_a_drop(DrogueGattFaults(disconnect_after=drop_after))
    device = host.device
    assert host.dropped == 1
    assert device.image == IMAGE
    assert device.boot_state is BootMagic.BOOT
    assert not device.errors  # no block out of order, none at a wrong offset
    blocks = [value for what, value in host.requests if what == "firmware"]
    assert b"".join(blocks) == IMAGE  # resumed from the device's offset: no byte sent twice
    swaps = [v for what, v in host.requests if what == "control" and v[0] == Control.SWAP]
    assert len(swaps) == 1


@given(lost=st.integers(min_value=2, max_value=REQUESTS))
@HYPOTHESIS
async def test_request_lost_anywhere_resumes_with_identical_image(lost: int) -> None:
    """The request never reaches the device (a write is not applied); the link drops."""
    host = await update_with_a_drop(DrogueGattFaults(lose_request=lost))
    device = host.device
    assert host.dropped == 1
    assert device.image == IMAGE and device.boot_state is BootMagic.BOOT
    assert not device.errors
    blocks = [value for what, value in host.requests if what == "firmware"]
    assert b"".join(blocks) == IMAGE  # the lost block is sent again, no other
