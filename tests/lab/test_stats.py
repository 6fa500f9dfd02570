"""The lab's statistics against independent computations (scipy's distributions, by hand)."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats as sps

from losslab.lab.stats import (
    Summary,
    detectable_difference,
    holm,
    metric_range,
    paired_difference,
    summarize,
)


def _t(values):
    n = len(values)
    return statistics.fmean(values), sps.t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(
        n
    )


def test_interval_inside_the_range_is_the_t_interval():
    v = [0.90, 0.92, 0.94]
    mean, half = _t(v)
    s = summarize(v, bounds=(0.0, 1.0))
    assert (s.mean, s.low, s.high) == pytest.approx((mean, mean - half, mean + half))
    assert s.text(3) == f"{mean:.3f} ± {half:.3f}"
    assert s.text(3, compact=True) == f"{mean:.3f}±{half:.3f}"


@pytest.mark.parametrize(
    "values", [[0.99, 1.0, 1.0], [0.95, 1.0, 0.99, 1.0, 0.90], [0.0, 0.02, 0.0]]
)
def test_rate_interval_never_leaves_zero_one(values):
    mean, half = _t(values)
    assert mean - half < 0.0 or mean + half > 1.0  # the t interval would leave [0, 1]
    s = summarize(values, bounds=metric_range("roc_auc"))
    assert 0.0 <= s.low <= s.mean <= s.high <= 1.0
    # by hand: the t interval of asin(sqrt(p)), cut at [0, pi/2], transformed back by sin^2
    z = [math.asin(math.sqrt(p)) for p in values]
    zm, zh = _t(z)
    lo = math.sin(max(zm - zh, 0.0)) ** 2
    hi = math.sin(min(zm + zh, math.pi / 2)) ** 2
    assert s.low == pytest.approx(min(lo, mean))
    assert s.high == pytest.approx(max(hi, mean))
    assert not s.symmetric
    assert "(" in s.text(3) and "±" not in s.text(3)


def test_epochs_interval_never_goes_below_zero():
    v = [1.0, 40.0, 3.0]  # "14.6 ± 27.6" before: below zero
    s = summarize(v, bounds=metric_range("epochs_to_converge"))
    assert 0.0 <= s.low <= s.mean <= s.high
    z = [math.log1p(x) for x in v]
    zm, zh = _t(z)
    assert s.low == pytest.approx(max(0.0, math.expm1(zm - zh)))
    assert s.high == pytest.approx(math.expm1(zm + zh))


def test_unknown_metric_keeps_the_t_interval():
    v = [-3.0, 5.0, 1.0]
    mean, half = _t(v)
    assert metric_range("learned_alpha") == (-math.inf, math.inf)
    s = summarize(v, bounds=metric_range("learned_alpha"))
    assert (s.low, s.high) == pytest.approx((mean - half, mean + half))


def test_summary_of_one_and_none():
    assert summarize([]).n == 0 and summarize([]).text() == "n/a"
    one = summarize([0.5], bounds=(0.0, 1.0))
    assert one.n == 1 and one.text() == "0.500"
    assert Summary(0.5, 0.4, 0.6, 3).symmetric


def test_holm_by_hand():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    out = holm([0.2, math.nan, 0.6])
    assert out[0] == pytest.approx(0.4) and math.isnan(out[1]) and out[2] == pytest.approx(0.6)
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_paired_difference_and_effect_size():
    a, b = [0.60, 0.65, 0.61], [0.90, 0.92, 0.94]
    d = [x - y for x, y in zip(a, b, strict=True)]
    mean, half = _t(d)
    e = paired_difference(a, b, bounds=(0.0, 1.0))
    assert (e.mean, e.low, e.high, e.n) == pytest.approx((mean, mean - half, mean + half, 3))
    assert e.d_z == pytest.approx(mean / statistics.stdev(d))
    assert e.sd == pytest.approx(statistics.stdev(d))
    assert "points" in e.text(1, scale=100, unit=" points")
    # an interval wider than the metric's span is cut at what a difference can be
    wide = paired_difference([1.0, 0.0, 1.0], [0.0, 1.0, 0.0], bounds=(0.0, 1.0))
    assert -1.0 <= wide.low and wide.high <= 1.0
    # pairs with a missing value are dropped
    assert paired_difference([1.0, math.nan], [0.0, 0.0]).n == 1


@pytest.mark.parametrize("n", [5, 10, 30])
def test_detectable_difference_has_about_eighty_percent_power(n):
    sd = 0.02
    mdd = detectable_difference(sd, n)
    # exact power of the two-sided paired t-test from the noncentral t distribution
    df, crit = n - 1, sps.t.ppf(0.975, n - 1)
    nc = mdd / sd * math.sqrt(n)
    power = 1 - sps.nct.cdf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)
    assert 0.75 <= power <= 0.85
    assert math.isnan(detectable_difference(sd, 1))
