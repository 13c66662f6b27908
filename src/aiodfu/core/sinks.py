"""Where a pulled image goes as it arrives: held in memory, or streamed to a file.

A pull backend writes the retrieved bytes into a :class:`PullSink` in order,
and truncates it when a transfer restarts or resumes at a lower offset (a
Notecard continues from its last verified chunk, a RainMaker download with a
``Range`` request). Once the transfer is complete, the sink hands over the
image :func:`aiodfu.core.pull.install_pulled` verifies and ``install``
receives:

* :class:`MemorySink` (the default) hands over a
  :class:`~aiodfu.core.image.FirmwareImage` -- the whole image in memory, as
  ``install(image: FirmwareImage)`` always had it;
* :class:`FileSink` writes to a file and hands over a :class:`PulledFile`
  (its path, size and SHA-256), which verification and ``install`` read back
  in blocks of :data:`BLOCK_SIZE`: the image is never held whole in memory.

Anything else that can be written in order, truncated and read back (a flash
partition, say) can be a sink: implement :class:`PullSink` and hand over a
:class:`PulledFile` (any path ``open()`` reads, a block device included).

Writes run on the event loop (a RainMaker download hands each chunk to the
sink as it arrives), so a sink must be quick; a file write goes to the page
cache. A failed pull is :meth:`PullSink.discard`-ed, so no unverified image
is left behind for someone to mistake for a good one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

import attrs

from aiodfu.core.errors import DfuError
from aiodfu.core.image import FirmwareImage, ImageKind
from aiodfu.core.integrity import Buffer

log = logging.getLogger("aiodfu.pull")

BLOCK_SIZE = 64 * 1024
"""Bytes per read when a sink's image is read back (digests, own integrity, install)."""


class PullSinkError(DfuError, OSError):
    """A sink could not store or read back the image (a full disk, a file removed meanwhile).

    Not transient: another attempt would fail the same way.
    """


@attrs.frozen
class PulledFile:
    """A pulled image in a file: what :class:`FileSink` hands to verification and ``install``.

    It answers what a :class:`~aiodfu.core.image.FirmwareImage` answers
    (``len``, ``sha256``, ``kind``, ``source``, ``details``), plus where it
    is (``path``; ``os.fspath(pulled)`` works) and :meth:`blocks` to read it
    in bounded pieces. ``data`` reads the whole file into memory -- there for
    code written for images in memory; an installer that streams uses
    :meth:`blocks`.
    """

    path: Path
    size: int
    sha256: bytes = attrs.field(repr=lambda digest: digest.hex())
    kind: ImageKind = ImageKind.RAW
    details: object | None = attrs.field(default=None, eq=False)
    source: str | None = attrs.field(default=None, eq=False)
    converted_from: str | None = attrs.field(default=None, eq=False)

    def __len__(self) -> int:
        return self.size

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    @property
    def data(self) -> bytes:
        """The whole image, read now (memory for all of it: prefer :meth:`blocks`)."""
        return b"".join(self.blocks())

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end of the image)."""
        length = max(0, min(length, self.size - offset))
        return next(self.blocks(offset, offset + length, size=length), b"") if length else b""

    def blocks(
        self, start: int = 0, end: int | None = None, *, size: int = BLOCK_SIZE
    ) -> Iterator[bytes]:
        """The image's bytes ``[start, end)`` in pieces of at most ``size`` bytes."""
        end = self.size if end is None else min(end, self.size)
        with _storage_errors("read back", self.path), self.path.open("rb") as file:
            file.seek(start)
            for position in range(start, end, size):
                block = file.read(min(size, end - position))
                if len(block) != min(size, end - position):
                    raise PullSinkError(
                        f"{self.path} ends before {end}, but {self.size} bytes were pulled "
                        "into it: the file was changed after the pull",
                        operation="read back",
                        offset=position + len(block),
                    )
                yield block


PulledImage = FirmwareImage | PulledFile
"""What a pull hands to verification and ``install``, and returns as its result's ``image``."""

ImageT_co = TypeVar("ImageT_co", bound=PulledImage, covariant=True)


