"""Across-seed statistics: means with intervals that respect each metric's range, paired tests
with Holm's correction, effect sizes, verdicts and what a study can resolve.

Rules (stated in every report):

* **Interval of a mean over seeds.** The two-sided 95% t interval. When it would leave the
  metric's range (:func:`metric_range`: [0, 1] for rates and scores, [0, inf) for errors, costs
  and epoch counts), it is computed on the angular scale ``asin(sqrt(p))`` (``[0, 1]``: the
  classical variance-stabilising transform of a proportion, finite at 0 and 1, unlike the logit)
  or the ``log1p`` scale (``[0, inf)``), cut at the transformed range's ends and transformed
  back, so it never leaves the range; it always contains the mean. Metrics of unknown range keep
  the t interval.
* **Comparison with the best.** A two-sided paired t-test over seeds (pairs matched by seed; a
  constant non-zero difference falls back to the exact sign test), the p-values of one group's
  comparisons adjusted by Holm's step-down method (:func:`holm`), family-wise error 5%.
* **Effect size.** The mean paired difference (competitor - best) with its 95% t interval, in
  the metric's units, and Cohen's d_z (mean difference / SD of the differences).
* **Resolution.** :func:`detectable_difference`: the smallest true paired difference the
  seeds would detect with 80% power at the 5% level, from the spread of the differences seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = [
    "ALPHA",
    "Difference",
    "Summary",
    "detectable_difference",
    "has_direction",
    "higher_is_better",
    "holm",
    "metric_range",
    "paired_difference",
    "paired_p_value",
    "summarize",
    "verdict",
]

ALPHA = 0.05

_UNIT = frozenset(
    {
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "average_precision",
        "minority_recall",
        "tpr",
        "fpr",
        "top1",
        "top5",
        "macro_f1",
        "class_top1",
        "parity_accuracy",
        "mean_accuracy",
        "weight_sparsity",
        "dice",
        "iou",
        "mode_coverage",
        "hq_fraction",
        "ece",
        "mce",
        "coverage_50",
        "coverage_90",
        "overfitting",
        "robust_accuracy",
        "clean_accuracy",
        "collapsed",
    }
)
_NONNEGATIVE = frozenset(
    {
        "rmse",
        "mae",
        "mse",
        "total_cost",
        "function_evaluations",
        "episodes_to_solve",
        "w1_to_heldout",
        "epochs_to_converge",
        "grad_norm_median",
        "grad_norm_max",
        "learned_scale",
        "loss",
        "brier",
        "crps",
        "width_90",
        "width_50",
        "seconds",
        "passes_per_step",
    }
)


#: metrics where a lower value is better (every other metric: higher is better)
LOWER_IS_BETTER = frozenset(
    {
        "rmse",
        "mae",
        "mse",
        "fpr",
        "loss",
        "total_cost",
        "function_evaluations",
        "episodes_to_solve",
        "w1_to_heldout",
        "ece",
        "mce",
        "nll",
        "brier",
        "crps",
        "width_50",
        "width_90",
        "epochs_to_converge",
        "generalization_gap",
        "overfitting",
        "seconds",
        "collapsed",
        "passes_per_step",
    }
)


#: metrics with a target rather than a direction: a 90% interval should cover 90%, and its width
#: is only better narrow at the right coverage (never named as a gain or a cost)
NO_DIRECTION = frozenset({"coverage_50", "coverage_90", "width_50", "width_90"})


def higher_is_better(name: str) -> bool:
    """Whether a larger value of the metric is better (see :data:`LOWER_IS_BETTER`)."""
    return name not in LOWER_IS_BETTER


def has_direction(name: str) -> bool:
    """Whether "better" means larger or smaller for this metric (see :data:`NO_DIRECTION`)."""
    return name not in NO_DIRECTION


def metric_range(name: str) -> tuple[float, float]:
    """The values a metric can take: ``(0, 1)``, ``(0, inf)`` or ``(-inf, inf)`` (unknown)."""
    if name in _UNIT:
        return (0.0, 1.0)
    if name in _NONNEGATIVE:
        return (0.0, math.inf)
    return (-math.inf, math.inf)


@dataclass(frozen=True)
class Summary:
    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the interval's width (for an asymmetric interval: half its total width)."""
        return (self.high - self.low) / 2

    @property
    def symmetric(self) -> bool:
        """Whether the interval is centred on the mean (to 1% of its width)."""
        below, above = self.mean - self.low, self.high - self.mean
        return abs(above - below) <= 0.01 * max(self.high - self.low, 1e-300)

    def text(self, digits: int = 3, *, compact: bool = False) -> str:
        """``0.967 ± 0.021``; an asymmetric interval as ``0.990 (0.951–0.998)``.

        ``compact``: no spaces (``0.967±0.021``, ``0.990(0.951–0.998)``), for narrow tables.
        """
        if self.n == 0 or math.isnan(self.mean):
            return "n/a"
        if self.n == 1 or math.isnan(self.half_width):
            return f"{self.mean:.{digits}f}"
        mean = f"{self.mean:.{digits}f}"
        if self.symmetric:
            sep = "±" if compact else " ± "
            return f"{mean}{sep}{self.half_width:.{digits}f}"
        gap = "" if compact else " "
        return f"{mean}{gap}({self.low:.{digits}f}–{self.high:.{digits}f})"


def _t_half(v: np.ndarray, confidence: float) -> float:
    n = len(v)
    sem = float(v.std(ddof=1)) / math.sqrt(n)
    return float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * sem


