"""Uncertainty and calibration tasks: does the loss make the model's stated uncertainty right?

* ``uncertainty`` (regression, generated): y = x sin(x) + N(0, (0.1 + 0.3 |x|)^2), x uniform on
  [-3, 3] (a known, heteroscedastic noise; 1,000 rows per seed, drawn from the seed's noise
  stream); ``uncertainty-diabetes``: scikit-learn's bundled diabetes data (442 rows, no
  corruption). Competitors: MSE with a constant variance fitted on the validation residuals,
  the Gaussian NLL (beta-NLL at beta = 0, which is torch's gaussian_nll_loss), beta-NLL at 0.5
  and 1, deep evidential regression, the Gaussian CRPS, and a non-crossing quantile set (levels
  0.05, 0.25, 0.5, 0.75, 0.95). Metrics: RMSE of the mean (the median for the quantile set),
  NLL, CRPS, coverage and mean width of the central 50% and 90% intervals, in the target's
  units.
* ``calibration`` (digits, 10 classes): CE, label-smoothed CE (0.1), softmax focal (gamma = 3),
  evidential classification (softplus evidence); each also as a second row after temperature
  scaling fitted on the validation split (the same trained model: group "after temperature
  scaling"). Metrics: NLL (primary), ECE and MCE (15 equal-width bins, L1 / max norm),
  accuracy, Brier.

The systems and metrics: :mod:`losslab.lab.systems.uncertainty`, :mod:`losslab.lab.calibration`.
"""

from __future__ import annotations

import numpy as np
import torch

from . import data as D
from .seeds import NOISE, stream_seed
from .systems.uncertainty import UncertaintyTrainer
from .tasks import Competitor, Task, register_task

__all__ = [
    "heteroscedastic",
    "heteroscedastic_arrays",
    "noise_sd",
    "diabetes_standardised",
    "QUANTILE_LEVELS",
]

#: the quantile set's levels: the central 50% and 90% intervals and the median
QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)

REGRESSION_METRICS = ("rmse", "nll", "crps", "coverage_90", "width_90", "coverage_50", "width_50")
CLASSIFICATION_METRICS = ("nll", "ece", "accuracy", "brier", "mce")


def _standardised_targets(parts: tuple[np.ndarray, ...], meta: dict) -> D.Dataset:
    x_train, y_train, x_val, y_val, x_test, y_test = parts
    mu, sd = float(y_train.mean()), float(y_train.std())
    std_parts = (x_train, (y_train - mu) / sd, x_val, (y_val - mu) / sd, x_test, (y_test - mu) / sd)
    return D.to_dataset(
        std_parts, num_classes=None, meta={**meta, "target_mean": mu, "target_std": sd}
    )


def noise_sd(x: np.ndarray) -> np.ndarray:
    """The generated task's true noise standard deviation at ``x``."""
    return 0.1 + 0.3 * np.abs(x)


