"""The firmware image value type shared by every backend.

A :class:`FirmwareImage` is the file's bytes plus what was learnt from them:
its kind and the parsed details of its format (an MCUboot header, a modem
package's segments...). Parsing lives in :mod:`aiodfu.formats`; backends
decide which kinds they accept.
"""

from __future__ import annotations

import enum
import functools

import attrs

from aiodfu.core import integrity


class ImageKind(enum.StrEnum):
    """Every image kind aiodfu can identify."""

    RAW = "raw"
    MCUBOOT = "mcuboot"
    MODEM_DELTA = "modem-delta"
    MODEM_FULL = "modem-full"
    ESP_APP = "esp-app"
    NRF5_LEGACY_PACKAGE = "nrf5-legacy-package"
    NRF5_SECURE_PACKAGE = "nrf5-secure-package"


@attrs.frozen(cache_hash=True)
class FirmwareImage:
    """An image to send (push) or one that was received (pull).

    ``data`` is what the file holds after conversion (an Intel HEX file is
    stored as its binary); ``details`` is the format's parsed description,
    or ``None`` for a raw image; ``source`` names where it came from.
    """

    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    kind: ImageKind = ImageKind.RAW
    details: object | None = attrs.field(default=None, eq=False)
    source: str | None = attrs.field(default=None, eq=False)
    converted_from: str | None = attrs.field(default=None, eq=False)

    def __len__(self) -> int:
        return len(self.data)

    @functools.cached_property
    def sha256(self) -> bytes:
        return integrity.sha256(self.data)
