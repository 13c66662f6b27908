"""aiodfu benchmarks: run with ``nox -s bench`` or ``python -m benchmarks``."""
