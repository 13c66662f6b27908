"""Bounded reading of the zips firmware comes in (Nordic modem zips, nRF5 DFU packages).

Zips come from users and the internet, so nothing in one is trusted: the
member count is capped, a member whose header declares more than the limit is
refused before inflating, and a member is read with ``limit + 1`` so one whose
header lies about its size still cannot inflate past the limit.
"""

from __future__ import annotations

import io
import lzma
import struct
import zipfile
import zlib

from aiodfu.core.errors import ImageError

ZIP_MAGIC = b"PK\x03\x04"
MAX_MEMBERS = 64

_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    EOFError,
    OSError,
    RuntimeError,
    ValueError,
)


class BoundedZip:
    """A zip's member names, and reads bounded by a size limit.

    ``error`` is the :class:`ImageError` subclass raised (a backend may want
    its own, such as ``PackageError``).
    """

    def __init__(
        self,
        data: bytes,
        *,
        max_members: int = MAX_MEMBERS,
        error: type[ImageError] = ImageError,
    ) -> None:
        self.error = error
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
            infos = self.archive.infolist()
        except (*_READ_ERRORS, NotImplementedError) as exc:
            raise error(f"cannot read zip file: {exc}") from None
        if len(infos) > max_members:
            raise error(
                f"zip has {len(infos)} members, more than the {max_members} a firmware "
                "package holds"
            )
        self.infos = [info for info in infos if not info.is_dir()]
        self.names = {info.filename for info in self.infos}

    def read(self, name: str, limit: int, why: str = "") -> bytes:
        """Member ``name``, refused if it inflates past ``limit`` bytes (``why`` says why)."""
        if name not in self.names:
            raise self.error(f"zip has no member {name!r}")
        info = self.archive.getinfo(name)
        because = f"; {why}" if why else ""
        if info.file_size > limit:
            raise self.error(
                f"zip member {name!r} decompresses to {info.file_size} bytes, more than the "
                f"{limit}-byte limit{because}"
            )
        try:
            with self.archive.open(info) as member:
                content = member.read(limit + 1)
        except NotImplementedError as exc:
            raise self.error(f"zip member {name!r} uses an unsupported feature: {exc}") from None
        except _READ_ERRORS as exc:
            raise self.error(f"cannot read zip file: member {name!r} is corrupt: {exc}") from None
        if len(content) > limit:
            raise self.error(
                f"zip member {name!r} decompresses to more than the {limit}-byte limit{because}"
            )
        return content

    def close(self) -> None:
        self.archive.close()
