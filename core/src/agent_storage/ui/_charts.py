"""A score distribution as a small histogram (drawn as SVG by the template)."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

__all__ = ["Histogram", "histogram"]


@frozen(kw_only=True)
class Histogram:
    """``counts[i]`` values fall in [low + i*step, low + (i+1)*step) (the last bin is closed)."""

    low: float
    high: float
    counts: tuple[int, ...]
    n: int
    mean: float | None

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)


def histogram(values: Sequence[float], bins: int = 10) -> Histogram:
    """Bins over [0, 1] when every value lies there (the usual scorer range), else min..max."""
    if not values:
        return Histogram(low=0.0, high=1.0, counts=(0,) * bins, n=0, mean=None)
    low, high = min(values), max(values)
    if low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0
    elif low == high:
        low, high = low - 0.5, high + 0.5
    step = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(int((v - low) / step), bins - 1)] += 1
    return Histogram(low=low, high=high, counts=tuple(counts), n=len(values),
                     mean=sum(values) / len(values))
