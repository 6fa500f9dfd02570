"""Across-seed statistics: mean with a 95% t confidence interval, paired tests, verdicts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = ["Summary", "summarize", "paired_p_value", "verdict", "ALPHA"]

ALPHA = 0.05


@dataclass(frozen=True)
class Summary:
    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def text(self, digits: int = 3) -> str:
        if self.n == 0 or math.isnan(self.mean):
            return "n/a"
        if self.n == 1 or math.isnan(self.half_width):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean and the two-sided t interval over seeds (NaNs from diverged runs are dropped)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    n = len(v)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if n == 1:
        return Summary(mean, math.nan, math.nan, 1)
    sem = float(v.std(ddof=1)) / math.sqrt(n)
    h = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    return Summary(mean, mean - h, mean + h, n)


def paired_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired t-test over seeds (pairs where either value is missing are dropped)."""
    pairs = [(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
    if len(pairs) < 2:
        return math.nan
    d = np.array([x - y for x, y in pairs])
    if np.all(d == 0.0):
        return 1.0
    if np.ptp(d) <= 1e-9 * np.abs(d).max():  # constant up to float rounding
        # a constant non-zero difference makes the t statistic infinite (p = 0 would claim far
        # more than n seeds can show): use the exact two-sided sign test instead, 2 * 0.5**n
        return min(1.0, 2.0 * 0.5 ** len(d))
    return float(sps.ttest_rel([p[0] for p in pairs], [p[1] for p in pairs]).pvalue)


def verdict(p: float, *, is_best: bool, better: bool) -> str:
    if is_best:
        return "best"
    if math.isnan(p):
        return "too few seeds to test"
    if p < ALPHA:
        shown = "p < 0.001" if p < 0.001 else f"p = {p:.3g}"
        return f"{'better' if better else 'worse'} than the best ({shown})"
    return f"not distinguishable at 95% (p = {p:.2g})"
