"""An emulated MCUboot that validates signatures refuses an image whose signature was spoiled.

Found by the fault campaign (serial-modem:5457): garbage on the UART changed the last bytes of
an application image -- inside its signature TLV, after the hash. A hash-only MCUboot boots it
(the code is intact), but an nRF Connect SDK MCUboot validates the signature and does not.
"""

from __future__ import annotations

import pytest

from aiodfu.core.errors import DfuError
from aiodfu.serial_modem import UpdateType
from aiodfu.testing import (
    SerialModemEmulator,
    build_mcuboot_image,
    build_signed_mcuboot_image,
    random_firmware,
)
from aiodfu.testing.serial_modem.signing import verify_mcuboot_signature

from .conftest import session_for

BODY = random_firmware(3000, seed=101)
SIGNED = build_signed_mcuboot_image(BODY, version=(2, 0, 0, 1))


def test_only_the_modelled_signature_verifies() -> None:
    assert verify_mcuboot_signature(SIGNED)
    assert not verify_mcuboot_signature(build_mcuboot_image(BODY, version=(2, 0, 0, 1)))
    spoiled = SIGNED[:-1] + bytes([SIGNED[-1] ^ 1])
    assert not verify_mcuboot_signature(spoiled)
    assert not verify_mcuboot_signature(b"not an image")


async def test_a_signed_image_is_swapped_in() -> None:
    device = SerialModemEmulator(mcuboot_signatures=True)
    async with device, session_for(device.connect) as session:
        result = await session.update(SIGNED, update_type=UpdateType.APPLICATION, reset=True)
    assert result.verification.verified
    assert device.active_app == SIGNED


@pytest.mark.parametrize("signatures", [True, False], ids=["validating", "hash-only"])
async def test_a_spoiled_signature_is_refused_only_by_a_validating_mcuboot(
    signatures: bool,
) -> None:
    at = len(SIGNED) - 3  # inside the signature TLV, after everything the hash covers
    spoiled = SIGNED[:at] + bytes([SIGNED[at] ^ 0x10]) + SIGNED[at + 1 :]
    device = SerialModemEmulator(mcuboot_signatures=signatures)
    async with device, session_for(device.connect) as session:
        if signatures:
            with pytest.raises(DfuError, match="MCUboot"):
                await session.update(spoiled, update_type=UpdateType.APPLICATION, reset=True)
            assert device.active_app is None
        else:
            result = await session.update(spoiled, update_type=UpdateType.APPLICATION, reset=True)
            assert result.verification.verified  # MCUboot checked the hash: the code is intact
            assert device.active_app == spoiled
