import hashlib
import zlib

from hypothesis import given
from hypothesis import strategies as st

from aiodfu.core import integrity


def test_crc16_ccitt_false_check_value() -> None:
    assert integrity.crc16_ccitt_false(b"123456789") == 0x29B1


def test_crc16_chains_over_pieces() -> None:
    whole = integrity.crc16_ccitt_false(b"123456789")
    first = integrity.crc16_ccitt_false(b"1234")
    assert integrity.crc16_ccitt_false(b"56789", first) == whole


def test_crc32_check_value() -> None:
    assert integrity.crc32(b"123456789") == 0xCBF43926


def test_digests_match_hashlib() -> None:
    data = b"firmware" * 100
    assert integrity.md5(data) == hashlib.md5(data).digest()
    assert integrity.sha256(data) == hashlib.sha256(data).digest()


@given(st.lists(st.binary(max_size=64), max_size=8))
def test_sha256_of_parts_equals_joined(parts: list[bytes]) -> None:
    assert integrity.sha256_of_parts(parts) == hashlib.sha256(b"".join(parts)).digest()
    assert integrity.crc32(b"".join(parts)) == zlib.crc32(b"".join(parts))