class PullSink(Protocol[ImageT_co]):
    """Receives a pulled image in order; reads it back; hands it over when complete."""

    def __len__(self) -> int:
        """The bytes held: the offset the next :meth:`write` starts at."""

    def write(self, offset: int, data: Buffer) -> None:
        """Append ``data``; ``offset`` is where it belongs and must equal ``len(self)``."""

    def truncate(self, size: int) -> None:
        """Keep only the first ``size`` bytes (a transfer restarts, or resumes lower).

        A pull starts with ``truncate(0)``.
        """

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` of the bytes held, from ``offset``."""

    def image(self, *, source: str | None, details: object | None = None) -> ImageT_co:
        """Hand over the complete image (the sink then starts empty again)."""

    def discard(self) -> None:
        """The pull failed, before or after :meth:`image`: drop what this pull stored.

        A file sink removes the file it wrote; it never raises (log instead).
        """


def read_range(image: PulledImage, offset: int, length: int) -> bytes:
    """Up to ``length`` bytes of ``image`` at ``offset``, in memory or in its file."""
    if isinstance(image, PulledFile):
        return image.read(offset, length)
    return bytes(image.data[offset : offset + length])


def read_blocks(
    sink: PullSink[PulledImage], start: int = 0, end: int | None = None
) -> Iterator[bytes]:
    """What ``sink`` holds in ``[start, end)``, in blocks of :data:`BLOCK_SIZE`."""
    end = len(sink) if end is None else end
    for offset in range(start, end, BLOCK_SIZE):
        yield sink.read(offset, min(BLOCK_SIZE, end - offset))


def _check_write(sink: PullSink[PulledImage], offset: int) -> None:
    if offset != len(sink):
        raise PullSinkError(
            f"a sink takes bytes in order: this write is at {offset}, the sink holds {len(sink)}",
            operation="write",
            offset=offset,
        )


def _check_truncate(sink: PullSink[PulledImage], size: int) -> None:
    if not 0 <= size <= len(sink):
        raise PullSinkError(
            f"cannot truncate a sink holding {len(sink)} bytes to {size}", operation="truncate"
        )


class MemorySink:
    """Holds the image in memory and hands over a :class:`FirmwareImage` (the default)."""

    def __init__(self) -> None:
        self._data = bytearray()

    def __len__(self) -> int:
        return len(self._data)

    def write(self, offset: int, data: Buffer) -> None:
        _check_write(self, offset)
        self._data += data

    def truncate(self, size: int) -> None:
        _check_truncate(self, size)
        del self._data[size:]

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self._data[offset : offset + length])

    def image(self, *, source: str | None, details: object | None = None) -> FirmwareImage:
        data, self._data = bytes(self._data), bytearray()
        return FirmwareImage(data, details=details, source=source)

    def discard(self) -> None:
        self._data = bytearray()


class FileSink:
    """Writes the image to ``path`` as it arrives and hands over a :class:`PulledFile`.

    The file is created (or truncated) at the first byte and written through
    one handle; only the read-back blocks are ever in memory. Before it is
    handed over it is flushed and ``fsync``-ed, so a device told "installed"
    never loses the image to a power cut on this host. :meth:`discard` (a
    failed pull, even one that failed verification or ``install`` after the
    hand-over) deletes the file this pull wrote; a file that was already at
    ``path`` is only touched once the first byte arrives.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: BinaryIO | None = None
        self._size = 0
        self._wrote = False  # path holds this pull's bytes (written, or handed over)

    def __len__(self) -> int:
        return self._size

    def write(self, offset: int, data: Buffer) -> None:
        _check_write(self, offset)
        with _storage_errors("write", self.path, offset):
            self._open().write(data)
        self._size += len(data)

    def truncate(self, size: int) -> None:
        _check_truncate(self, size)
        if self._file is None:
            self._wrote = False  # a pull starts: an earlier pull's file is not ours to remove
            return
        with _storage_errors("truncate", self.path, size):
            self._file.truncate(size)
            self._file.seek(size)
        self._size = size

    def read(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self._size - offset))
        if self._file is None or not length:
            return b""
        with _storage_errors("read back", self.path, offset):
            self._file.seek(offset)
            data = self._file.read(length)
            self._file.seek(self._size)  # writes append
        if len(data) != length:
            raise PullSinkError(
                f"{self.path} was cut short while the image was written to it",
                operation="read back",
                offset=offset + len(data),
            )
        return data

    def image(self, *, source: str | None, details: object | None = None) -> PulledFile:
        file = self._open()
        with _storage_errors("sync", self.path):
            file.flush()
            os.fsync(file.fileno())
        digest = hashlib.sha256()
        for block in read_blocks(self):
            digest.update(block)
        pulled = PulledFile(self.path, self._size, digest.digest(), details=details, source=source)
        self._close()
        return pulled

    def discard(self) -> None:
        self._close()
        if not self._wrote:
            return
        self._wrote = False
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove the unverified image %s: %s", self.path, exc)

    def _open(self) -> BinaryIO:
        if self._file is None:
            with _storage_errors("create", self.path):
                self._file = self.path.open("w+b")
            self._size, self._wrote = 0, True
        return self._file

    def _close(self) -> None:
        file, self._file, self._size = self._file, None, 0
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()


@contextlib.contextmanager
def _storage_errors(operation: str, path: Path, offset: int | None = None) -> Iterator[None]:
    """An :class:`OSError` of the file system as a :class:`PullSinkError` naming the file."""
    try:
        yield
    except PullSinkError:
        raise
    except OSError as exc:
        raise PullSinkError(
            f"could not {operation} {path}: {exc.strerror or exc}",
            operation=operation,
            offset=offset,
        ) from exc
