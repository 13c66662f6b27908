from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.core.errors import ImageError
from aiodfu.formats.modem_delta import ModemDelta, parse_modem_delta
from aiodfu.testing.images import build_modem_delta, random_firmware


def test_round_trip() -> None:
    payload = random_firmware(5000, seed=3)
    data = build_modem_delta(payload)
    assert data[:4] == bytes(4)
    assert data[4:8] == bytes.fromhex("6d654475")
    assert data[8:] == payload
    assert parse_modem_delta(data) == ModemDelta(size=5008)


def test_header_only_patch_is_accepted() -> None:
    assert parse_modem_delta(build_modem_delta(b"")).size == 8


@pytest.mark.parametrize("size", [0, 4, 7])
def test_too_short(size: int) -> None:
    with pytest.raises(ImageError, match=f"only {size} bytes"):
        parse_modem_delta(build_modem_delta(b"")[:size])


def test_wrong_magic() -> None:
    with pytest.raises(
        ImageError, match=r"bytes 4\.\.7 are 6d 65 44 76, expected 6d 65 44 75"
    ) as info:
        parse_modem_delta(bytes(4) + b"meDv" + b"payload")
    assert info.value.offset == 4


def test_magic_at_the_wrong_offset() -> None:
    with pytest.raises(ImageError):
        parse_modem_delta(b"meDu" + bytes(8))


@given(
    st.one_of(
        st.binary(max_size=32),
        st.builds(
            lambda head, magic, tail: head + magic + tail,
            st.binary(min_size=0, max_size=6),
            st.sampled_from([b"meDu", b"meDv", b"MEDU"]),
            st.binary(max_size=16),
        ),
    )
)
def test_random_bytes_parse_iff_magic_present(data: bytes) -> None:
    try:
        delta = parse_modem_delta(data)
    except ImageError:
        assert data[4:8] != b"meDu"
    else:
        assert data[4:8] == b"meDu"
        assert delta.size == len(data)
