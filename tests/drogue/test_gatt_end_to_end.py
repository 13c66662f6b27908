"""Updates over BLE through bleak on the Bumble-hosted device: the active image byte for byte,
state BOOT; the revert path; resume from the device's offset; one device over both transports."""

from __future__ import annotations

import pytest

from aiodfu.drogue import DeviceRevertedError
from aiodfu.drogue.protocol.gatt_service import Control
from aiodfu.drogue.protocol.messages import Write
from aiodfu.testing.ble import BleLinkModel
from aiodfu.testing.drogue import BootMagic, BootOutcome

from .conftest import NEW, NEW_VERSION, OLD, OLD_VERSION, emulator, session_for
from .gatt_fixtures import HostFactory, SessionFactory, make_host, make_session, radio

__all__ = ["make_host", "make_session", "radio"]  # fixtures used by name


def controls(host) -> list[int]:  # type: ignore[no-untyped-def]
    return [value[0] for what, value in host.requests if what == "control"]


def blocks(host) -> list[bytes]:  # type: ignore[no-untyped-def]
    return [value for what, value in host.requests if what == "firmware"]


@pytest.mark.parametrize(("att_mtu", "block"), [(23, 16), (247, 64)])
async def test_update_installs_image_byte_for_byte(
    make_host: HostFactory, make_session: SessionFactory, att_mtu: int, block: int
) -> None:
    host = await make_host()
    model = BleLinkModel(mtu=att_mtu)
    async with make_session(host, client_options={"link_model": model}) as session:
        result = await session.update(NEW, version="0.2.0")
    await host.idle()
    device = host.device
    assert device.image == NEW
    assert device.version == NEW_VERSION and device.boot_state is BootMagic.BOOT
    assert device.dfu_image == OLD
    assert b"".join(blocks(host)) == NEW
    assert {len(b) for b in blocks(host)[:-1]} == {block}
    assert len(blocks(host)[-1]) == (len(NEW) % block or block)  # not padded to the block size
    assert controls(host) == [Control.START, Control.SWAP, Control.MARK_BOOTED]
    assert ("next_version", NEW_VERSION) in host.requests
    assert result.details["state"] == "booted" and result.details["previous_version"] == "0.1.0"
    assert not device.errors


async def test_device_mtu_below_the_att_limit_sets_the_block(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    host = await make_host(mtu=40)
    async with make_session(host, client_options={"link_model": BleLinkModel(mtu=247)}) as s:
        await s.update(NEW[:1001], version="0.2.0")
    await host.idle()
    assert host.device.image == NEW[:1001] + b"\xff" * 7
    assert max(len(b) for b in blocks(host)) == 40 and len(blocks(host)[-1]) == 1008 % 40


async def test_revert_raises_typed_error_and_keeps_old_image(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    device = emulator()
    device.faults.new_firmware_fails_to_boot = True
    host = await make_host(device)
    async with make_session(host) as session:
        with pytest.raises(DeviceRevertedError) as caught:
            await session.update(NEW, version="0.2.0")
    assert device.image == OLD and device.version == OLD_VERSION
    assert device.boot_state is BootMagic.REVERT
    assert device.boots == [BootOutcome.SWAPPED, BootOutcome.REVERTED]
    assert "0.1.0" in str(caught.value.status)


async def test_unconfirmed_firmware_reverts_on_the_next_reset(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    host = await make_host()
    async with make_session(host, confirm=False) as session:
        result = await session.update(NEW, version="0.2.0")
    await host.idle()
    device = host.device
    assert result.details["state"] == "running, unconfirmed"
    assert Control.MARK_BOOTED not in controls(host)
    assert device.image == NEW and device.boot_state is BootMagic.SWAP
    device.reset()
    assert device.image == OLD and device.boot_state is BootMagic.REVERT


async def test_resumes_from_the_device_offset(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    device = emulator()
    device.apply(Write(NEW_VERSION, None, 0, NEW[:2048]))
    host = await make_host(device)
    async with make_session(host) as session:
        result = await session.update(NEW, version="0.2.0")
    await host.idle()
    assert Control.START not in controls(host)
    assert b"".join(blocks(host)) == NEW[2048:]
    assert result.details["resumed_at"] == "2048"
    assert device.image == NEW and device.boot_state is BootMagic.BOOT


async def test_device_already_running_the_version_is_marked_booted(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    host = await make_host(emulator(version=NEW_VERSION))
    async with make_session(host) as session:
        result = await session.update(NEW, version="0.2.0")
    await host.idle()
    assert host.requests == [("control", bytes([Control.MARK_BOOTED]))]
    assert result.details["state"] == "already up to date"


async def test_erase_time_is_waited_out_by_polling_the_offset(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    host = await make_host(emulator(erase_time=0.1))
    async with make_session(host) as session:
        await session.update(NEW, version="0.2.0")
    await host.idle()
    assert host.device.image == NEW and not host.device.errors


async def test_one_device_over_both_transports(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    """Half the image over serial, the link drops; the rest over BLE from the device's offset."""
    device = emulator(mtu=512)
    async with device, session_for(device.connect) as serial:
        status = await serial.status()
    assert status.update is None
    device.apply(Write(NEW_VERSION, None, 0, NEW[:4096]))  # as a serial host would have
    host = await make_host(device)
    async with make_session(host) as session:
        result = await session.update(NEW, version="0.2.0")
    await host.idle()
    assert result.details["resumed_at"] == "4096"
    assert device.image == NEW and device.boot_state is BootMagic.BOOT


async def test_device_mtu_above_its_vector_is_capped_at_64(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    host = await make_host(mtu=200)
    async with make_session(host, client_options={"link_model": BleLinkModel(mtu=247)}) as s:
        await s.update(NEW, version="0.2.0")
    await host.idle()
    assert host.device.image == NEW
    assert max(len(b) for b in blocks(host)) == 64


async def test_gatt_result_says_the_image_could_not_be_verified(
    make_host: HostFactory, make_session: SessionFactory
) -> None:
    """Issue 10, defect 7: the GATT service has no checksum at all, whatever the firmware."""
    host = await make_host()
    async with make_session(host, firmware_checks_sha256=True) as session:
        result = await session.update(NEW[:1024], version="0.2.0")
    await host.idle()
    assert host.device.image == NEW[:1024]
    assert not result.verification.verified and "GATT" in result.verification.detail
