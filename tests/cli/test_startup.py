"""A CLI start loads no emulator: they are imported only by the commands that serve one."""

from __future__ import annotations

import subprocess
import sys


def test_starting_the_cli_imports_no_emulator_nor_bumble() -> None:
    code = (
        "import sys, aiodfu.cli\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('aiodfu.testing', 'bumble')))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
