"""MCUboot images from the real imgtool 2.x, each option the issue lists: accepted with the
digest imgtool itself checks, or reported as uncheckable for a stated reason; tampered copies
refused with a message that names the TLV."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodfu import load_image
from aiodfu.core.errors import ImageError, ImageIntegrityError
from aiodfu.core.image import ImageKind
from aiodfu.formats import describe
from aiodfu.formats.checks import CheckStatus
from aiodfu.formats.mcuboot import McubootImage, parse_mcuboot

from .imgtool_images import HEADER_SIZE, SLOT_SIZE, Imgtool


def details(path: Path, **options: bool) -> tuple[bytes, McubootImage]:
    image = load_image(path, **options)
    assert image.kind is ImageKind.MCUBOOT
    assert isinstance(image.details, McubootImage)
    return image.data, image.details


def tampered(data: bytes, offset: int) -> bytes:
    copy = bytearray(data)
    copy[offset] ^= 0x40
    return bytes(copy)


@pytest.mark.parametrize(
    ("options", "key", "hash_name", "signature"),
    [
        ((), None, "sha256", None),
        (("--sha", "384"), None, "sha384", None),
        (("--sha", "512"), None, "sha512", None),
        ((), "ecdsa-p256", "sha256", "ECDSA_SIG"),
        ((), "ecdsa-p384", "sha384", "ECDSA_SIG"),
        (("--sha", "512"), "ed25519", "sha512", "ED25519"),
        ((), "rsa-2048", "sha256", "RSA2048_PSS"),
    ],
)
def test_signed_images_are_accepted_with_imgtools_digest(
    tool: Imgtool,
    options: tuple[str, ...],
    key: str | None,
    hash_name: str,
    signature: str | None,
) -> None:
    key_options = ("-k", str(tool.key(key))) if key else ()
    path = tool.sign(f"{hash_name}-{key}", *options, *key_options)
    data, parsed = details(path)
    assert parsed.hash_tlv is not None
    assert parsed.hash_tlv.value == tool.verify(path, key)
    hashed_end = HEADER_SIZE + parsed.header.image_size + parsed.header.protected_tlv_size
    assert parsed.hash_tlv.value == hashlib.new(hash_name, data[:hashed_end]).digest()
    assert [c.status for c in parsed.checks] == [CheckStatus.OK]
    assert parsed.checks[0].name == hash_name
    names = [tlv.name for tlv in parsed.tlvs]
    if signature:
        assert signature in names
    rows = dict(describe(load_image(path)))
    assert rows[f"{hash_name} check"].startswith("ok (stored ")
    assert rows["version"] == "1.2.3+4"
    # a flipped body byte is caught by that hash, and the message says which TLV
    with pytest.raises(ImageIntegrityError, match=rf"MCUboot {hash_name.upper()[:3]}-"):
        load_image(tampered(data, HEADER_SIZE + 100))


def test_hash_covers_header_body_and_protected_tlvs(tool: Imgtool) -> None:
    path = tool.sign(
        "protected",
        "--sha",
        "384",
        "-s",
        "auto",
        "--custom-tlv",
        "0xa0",
        "0x1234",
        "-d",
        "(1, 2.0.0)",
    )
    data, parsed = details(path)
    protected = [tlv.name for tlv in parsed.tlvs if tlv.protected]
    assert protected == ["SEC_CNT", "DEPENDENCY", "0xa0"]
    hashed_end = HEADER_SIZE + parsed.header.image_size + parsed.header.protected_tlv_size
    assert parsed.hash_tlv is not None
    assert parsed.hash_tlv.value == hashlib.sha384(data[:hashed_end]).digest()
    # a protected TLV is covered too: change the security counter
    counter = next(tlv for tlv in parsed.tlvs if tlv.name == "SEC_CNT")
    with pytest.raises(ImageIntegrityError, match="SHA-384 TLV does not match"):
        load_image(tampered(data, counter.offset + 4))


def test_pure_ed25519_signature(tool: Imgtool) -> None:
    path = tool.sign("pure", "--pure", "-k", str(tool.key("ed25519")))
    data, parsed = details(path)
    assert parsed.pure
    assert tool.verify(path, "ed25519") is None  # imgtool checks the signature over the image
    # imgtool 2.5 still writes a hash TLV next to SIG_PURE; older 2.x did not. Either is checked.
    if parsed.hash_tlv is not None:
        assert parsed.checks[0].status is CheckStatus.OK
        with pytest.raises(ImageIntegrityError):
            load_image(tampered(data, HEADER_SIZE + 5))
    # without a hash TLV only the public key could check it: accepted, and said so
    without_hash = _drop_unprotected_tlv(data, parsed, {0x10, 0x11, 0x12})
    again = parse_mcuboot(without_hash)
    assert again.hash_tlv is None
    (check,) = again.checks
    assert check.status is CheckStatus.NOT_CHECKED
    assert "pure signature" in check.detail
    assert dict(describe(load_image(without_hash)))["signature check"].startswith("not checked")


def _drop_unprotected_tlv(data: bytes, parsed: McubootImage, types: set[int]) -> bytes:
    start = HEADER_SIZE + parsed.header.image_size + parsed.header.protected_tlv_size
    kept = b"".join(
        struct.pack("<HH", t.type, len(t.value)) + t.value
        for t in parsed.tlvs
        if not t.protected and t.type not in types
    )
    return data[:start] + struct.pack("<HH", 0x6907, 4 + len(kept)) + kept


@pytest.mark.parametrize(
    ("flag", "state", "image_ok"),
    [("--pad", "test", 0xFF), ("--test", "test", 0xFF), ("--confirm", "confirmed", 0x01)],
)
def test_padded_images_lose_their_trailer_unless_asked(
    tool: Imgtool, flag: str, state: str, image_ok: int
) -> None:
    path = tool.sign(f"padded{flag}", flag, "-k", str(tool.key("ecdsa-p256")))
    raw = path.read_bytes()
    assert len(raw) == SLOT_SIZE
    data, parsed = details(path)
    assert parsed.trailer is not None
    assert (parsed.trailer.state, parsed.trailer.image_ok) == (state, image_ok)
    assert parsed.trailer.slot_size == SLOT_SIZE
    assert data == raw[: parsed.signed_size]  # stripped: what a DFU protocol sends
    assert parsed.hash_tlv is not None and parsed.hash_tlv.value == tool.verify(path)
    kept, _ = details(path, keep_trailer=True)
    assert kept == raw
    rows = dict(describe(load_image(path)))
    assert rows["trailer"].startswith(state)
    assert "stripped before sending" in rows["padding"]
    assert "kept" in dict(describe(load_image(path, keep_trailer=True)))["padding"]
    # the padding must be erased flash, and image_ok a flag
    with pytest.raises(ImageError, match="padding holds 0x") as info:
        load_image(tampered(raw, parsed.signed_size + 10))
    assert info.value.offset == parsed.signed_size + 10
    ok_at = SLOT_SIZE - 16 - 8
    broken = raw[:ok_at] + b"\x02" + raw[ok_at + 1 :]
    with pytest.raises(ImageError, match="image_ok is 0x02"):
        load_image(broken)


def test_padding_variants(tool: Imgtool) -> None:
    erased_zero = tool.sign("erased0", "--confirm", "-R", "0")
    _, parsed = details(erased_zero)
    assert parsed.trailer is not None
    assert (parsed.trailer.erased_value, parsed.trailer.state) == (0x00, "confirmed")
    wide = tool.sign("align32", "--confirm", "--max-align", "32", "--align", "4")
    _, parsed = details(wide)
    assert parsed.trailer is not None
    assert (parsed.trailer.max_align, parsed.trailer.state) == (32, "confirmed")


def test_padded_hex_from_imgtool(tool: Imgtool) -> None:
    path = tool.sign("padded-hex", "--confirm", "-x", "0x10000", suffix="hex")
    image = load_image(path)
    assert image.converted_from == "intel-hex"
    assert isinstance(image.details, McubootImage)
    assert image.details.trailer is not None and image.details.trailer.state == "confirmed"
    assert len(image.data) == image.details.signed_size


def test_trailing_bytes_that_are_not_a_trailer(tool: Imgtool) -> None:
    data = tool.sign("plain").read_bytes()
    with pytest.raises(ImageError, match=r"100 trailing bytes .* do not end with an MCUboot"):
        load_image(data + b"\xff" * 100)


@pytest.mark.parametrize(("key", "tlv"), [("x25519", "ENC_X25519"), ("ecdsa-p256", "ENC_EC256")])
def test_encrypted_images_are_sendable_but_their_hash_cannot_be_checked(
    tool: Imgtool, key: str, tlv: str
) -> None:
    signer = "ed25519" if key == "x25519" else "ecdsa-p256"
    path = tool.sign(f"enc-{key}", "-k", str(tool.key(signer)), "-E", str(tool.key(key)))
    data, parsed = details(path)
    assert parsed.encrypted
    assert "ENCRYPTED_AES128" in dict(describe(load_image(path)))["flags"]
    assert tlv in [t.name for t in parsed.tlvs]
    (check,) = parsed.checks
    assert check.status is CheckStatus.NOT_CHECKED
    assert "covers the plaintext" in check.detail
    assert parsed.hash_ok  # nothing failed: it is sendable
    # the ciphertext is not what the hash covers, so the host cannot see a flipped byte
    assert load_image(tampered(data, HEADER_SIZE + 3)).kind is ImageKind.MCUBOOT


@pytest.mark.parametrize(
    ("compression", "flags"),
    [
        ("lzma2", "COMPRESSED_LZMA2"),
        ("lzma2armthumb", "COMPRESSED_LZMA2 | COMPRESSED_ARM_THUMB"),
    ],
)
def test_compressed_images(tool: Imgtool, compression: str, flags: str) -> None:
    body = bytes(range(256)) * 24  # compressible, or imgtool falls back to uncompressed
    path = tool.sign(
        f"lzma-{compression}",
        "--compression",
        compression,
        "-k",
        str(tool.key("ecdsa-p256")),
        body=body,
    )
    data, parsed = details(path)
    assert parsed.compressed
    assert parsed.decompressed_size == len(body)
    assert parsed.header.image_size < len(body)
    protected = [tlv.name for tlv in parsed.tlvs if tlv.protected]
    assert protected == ["DECOMP_SIZE", "DECOMP_SHA", "DECOMP_SIGNATURE"]
    assert parsed.hash_tlv is not None and parsed.hash_tlv.value == tool.verify(path)
    rows = dict(describe(load_image(path)))
    assert rows["flags"].endswith(f"({flags})")
    assert rows["decompressed size"] == f"{len(body)} bytes"
    assert rows["protected TLV DECOMP_SHA"] == "type 0x71, 32 bytes"
    with pytest.raises(ImageIntegrityError, match="SHA-256 TLV does not match"):
        load_image(tampered(data, HEADER_SIZE + 10))


@pytest.fixture(scope="module")
def padded(tool: Imgtool) -> bytes:
    return tool.sign("fuzz-padded", "--confirm", "--sha", "512").read_bytes()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_padded_images_never_crash(padded: bytes, data: st.DataObject) -> None:
    signed = parse_mcuboot(padded).signed_size
    position = data.draw(st.integers(0, len(padded) - 1))
    mutated = bytearray(padded)
    mutated[position] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.sampled_from([len(padded), len(padded) - 1, signed, signed + 17]))
    try:
        parse_mcuboot(bytes(mutated[:cut]))
    except ImageError:
        return
    # only the trailer's own flag may change unnoticed (image_ok set -> erased is a --test image)
    assert cut <= position or position == len(padded) - 16 - 8