def heteroscedastic_arrays(seed: int, *, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The generated task's raw rows (x, y), drawn from the seed's NOISE stream."""
    rng = np.random.default_rng(stream_seed(seed, NOISE))
    x = rng.uniform(-3, 3, size=n)
    return x, x * np.sin(x) + noise_sd(x) * rng.standard_normal(n)


def heteroscedastic(seed: int, *, n: int = 1000) -> D.Dataset:
    """y = x sin(x) + N(0, (0.1 + 0.3|x|)^2), x ~ U(-3, 3); the seed's NOISE stream draws
    the rows, the seed splits them 60/20/20; targets standardised on the training split."""
    x, y = heteroscedastic_arrays(seed, n=n)
    return _standardised_targets(
        D.split(x[:, None], y, seed, stratify=False),
        {"source": "generated: y = x sin x + N(0, (0.1 + 0.3|x|)^2)"},
    )


def diabetes_standardised(seed: int) -> D.Dataset:
    """scikit-learn's bundled diabetes data, split by the seed, targets standardised."""
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    return _standardised_targets(
        D.split(d.data, d.target.astype(np.float64), seed, stratify=False),
        {"source": "scikit-learn diabetes"},
    )


_TRAIN = UncertaintyTrainer()
_TEMPERED = UncertaintyTrainer(temperature=True)


def _regression_competitors() -> tuple[Competitor, ...]:
    return (
        Competitor(
            "MSE + constant variance",
            "mse_loss",
            note="one std per model: the RMS of its validation residuals",
        ),
        Competitor(
            "Gaussian NLL",
            "beta_nll_loss",
            {"beta": 0.0},
            note="beta-NLL at beta = 0 (= torch's gaussian_nll_loss, full=False)",
        ),
        Competitor("beta-NLL (beta=0.5)", "beta_nll_loss", {"beta": 0.5}),
        Competitor("beta-NLL (beta=1)", "beta_nll_loss", {"beta": 1.0}),
        Competitor(
            "evidential (coeff=0.01)",
            "evidential_regression_loss",
            {"coeff": 0.01},
            note="predictive: the NIG's Student-t marginal",
        ),
        Competitor("CRPS (Gaussian)", "crps_gaussian_loss"),
        Competitor(
            "quantile set (5 levels, sorted)",
            "quantile_set_loss",
            {"quantiles": torch.tensor(QUANTILE_LEVELS), "noncrossing": "sort"},
            note="NLL/CRPS from the Gaussian matched to its median and 5-95% spread",
        ),
    )


_REG_NOTES = (
    "Intervals: central 50% and 90% of each predictive distribution (Gaussian; Student-t for "
    "evidential; the quantile set's own 0.25/0.75 and 0.05/0.95 levels). NLL and CRPS of the "
    "quantile set come from a Gaussian with its median as mean and the 5-95% spread / 3.29 as "
    "std (an approximation: a quantile set has no density). Coverage should be near 0.5 / 0.9; "
    "it is not ranked by closeness (the table ranks by CRPS). Model selection: validation CRPS."
)

register_task(
    Task(
        name="uncertainty",
        kind="regression",
        description="Generated heteroscedastic regression: y = x sin(x) + N(0, (0.1 + 0.3|x|)^2), "
        "x ~ U(-3, 3), 1,000 rows per seed; mean and uncertainty from each loss.",
        load=heteroscedastic,
        competitors=_regression_competitors(),
        metrics=REGRESSION_METRICS,
        primary="crps",
        higher_is_better=False,
        epochs=60,
        full_epochs=200,
        hidden=(64, 64),
        batch_size=64,
        trainer=_TRAIN,
        notes=_REG_NOTES,
    )
)

register_task(
    Task(
        name="uncertainty-diabetes",
        kind="regression",
        description="Diabetes (scikit-learn, bundled, 442 rows): mean and uncertainty from each "
        "loss; metrics in the target's units.",
        load=diabetes_standardised,
        competitors=_regression_competitors(),
        metrics=REGRESSION_METRICS,
        primary="crps",
        higher_is_better=False,
        epochs=60,
        full_epochs=200,
        hidden=(32,),
        batch_size=32,
        trainer=_TRAIN,
        notes=_REG_NOTES,
    )
)

_TS = "after temperature scaling"


def _classification_competitors() -> tuple[Competitor, ...]:
    base = (
        ("CE", "cross_entropy", {}),
        ("CE (label smoothing 0.1)", "cross_entropy", {"label_smoothing": 0.1}),
        ("softmax focal (gamma=3)", "softmax_focal_loss", {"gamma": 3.0}),
        ("evidential (softplus evidence)", "evidential_classification_loss", {"annealing": 0.1}),
    )
    raw = tuple(Competitor(label, loss, kw) for label, loss, kw in base)
    tempered = tuple(
        Competitor(
            f"{label} + temperature scaling",
            loss,
            kw,
            trainer=_TEMPERED,
            group=_TS,
            note="the same trained model; T fitted on the validation split by NLL",
        )
        for label, loss, kw in base
    )
    return raw + tempered


register_task(
    Task(
        name="calibration",
        kind="multiclass",
        description="Digits (scikit-learn, 8x8): calibration of CE, label-smoothed CE, focal "
        "(gamma = 3) and evidential classifiers, each also after temperature scaling.",
        load=D.digits,
        competitors=_classification_competitors(),
        metrics=CLASSIFICATION_METRICS,
        primary="nll",
        higher_is_better=False,
        epochs=30,
        full_epochs=100,
        hidden=(64,),
        batch_size=64,
        image_shape=(1, 8, 8),
        trainer=_TRAIN,
        notes="ECE/MCE: torchmetrics multiclass_calibration_error, 15 equal-width bins of the "
        "top-class confidence, norm l1 (ECE) / max (MCE). Brier: sum over classes, in [0, 2]. "
        "Temperature scaling (Guo et al. 2017): one T per model fitted by NLL on the validation "
        "split, applied to the test logits (log(alpha / S) for evidential); accuracy unchanged. "
        "Evidential: Dirichlet alpha = softplus(outputs) + 1, KL weight 0.1 (fixed, not annealed). "
        "Primary metric and model selection: NLL (a proper score: calibration and accuracy "
        "together; selecting epochs by validation ECE picked early, inaccurate epochs), of the "
        "untempered model on the validation split. Use --select final for the last epoch, "
        "where an unregularised CE tends to be overconfident.",
    )
)


def fashion_sample(seed: int) -> D.Dataset:
    """A stratified 4,000-image Fashion-MNIST sample per seed (3,000 for training and validation,
    1,000 test; Debian's dataset-fashion-mnist), for the calibration task."""
    return D.fashion_mnist(seed, n_train=3000, n_test=1000)


register_task(
    Task(
        name="calibration-fashion",
        kind="multiclass",
        description="Fashion-MNIST (Debian's dataset-fashion-mnist, a 4,000-image sample per "
        "seed): calibration of CE, label-smoothed CE, focal (gamma = 3) and evidential "
        "classifiers, each also after temperature scaling.",
        load=fashion_sample,
        competitors=_classification_competitors(),
        metrics=CLASSIFICATION_METRICS,
        primary="nll",
        higher_is_better=False,
        epochs=30,
        full_epochs=100,
        hidden=(128,),
        batch_size=128,
        image_shape=(1, 28, 28),
        trainer=_TRAIN,
        optional=True,
        source="fashion-mnist",
        notes="As the calibration task (same metrics, temperature scaling and model selection), "
        "on harder images where a small network is less sure of itself.",
    )
)
