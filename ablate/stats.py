"""Small statistics for summaries: means, t-based confidence intervals, Welch's test."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _stats


@dataclass(frozen=True)
class Estimate:
    """Mean, sample std, count and the 95% confidence interval of the mean."""

    mean: float
    std: float
    n: int
    low: float | None
    high: float | None


def estimate(values: Sequence[float], confidence: float = 0.95) -> Estimate | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    n = len(values)
    if n == 0:
        return None
    mean = sum(values) / n
    if n == 1:
        return Estimate(mean, 0.0, 1, None, None)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(_stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Estimate(mean, std, n, mean - half, mean + half)


@dataclass(frozen=True)
class Difference:
    """``a - b`` with Welch's 95% CI and two-sided p-value (None when n < 2 on a side)."""

    delta: float
    low: float | None
    high: float | None
    p: float | None
    n_a: int
    n_b: int


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference | None:
    ea, eb = estimate(a), estimate(b)
    if ea is None or eb is None:
        return None
    delta = ea.mean - eb.mean
    if ea.n < 2 or eb.n < 2:
        return Difference(delta, None, None, None, ea.n, eb.n)
    va, vb = ea.std**2 / ea.n, eb.std**2 / eb.n
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(delta, delta, delta, 1.0 if delta == 0 else 0.0, ea.n, eb.n)
    df = (va + vb) ** 2 / (va**2 / (ea.n - 1) + vb**2 / (eb.n - 1))
    t_crit = float(_stats.t.ppf(0.5 + confidence / 2, df))
    p = float(2 * _stats.t.sf(abs(delta / se), df))
    return Difference(delta, delta - t_crit * se, delta + t_crit * se, p, ea.n, eb.n)
