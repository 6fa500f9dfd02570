"""Calibration metrics: is the uncertainty a model states the uncertainty it has?

Classification (class probabilities ``(n, C)``, labels ``(n,)``):

* ``ece``: expected calibration error, torchmetrics' ``multiclass_calibration_error`` with
  ``norm="l1"`` and :data:`N_BINS` = 15 equal-width bins of the top-class confidence (the
  count-weighted mean |accuracy - confidence| over bins; Guo et al. 2017);
* ``mce``: maximum calibration error, the same with ``norm="max"`` (the worst bin);
* ``nll``: mean negative log-probability of the true class (probabilities floored at
  :data:`PROB_FLOOR` so a confident mistake gives a large, finite number);
* ``brier``: multiclass Brier score, mean over samples of sum_c (p_c - 1{y = c})^2 (in [0, 2]);
* :func:`reliability_diagram`: per-bin confidence, accuracy and count (the same 15 bins);
* :func:`fit_temperature`: temperature scaling (Guo et al. 2017), one T > 0 fitted by NLL.

Regression (a predictive distribution per sample, :class:`Predictive`; targets ``(n,)``):

* ``nll``: mean negative log-density; ``crps``: mean continuous ranked probability score
  (closed forms for the Gaussian and the Student-t);
* ``coverage_50`` / ``coverage_90``: fraction of targets inside the central 50% / 90%
  interval; ``width_50`` / ``width_90``: its mean width;
* :func:`pit_histogram`: the probability integral transform F(y) in 10 equal bins (flat when
  calibrated).

Regression metrics come in the units of the targets they are given; :func:`regression_metrics`
takes ``target_std`` to put standardised targets back in the data's units (NLL + log std, CRPS
and widths x std).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch
import torchmetrics.functional.classification as C
from scipy import special, stats

__all__ = [
    "N_BINS",
    "PIT_BINS",
    "PROB_FLOOR",
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "Predictive",
    "classification_metrics",
    "regression_metrics",
    "reliability_diagram",
    "pit_histogram",
    "fit_temperature",
]

#: equal-width confidence bins of the calibration errors and the reliability diagram
N_BINS = 15
#: equal-width bins of the PIT histogram
PIT_BINS = 10
#: probabilities are floored here before the log of the classification NLL
PROB_FLOOR = 1e-12

CLASSIFICATION_METRICS = ("ece", "mce", "nll", "brier")
REGRESSION_METRICS = ("nll", "crps", "coverage_50", "coverage_90", "width_50", "width_90")


# -- classification ------------------------------------------------------------------------------


def _check_probs(fn: str, probs: torch.Tensor, y: torch.Tensor) -> None:
    if probs.dim() != 2 or y.shape != probs.shape[:1]:
        raise ValueError(
            f"{fn}: 'probs' must be (n, C) with 'y' (n,), got shapes "
            f"{tuple(probs.shape)} and {tuple(y.shape)}"
        )


def classification_metrics(
    probs: torch.Tensor, y: torch.Tensor, names: Sequence[str] = CLASSIFICATION_METRICS
) -> dict[str, float]:
    """The calibration metrics of ONE classifier (see the module docstring for each name).

    >>> p = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    >>> round(classification_metrics(p, torch.tensor([0, 0]))["brier"], 4)
    0.65
    """
    _check_probs("classification_metrics", probs, y)
    p = probs.detach().double()
    yt = y.long()
    c = p.shape[1]
    out: dict[str, float] = {}
    for name in names:
        if name in ("ece", "mce"):
            norm = "l1" if name == "ece" else "max"
            out[name] = float(
                C.multiclass_calibration_error(p.float(), yt, c, n_bins=N_BINS, norm=norm)
            )
        elif name == "nll":
            p_y = p.gather(1, yt.unsqueeze(1)).squeeze(1)
            out[name] = float(-p_y.clamp_min(PROB_FLOOR).log().mean())
        elif name == "brier":
            onehot = torch.nn.functional.one_hot(yt, c).double()
            out[name] = float(((p - onehot) ** 2).sum(1).mean())
        else:
            raise ValueError(f"classification_metrics: unknown metric {name!r}")
    return out


def reliability_diagram(
    probs: torch.Tensor, y: torch.Tensor, *, n_bins: int = N_BINS
) -> dict[str, list[float]]:
    """Reliability-diagram data of ONE classifier: for each of ``n_bins`` equal-width bins of
    the top-class confidence (bins (lo, hi], the first also holds 0), the mean confidence, the
    accuracy and the count of its samples (NaN mean and accuracy for an empty bin).

    >>> d = reliability_diagram(torch.tensor([[0.9, 0.1], [0.3, 0.7]]), torch.tensor([0, 0]), n_bins=2)
    >>> d["count"], d["accuracy"]
    ([0.0, 2.0], [nan, 0.5])
    """
    _check_probs("reliability_diagram", probs, y)
    p = probs.detach().double()
    conf, pred = p.max(1)
    correct = (pred == y.long()).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    idx = torch.bucketize(conf, edges[1:-1], right=False)  # conf in (e_k, e_k+1] -> k
    count = torch.bincount(idx, minlength=n_bins).double()
    safe = count.clamp_min(1)
    mean_conf = torch.bincount(idx, conf, minlength=n_bins) / safe
    acc = torch.bincount(idx, correct, minlength=n_bins) / safe
    empty = count == 0
    nan = torch.full_like(count, math.nan)
    return {
        "lower": edges[:-1].tolist(),
        "upper": edges[1:].tolist(),
        "confidence": torch.where(empty, nan, mean_conf).tolist(),
        "accuracy": torch.where(empty, nan, acc).tolist(),
        "count": count.tolist(),
    }


def fit_temperature(logits: torch.Tensor, y: torch.Tensor, *, max_iter: int = 100) -> float:
    """Temperature scaling (Guo et al., On Calibration of Modern Neural Networks, ICML 2017):
    the T > 0 minimising the NLL of ``softmax(logits / T)`` on (validation) data, found by
    L-BFGS on log T from T = 1. Accuracy is unchanged (the argmax does not move).

    >>> z = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [0.0, 4.0]])
    >>> fit_temperature(z, torch.tensor([0, 1, 1, 0])) > 10  # half wrong: flatten a lot
    True
    """
    _check_probs("fit_temperature", logits, y)
    z = logits.detach().double()
    yt = y.long()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), yt)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().clamp(-10, 10).exp())
    return t if math.isfinite(t) else 1.0


# -- regression -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Predictive:
    """Per-sample predictive distributions: Gaussian, Student-t, or a set of quantiles.

    ``kind``: ``"gaussian"`` (``loc``, ``scale``), ``"student_t"`` (``df``, ``loc``, ``scale``)
    or ``"quantiles"`` (``levels``, ``values`` of shape (n, Q), increasing along Q). A quantile
    set's intervals are read from its own levels (the central 50% from levels 0.25 and 0.75, the
    90% from 0.05 and 0.95; both must be among the levels); its NLL, CRPS and PIT from the
    Gaussian whose mean is the median level and whose standard deviation matches the outermost
    levels' spread (stated approximation: a quantile set has no density).
    """

    kind: str
    loc: np.ndarray
    scale: np.ndarray
    df: np.ndarray | None = None
    levels: tuple[float, ...] = ()
    values: np.ndarray | None = None

    @staticmethod
    def gaussian(mean: torch.Tensor, std: torch.Tensor) -> Predictive:
        return Predictive("gaussian", _np(mean), _np(std))

    @staticmethod
    def student_t(df: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> Predictive:
        return Predictive("student_t", _np(loc), _np(scale), df=_np(df))

    @staticmethod
    def nig(
        gamma: torch.Tensor, nu: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor
    ) -> Predictive:
        """The Student-t marginal of normal-inverse-gamma outputs (Amini et al. 2020)."""
        scale = (beta * (1 + nu) / (nu * alpha)).sqrt()
        return Predictive.student_t(2 * alpha, gamma, scale)

    @staticmethod
    def quantiles(levels: Sequence[float], values: torch.Tensor) -> Predictive:
        lv = tuple(float(v) for v in levels)
        q = np.sort(values.detach().double().cpu().numpy().reshape(-1, len(lv)), axis=-1)
        if 0.5 not in lv:
            raise ValueError(f"Predictive.quantiles: 'levels' must include 0.5, got {lv}")
        lo, hi = 0, len(lv) - 1
        spread = stats.norm.ppf(lv[hi]) - stats.norm.ppf(lv[lo])
        scale = np.maximum((q[:, hi] - q[:, lo]) / spread, 1e-6)
        return Predictive("quantiles", q[:, lv.index(0.5)], scale, levels=lv, values=q)

    def _dist(self):
        if self.kind == "student_t":
            return stats.t(self.df, loc=self.loc, scale=self.scale)
        return stats.norm(loc=self.loc, scale=self.scale)

    def interval(self, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """The central ``coverage`` interval of each sample."""
        a = (1 - coverage) / 2
        if self.kind == "quantiles":
            lv = [round(v, 6) for v in self.levels]
            lo, hi = round(a, 6), round(1 - a, 6)
            if lo not in lv or hi not in lv:
                raise ValueError(
                    f"Predictive.interval: a quantile set needs the levels {lo:g} and {hi:g} "
                    f"for a {coverage:g} interval, got {self.levels}"
                )
            q = self.values if self.values is not None else np.zeros((0, len(lv)))
            return q[:, lv.index(lo)], q[:, lv.index(hi)]
        d = self._dist()
        return d.ppf(a), d.ppf(1 - a)

    def nll(self, y: np.ndarray) -> np.ndarray:
        return -self._dist().logpdf(y)

    def cdf(self, y: np.ndarray) -> np.ndarray:
        return self._dist().cdf(y)

    def crps(self, y: np.ndarray) -> np.ndarray:
        """Closed-form CRPS: Gaussian (Gneiting et al. 2005), Student-t with df > 1 (Jordan,
        Krueger and Lerch, Evaluating Probabilistic Forecasts with scoringRules, JSS 2019)."""
        z = (y - self.loc) / self.scale
        if self.kind != "student_t":
            return self.scale * (
                z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi)
            )
        nu = self.df
        f, pdf = stats.t.cdf(z, nu), stats.t.pdf(z, nu)
        beta_ratio = np.exp(special.betaln(0.5, nu - 0.5) - 2 * special.betaln(0.5, nu / 2))
        std = (
            z * (2 * f - 1)
            + 2 * pdf * (nu + z**2) / (nu - 1)
            - 2 * np.sqrt(nu) * beta_ratio / (nu - 1)
        )
        return self.scale * std


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy().reshape(-1)


def regression_metrics(
    pred: Predictive,
    y: torch.Tensor,
    names: Sequence[str] = REGRESSION_METRICS,
    *,
    target_std: float = 1.0,
) -> dict[str, float]:
    """The uncertainty metrics of ONE regressor (see the module docstring), in the data's units
    when ``y`` and ``pred`` are standardised and ``target_std`` is the targets' std.

    >>> pred = Predictive.gaussian(torch.zeros(4), torch.ones(4))
    >>> m = regression_metrics(pred, torch.tensor([0.0, 0.5, -1.0, 2.0]))
    >>> m["coverage_50"], m["coverage_90"], round(m["width_90"], 4)
    (0.5, 0.75, 3.2897)
    """
    yy = _np(y)
    out: dict[str, float] = {}
    for name in names:
        if name == "nll":
            out[name] = float(pred.nll(yy).mean() + math.log(target_std))
        elif name == "crps":
            out[name] = float(pred.crps(yy).mean() * target_std)
        elif name.startswith(("coverage_", "width_")):
            level = int(name.rsplit("_", 1)[1]) / 100
            lo, hi = pred.interval(level)
            if name.startswith("coverage_"):
                out[name] = float(((yy >= lo) & (yy <= hi)).mean())
            else:
                out[name] = float((hi - lo).mean() * target_std)
        else:
            raise ValueError(f"regression_metrics: unknown metric {name!r}")
    return out


def pit_histogram(pred: Predictive, y: torch.Tensor, *, bins: int = PIT_BINS) -> list[float]:
    """The fraction of targets whose PIT value F(y) falls in each of ``bins`` equal bins of
    [0, 1] (a calibrated model gives about 1/bins each; a U shape: intervals too narrow; a hump:
    too wide).

    >>> pit_histogram(Predictive.gaussian(torch.zeros(2), torch.ones(2)), torch.tensor([-9.0, 0.1]), bins=2)
    [0.5, 0.5]
    """
    u = pred.cdf(_np(y))
    counts, _ = np.histogram(np.clip(u, 0, 1), bins=bins, range=(0.0, 1.0))
    return [float(c) / max(len(u), 1) for c in counts]
