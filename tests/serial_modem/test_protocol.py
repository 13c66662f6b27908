"""The vocabulary host and emulator share: every line the device prints parses back to itself."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.serial_modem import Timeouts
from aiodfu.serial_modem.protocol import (
    BANNERS,
    BOOTLOADER_READY,
    READY,
    DfuUrc,
    FotaUrc,
    Mode,
    Operation,
    UpdateType,
    banner_for,
    dfu_urc_predicate,
    format_datamode,
    format_modem_reset,
    format_supported_types,
    parse_banner,
    parse_datamode,
    parse_dfu_urc,
    parse_fota_urc,
    parse_modem_reset,
    parse_supported_types,
)

statuses = st.integers(min_value=-(2**31), max_value=2**31 - 1)


@given(
    update_type=st.sampled_from(list(UpdateType)),
    operation=st.sampled_from(list(Operation)),
    status=statuses,
    legacy=st.booleans(),
)
def test_dfu_urc_round_trips(update_type, operation, status, legacy) -> None:  # type: ignore[no-untyped-def]
    urc = DfuUrc(update_type, operation, status)
    line = urc.format(legacy=legacy)
    assert line.startswith("#XDFU:" if legacy else "#XDFU: ")
    assert parse_dfu_urc(line) == urc
    assert dfu_urc_predicate(update_type, operation)(line)
    assert not dfu_urc_predicate(update_type, 3 - operation)(line)


@given(stage=statuses, status=statuses, info=st.none() | statuses)
def test_fota_urc_round_trips(stage, status, info) -> None:  # type: ignore[no-untyped-def]
    urc = FotaUrc(stage, status, info)
    assert parse_fota_urc(urc.format()) == urc
    assert urc.succeeded == (stage == 5 and status == 0)


@given(status=statuses)
def test_datamode_round_trips(status) -> None:  # type: ignore[no-untyped-def]
    assert parse_datamode(format_datamode(status)) == status


@given(step=st.integers(min_value=1, max_value=2), error=st.none() | statuses)
def test_modem_reset_round_trips(step, error) -> None:  # type: ignore[no-untyped-def]
    expected = (0, None) if error is None else (step, error)
    assert parse_modem_reset(format_modem_reset(step, error)) == expected


@given(types=st.frozensets(st.integers(min_value=0, max_value=3)))
def test_supported_types_round_trip(types) -> None:  # type: ignore[no-untyped-def]
    line = format_supported_types("#XDFUINIT", types, "<size>")
    assert parse_supported_types(line) == types


@pytest.mark.parametrize("mode", list(Mode))
def test_banners_round_trip_and_are_told_apart(mode: Mode) -> None:
    assert parse_banner(banner_for(mode)) is mode
    assert banner_for(mode) in BANNERS


def test_lines_that_are_not_the_vocabulary_do_not_parse() -> None:
    assert parse_banner("Bootloader mode ready!") is None
    assert parse_banner("INIT ERROR") is None
    assert (parse_banner(READY), parse_banner(BOOTLOADER_READY)) == (Mode.NORMAL, Mode.BOOTLOADER)
    assert parse_dfu_urc("#XDFU: 0,1") is None
    assert parse_dfu_urc("#XDFU:0,1,0") == DfuUrc(0, 1, 0)  # before commit 8065574
    assert parse_fota_urc("#XFOTA: x,0") is None
    assert parse_datamode("#XDATAMODE:") is None
    assert parse_modem_reset("#XMODEMRESET: ") is None
    assert parse_supported_types("#XDFUINIT: <size>") == frozenset()


def test_timeouts_refuse_a_release_too_short_to_confirm_anything() -> None:
    with pytest.raises(ValueError, match="release"):
        Timeouts(release=1.0)
    assert Timeouts().scaled(0.01).release == pytest.approx(0.1)
