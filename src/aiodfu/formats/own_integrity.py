"""An image's own integrity, checked on the host: the pull side's verification of last resort.

A pulled image (from an ESP-AT module, a Notecard) may carry a digest of its
own -- an MCUboot image its hash TLV, an ESP-IDF app image its appended
SHA-256 -- that proves the bytes arrived as they were built, even when the
protocol that carried them checks nothing. :func:`check_own_integrity` is
the ``self_check`` the pull engine (:mod:`aiodfu.core.pull`) runs before
``install``.

Only a cryptographic digest counts as verification: an encrypted MCUboot
image (its hash covers the plaintext) and an ESP-IDF image without an
appended SHA-256 (only an 8-bit XOR checksum) are still checked as far as
they can be -- a mismatch is refused -- but leave the image unverified.
"""

from __future__ import annotations

from aiodfu.core.image import FirmwareImage, ImageKind
from aiodfu.core.session import Verification, VerificationMethod
from aiodfu.formats import esp_app, identify, mcuboot
from aiodfu.formats.checks import CheckStatus

__all__ = ["check_own_integrity"]


def check_own_integrity(image: FirmwareImage) -> Verification | None:
    """The image's own check, ``None`` if it has none; ImageIntegrityError on a mismatch."""
    kind = identify(image.data)
    if kind is ImageKind.MCUBOOT:
        parsed = mcuboot.parse_mcuboot(image.data, verify=True)
        matched = [check for check in parsed.checks if check.status is CheckStatus.OK]
        if parsed.hash_tlv is None or not matched:
            return None
        return Verification(
            VerificationMethod.HOST_DIGEST,
            f"its MCUboot {matched[0].name.upper().replace('SHA', 'SHA-')} TLV matched "
            f"({parsed.hash_tlv.value.hex()[:16]}...)",
        )
    if kind is ImageKind.ESP_APP:
        app = esp_app.verify(image.data)
        if app.digest is None:
            return None
        return Verification(VerificationMethod.HOST_DIGEST, app.verification)
    return None
