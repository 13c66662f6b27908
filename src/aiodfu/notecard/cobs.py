"""The Notecard binary store's COBS variant: standard COBS, every byte XORed with ``0x0A``.

After the XOR no encoded byte is ``0x0A``, so the Notecard ends a frame with a
literal newline and a reader can take raw bytes "until ``\\n``". The encoder
matches note-c and note-python (a run of exactly 254 non-zero bytes still gets
a trailing code byte); the decoder accepts both styles.
"""

from __future__ import annotations

EOP = 0x0A
"""The end-of-packet byte the XOR keeps out of the encoded data."""


class CobsDecodeError(ValueError):
    """The encoded bytes are not a valid frame."""


def max_encoded_length(length: int) -> int:
    """The longest encoding of ``length`` bytes, without the terminating ``\\n``."""
    return length + length // 254 + 1


def encode(data: bytes) -> bytes:
    """Encode ``data`` (without the terminating ``\\n``)."""
    out = bytearray()
    code_at = 0
    out.append(0)
    code = 1
    for byte in data:
        if byte == 0:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
            continue
        out.append(byte)
        code += 1
        if code == 0xFF:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
    out[code_at] = code
    return bytes(byte ^ EOP for byte in out)


def decode(encoded: bytes) -> bytes:
    """Decode a frame (without its ``\\n``); raises :class:`CobsDecodeError` if malformed."""
    data = bytes(byte ^ EOP for byte in encoded)
    out = bytearray()
    index = 0
    while index < len(data):
        code = data[index]
        if code == 0:
            break
        end = index + code
        if end > len(data):
            raise CobsDecodeError(f"COBS group at {index} runs past the end of the frame")
        block = data[index + 1 : end]
        if 0 in block:
            raise CobsDecodeError(f"zero byte inside the COBS group at {index}")
        out += block
        index = end
        if code != 0xFF and index < len(data) and data[index] != 0:
            out.append(0)
    return bytes(out)
