"""An image's own integrity, checked on the host: the pull side's verification of last resort.

A pulled image (from an ESP-AT module, a Notecard) may carry a digest of its
own -- an MCUboot image its SHA-256 TLV -- that proves the bytes arrived as
they were built, even when the protocol that carried them checks nothing.
:func:`check_own_integrity` is the ``self_check`` the pull engine
(:mod:`aiodfu.core.pull`) runs before ``install``.
"""

from __future__ import annotations

from aiodfu.core.image import FirmwareImage, ImageKind
from aiodfu.core.session import Verification, VerificationMethod
from aiodfu.formats import identify, mcuboot

__all__ = ["check_own_integrity"]


def check_own_integrity(image: FirmwareImage) -> Verification | None:
    """The image's own check, ``None`` if it has none; ImageIntegrityError on a mismatch."""
    if identify(image.data) is ImageKind.MCUBOOT:
        parsed = mcuboot.parse_mcuboot(image.data, verify=True)
        return Verification(
            VerificationMethod.HOST_DIGEST,
            f"its MCUboot SHA-256 TLV matched ({parsed.sha256.hex()[:16]}...)",
        )
    return None
