"""The data profile of ``losslab advise``: what a loss choice should know about a data set.

:func:`profile_arrays` measures, on numeric features and a target: size and class balance; for
classification an estimated label-noise rate by confident learning (``cleanlab``'s
``estimate_joint`` and ``find_label_issues`` on out-of-fold probabilities of a standardised
logistic regression, ``CV_FOLDS``-fold ``cross_val_predict``); for regression robust z-scores
(median/MAD) and excess kurtosis (``scipy.stats.kurtosis``) of the target and of the out-of-fold
residuals of a ridge regression; duplicated rows and conflicting duplicates (same features,
another target). It names the properties found by the thresholds below; which losses answer
them is :mod:`losslab.lab.advisor`'s business.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Profile",
    "profile_arrays",
    "KINDS",
    "IMBALANCE_RATIO",
    "NOISE_RATE",
    "OUTLIER_Z",
    "OUTLIER_FRACTION",
    "EXCESS_KURTOSIS",
    "CV_FOLDS",
    "MAX_PROFILE_ROWS",
]

KINDS = ("binary", "multiclass", "regression")
#: largest / smallest class count from which the data count as imbalanced
IMBALANCE_RATIO = 4.0
#: estimated share of wrong labels from which noise-robust losses are proposed
NOISE_RATE = 0.10
#: a residual with robust |z| above this is an outlier (Iglewicz & Hoaglin 1993); a normal sample
#: has about 0.05% of them
OUTLIER_Z = 3.5
#: share of outlying residuals from which robust regression losses are proposed
OUTLIER_FRACTION = 0.01
#: residual excess kurtosis from which the tails count as heavy (0 for a normal distribution)
EXCESS_KURTOSIS = 3.0
CV_FOLDS = 5
#: the profile's models see a stratified sample of at most this many rows
MAX_PROFILE_ROWS = 20_000


@dataclass(frozen=True)
class Profile:
    """What :func:`profile_arrays` found in the data (``None``: does not apply to the kind)."""

    kind: str
    kind_reason: str
    rows: int
    features: int
    classes: tuple[str, ...] | None
    class_counts: tuple[int, ...] | None
    imbalance_ratio: float | None  # largest / smallest class count
    noise_rate: float | None  # confident learning: 1 - trace of the estimated joint
    label_issues: int | None  # rows cleanlab flags as probably mislabelled
    model_score: float | None  # out-of-fold accuracy (classification) or R^2 of the linear model
    target_outlier_fraction: float | None
    target_excess_kurtosis: float | None
    residual_outlier_fraction: float | None
    residual_excess_kurtosis: float | None
    duplicate_rows: int  # rows repeating an earlier row (features and target)
    conflicting_rows: int  # rows whose features occur again with another target
    properties: tuple[str, ...]  # "imbalance", "label_noise", "outliers"
    caveats: tuple[str, ...]
    sampled_rows: int | None = None  # rows the profile's models saw, when sampled

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def lines(self) -> list[str]:
        """The profile as short ``name: value`` lines."""
        out = [
            f"kind: {self.kind} ({self.kind_reason})",
            f"size: {self.rows} rows, {self.features} features",
        ]
        if self.class_counts is not None and self.classes is not None:
            counts = ", ".join(f"{c}: {n}" for c, n in zip(self.classes[:10], self.class_counts))
            more = f", ... ({len(self.classes) - 10} more)" if len(self.classes) > 10 else ""
            out.append(f"classes: {counts}{more} (largest/smallest {self.imbalance_ratio:.1f})")
        if self.noise_rate is not None:
            out.append(
                f"label noise (cleanlab, linear model): about {self.noise_rate:.0%}; "
                f"{self.label_issues} rows flagged; out-of-fold accuracy {self.model_score:.3f}"
            )
        if self.residual_outlier_fraction is not None:
            out.append(
                f"target: {self.target_outlier_fraction:.1%} outliers (|robust z| > {OUTLIER_Z}), "
                f"excess kurtosis {self.target_excess_kurtosis:.1f}"
            )
            out.append(
                f"residuals (linear model, R^2 {self.model_score:.2f}): "
                f"{self.residual_outlier_fraction:.1%} outliers, excess kurtosis "
                f"{self.residual_excess_kurtosis:.1f}"
            )
        out.append(
            f"duplicates: {self.duplicate_rows} repeated rows, {self.conflicting_rows} rows "
            "with the same features and another target"
        )
        found = ", ".join(p.replace("_", " ") for p in self.properties) or "none (clean)"
        out.append(f"properties found: {found}")
        return out


def _robust_z(v: np.ndarray) -> np.ndarray:
    """(v - median) / (1.4826 MAD) (scipy's normal-consistent MAD); where MAD is 0 (over half the
    values equal), the mean absolute deviation x sqrt(pi/2) stands in."""
    from scipy.stats import median_abs_deviation

    centred = v - np.median(v)
    scale = float(median_abs_deviation(v, scale="normal"))
    if scale == 0:
        scale = float(np.sqrt(np.pi / 2) * np.mean(np.abs(centred)))
    return centred / scale if scale > 0 else np.zeros_like(v)


def _tails(v: np.ndarray) -> tuple[float, float]:
    from scipy.stats import kurtosis

    frac = float(np.mean(np.abs(_robust_z(v)) > OUTLIER_Z))
    kurt = float(kurtosis(v, fisher=True, bias=False)) if np.ptp(v) > 0 else 0.0
    return frac, kurt


def _sample(n: int, y: np.ndarray | None) -> np.ndarray:
    """Row indices for the profile's models: all, or a stratified sample of MAX_PROFILE_ROWS."""
    if n <= MAX_PROFILE_ROWS:
        return np.arange(n)
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(n), train_size=MAX_PROFILE_ROWS, random_state=0, stratify=y)
    return np.sort(idx)


