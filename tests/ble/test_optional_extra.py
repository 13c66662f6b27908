"""Without Bumble (the ``emulators`` extra) the BLE emulators name the extra; the rest works."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import aiodfu

BLOCK_BUMBLE = textwrap.dedent(
    """
    import sys

    class NoBumble:
        def find_spec(self, name, path=None, target=None):
            if name == "bumble" or name.startswith("bumble."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoBumble())
    """
)


def _run_without_bumble(code: str) -> str:
    env = dict(os.environ)
    source = str(Path(aiodfu.__file__).parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([source, env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_BUMBLE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "statement",
    [
        "import aiodfu.testing.nrf5_legacy",
        "import aiodfu.testing.nrf5_legacy.emulator",
        "import aiodfu.testing.nrf5_legacy.gatt",
        "from aiodfu.testing import Nrf5LegacyEmulator",
        "import aiodfu.testing.ble",
    ],
)
def test_the_ble_emulators_name_the_extra(statement: str) -> None:
    out = _run_without_bumble(
        f"""
        try:
            {statement}
        except ImportError as exc:
            print("ImportError:", exc)
        """
    )
    assert "ImportError:" in out and "aiodfu[emulators]" in out, out


def test_the_host_side_needs_no_bumble() -> None:
    out = _run_without_bumble(
        """
        import aiodfu.nrf5_legacy, aiodfu.transports.gatt, aiodfu.transports.ble_scan
        import aiodfu.testing
        print("ok")
        """
    )
    assert out.strip() == "ok"
