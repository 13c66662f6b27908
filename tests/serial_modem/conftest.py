"""Shared pieces for the Serial Modem tests: fast timeouts and test images."""

from __future__ import annotations

import attrs
import pytest

from aiodfu.core.transfer import RetryPolicy
from aiodfu.serial_modem import SerialModemSession, Timeouts
from aiodfu.testing.images import build_full_modem_package, build_mcuboot_image, random_firmware
from aiodfu.testing.serial_modem.signing import (
    build_signed_modem_bootloader,
    build_signed_modem_delta,
)

FAST_TIMEOUTS = attrs.evolve(
    Timeouts(),
    command=1.0,
    init_delta=2.0,
    write_result=1.0,
    apply_result=2.0,
    bootloader_banner=2.0,
    ready=2.0,
    fota_result=0.5,
    ping=0.2,
    recovery_settle=0.05,
)
FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05)

APP = build_mcuboot_image(random_firmware(10_000, seed=10), version=(2, 1, 0, 3))
# Delta and full-modem images the emulated modem accepts as genuine (testing.serial_modem.signing).
DELTA = build_signed_modem_delta(random_firmware(9_000, seed=11))
FIRMWARE_SEGMENTS = [
    (0x50000, random_firmware(9_000, seed=13)),
    (0x80000, random_firmware(2_500, 14)),
]
BOOTLOADER_SEGMENT = build_signed_modem_bootloader(
    random_firmware(5_000, seed=12), FIRMWARE_SEGMENTS
)
FULL = build_full_modem_package(BOOTLOADER_SEGMENT, FIRMWARE_SEGMENTS)


def session_for(connector, **options) -> SerialModemSession:  # type: ignore[no-untyped-def]
    options.setdefault("timeouts", FAST_TIMEOUTS)
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("baudrate", None)
    return SerialModemSession(connector, **options)


@pytest.fixture
def chunk_size() -> int:
    return 1024
