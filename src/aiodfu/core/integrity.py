"""Checksums and digests, all computed by the standard library's C code.

CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR) is
``binascii.crc_hqx`` with an initial value of 0xFFFF; its check value over
``b"123456789"`` is 0x29B1.
"""

from __future__ import annotations

import binascii
import hashlib
import zlib
from collections.abc import Iterable

Buffer = bytes | bytearray | memoryview


def crc16_ccitt_false(data: Buffer, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE; pass the previous result as ``crc`` to continue over more data."""
    return binascii.crc_hqx(data, crc)


def crc32(data: Buffer, crc: int = 0) -> int:
    """CRC-32 (ISO-HDLC, as zlib and zip use it); chainable like :func:`crc16_ccitt_false`."""
    return zlib.crc32(data, crc)


def md5(data: Buffer) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def sha256(data: Buffer) -> bytes:
    return hashlib.sha256(data).digest()


def sha256_of_parts(parts: Iterable[Buffer]) -> bytes:
    """SHA-256 over several buffers without joining them first."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.digest()
