"""Tables of a campaign: backend x fault kind x outcome, and the BAD cases with their seeds."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

from chaos.backends import TRIALS
from chaos.campaign import CaseResult, Outcome
from chaos.trial import Held

OUTCOMES = (Outcome.VERIFIED, Outcome.TYPED_FAILURE, Outcome.UNVERIFIABLE, Outcome.BAD)
HEADER = ("backend", "fault kind", "cases", *(o.value for o in OUTCOMES), "BAD seeds")
SEEDS_SHOWN = 6


def verdict(result: CaseResult) -> str:
    """What kind of BAD a case is: its diagnosis up to the first colon ("false success")."""
    return result.diagnosis.partition(": ")[0]


def rows(results: Iterable[CaseResult]) -> list[tuple[str, ...]]:
    """One row per (backend, fault kind), in campaign order, then a total per backend."""
    groups: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for result in results:
        groups[(result.backend, result.fault.kind)].append(result)
    out: list[tuple[str, ...]] = []
    seen = {backend for backend, _ in groups}
    backends = [name for name in TRIALS if name in seen]
    for backend in backends:
        kinds = sorted(kind for b, kind in groups if b == backend)
        everything: list[CaseResult] = []
        for kind in kinds:
            cases = groups[(backend, kind)]
            everything += cases
            out.append(_row(backend, kind, cases))
        out.append(_row(backend, "all", everything))
    return out


def _row(backend: str, kind: str, cases: Sequence[CaseResult]) -> tuple[str, ...]:
    counts = Counter(result.outcome for result in cases)
    cells = []
    for outcome in OUTCOMES:
        count = counts[outcome]
        if outcome is Outcome.UNVERIFIABLE and count:
            differ = sum(1 for r in cases if r.held is Held.DIFFERENT_BYTES)
            cells.append(f"{count} ({differ} differ)" if differ else str(count))
        else:
            cells.append(str(count) if count else "")
    bad = [str(r.seed) for r in cases if r.outcome is Outcome.BAD]
    seeds = ", ".join(bad[:SEEDS_SHOWN]) + (" ..." if len(bad) > SEEDS_SHOWN else "")
    return (backend, kind, str(len(cases)), *cells, seeds if kind != "all" else "")


def bad_groups(results: Iterable[CaseResult]) -> list[tuple[str, str, str, list[CaseResult]]]:
    """BAD cases grouped by (backend, fault kind, verdict)."""
    groups: dict[tuple[str, str, str], list[CaseResult]] = defaultdict(list)
    for result in results:
        if result.outcome is Outcome.BAD:
            groups[(result.backend, result.fault.kind, verdict(result))].append(result)
    return [(b, k, v, cases) for (b, k, v), cases in sorted(groups.items())]


def print_report(results: Sequence[CaseResult], *, title: str, console: Console) -> None:
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(HEADER):
        table.add_column(
            column, justify="left" if index < 2 or index == len(HEADER) - 1 else "right"
        )
    for row in rows(results):
        style = "bold" if row[1] == "all" else None
        table.add_row(*row, style=style)
    console.print(table)
    groups = bad_groups(results)
    if groups:
        bad = Table(
            title="BAD cases (replay one: python -m chaos --replay BACKEND:SEED)",
            title_justify="left",
        )
        for column in ("backend", "fault kind", "verdict", "seeds", "first case's diagnosis"):
            bad.add_column(column)
        for backend, kind, what, cases in groups:
            seeds = [str(case.seed) for case in cases]
            shown = ", ".join(seeds[:10]) + (f" ... ({len(seeds)})" if len(seeds) > 10 else "")
            bad.add_row(backend, kind, what, shown, cases[0].diagnosis[:160])
        console.print(bad)
    errors = Counter((r.backend, error.split(":")[0]) for r in results for error in r.loop_errors)
    if errors:
        console.print("Exceptions left to the event loop (not counted as outcomes):")
        for (backend, error), count in sorted(errors.items()):
            console.print(f"  {backend}: {error} x{count}")


def markdown(results: Sequence[CaseResult]) -> str:
    """The outcome table, then the BAD cases by verdict, as Markdown (for docs/reliability.md)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    for row in rows(results):
        cells = [f"**{c}**" if row[1] == "all" and c else c for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    groups = bad_groups(results)
    if groups:
        lines += ["", "| backend | fault kind | verdict | seeds | first case's diagnosis |"]
        lines.append("|" + " --- |" * 5)
        for backend, kind, what, cases in groups:
            seeds = ", ".join(str(case.seed) for case in cases)
            diagnosis = cases[0].diagnosis.replace("|", "\\|")
            if len(diagnosis) > 200:
                diagnosis = diagnosis[:200] + " ..."
            lines.append(f"| {backend} | {kind} | {what} | {seeds} | {diagnosis} |")
    return "\n".join(lines)
