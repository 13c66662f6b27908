"""Telling an AT device from noise on a port: a diagnosis aid for the command line.

Not used by :class:`~aiodfu.at.client.AtClient`: ``aiodfu``'s quick probe uses it to
tell a wrong baud rate from a device that answers with it (:mod:`aiodfu.cli.probe`).
"""

from __future__ import annotations

_AT_LINE_STARTS = (
    b"OK",
    b"ERROR",
    b"AT",  # an echo
    b"+",  # information lines and URCs: +CME ERROR, +RMFWNOTIFY, +HTTPCGET
    b"#",  # Nordic's #XDFU, #XFOTA
    b"%",  # %SHORTSWVER
    b"busy p",
    b"ready",
    b"Ready",
    b"Bootloader mode ready",
    b"SET OK",
    b"ERR CODE",
)


def looks_like_at(data: bytes) -> bool:
    """Whether ``data`` read from a port holds a line an AT device sends -- a result code, an
    echo, an information line or a URC -- rather than noise, which is what a link at the wrong
    baud rate delivers.

    A diagnosis aid, not used by the client: ``aiodfu``'s quick probe tells a wrong baud rate
    from a device that answers with it (:mod:`aiodfu.cli.probe`).
    """
    for raw in data.split(b"\n"):
        line = raw.strip(b"\r\t ")
        printable = all(32 <= byte < 127 for byte in line)
        if len(line) >= 2 and printable and line.startswith(_AT_LINE_STARTS):
            return True
    return False
