"""Calibration metrics against scikit-learn, scipy and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss

from losslab.lab.calibration import (
    N_BINS,
    Predictive,
    classification_metrics,
    fit_temperature,
    pit_histogram,
    regression_metrics,
    reliability_diagram,
)


def _probs(seed: int, n: int = 300, c: int = 4):
    g = np.random.default_rng(seed)
    z = g.normal(size=(n, c)) * 2
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([g.choice(c, p=row) if g.random() < 0.7 else g.integers(c) for row in p])
    return p, y


def _ece_by_hand(p: np.ndarray, y: np.ndarray, n_bins: int, norm: str) -> float:
    conf, pred = p.max(1), p.argmax(1)
    gaps, weights = [], []
    for k in range(n_bins):
        lo, hi = k / n_bins, (k + 1) / n_bins
        m = (conf > lo) & (conf <= hi)
        if m.any():
            gaps.append(abs((pred[m] == y[m]).mean() - conf[m].mean()))
            weights.append(m.mean())
    return float(np.dot(gaps, weights)) if norm == "l1" else float(max(gaps))


def test_ece_mce_nll_brier_against_hand_and_sklearn():
    p, y = _probs(0)
    out = classification_metrics(torch.tensor(p), torch.tensor(y))
    assert out["ece"] == pytest.approx(_ece_by_hand(p, y, N_BINS, "l1"), abs=1e-5)
    assert out["mce"] == pytest.approx(_ece_by_hand(p, y, N_BINS, "max"), abs=1e-5)
    assert out["nll"] == pytest.approx(log_loss(y, p, labels=range(4)), rel=1e-9)
    onehot = np.eye(4)[y]
    assert out["brier"] == pytest.approx(((p - onehot) ** 2).sum(1).mean(), rel=1e-12)
    assert 0 < out["ece"] <= out["mce"] <= 1


def test_binary_brier_is_twice_sklearns():
    # with two classes the multiclass Brier counts both columns: 2 x sklearn's brier_score_loss
    from sklearn.metrics import brier_score_loss

    g = np.random.default_rng(1)
    p1 = g.random(50)
    y = (g.random(50) < p1).astype(int)
    probs = torch.tensor(np.stack([1 - p1, p1], 1))
    out = classification_metrics(probs, torch.tensor(y), ("brier",))
    assert out["brier"] == pytest.approx(2 * brier_score_loss(y, p1), rel=1e-12)


def test_a_calibrated_forecaster_has_small_ece():
    g = np.random.default_rng(2)
    p1 = g.random(20_000)
    y = (g.random(20_000) < p1).astype(int)
    probs = torch.tensor(np.stack([1 - p1, p1], 1))
    assert classification_metrics(probs, torch.tensor(y), ("ece",))["ece"] < 0.02


def test_reliability_diagram_matches_sklearn_calibration_curve_for_two_classes():
    # sklearn bins P(class 1) while we bin the top-class confidence: compare on the upper half,
    # where the confidence is P(class 1) and the accuracy is the fraction of positives
    g = np.random.default_rng(3)
    p1 = 0.5 + 0.5 * g.random(400)
    y = (g.random(400) < p1**2).astype(int)
    d = reliability_diagram(torch.tensor(np.stack([1 - p1, p1], 1)), torch.tensor(y), n_bins=10)
    frac_pos, mean_pred = calibration_curve(y, p1, n_bins=10, strategy="uniform")
    full = [i for i, c in enumerate(d["count"]) if c > 0]
    np.testing.assert_allclose([d["confidence"][i] for i in full], mean_pred, rtol=1e-9)
    np.testing.assert_allclose([d["accuracy"][i] for i in full], frac_pos, rtol=1e-9)
    assert sum(d["count"]) == 400


def test_temperature_scaling_lowers_the_nll_of_an_overconfident_model_and_keeps_the_argmax():
    p, y = _probs(4)
    logits = torch.tensor(np.log(p)) * 3  # made overconfident
    t = fit_temperature(logits, torch.tensor(y))
    assert t > 1.5  # overconfident: flattened
    before = classification_metrics(torch.softmax(logits, 1), torch.tensor(y), ("nll",))["nll"]
    after = classification_metrics(torch.softmax(logits / t, 1), torch.tensor(y), ("nll",))["nll"]
    assert after < before
    # the optimum: the NLL is flat in T there (checked on a grid with scipy's scalar minimiser)
    from scipy.optimize import minimize_scalar

    def nll(temp):
        return log_loss(y, torch.softmax(logits / temp, 1).numpy(), labels=range(4))

    best = minimize_scalar(nll, bounds=(0.05, 50), method="bounded").x
    assert t == pytest.approx(best, rel=1e-3)


def test_gaussian_regression_metrics_against_scipy():
    g = np.random.default_rng(5)
    mu, sd, y = g.normal(size=200), np.exp(g.normal(size=200) * 0.3), g.normal(size=200)
    pred = Predictive.gaussian(torch.tensor(mu), torch.tensor(sd))
    out = regression_metrics(pred, torch.tensor(y), target_std=2.0)
    d = stats.norm(mu, sd)
    # standardised units -> data units: NLL + log std, CRPS and widths x std
    assert out["nll"] == pytest.approx(-d.logpdf(y).mean() + math.log(2.0), rel=1e-10)
    assert out["width_90"] == pytest.approx(2 * 2 * 1.6448536269514722 * sd.mean(), rel=1e-9)
    inside = (y >= d.ppf(0.25)) & (y <= d.ppf(0.75))
    assert out["coverage_50"] == pytest.approx(inside.mean())
    crps = [
        integrate.quad(lambda x, m=m, s=s: stats.norm.cdf(x, m, s) ** 2, -np.inf, t)[0]
        + integrate.quad(lambda x, m=m, s=s: (stats.norm.cdf(x, m, s) - 1) ** 2, t, np.inf)[0]
        for m, s, t in zip(mu[:20], sd[:20], y[:20], strict=True)
    ]
    sub = Predictive.gaussian(torch.tensor(mu[:20]), torch.tensor(sd[:20]))
    assert regression_metrics(sub, torch.tensor(y[:20]), ("crps",))["crps"] == pytest.approx(
        np.mean(crps), rel=1e-7
    )


def test_student_t_crps_closed_form_against_quadrature():
    df, loc, scale, y = (
        np.array([3.0, 7.5]),
        np.array([0.2, -1.0]),
        np.array([0.7, 2.0]),
        np.array([1.5, -0.4]),
    )
    pred = Predictive.student_t(*(torch.tensor(a) for a in (df, loc, scale)))
    ours = pred.crps(y)
    for i in range(2):
        cdf = stats.t(df[i], loc[i], scale[i]).cdf
        ref = (
            integrate.quad(lambda x, cdf=cdf: cdf(x) ** 2, -np.inf, y[i])[0]
            + integrate.quad(lambda x, cdf=cdf: (cdf(x) - 1) ** 2, y[i], np.inf)[0]
        )
        assert ours[i] == pytest.approx(ref, rel=1e-6)


def test_nig_predictive_is_the_student_t_marginal():
    gamma, nu, alpha, beta = (torch.tensor([v], dtype=torch.float64) for v in (0.5, 2.0, 3.0, 1.5))
    pred = Predictive.nig(gamma, nu, alpha, beta)
    ref = stats.t(6.0, loc=0.5, scale=math.sqrt(1.5 * 3.0 / (2.0 * 3.0)))
    assert pred.nll(np.array([1.0]))[0] == pytest.approx(-ref.logpdf(1.0), rel=1e-12)


def test_quantile_set_intervals_come_from_its_levels():
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    q = torch.tensor([[-2.0, -1.0, 0.0, 1.0, 2.0], [3.0, 1.0, 2.0, 4.0, 5.0]], dtype=torch.float64)
    pred = Predictive.quantiles(levels, q)
    out = regression_metrics(
        pred, torch.tensor([0.5, 4.5]), ("coverage_50", "coverage_90", "width_50", "width_90")
    )
    # the second row is sorted first: 1, 2, 3, 4, 5
    assert out == {"coverage_50": 0.5, "coverage_90": 1.0, "width_50": 2.0, "width_90": 4.0}
    with pytest.raises(ValueError, match="needs the levels 0.25 and 0.75"):
        Predictive.quantiles((0.05, 0.5, 0.95), q[:, [0, 2, 4]]).interval(0.5)


def test_pit_histogram_is_flat_for_a_calibrated_model_and_u_shaped_when_overconfident():
    g = np.random.default_rng(6)
    y = torch.tensor(g.normal(size=20_000))
    flat = pit_histogram(Predictive.gaussian(torch.zeros(20_000), torch.ones(20_000)), y)
    assert max(abs(f - 0.1) for f in flat) < 0.01 and sum(flat) == pytest.approx(1.0)
    narrow = pit_histogram(Predictive.gaussian(torch.zeros(20_000), 0.3 * torch.ones(20_000)), y)
    assert narrow[0] > 0.25 and narrow[-1] > 0.25 and narrow[5] < 0.05
