"""Scaled-down timeouts, so a case takes a fraction of a second."""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

T = TypeVar("T")


def fast(timeouts: T, factor: float, **overrides: Any) -> T:
    """``timeouts`` with every duration times ``factor``, then ``overrides`` set.

    Uses ``Timeouts.scaled`` (:class:`aiodfu.core.timeouts.TimeoutsBase`) where a
    backend has adopted it, and scales the numeric fields itself otherwise.
    """
    scaled = getattr(timeouts, "scaled", None)
    if scaled is not None:
        result: Any = scaled(factor)
    else:
        values = attrs.asdict(timeouts)  # type: ignore[arg-type]
        result = attrs.evolve(
            timeouts,  # type: ignore[misc]
            **{
                name: type(value)(value * factor)
                for name, value in values.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            },
        )
    evolved: T = attrs.evolve(result, **overrides)
    return evolved