def _noise(x: np.ndarray, y: np.ndarray) -> tuple[float, int, float] | None:
    """(noise rate, flagged rows, out-of-fold accuracy), or None when a class has < 2 rows."""
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = min(CV_FOLDS, int(np.bincount(y).min()))
    if folds < 2:
        return None
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probs = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
    joint = estimate_joint(labels=y, pred_probs=probs)
    issues = find_label_issues(labels=y, pred_probs=probs)
    accuracy = float(np.mean(probs.argmax(axis=1) == y))
    return float(1.0 - np.trace(joint)), int(np.sum(issues)), accuracy


def _residuals(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    cv = KFold(min(CV_FOLDS, len(y)), shuffle=True, random_state=0)
    pred = cross_val_predict(model, x, y, cv=cv)
    return y - pred, float(r2_score(y, pred))


def profile_arrays(
    x: np.ndarray,
    y: np.ndarray,
    kind: str,
    *,
    classes: list[Any] | None = None,
    kind_reason: str = "given",
    warnings_: tuple[str, ...] = (),
) -> Profile:
    """Profile numeric features ``x`` (N, F) and a target ``y``: class codes ``0..C-1`` for
    ``binary``/``multiclass``, numbers for ``regression`` (see the module's rule)."""
    if kind not in KINDS:
        raise ValueError(
            f"advise: 'kind' must be one of {', '.join(map(repr, KINDS))}, got {kind!r}"
        )
    x = np.asarray(x, dtype=np.float64)
    n = len(y)
    frame = pd.DataFrame(x)
    frame["__target__"] = y
    duplicate_rows = int(frame.duplicated().sum())
    features = frame.drop(columns="__target__")
    targets_per_row = frame.groupby(list(features.columns), sort=False)["__target__"].transform(
        "nunique"
    )
    conflicting_rows = int((targets_per_row > 1).sum())
    props: list[str] = []
    caveats = list(warnings_)
    info: dict[str, Any] = {}
    classify = kind != "regression"
    idx = _sample(n, y if classify else None)
    if len(idx) < n:
        caveats.append(f"the profile's models saw a stratified sample of {len(idx)} of {n} rows")
    if classify:
        y = np.asarray(y, dtype=np.int64)
        counts = np.bincount(y, minlength=len(classes or []) or int(y.max()) + 1)
        ratio = float(counts.max() / max(counts.min(), 1))
        info.update(
            classes=tuple(str(c) for c in (classes or range(len(counts)))),
            class_counts=tuple(int(c) for c in counts),
            imbalance_ratio=ratio,
        )
        if ratio >= IMBALANCE_RATIO:
            props.append("imbalance")
        noise = _noise(x[idx], y[idx])
        if noise is None:
            caveats.append("no label-noise estimate: a class has fewer than 2 rows")
        else:
            info.update(noise_rate=noise[0], label_issues=noise[1], model_score=noise[2])
            caveats.append(
                "the label-noise estimate comes from a linear model (standardised logistic "
                "regression): where a linear model fits the data poorly, hard but correct "
                "labels count as noise"
            )
            if noise[0] >= NOISE_RATE:
                props.append("label_noise")
    else:
        y = np.asarray(y, dtype=np.float64)
        resid, r2 = _residuals(x[idx], y[idx])
        t_frac, t_kurt = _tails(y)
        r_frac, r_kurt = _tails(resid)
        info.update(
            target_outlier_fraction=t_frac,
            target_excess_kurtosis=t_kurt,
            residual_outlier_fraction=r_frac,
            residual_excess_kurtosis=r_kurt,
            model_score=r2,
        )
        caveats.append(
            "outliers and tails are judged on the residuals of a linear model (ridge): a "
            "nonlinear signal it misses looks like heavy tails"
        )
        if r_frac >= OUTLIER_FRACTION or r_kurt >= EXCESS_KURTOSIS:
            props.append("outliers")
    if duplicate_rows:
        caveats.append(
            f"{duplicate_rows} duplicated rows: copies may land in both the training and the "
            "test split and flatter every loss's test metrics"
        )
    if conflicting_rows and classify:
        caveats.append(
            f"{conflicting_rows} rows share their features with a row of another class: "
            "no model can get all of them right"
        )
    if n < 1000:
        caveats.append(f"small data ({n} rows): estimates and the quick study are rough")
    caveats.append(
        f"thresholds: imbalance from largest/smallest class >= {IMBALANCE_RATIO:g}, label "
        f"noise from an estimated {NOISE_RATE:.0%}, outliers from {OUTLIER_FRACTION:.0%} of "
        f"residuals beyond |robust z| {OUTLIER_Z:g} or excess kurtosis {EXCESS_KURTOSIS:g}"
    )
    defaults: dict[str, Any] = {
        "classes": None,
        "class_counts": None,
        "imbalance_ratio": None,
        "noise_rate": None,
        "label_issues": None,
        "model_score": None,
        "target_outlier_fraction": None,
        "target_excess_kurtosis": None,
        "residual_outlier_fraction": None,
        "residual_excess_kurtosis": None,
    }
    return Profile(
        kind=kind,
        kind_reason=kind_reason,
        rows=n,
        features=int(x.shape[1]),
        duplicate_rows=duplicate_rows,
        conflicting_rows=conflicting_rows,
        properties=tuple(props),
        caveats=tuple(caveats),
        sampled_rows=len(idx) if len(idx) < n else None,
        **{**defaults, **info},
    )
