"""Run every benchmark: ``python -m benchmarks [--quick]`` (``--quick`` uses smaller images)."""

from __future__ import annotations

import argparse
import asyncio

from benchmarks import drogue, notecard, notecard_i2c, nrf5_legacy, rainmaker, serial_modem

BENCHMARKS = {
    "serial-modem": serial_modem.run,
    "drogue": drogue.run,
    "notecard": notecard.run,
    "notecard-i2c": notecard_i2c.run,
    "nrf5-legacy": nrf5_legacy.run,
    "rainmaker": rainmaker.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller images, a rough check")
    parser.add_argument("backends", nargs="*", choices=[[], *BENCHMARKS], help="default: all")
    args = parser.parse_args()
    for name in args.backends or BENCHMARKS:
        asyncio.run(BENCHMARKS[name](args.quick))


if __name__ == "__main__":
    main()
