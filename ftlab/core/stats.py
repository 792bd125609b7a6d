"""Statistics the verdicts rest on: means and spreads over seeds, and confidence intervals that account for both
the seed-to-seed spread and the size of the test set (binomial error), so a rule never reads a gap that a
different draw of 50 test questions could erase as an effect."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959964  # two-sided 95 % normal quantile


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    return mean, (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion: sensible at 0 % and 100 % and for small n, unlike p ± z·se."""
    if n <= 0:
        raise ValueError("a proportion needs at least one trial")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Estimate:
    """A measured quantity: its mean over seeds, the seed spread, and its standard error (seeds and, for an
    accuracy, the binomial error of `n_items` test questions)."""

    mean: float
    sd: float
    se: float
    seeds: int

    def interval(self, z: float = Z95) -> tuple[float, float]:
        return self.mean - z * self.se, self.mean + z * self.se

    def __str__(self) -> str:
        low, high = self.interval()
        return f"{self.mean:.3g} [{low:.3g}, {high:.3g}]"


def estimate(values: list[float], n_items: int | None = None) -> Estimate:
    """An `Estimate` from per-seed values; with `n_items` the values are accuracies on that many test items and
    the binomial variance p(1-p)/(n·seeds) is added to the seed variance sd²/seeds."""
    mean, sd = mean_std(values)
    var = sd * sd / len(values)
    if n_items:
        p = min(max(mean, 0.0), 1.0)
        var += p * (1 - p) / (n_items * len(values))
    return Estimate(mean, sd, math.sqrt(var), len(values))


def difference(a: Estimate, b: Estimate) -> Estimate:
    """a - b, its standard error from both (independent errors: conservative for arms scored on one test set)."""
    return Estimate(a.mean - b.mean, 0.0, math.hypot(a.se, b.se), min(a.seeds, b.seeds))


def ratio(a: Estimate, b: Estimate) -> Estimate:
    """a / b with the standard error propagated to first order."""
    value = a.mean / b.mean
    rel = math.hypot(a.se / a.mean if a.mean else 0.0, b.se / b.mean)
    se = abs(value) * rel if a.mean else a.se / b.mean
    return Estimate(value, 0.0, se, min(a.seeds, b.seeds))


def sign(diff: Estimate, z: float = Z95) -> int:
    """+1 when the 95 % interval of a difference lies above 0, -1 when below, 0 when it holds 0."""
    low, high = diff.interval(z)
    return 1 if low > 0 else -1 if high < 0 else 0
