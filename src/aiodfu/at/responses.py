"""What an AT command comes back with: its response, or the error it failed with."""

from __future__ import annotations

import attrs

from aiodfu.core.errors import CommandRejectedError


@attrs.frozen
class AtResponse:
    """A completed command: its information lines and the final result code."""

    command: str
    lines: tuple[str, ...]
    final: str
    detail: str | None = None
    """An error-detail line (``ERR CODE:0x...``) that came before the final result."""
    echo: str | None = None
    """The device's echo of the command, as it arrived (``None`` without echo, or when the
    line the device echoed differs from the command: it received something else)."""


class AtCommandError(CommandRejectedError):
    """An error result; ``response`` keeps the final line and any error detail.

    ``status`` is the detail line where the device sent one, else the final line.
    """

    def __init__(self, message: str, *, response: AtResponse, offset: int | None = None) -> None:
        self.response = response
        super().__init__(
            message,
            operation=response.command,
            offset=offset,
            status=response.detail or response.final,
        )


def response_prefix_of(command: str) -> str | None:
    """``AT#XDFUINIT=?`` -> ``#XDFUINIT:``; plain ``AT`` has none."""
    name = command[2:] if command[:2].upper() == "AT" else command
    for separator in "=?":
        name = name.split(separator, 1)[0]
    return f"{name.upper()}:" if name else None
