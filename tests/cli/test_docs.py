"""The documentation stays true: its complete scripts run against emulated devices, the
README's set-up commands stay as they are, and every pytest fixture is documented.

A Python block preceded by ``<!-- run -->`` runs as it is; ``<!-- run: files -->`` runs in a
folder holding ``app_update.bin``; ``<!-- run: serial-modem -->`` also gets ``AIODFU_PORT``
pointing at ``aiodfu emulate serial-modem --pty``, as a real device's port would be.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aiodfu.testing.images import build_mcuboot_image, random_firmware

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MARKED = re.compile(r"<!-- run(?::\s*([\w-]+))? -->\s*\n```python\n(.*?)\n```", re.DOTALL)
# Pages whose every complete script (one that calls asyncio.run) must be marked to run.
CHECKED_PAGES = ["README.md", "docs/getting-started.md", "docs/json.md"]


def scripts() -> list[tuple[str, str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for number, match in enumerate(MARKED.finditer(text), 1):
            found.append((f"{page.relative_to(ROOT)}#{number}", match.group(1) or "", match[2]))
    return found


SCRIPTS = scripts()


def test_the_docs_have_runnable_scripts() -> None:
    assert len(SCRIPTS) >= 6
    assert {mode for _, mode, _ in SCRIPTS} == {"", "files", "serial-modem"}


@pytest.mark.parametrize("page", CHECKED_PAGES)
def test_every_complete_script_is_marked_to_run(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)\n```", text, re.DOTALL)
    marked = {match[2] for match in MARKED.finditer(text)}
    for block in blocks:
        if "asyncio.run(" in block:
            assert block in marked, f"{page}: a script that is not run by the tests"
        ast.parse(block)  # every block at least parses


@pytest.mark.parametrize(("where", "mode", "source"), SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_a_documented_script_runs(
    where: str, mode: str, source: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    image = build_mcuboot_image(random_firmware(20_000, seed=3), version=(2, 0, 0, 0))
    (tmp_path / "app_update.bin").write_bytes(image)
    script = tmp_path / "script.py"
    script.write_text(source, encoding="utf-8")
    env = None
    if mode == "serial-modem":
        import os

        env = {**os.environ, "AIODFU_PORT": request.getfixturevalue("emulated_pty")}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, f"{where}:\n{done.stdout}\n{done.stderr}"


def test_the_readme_set_up_commands_are_unchanged() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    demo = re.search(r"<!-- demo-command -->\n```sh\n(.*?)\n```", text)
    tests = re.search(r"<!-- test-command -->\n```sh\n(.*?)\n```", text)
    assert demo is not None and tests is not None
    venv = "python3 -m venv .venv && .venv/bin/pip install -q -e "
    assert demo[1] == venv + "'.[emulators]' && .venv/bin/aiodfu demo"
    assert tests[1] == venv + "'.[test]' && .venv/bin/python -m pytest -n 4"


def test_the_readme_has_no_relative_links() -> None:
    """Relative links break on PyPI; the project has no URL to make them absolute yet."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)]+)\)", text):
        assert re.match(r"https?://", target), target


def test_every_fixture_of_the_pytest_plugin_is_documented() -> None:
    modules = sorted((ROOT / "src" / "aiodfu" / "testing" / "fixtures").glob("*.py"))
    fixtures = {
        node.name
        for module in modules  # the plugin's fixtures, one module per backend
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)
    }
    assert len(fixtures) >= 13
    documented = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    missing = sorted(name for name in fixtures if f"| `{name}` |" not in documented)
    assert not missing, f"docs/testing.md does not list: {missing}"
