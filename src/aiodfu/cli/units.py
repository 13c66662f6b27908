"""One way to show sizes, speeds and durations to people: binary units (KiB, MiB, KiB/s).

``--json`` never uses these: it carries plain numbers in bytes, bytes per second
and seconds (see docs/json.md). Only the interactive view formats them.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * 1024


def size(count: int) -> str:
    """``812 B``, ``12.3 KiB``, ``1.25 MiB``."""
    if count < KIB:
        return f"{count} B"
    if count < MIB:
        return f"{count / KIB:.1f} KiB"
    return f"{count / MIB:.2f} MiB"


def fraction(done: int, total: int) -> str:
    """``done/total`` in one unit chosen by ``total``: ``812/1024 KiB``, ``1.20/4.00 MiB``."""
    if total >= MIB:
        return f"{done / MIB:.2f}/{total / MIB:.2f} MiB"
    if total >= 100 * KIB:
        return f"{done // KIB}/{total // KIB} KiB"
    if total >= KIB:
        return f"{done / KIB:.1f}/{total / KIB:.1f} KiB"
    return f"{done}/{total} B"


def speed(bytes_per_second: float | None) -> str:
    """``12.3 KiB/s``, ``1234 KiB/s``; empty while there is no honest measurement."""
    if bytes_per_second is None:
        return ""
    kib = bytes_per_second / KIB
    return f"{kib:.0f} KiB/s" if kib >= 100 else f"{kib:.1f} KiB/s"


def duration(seconds: float | None) -> str:
    """``4.2 s``, ``12:34``, ``1:02:03``; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
