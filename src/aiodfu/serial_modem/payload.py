"""From a firmware image to what the Serial Modem is sent, checked before any byte goes out.

Types 0 and 3 take a whole MCUboot image, type 1 a whole delta patch; type 2
takes only the segment data of a signed full-modem package (the wrapper never
goes to the device). An image ``load_image`` already parsed and checked as the
right format is not parsed again; anything else (raw bytes, another kind, a
forced type) is checked here. Checks run first so a wrong file fails here, with the
reason, rather than on the device. ``force`` skips them only where the device
validates the image itself (MCUboot checks types 0/3 at boot, the modem
checks a delta patch); a full-modem package must always parse, because its
segments are what is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import attrs

from aiodfu.core.errors import ImageError
from aiodfu.core.image import FirmwareImage, ImageKind
from aiodfu.core.transfer import Chunk
from aiodfu.formats.mcuboot import McubootImage, parse_mcuboot
from aiodfu.formats.modem_delta import ModemDelta, parse_modem_delta
from aiodfu.formats.modem_full import FullModemPackage, parse_full_modem
from aiodfu.serial_modem.protocol import UpdateType

log = logging.getLogger("aiodfu.serial_modem")

_KIND_TO_TYPE = {
    ImageKind.MCUBOOT: UpdateType.APPLICATION,
    ImageKind.MODEM_DELTA: UpdateType.MODEM_DELTA,
    ImageKind.MODEM_FULL: UpdateType.MODEM_FULL,
}


@attrs.frozen
class Segment:
    """A run of payload bytes the device writes at ``address`` (only type 2 honours it)."""

    offset: int
    length: int
    address: int


@attrs.frozen
class Payload:
    """The bytes an update sends, in order, cut into segments that chunks never cross."""

    update_type: UpdateType
    data: memoryview = attrs.field(repr=False)
    segments: tuple[Segment, ...]

    def __len__(self) -> int:
        return len(self.data)

    @property
    def bootloader_end(self) -> int:
        """Type 2: where the modem bootloader segment ends and the firmware begins."""
        return self.segments[0].offset + self.segments[0].length

    def addressed(self, segment: Segment) -> bool:
        """Whether the device writes ``segment`` at its address (type-2 firmware segments)."""
        return self.update_type is UpdateType.MODEM_FULL and segment is not self.segments[0]

    def chunks(self, chunk_size: int | Callable[[Segment], int], start: int = 0) -> Iterator[Chunk]:
        """Chunks from ``start``, never crossing a segment.

        ``chunk_size`` may be a function of the segment, asked lazily for each
        chunk just before it is needed, so a size can follow what earlier chunks measured.
        """
        size_of = chunk_size if callable(chunk_size) else (lambda _segment: chunk_size)
        for segment in self.segments:
            end = segment.offset + segment.length
            offset = max(start, segment.offset)
            while offset < end:
                size = size_of(segment)
                if size <= 0:
                    raise ValueError("chunk_size must be positive")
                length = min(size, end - offset)
                yield Chunk(offset, length, segment.address + offset - segment.offset)
                offset += length


def infer_type(image: FirmwareImage) -> UpdateType:
    try:
        return _KIND_TO_TYPE[image.kind]
    except KeyError:
        raise ImageError(
            f"cannot tell which update a {image.kind.value} image is for; "
            "name the update type (application, modem-delta, modem-full, mcuboot-bootloader)"
        ) from None


def build_payload(image: FirmwareImage, update_type: UpdateType, *, force: bool = False) -> Payload:
    """Check ``image`` for ``update_type`` and return what to send."""
    if not image.data:
        raise ImageError("the image is empty")
    if update_type is UpdateType.MODEM_FULL:
        return _full_modem_payload(image)
    try:
        _check(image, update_type)
    except ImageError as exc:
        if not force:
            raise ImageError(
                f"not a valid {update_type.cli_name} image: {exc.message}; "
                "pass force=True (the CLI's --force) to send it anyway: "
                "the device validates it itself"
            ) from exc
        log.warning("sending an image that failed its checks (forced): %s", exc.message)
    data = memoryview(image.data)
    return Payload(update_type, data, (Segment(0, len(data), 0),))


def _check(image: FirmwareImage, update_type: UpdateType) -> None:
    """Check ``image`` for a type 0/1/3 update, unless ``load_image`` already checked it as such."""
    if update_type is UpdateType.MODEM_DELTA:
        if not (image.kind is ImageKind.MODEM_DELTA and isinstance(image.details, ModemDelta)):
            parse_modem_delta(image.data)
    else:
        details = image.details
        checked = isinstance(details, McubootImage) and details.hash_ok
        if not (image.kind is ImageKind.MCUBOOT and checked):
            parse_mcuboot(image.data)


def _full_modem_payload(image: FirmwareImage) -> Payload:
    if isinstance(image.details, FullModemPackage) and image.details.blob_hash_ok:
        package = image.details  # load_image parsed and checked it
    else:
        package = parse_full_modem(image.data)
    if len(package.segments) < 2:
        raise ImageError("the full-modem package has a bootloader segment but no firmware segments")
    blob_start = package.wrapper_length
    segments = tuple(
        Segment(segment.offset - blob_start, segment.length, segment.address)
        for segment in package.segments
    )
    return Payload(UpdateType.MODEM_FULL, memoryview(image.data)[blob_start:], segments)
