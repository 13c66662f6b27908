"""Full modem images (Serial Modem DFU type 2): a signed CBOR wrapper followed by a blob.

The wrapper's length is found by walking CBOR item headers ourselves, never
from a decoder's stream position: cbor2 5.8.0 reads ahead in 4096-byte blocks,
so ``tell()`` lies and every segment would be sliced from the wrong offset.
Once the length is known, cbor2 decodes exactly those bytes.

The signature is not verified (the modem does that); its algorithm is reported.
An algorithm other than -37 (PS256) is accepted with a warning, since the host
never relies on it and rejecting it would only block a future Nordic format.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import attrs
import cbor2

from aiodfu.core import integrity
from aiodfu.core.errors import ImageError, ImageIntegrityError
from aiodfu.formats.checks import Check

log = logging.getLogger("aiodfu.formats.modem_full")

COSE_SIGN1_TAG = 18
ALG_PS256 = -37
SIGNATURE_SIZE = 256
BLOB_HASH_SIZE = 32
MAX_ADDRESS = 0xFFFF_FFFF


@attrs.frozen
class ModemSegment:
    """One segment: where it goes in modem flash and where its bytes sit in the file."""

    address: int
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length

    def data_in(self, data: bytes) -> memoryview:
        """This segment's bytes, sliced without copying from the package file's ``data``."""
        return memoryview(data)[self.offset : self.end]


@attrs.frozen
class FullModemPackage:
    """A parsed full-modem image; ``blob_hash_ok`` is False only with ``verify=False``."""

    version: int
    compat: int
    blob_hash: bytes
    segments: tuple[ModemSegment, ...]
    wrapper_length: int
    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    algorithm: int | str | None = ALG_PS256
    blob_hash_ok: bool = True

    @property
    def bootloader(self) -> ModemSegment:
        """Segment 0, written in phase 1 (its address is ignored by the device)."""
        return self.segments[0]

    @property
    def firmware_segments(self) -> tuple[ModemSegment, ...]:
        """Segments 1..N, written in phase 2 at their addresses."""
        return self.segments[1:]

    def segment_data(self, segment: ModemSegment) -> memoryview:
        return segment.data_in(self.data)


def parse_full_modem(data: bytes, *, verify: bool = True) -> FullModemPackage:
    """Parse and check a full-modem ``.cbor`` image.

    Raises :class:`ImageError` for anything malformed and
    :class:`ImageIntegrityError` when the blob's SHA-256 differs from the
    manifest's ``blob_hash`` (unless ``verify`` is False).
    """
    data = bytes(data)
    major, tag, _ = _read_head(data, 0, "full-modem wrapper")
    if (major, tag) != (6, COSE_SIGN1_TAG):
        raise ImageError(
            "not a full-modem image: expected CBOR tag 18 (COSE_Sign1) at the start, "
            f"found major type {major} with argument {tag}",
            offset=0,
        )
    wrapper_length = cbor_item_end(data, 0, "full-modem wrapper")
    wrapper = _loads(data[:wrapper_length], "full-modem wrapper")
    if not isinstance(wrapper, cbor2.CBORTag) or wrapper.tag != COSE_SIGN1_TAG:
        raise ImageError("full-modem wrapper is not CBOR tag 18 (COSE_Sign1)", offset=0)
    protected, unprotected, payload, signature = _array(wrapper.value, 4, "COSE_Sign1 array")
    algorithm = _algorithm(_bstr(protected, "protected header"))
    if not isinstance(unprotected, Mapping):
        raise ImageError(f"COSE_Sign1 unprotected header is {_kind(unprotected)}, expected a map")
    sig = _bstr(signature, "COSE_Sign1 signature")
    if len(sig) != SIGNATURE_SIZE:
        raise ImageError(f"COSE_Sign1 signature is {len(sig)} bytes, expected {SIGNATURE_SIZE}")
    manifest = _decode_nested(_bstr(payload, "COSE_Sign1 payload"), "manifest")
    raw_version, raw_compat, raw_hash, raw_segments = _array(manifest, 4, "manifest")
    version = _uint(raw_version, "manifest version")
    compat = _uint(raw_compat, "manifest compat")
    blob_hash = _bstr(raw_hash, "manifest blob_hash")
    if len(blob_hash) != BLOB_HASH_SIZE:
        raise ImageError(f"manifest blob_hash is {len(blob_hash)} bytes, expected 32")
    segments = _segments(_bstr(raw_segments, "manifest segments"), wrapper_length)
    _check_size(data, segments, wrapper_length)
    computed = integrity.sha256(memoryview(data)[wrapper_length:])
    if verify and computed != blob_hash:
        raise ImageIntegrityError(
            f"full-modem blob SHA-256 {computed.hex()} does not match the manifest's "
            f"{blob_hash.hex()}; the file is corrupt or incomplete",
            offset=wrapper_length,
        )
    return FullModemPackage(
        version=version,
        compat=compat,
        blob_hash=blob_hash,
        segments=segments,
        wrapper_length=wrapper_length,
        data=data,
        algorithm=algorithm,
        blob_hash_ok=computed == blob_hash,
    )


def cbor_item_end(data: bytes, start: int = 0, what: str = "CBOR item") -> int:
    """Offset just past the CBOR item at ``start``, from its headers alone.

    Iterative (a counter of items still to skip), so hostile nesting cannot
    exhaust the stack, and each step consumes at least one byte, so it ends.
    Only definite lengths are allowed, as the CDDL requires.
    """
    pos, pending = start, 1
    while pending:
        if pending > len(data) - pos:
            raise ImageError(
                f"{what} is truncated: {pending} more CBOR items are declared "
                f"but only {len(data) - pos} bytes remain",
                offset=pos,
            )
        pending -= 1
        major, arg, pos = _read_head(data, pos, what)
        if major in (2, 3):
            if arg > len(data) - pos:
                raise ImageError(
                    f"{what} is truncated: a {arg}-byte string runs past the end", offset=pos
                )
            pos += arg
        elif major == 4:
            pending += arg
        elif major == 5:
            pending += 2 * arg
        elif major == 6:
            pending += 1
    return pos


def _read_head(data: bytes, pos: int, what: str) -> tuple[int, int, int]:
    """(major type, argument, offset after the head) of the item head at ``pos``."""
    if pos >= len(data):
        raise ImageError(f"{what} is truncated: a CBOR item is missing", offset=pos)
    major, info = data[pos] >> 5, data[pos] & 0x1F
    if info < 24:
        return major, info, pos + 1
    if info == 31:
        raise ImageError(
            f"{what} uses an indefinite length (major type {major}); "
            "the format requires definite lengths",
            offset=pos,
        )
    if info > 27:
        raise ImageError(f"{what} has a reserved CBOR head byte 0x{data[pos]:02x}", offset=pos)
    size = 1 << (info - 24)
    if pos + 1 + size > len(data):
        raise ImageError(f"{what} is truncated inside a CBOR item head", offset=pos)
    return major, int.from_bytes(data[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


def _loads(buf: bytes, what: str) -> object:
    try:
        return cbor2.loads(buf)
    # The headers were checked already; what is left is cbor2 rejecting content
    # (semantic tags, depth, UTF-8...), whose exception types vary by version.
    except Exception as exc:
        raise ImageError(f"{what} is not valid CBOR: {exc}") from exc


def _decode_nested(buf: bytes, what: str) -> object:
    """Decode a bstr-wrapped CBOR item that must fill the bstr exactly."""
    try:
        end = cbor_item_end(buf, 0, what)
    except ImageError as exc:
        raise ImageError(f"{exc.message} (at byte {exc.offset} of the {what})") from None
    if end != len(buf):
        raise ImageError(f"{what} has {len(buf) - end} bytes after its CBOR item")
    return _loads(buf, what)


def _algorithm(protected: bytes) -> int | str | None:
    header = _decode_nested(protected, "protected header")
    if not isinstance(header, Mapping):
        raise ImageError(f"COSE_Sign1 protected header is {_kind(header)}, expected a map")
    alg = header.get(1)
    if alg is not None and (isinstance(alg, bool) or not isinstance(alg, int | str)):
        raise ImageError(f"COSE alg is {_kind(alg)}, expected an integer or text")
    if alg != ALG_PS256:
        log.warning("full-modem wrapper alg is %r, not -37 (PS256); the modem will judge", alg)
    return alg


def _segments(buf: bytes, wrapper_length: int) -> tuple[ModemSegment, ...]:
    flat = _decode_nested(buf, "segments")
    if not isinstance(flat, list | tuple) or not flat or len(flat) % 2:
        count = len(flat) if isinstance(flat, list | tuple) else _kind(flat)
        raise ImageError(
            f"manifest segments must be a flat array of (address, length) pairs, got {count}"
        )
    segments, offset = [], wrapper_length
    for index in range(0, len(flat), 2):
        address = _uint(flat[index], f"segment {index // 2} address")
        length = _uint(flat[index + 1], f"segment {index // 2} length")
        if address > MAX_ADDRESS:
            raise ImageError(f"segment {index // 2} address 0x{address:x} is beyond 32 bits")
        if length == 0:
            raise ImageError(f"segment {index // 2} is empty; nothing could be written for it")
        segments.append(ModemSegment(address, offset, length))
        offset += length
    return tuple(segments)


def _check_size(data: bytes, segments: tuple[ModemSegment, ...], wrapper_length: int) -> None:
    end = segments[-1].end
    if end == len(data):
        return
    blob = end - wrapper_length
    if end > len(data):
        problem = f"is truncated: {len(data)} bytes, wrapper {wrapper_length} + blob {blob}"
    else:
        problem = f"has {len(data) - end} bytes after the blob (wrapper {wrapper_length} + {blob})"
    raise ImageError(
        f"full-modem image {problem}; use the .cbor file exactly as Nordic ships it",
        offset=min(end, len(data)),
    )


def _array(obj: object, size: int, what: str) -> Sequence[object]:
    if not isinstance(obj, list | tuple):
        raise ImageError(f"{what} is {_kind(obj)}, expected an array of {size}")
    if len(obj) != size:
        raise ImageError(f"{what} has {len(obj)} elements, expected {size}")
    return obj


def _bstr(obj: object, what: str) -> bytes:
    if not isinstance(obj, bytes):
        raise ImageError(f"{what} is {_kind(obj)}, expected a byte string")
    return obj


def _uint(obj: object, what: str) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int) or obj < 0:
        raise ImageError(f"{what} is {obj!r}, expected an unsigned integer")
    return obj


def _kind(obj: object) -> str:
    return f"a {type(obj).__name__}"


def describe_rows(package: FullModemPackage) -> list[tuple[str, str]]:
    """Human-readable rows for ``aiodfu inspect``."""
    if package.algorithm == ALG_PS256:
        alg = "PS256 (-37)"
    elif package.algorithm is None:
        alg = "none given"
    else:
        alg = f"{package.algorithm!r} (unusual)"
    rows = [
        ("version", str(package.version)),
        ("compat", str(package.compat)),
        ("signature alg", f"{alg}, not verified on the host"),
        ("wrapper length", f"{package.wrapper_length} bytes"),
    ]
    for index, seg in enumerate(package.segments):
        role = "bootloader" if index == 0 else "firmware"
        rows.append(
            (
                f"segment {index} ({role})",
                f"address 0x{seg.address:08x}, {seg.length} bytes at file offset {seg.offset}",
            )
        )
    verdict = "ok" if package.blob_hash_ok else "MISMATCH"
    rows.append(("blob sha256 check", f"{verdict} (manifest {package.blob_hash.hex()})"))
    rows.append(("signature check", f"not checked ({_NOT_VERIFIED})"))
    return rows


_NOT_VERIFIED = "the modem verifies the signature; the host has no key"


def blob_check(package: FullModemPackage) -> Check:
    return Check.compare("blob sha256", package.blob_hash_ok, f"manifest {package.blob_hash.hex()}")


def to_json(package: FullModemPackage) -> dict[str, object]:
    return {
        "version": package.version,
        "compat": package.compat,
        "signature_algorithm": package.algorithm,
        "wrapper_length": package.wrapper_length,
        "blob_hash": package.blob_hash.hex(),
        "segments": [
            {"address": s.address, "offset": s.offset, "length": s.length} for s in package.segments
        ],
    }
