"""ESP-AT RainMaker lines and commands, free of I/O (one codec for host, emulator and tests).

Parsing follows the protocol reference: ``+RMFWNOTIFY`` is split at its first
two and last two commas so a URL with commas survives; ``ERR CODE:0x...`` is
decoded into category, subcategory and extension (HTTP statuses live in the
extension as ``0x7000 + status``). Presigned URLs carry credentials, so
:func:`redact` is applied to everything that is logged and a
:class:`FirmwareNotification` never shows its URL in ``repr``.
"""

from __future__ import annotations

import enum
import re

import attrs

from aiodfu.rainmaker.errors import NotificationError

FWNOTIFY = "+RMFWNOTIFY:"
RMOTA = "+RMOTA:"
READY = "ready"
BUSY = "busy p..."
ERR_CODE = "ERR CODE:"
HTTPCGET = "+HTTPCGET:"
HTTPCLIENT = "+HTTPCLIENT:"
SET_OK = "SET OK"
PROMPT = ">"

_URL_QUERY = re.compile(r"([a-z][a-z0-9+.-]*://[^\s?]*)\?\S*", re.IGNORECASE)
_AMZ_PARAMETER = re.compile(r"X-Amz-[A-Za-z-]+=\S*", re.IGNORECASE)


def redact(text: str) -> str:
    """Replace the query string of every URL in ``text``: ``https://host/path?<redacted>``.

    Stray ``X-Amz-...=`` parameters outside a recognisable URL are blanked too.
    """
    return _AMZ_PARAMETER.sub("<redacted>", _URL_QUERY.sub(r"\1?<redacted>", text))


class OtaStatus(enum.IntEnum):
    """``<result>`` of ``AT+RMOTARESULT`` (and, but for a firmware bug, of ``+RMOTA``)."""

    IN_PROGRESS = 1
    SUCCEEDED = 2
    FAILED = 3
    DELAYED = 4
    REJECTED = 5

    @property
    def closes_job(self) -> bool:
        """Only success and rejection make the cloud mark the job finished."""
        return self in (OtaStatus.SUCCEEDED, OtaStatus.REJECTED)


@attrs.frozen
class FirmwareNotification:
    """One ``+RMFWNOTIFY``: a host-MCU OTA job. The URL is a secret: kept out of ``repr``."""

    type: int
    size: int
    url: str = attrs.field(repr=lambda url: repr(redact(url)))
    version: str | None
    job_id: str


def _valid_url(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _valid_job(job: str) -> bool:
    return bool(job) and not any(char.isspace() for char in job)


def parse_fw_notify(line: str) -> FirmwareNotification:
    """Parse ``+RMFWNOTIFY:<type>,<size>,<url>,<fw_version>,<ota_job_id>`` (reference section 3).

    Commas belong to the URL: a version containing one is ambiguous, and the
    split at the last two commas (the reference's rule) gives its first part to
    the URL. Anything that does not validate raises :class:`NotificationError`.
    """
    if not line.startswith(FWNOTIFY):
        raise NotificationError("not a +RMFWNOTIFY line")
    body = line[len(FWNOTIFY) :].rstrip("\r\n")
    head = body.split(",", 2)
    if len(head) != 3:
        raise NotificationError("+RMFWNOTIFY has fewer than five fields")
    type_text, size_text, rest = head
    if not (type_text.isascii() and type_text.isdigit()):
        raise NotificationError("+RMFWNOTIFY type is not a decimal number")
    if not (size_text.isascii() and size_text.isdigit()):
        raise NotificationError("+RMFWNOTIFY size is not a decimal number")
    tail = rest.rsplit(",", 2)
    if len(tail) != 3:
        raise NotificationError("+RMFWNOTIFY has fewer than five fields")
    url, version, job = tail
    if not _valid_url(url):
        raise NotificationError("+RMFWNOTIFY URL does not start with http:// or https://")
    if not _valid_job(job):
        raise NotificationError("+RMFWNOTIFY job ID is empty or contains white space")
    return FirmwareNotification(
        type=int(type_text),
        size=int(size_text),
        url=url,
        version=None if version == "null" else version,
        job_id=job,
    )


def format_fw_notify(notification: FirmwareNotification) -> str:
    """The line the module prints (no leading CR LF, nothing quoted)."""
    n = notification
    return f"{FWNOTIFY}{n.type},{n.size},{n.url},{n.version or 'null'},{n.job_id}"


def parse_rmota(line: str) -> int | None:
    """The status of a ``+RMOTA:<status>`` line (the module's own OTA), else ``None``."""
    if not line.startswith(RMOTA):
        return None
    text = line[len(RMOTA) :].strip()
    return int(text) if text.isascii() and text.isdigit() else None


def quote(text: str) -> str:
    """A double-quoted ESP-AT string parameter, escaping ``\\``, ``"`` and ``,``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace(",", "\\,")
    return f'"{escaped}"'


def unquote(text: str) -> str | None:
    """The value of a quoted parameter; ``None`` if it is not one."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return None
    out: list[str] = []
    chars = iter(text[1:-1])
    for char in chars:
        if char == "\\":
            char = next(chars, "")
        elif char == '"':
            return None
        out.append(char)
    return "".join(out)


def result_command(job_id: str, status: OtaStatus, info: str) -> str:
    """``AT+RMOTARESULT=0,"<job>",<status>,"<info>"``."""
    return f"AT+RMOTARESULT=0,{quote(job_id)},{int(status)},{quote(info)}"


@attrs.frozen
class ErrCode:
    """A decoded ``ERR CODE:0x<8 hex>``: ``0x01`` | subcategory | extension."""

    value: int

    @property
    def subcategory(self) -> int:
        return (self.value >> 16) & 0xFF

    @property
    def extension(self) -> int:
        return self.value & 0xFFFF

    @property
    def http_status(self) -> int | None:
        """The HTTP status of a failed HTTP command (extension ``0x7000 + status``)."""
        if self.subcategory == 0x0A and 0x7064 <= self.extension <= 0x71F9:
            return self.extension - 0x7000
        return None

    @property
    def connection_failed(self) -> bool:
        return self.subcategory == 0x0A and self.extension == 0x7000

    def __str__(self) -> str:
        return f"0x{self.value:08x}"


def parse_err_code(line: str | None) -> ErrCode | None:
    """``ERR CODE:0x010a7194`` -> ``ErrCode(0x010a7194)``; ``None`` for anything else."""
    if line is None or not line.startswith(ERR_CODE):
        return None
    text = line[len(ERR_CODE) :].strip()
    try:
        return ErrCode(int(text, 16))
    except ValueError:
        return None


def err_code(subcategory: int, extension: int = 0) -> ErrCode:
    return ErrCode(0x01000000 | (subcategory << 16) | extension)
