"""Table output and measurement helpers shared by the benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import attrs
from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 120)
"""Piped output (``nox -s bench > file``) is 120 columns wide, not 80, so tables stay whole."""


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)


class Stopwatch:
    """Wall-clock and process-CPU seconds over a block."""

    def __enter__(self) -> Stopwatch:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far.

    Read from ``/proc`` (Linux; 10 ms resolution); ``None`` where that cannot be read.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


class VendorUnavailable(Exception):
    """A vendor's reference host cannot be had or run here; the message says why."""


@attrs.frozen
class VendorFile:
    """A file of a vendor's public repository, fetched at benchmark time, never committed.

    Tried in order: the file named by the environment variable ``env_file``; the
    file at ``commit`` (else ``HEAD``) in a git clone of the repository named by
    ``env_repo``; ``commit``'s copy downloaded from GitHub.
    """

    repo: str
    path: str
    commit: str
    env_file: str
    env_repo: str

    def fetch(self, into: Path) -> Path:
        """Copy the file into the directory ``into``; raises :class:`VendorUnavailable`."""
        target = into / PurePosixPath(self.path).name
        tried = []
        named = os.environ.get(self.env_file)
        if named:
            try:
                shutil.copyfile(named, target)
                return target
            except OSError as exc:
                tried.append(f"${self.env_file}: {exc}")
        else:
            tried.append(f"${self.env_file} not set")
        clone = os.environ.get(self.env_repo)
        if clone:
            for revision in (self.commit, "HEAD"):
                shown = subprocess.run(
                    ["git", "-C", clone, "show", f"{revision}:{self.path}"],
                    capture_output=True,
                    check=False,
                )
                if shown.returncode == 0:
                    target.write_bytes(shown.stdout)
                    return target
            tried.append(f"${self.env_repo}: {shown.stderr.decode(errors='replace').strip()}")
        else:
            tried.append(f"${self.env_repo} not set")
        url = f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                target.write_bytes(response.read())
            return target
        except OSError as exc:
            tried.append(f"{url}: {exc}")
        raise VendorUnavailable(f"{self.repo}/{self.path} not found ({'; '.join(tried)})")
