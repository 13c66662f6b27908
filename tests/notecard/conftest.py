"""Shared pieces for the Notecard tests: fast timeouts and pacing, a test image, session makers."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from aiodfu.core.transfer import RetryPolicy
from aiodfu.notecard import I2cPacing, NotecardSession, Timeouts, open_i2c
from aiodfu.testing.images import random_firmware

FAST_TIMEOUTS = attrs.evolve(
    Timeouts(),
    first_byte=0.5,
    inter_byte=0.2,
    transaction=5.0,
    retry_pause=0.01,
    segment_pause=0.01,
    reset_settle=0.001,
    reset_drain=0.03,
    reset_pause=0.01,
    open=1.0,
    dfu_entry=2.0,
    dfu_probe_interval=0.02,
)
FAST_PACING = I2cPacing(
    io_delay=0.0, chunk_delay=0.0, first_poll=0.001, poll_interval=0.005, nack_pause=0.005
)
FAST_RETRY = RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.05)

IMAGE = random_firmware(20_000, seed=41)


def card_for(connector: Any, **options: Any) -> NotecardSession:
    options.setdefault("timeouts", FAST_TIMEOUTS)
    options.setdefault("retry", FAST_RETRY)
    return NotecardSession(connector, **options)


@pytest.fixture
def image() -> bytes:
    return IMAGE


def i2c_card_for(bus: Any, **options: Any) -> NotecardSession:
    """A session over serial-over-I2C on ``bus`` with the fast timeouts, retries and pacing."""
    options.setdefault("timeouts", FAST_TIMEOUTS)
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("pacing", FAST_PACING)
    return open_i2c(bus, **options)
