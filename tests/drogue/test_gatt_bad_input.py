"""Bad input over BLE, from either side: each a typed error from the DfuError tree, never a hang;
and the emulated service refusing what the device's own vectors cannot hold."""

from __future__ import annotations

import asyncio

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.core.errors import DfuTimeoutError, RetriesExhaustedError, UnsupportedError, UsageError
from aiodfu.drogue import MalformedMessageError, WriteRejectedError
from aiodfu.drogue.protocol.gatt_service import (
    CONTROL_UUID,
    FIRMWARE_UUID,
    NEXT_VERSION_UUID,
    decode_mtu,
    decode_offset,
    decode_version,
    encode_offset,
)
from aiodfu.drogue.protocol.messages import Write
from aiodfu.testing.ble import BleRadio, BumbleBleakClient
from aiodfu.testing.drogue import BootMagic
from aiodfu.transports.gatt import AttError, GattLink

from .conftest import NEW, NO_RETRY, emulator
from .gatt_fixtures import (
    GATT_TIMEOUTS,
    HostFactory,
    SessionFactory,
    make_host,
    make_session,
    radio,
)

__all__ = ["make_host", "make_session", "radio"]  # fixtures used by name

ATT_INVALID_ATTRIBUTE_LENGTH = 0x0D


@given(st.integers(min_value=0, max_value=0xFFFF_FFFF))
def test_offset_round_trips_as_u32_little_endian(offset: int) -> None:
    assert decode_offset(encode_offset(offset)) == offset


@pytest.mark.parametrize("value", [b"", b"\x00\x01\x02", b"\x00" * 5])
def test_offset_of_another_size_is_malformed(value: bytes) -> None:
    with pytest.raises(MalformedMessageError, match="4-byte u32"):
        decode_offset(value)


def test_mtu_and_version_layouts_are_checked() -> None:
    assert decode_mtu(b"\x40") == 64
    with pytest.raises(MalformedMessageError):
        decode_mtu(b"\x40\x00")
    with pytest.raises(MalformedMessageError, match="at most 16"):
        decode_version(b"x" * 17, "version")


async def test_a_device_without_the_firmware_service_is_unsupported(
    radio: BleRadio, make_session: SessionFactory
) -> None:
    other = await radio.add_peripheral("C0:FF:EE:00:00:42", "Other")
    await other.advertise("Other")
    with pytest.raises(UnsupportedError, match="firmware service"):
        async with make_session(other.address):
            pass


async def test_device_block_size_below_the_alignment_is_unsupported(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    host = await make_host(mtu=4)
    async with make_session(host) as session:
        with pytest.raises(UnsupportedError):
            await session.update(NEW, version="0.2.0")
    assert host.requests == []


@pytest.mark.parametrize("version", ["", "x" * 17])
async def test_bad_version_fails_before_any_write(
    make_host: HostFactory, make_session: SessionFactory, version: str
) -> None:
    host = await make_host()
    async with make_session(host) as session:
        with pytest.raises(UsageError):
            await session.update(NEW, version=version)
    assert host.requests == []


async def test_flash_error_is_retried_from_the_device_offset(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    device = emulator()
    device.faults.flash_errors = {1024}
    host = await make_host(device)
    async with make_session(host) as session:
        result = await session.update(NEW, version="0.2.0")
    await host.idle()
    assert device.image == NEW and device.boot_state is BootMagic.BOOT
    assert result.attempts == 2 and "Flash" in device.errors[0]


async def test_device_stuck_on_a_stale_offset_exhausts_retries(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    device = emulator(stale_offset=True)
    device.apply(Write(b"0.3.0", None, 0, NEW[:512]))
    host = await make_host(device)
    async with make_session(host) as session:
        with pytest.raises(RetriesExhaustedError) as caught:
            await session.update(NEW, version="0.2.0")
    inner = caught.value.__cause__
    assert isinstance(inner, WriteRejectedError) and inner.offset == 0
    assert "0.2.0" in str(inner.status)
    assert device.image != NEW


async def test_device_that_never_comes_back_after_swap_times_out(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    host = await make_host(emulator(reboot_time=30.0))
    timeouts = attrs.evolve(GATT_TIMEOUTS, reboot=0.5)
    async with make_session(host, timeouts=timeouts, retry=NO_RETRY) as session:
        with pytest.raises(RetriesExhaustedError) as caught:
            await asyncio.wait_for(session.update(NEW[:512], version="0.2.0"), 10)
    assert isinstance(caught.value.__cause__, DfuTimeoutError)
    assert "reboot" in str(caught.value.__cause__)


@pytest.mark.parametrize(
    ("uuid", "value"),
    [(FIRMWARE_UUID, b"\x00" * 65), (NEXT_VERSION_UUID, b"x" * 17), (CONTROL_UUID, b"\x01\x00")],
    ids=["block", "version", "control"],
)
async def test_emulated_service_refuses_values_its_vectors_cannot_hold(
    radio: BleRadio, make_host: HostFactory, uuid: str, value: bytes
) -> None:
    host = await make_host()
    gatt = await GattLink.connect(host.address, timeout=2.0, backend=BumbleBleakClient, radio=radio)
    try:
        with pytest.raises(AttError) as caught:
            await gatt.write(uuid, value, response=True, timeout=2.0, operation="write")
    finally:
        await gatt.aclose()
    assert caught.value.status == ATT_INVALID_ATTRIBUTE_LENGTH
    assert host.requests == []
