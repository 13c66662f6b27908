"""Options every serial backend's commands share: ``--port`` for one device or many.

``--port`` is resolved in this order: the option, then ``AIODFU_PORT``, then
the ports ``aiodfu ports`` recognises for the backend -- used when exactly one
fits, a usage error listing them otherwise. A value with ``*``, ``?`` or ``[``
is a glob, matched against the files it names (``/dev/ttyACM*``) and the port
list (``COM*`` on Windows). pyserial URLs (``socket://``, ``rfc2217://``) pass
through as they are.

A backend adopts it with one line per command::

    @port_option("serial-modem")          # the command gets port: str
    @ports_option("serial-modem")         # the command gets ports: tuple[str, ...]
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from aiodfu.cli import ports as port_list

F = TypeVar("F", bound=Callable[..., Any])

ENV_PORT = "AIODFU_PORT"
GLOB_CHARACTERS = frozenset("*?[")


def _expand(value: str, known: Iterable[str]) -> list[str]:
    if "://" in value or not GLOB_CHARACTERS & set(value):
        return [value]
    matches = set(glob.glob(value)) | {device for device in known if fnmatch.fnmatch(device, value)}
    if not matches:
        raise click.BadParameter(
            f"no port matches {value!r}; `aiodfu ports` lists the ports here", param_hint="--port"
        )
    return sorted(matches)


def resolve_ports(backend: str, given: Iterable[str]) -> tuple[str, ...]:
    """The ports ``given`` name (globs expanded), or the one port that fits ``backend``."""
    values = [value for value in given if value]
    if values:
        needs_list = any(GLOB_CHARACTERS & set(value) for value in values)
        known = [info.device for info in port_list.list_ports()] if needs_list else []
        resolved: list[str] = []
        for value in values:
            resolved.extend(port for port in _expand(value, known) if port not in resolved)
        return tuple(resolved)
    found = port_list.candidates(backend, port_list.list_ports())
    if len(found) == 1:
        return (found[0].device,)
    if not found:
        raise click.UsageError(
            f"no serial port looks like a {backend} device: give --port (or set {ENV_PORT}); "
            "`aiodfu ports` lists the ports here"
        )
    listed = ", ".join(info.device for info in found)
    raise click.UsageError(
        f"{len(found)} ports could be the {backend} device ({listed}): choose one with --port "
        f"(or set {ENV_PORT}); several --port options update several devices where a command "
        "supports it"
    )


def _single(backend: str) -> Callable[[click.Context, click.Parameter, str | None], str]:
    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
        resolved = resolve_ports(backend, [value] if value else [])
        if len(resolved) > 1:
            raise click.BadParameter(
                f"{len(resolved)} ports match ({', '.join(resolved)}); this command takes one",
                ctx=ctx,
                param=param,
            )
        return resolved[0]

    return callback


def _several(
    backend: str,
) -> Callable[[click.Context, click.Parameter, tuple[str, ...]], tuple[str, ...]]:
    def callback(
        ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
    ) -> tuple[str, ...]:
        return resolve_ports(backend, value)

    return callback


def port_option(backend: str) -> Callable[[F], F]:
    """``--port PORT`` for one device of ``backend``; the command receives ``port: str``."""
    return click.option(
        "--port",
        envvar=ENV_PORT,
        callback=_single(backend),
        metavar="PORT",
        help=(
            f"Serial port path or pyserial URL (default: ${ENV_PORT}, or the one port "
            "`aiodfu ports` recognises)."
        ),
    )


def ports_option(backend: str) -> Callable[[F], F]:
    """``--port PORT`` repeatable (or a glob) for many devices of ``backend``; the command
    receives ``ports: tuple[str, ...]`` with at least one port."""
    return click.option(
        "--port",
        "ports",
        envvar=ENV_PORT,
        multiple=True,
        callback=_several(backend),
        metavar="PORT",
        help=(
            "Serial port path or pyserial URL; repeat it, or give a glob such as "
            f"'/dev/ttyACM*', to update several devices at once (default: ${ENV_PORT}, or "
            "the one port `aiodfu ports` recognises)."
        ),
    )


def environment_port() -> str | None:
    """``AIODFU_PORT``, if set (for commands that take the port another way)."""
    return os.environ.get(ENV_PORT) or None
