"""Developer tasks: ``nox -s tests lint typecheck docs bench chaos demo``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (what CI runs)."""
    session.install("-e", ".[test]")
    session.run("pytest", *(session.posargs or ["-n", "4"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "src")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation; warnings are errors."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Throughput and CPU benchmarks against the emulators (prints tables; takes minutes).

    The test extra brings note-python, which the Notecard benchmark compares against.
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def chaos(session: nox.Session) -> None:
    """The fault campaign: ``nox -s chaos -- --budget SECONDS --seed N [--jobs N] [BACKEND...]``.

    Prints a table backend x fault kind x outcome and the seed of every BAD
    case (replay one with ``python -m chaos --replay BACKEND:SEED``); fails if
    any case ended BAD. See docs/reliability.md.
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "chaos", *(session.posargs or ["--budget", "300"]))


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    session.install("-e", ".")
    session.run("aiodfu", "demo", *session.posargs)
