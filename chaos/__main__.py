"""The fault campaign: ``python -m chaos --budget SECONDS --seed N [--cases N] [BACKEND...]``.

``--replay BACKEND:SEED`` runs one case again, verbosely (with the library's
debug log); ``--list`` shows each backend's fault kinds.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import attrs
from rich.console import Console

from chaos.backends import TRIALS, factory, trial_class
from chaos.campaign import BOUND, CaseResult, Outcome, run_campaign, run_case_sync
from chaos.report import markdown, print_report

console = Console(width=None if sys.stdout.isatty() else 200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("backends", nargs="*", metavar="BACKEND", help="default: all of them")
    parser.add_argument("--budget", type=float, help="seconds to spend (spread over backends)")
    parser.add_argument("--cases", type=int, help="stop after this many cases")
    parser.add_argument("--seed", type=int, default=0, help="first seed of every backend")
    parser.add_argument("--jobs", type=int, default=1, help="cases run at once (threads)")
    parser.add_argument(
        "--bound", type=float, default=BOUND, help="seconds a session may take: past it, a hang"
    )
    parser.add_argument("--replay", metavar="BACKEND:SEED", action="append", default=[])
    parser.add_argument("--kind", help="with --replay: the fault kind the case was forced to")
    parser.add_argument("--list", action="store_true", help="list every backend's fault kinds")
    parser.add_argument("--json", type=Path, help="write every case to this JSON file")
    parser.add_argument("--markdown", action="store_true", help="also print the Markdown table")
    args = parser.parse_args(argv)

    unknown = [name for name in args.backends if name not in TRIALS]
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(TRIALS)}")
    if args.list:
        for name in TRIALS:
            console.print(f"[bold]{name}[/]: {', '.join(trial_class(name).kinds)}")
        return 0
    if args.replay:
        return replay(args.replay, args.kind, args.bound)
    if args.budget is None and args.cases is None:
        parser.error("give --budget SECONDS and/or --cases N (or --replay / --list)")

    logging.basicConfig(level=logging.CRITICAL, handlers=[logging.NullHandler()])
    backends = args.backends or list(TRIALS)
    started = time.monotonic()

    def on_result(result: CaseResult) -> None:
        if result.outcome is Outcome.BAD:
            console.print(
                f"[red]BAD[/] {result.backend}:{result.seed} {result.fault} -> {result.diagnosis}",
                highlight=False,
            )
            console.file.flush()  # seen as it happens, also when stdout is a file

    with console.status("running cases..."):
        results = run_campaign(
            backends,
            args.seed,
            budget=args.budget,
            cases=args.cases,
            jobs=args.jobs,
            bound=args.bound,
            on_result=on_result,
        )
    elapsed = time.monotonic() - started
    limit = f"budget {args.budget:g} s" if args.budget is not None else f"{args.cases} cases"
    title = (
        f"Fault campaign: seed {args.seed}, {limit}, {len(results)} cases in {elapsed:.0f} s"
        f" ({args.jobs} at a time)"
    )
    print_report(results, title=title, console=console)
    if args.markdown:
        print(markdown(results))
    if args.json is not None:
        args.json.write_text(json.dumps([_jsonable(r) for r in results], indent=1))
    return 1 if any(r.outcome is Outcome.BAD for r in results) else 0


def replay(cases: list[str], kind: str | None, bound: float) -> int:
    """Run each ``BACKEND:SEED`` again with the library's debug log on stderr."""
    logging.basicConfig(
        level=logging.DEBUG,
        stream=sys.stderr,
        format="%(relativeCreated)8.1f ms %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("bumble").setLevel(logging.WARNING)
    worst = 0
    for case in cases:
        backend, _, seed = case.partition(":")
        if backend not in TRIALS or not seed.lstrip("-").isdigit():
            console.print(f"[red]--replay wants BACKEND:SEED with BACKEND in {', '.join(TRIALS)}")
            return 2
        result = run_case_sync(factory(backend), int(seed), kind=kind, bound=bound)
        colour = "red" if result.outcome is Outcome.BAD else "green"
        console.print(f"\n[bold]{backend}:{seed}[/] {result.fault}", highlight=False)
        for fired in result.fired:
            console.print(f"  fired: {fired}", highlight=False)
        for error in result.loop_errors:
            console.print(f"  left to the event loop: {error}", highlight=False)
        console.print(
            f"  [{colour}]{result.outcome.value}[/] after {result.elapsed:.2f} s: "
            f"{result.diagnosis}",
            highlight=False,
        )
        worst = max(worst, int(result.outcome is Outcome.BAD))
    return worst


def _jsonable(result: CaseResult) -> dict[str, object]:
    return attrs.asdict(
        result,
        value_serializer=lambda _, __, value: getattr(value, "value", value),
    )


if __name__ == "__main__":
    sys.exit(main())
