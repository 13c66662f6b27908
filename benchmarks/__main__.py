"""Run every benchmark: ``python -m benchmarks [--quick]`` (``--quick`` uses smaller images)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
from collections.abc import Awaitable, Callable

from aiodfu.registry import BACKENDS as REGISTERED

BENCHMARKS: dict[str, Callable[[bool], Awaitable[None]]] = {
    backend.name: importlib.import_module(backend.benchmark).run
    for backend in REGISTERED
    if backend.benchmark is not None
}
# Not a backend: many devices from one process through the CLI's fleet runner.
BENCHMARKS["fleet"] = importlib.import_module("benchmarks.fleet").run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller images, a rough check")
    parser.add_argument("backends", nargs="*", choices=[[], *BENCHMARKS], help="default: all")
    args = parser.parse_args()
    for name in args.backends or BENCHMARKS:
        asyncio.run(BENCHMARKS[name](args.quick))


if __name__ == "__main__":
    main()