def summarize(
    values: Sequence[float],
    confidence: float = 0.95,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> Summary:
    """Mean and its interval over seeds (NaNs from diverged runs are dropped).

    ``bounds``: the metric's range (:func:`metric_range`); a t interval that would leave it is
    computed on the angular (``(0, 1)``) or ``log1p`` (``(0, inf)``) scale instead.
    """
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    n = len(v)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if n == 1:
        return Summary(mean, math.nan, math.nan, 1)
    h = _t_half(v, confidence)
    low, high = mean - h, mean + h
    lo_b, hi_b = bounds
    if low >= lo_b and high <= hi_b:
        return Summary(mean, low, high, n)
    if (lo_b, hi_b) == (0.0, 1.0):
        z = np.arcsin(np.sqrt(np.clip(v, 0.0, 1.0)))
        zm, zh = float(z.mean()), _t_half(z, confidence)
        top = math.pi / 2
        low = math.sin(min(max(zm - zh, 0.0), top)) ** 2
        high = math.sin(min(max(zm + zh, 0.0), top)) ** 2
    elif (lo_b, hi_b) == (0.0, math.inf):
        z = np.log1p(np.maximum(v, 0.0))
        zm, zh = float(z.mean()), _t_half(z, confidence)
        low, high = float(np.expm1(zm - zh)), float(np.expm1(zm + zh))
    # the interval contains the mean and never leaves the range
    low, high = max(lo_b, min(low, mean)), min(hi_b, max(high, mean))
    return Summary(mean, low, high, n)


def _pairs(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    return np.array(
        [x - y for x, y in zip(a, b, strict=True) if math.isfinite(x) and math.isfinite(y)]
    )


def paired_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired t-test over seeds (pairs where either value is missing are dropped)."""
    d = _pairs(a, b)
    if len(d) < 2:
        return math.nan
    if np.all(d == 0.0):
        return 1.0
    if np.ptp(d) <= 1e-9 * np.abs(d).max():  # constant up to float rounding
        # a constant non-zero difference makes the t statistic infinite (p = 0 would claim far
        # more than n seeds can show): use the exact two-sided sign test instead, 2 * 0.5**n
        return min(1.0, 2.0 * 0.5 ** len(d))
    return float(sps.ttest_1samp(d, 0.0).pvalue)


@dataclass(frozen=True)
class Difference:
    """Mean paired difference (a - b) over ``n`` seeds, its 95% interval, Cohen's d_z and the
    SD of the differences."""

    mean: float
    low: float
    high: float
    n: int
    d_z: float
    sd: float = math.nan

    def text(self, digits: int = 3, *, scale: float = 1.0, unit: str = "") -> str:
        """``-0.012 (-0.020 to -0.004)``; ``scale=100, unit=" pts"`` for points of a rate."""
        if self.n == 0 or math.isnan(self.mean):
            return "n/a"
        m = f"{self.mean * scale:+.{digits}f}{unit}"
        if self.n < 2 or math.isnan(self.low):
            return m
        return f"{m} ({self.low * scale:+.{digits}f} to {self.high * scale:+.{digits}f})"


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    confidence: float = 0.95,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> Difference:
    """The effect of ``a`` against ``b``: mean of the paired differences with its t interval
    (clipped to what a difference of two values within ``bounds`` can be) and Cohen's d_z."""
    d = _pairs(a, b)
    n = len(d)
    if n == 0:
        return Difference(math.nan, math.nan, math.nan, 0, math.nan)
    mean = float(d.mean())
    if n == 1:
        return Difference(mean, math.nan, math.nan, 1, math.nan)
    sd = float(d.std(ddof=1))
    h = _t_half(d, confidence)
    span = bounds[1] - bounds[0]
    low, high = max(-span, mean - h), min(span, mean + h)
    if sd == 0.0:
        d_z = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    else:
        d_z = mean / sd
    return Difference(mean, low, high, n, d_z, sd)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN, not counted).

    The k-th smallest of m p-values is multiplied by (m - k + 1); the adjusted values are made
    monotone (each at least the one before it in that order) and capped at 1.
    """
    idx = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(idx)
    out = [math.nan] * len(p_values)
    running = 0.0
    for k, i in enumerate(sorted(idx, key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - k) * p_values[i]))
        out[i] = running
    return out


def detectable_difference(
    sd_of_differences: float, n: int, *, alpha: float = ALPHA, power: float = 0.8
) -> float:
    """Smallest true mean paired difference a two-sided paired t-test over ``n`` seeds detects
    with the given power, for differences with this SD (the usual t approximation:
    ``(t_{1-alpha/2} + t_{power}) * sd / sqrt(n)``, df = n - 1). NaN for n < 2 or an unknown SD."""
    if n < 2 or not math.isfinite(sd_of_differences):
        return math.nan
    df = n - 1
    return (
        float(sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df))
        * sd_of_differences
        / math.sqrt(n)
    )


def verdict(p: float, *, is_best: bool, better: bool, adjusted: bool = False) -> str:
    """The verdict of a comparison with the best, from its (``adjusted``: Holm) p-value."""
    if is_best:
        return "best"
    if math.isnan(p):
        return "too few seeds to test"
    name = "p (Holm)" if adjusted else "p"
    if p < ALPHA:
        shown = f"{name} < 0.001" if p < 0.001 else f"{name} = {p:.3g}"
        return f"{'better' if better else 'worse'} than the best ({shown})"
    return f"tie with the best ({name} = {p:.2g})"
