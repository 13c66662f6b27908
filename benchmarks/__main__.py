"""Run every benchmark: ``python -m benchmarks [--quick]`` (``--quick`` uses smaller images)."""

from __future__ import annotations

import argparse
import asyncio

from benchmarks import serial_modem


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller images, a rough check")
    args = parser.parse_args()
    asyncio.run(serial_modem.run(args.quick))


if __name__ == "__main__":
    main()
