"""Shared pieces for the Notecard tests: fast timeouts, a test image, a faulty first link."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from aiodfu.core.transfer import RetryPolicy
from aiodfu.notecard import Notecard, Timeouts
from aiodfu.testing.images import random_firmware

FAST_TIMEOUTS = attrs.evolve(
    Timeouts(),
    first_byte=0.5,
    inter_byte=0.2,
    transaction=5.0,
    retry_pause=0.01,
    segment_pause=0.01,
    reset_settle=0.0,
    reset_drain=0.03,
    reset_pause=0.01,
    open=1.0,
    dfu_entry=2.0,
    dfu_probe_interval=0.02,
)
FAST_RETRY = RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.05)

IMAGE = random_firmware(20_000, seed=41)


def card_for(connector: Any, **options: Any) -> Notecard:
    options.setdefault("timeouts", FAST_TIMEOUTS)
    options.setdefault("retry", FAST_RETRY)
    return Notecard(connector, **options)


@pytest.fixture
def image() -> bytes:
    return IMAGE
