"""The byte-for-byte verification every demo scenario ends with."""

from __future__ import annotations

from aiodfu.cli.output import Reporter
from aiodfu.core.errors import DfuError
from aiodfu.core.integrity import sha256


class DemoVerificationError(DfuError):
    """The emulated device does not hold the image that was sent."""


def report_verification(
    reporter: Reporter, title: str, sent: bytes, held: bytes | None, **details: object
) -> None:
    """Show both SHA-256s and whether they match; raise if the device holds anything else."""
    held = held or b""
    identical = held == sent
    reporter.table(
        title,
        {
            "sent sha256": sha256(sent).hex(),
            "device sha256": sha256(held).hex(),
            "byte-for-byte": "identical" if identical else "DIFFERENT",
            **details,
        },
    )
    if not identical:
        raise DemoVerificationError(f"{title}: the emulated device holds a different image")
