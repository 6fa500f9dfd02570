"""Real data for the lab: data sets that ship inside packages, split deterministically.

Every loader returns a :class:`Dataset` holding float32 features (standardised on the training
split), targets, and train/validation/test splits made from a seed. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._data_sources import FASHION_MNIST_DIR, SOURCES
from .seeds import EXTRA, stream_seed

__all__ = ["Dataset", "DataUnavailable", "split", "FASHION_MNIST_DIR", "ANOMALY_SPLIT"]


class DataUnavailable(RuntimeError):
    """An optional data set is not installed; the message says how to get it."""


@dataclass
class Dataset:
    """Train/validation/test tensors of one task and one split seed."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int | None = None  # None for regression
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_features(self) -> int:
        return int(self.x_train.shape[1])


def split(
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    *,
    stratify: bool,
    val: float = 0.2,
    test: float = 0.2,
) -> tuple[np.ndarray, ...]:
    """Train/val/test split (stratified for classification) with scikit-learn."""
    from sklearn.model_selection import train_test_split

    strat = y if stratify else None
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test, random_state=seed, stratify=strat
    )
    strat = y_rest if stratify else None
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val / (1 - test), random_state=seed, stratify=strat
    )
    return x_train, y_train, x_val, y_val, x_test, y_test


def to_dataset(
    parts: tuple[np.ndarray, ...], *, num_classes: int | None, meta: dict[str, Any] | None = None
) -> Dataset:
    """Standardise features on the training split and convert to tensors."""
    x_train, y_train, x_val, y_val, x_test, y_test = parts
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0

    def fx(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((a - mean) / std).astype(np.float32))

    def fy(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64 if num_classes else np.float32))

    return Dataset(
        fx(x_train),
        fy(y_train),
        fx(x_val),
        fy(y_val),
        fx(x_test),
        fy(y_test),
        num_classes=num_classes,
        meta=dict(meta or {}),
    )


# -- bundled scikit-learn data ----------------------------------------------------------------


def breast_cancer(seed: int) -> Dataset:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    # sklearn codes malignant as 0; the positive class here is "malignant" = 1
    y = (d.target == 0).astype(np.int64)
    return to_dataset(
        split(d.data, y, seed, stratify=True),
        num_classes=2,
        meta={"positive": "malignant", "source": "scikit-learn breast_cancer (WDBC)"},
    )


def digits(seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    return to_dataset(
        split(d.data, d.target, seed, stratify=True),
        num_classes=10,
        meta={"source": "scikit-learn digits (8x8)", "image_shape": (1, 8, 8)},
    )


def digits_eight_vs_rest(seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    y = (d.target == 8).astype(np.int64)
    ds = to_dataset(
        split(d.data, y, seed, stratify=True),
        num_classes=2,
        meta={"positive": "digit 8", "source": "scikit-learn digits, 8 vs rest"},
    )
    ds.meta["imbalance"] = float((ds.y_train == 0).sum() / max(int(ds.y_train.sum()), 1))
    return ds


def diabetes_with_outliers(seed: int, *, fraction: float = 0.1, magnitude: float = 5.0) -> Dataset:
    """Diabetes regression with a reproducible ``fraction`` of corrupted targets.

    Training and validation targets come from the same dirty source: ``fraction`` of each is
    shifted by ``magnitude`` clean-target standard deviations (random sign). The test targets
    stay clean, so test RMSE/MAE measure the true fit. Targets are standardised with the mean and
    standard deviation of the (corrupted) training targets — what a practitioner would have —
    and metrics are reported in the target's units.
    """
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    x_train, y_train, x_val, y_val, x_test, y_test = split(
        d.data, d.target.astype(np.float64), seed, stratify=False
    )
    clean_sd = y_train.std()
    rng = np.random.default_rng(stream_seed(seed, EXTRA))

    def corrupt(y: np.ndarray) -> tuple[np.ndarray, int]:
        n_bad = int(round(fraction * len(y)))
        idx = rng.choice(len(y), size=n_bad, replace=False)
        y = y.copy()
        y[idx] += rng.choice([-1.0, 1.0], size=n_bad) * magnitude * clean_sd
        return y, n_bad

    y_train, n_train_bad = corrupt(y_train)
    y_val, n_val_bad = corrupt(y_val)
    mu, sd = y_train.mean(), y_train.std()
    parts = (x_train, (y_train - mu) / sd, x_val, (y_val - mu) / sd, x_test, (y_test - mu) / sd)
    return to_dataset(
        parts,
        num_classes=None,
        meta={
            "source": "scikit-learn diabetes",
            "target_mean": float(mu),
            "target_std": float(sd),
            "corrupted_fraction": fraction,
            "corruption": f"+-{magnitude:g} sd on {n_train_bad} training and {n_val_bad} validation targets",
        },
    )


#: the anomaly task's split, per seed (normal rows, anomalies); see breast_cancer_anomaly
ANOMALY_SPLIT = {"train": (200, 20), "val": (67, 10), "test": (90, 40)}


def breast_cancer_anomaly(
    seed: int, *, counts: dict[str, tuple[int, int]] | None = None
) -> Dataset:
    """WDBC as a semi-supervised anomaly-detection set: benign rows are normal, malignant rows
    are anomalies (label 1), with a fixed number of each in every split and every seed.

    ``counts`` maps "train", "val" and "test" to (normal rows, anomalies); default
    :data:`ANOMALY_SPLIT`: test 90 normal + 40 anomalies, validation 67 + 10, training 200 + 20
    (all 357 benign rows, 70 of the 212 malignant ones). Which rows go where is drawn from
    ``seed``. The setting is the semi-supervised one of Ruff et al. 2020 (Deep SAD) and of
    ADBench (Han et al. 2022): unsupervised detectors learn from the normal training rows only
    (the lab's autoencoders skip rows labelled 1), a supervised detector also gets the few
    labelled training anomalies. Unlike the ODDS WDBC set (10 anomalies in 367 rows, about 2 per
    test split), 40 test anomalies resolve differences in ROC-AUC of a few points. Within each
    split the anomalies come first (batches are drawn in a random order, so the order of rows
    does not matter).
    """
    from sklearn.datasets import load_breast_cancer

    counts = dict(ANOMALY_SPLIT if counts is None else counts)
    d = load_breast_cancer()
    rng = np.random.default_rng(seed)
    normal = rng.permutation(np.flatnonzero(d.target == 1))
    anomalies = rng.permutation(np.flatnonzero(d.target == 0))
    need = [sum(c[i] for c in counts.values()) for i in (0, 1)]
    if need[0] > len(normal) or need[1] > len(anomalies):
        raise ValueError(
            f"lab.breast_cancer_anomaly: 'counts' must ask for at most {len(normal)} normal rows "
            f"and {len(anomalies)} anomalies, got {need[0]} and {need[1]}"
        )
    parts: list[np.ndarray] = []
    used = [0, 0]
    for name in ("train", "val", "test"):
        n_norm, n_anom = counts[name]
        rows = np.concatenate(
            [anomalies[used[1] : used[1] + n_anom], normal[used[0] : used[0] + n_norm]]
        )
        used = [used[0] + n_norm, used[1] + n_anom]
        parts += [d.data[rows], (d.target[rows] == 0).astype(np.int64)]
    return to_dataset(
        tuple(parts),
        num_classes=2,
        meta={
            "positive": "malignant (anomaly)",
            "source": "scikit-learn breast_cancer (WDBC), semi-supervised anomaly protocol",
            "split": {k: {"normal": v[0], "anomalies": v[1]} for k, v in counts.items()},
            "unsupervised_train": "normal training rows only",
        },
    )


def _read_idx(path: pathlib.Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_mnist_arrays(part: str, dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """(pixels in [0, 1] as (n, 784) ``dtype``, labels) of the ``train`` or ``t10k`` files."""
    if not SOURCES["fashion-mnist"].available():
        raise DataUnavailable(SOURCES["fashion-mnist"].missing)
    d = FASHION_MNIST_DIR
    x = _read_idx(d / f"{part}-images-idx3-ubyte.gz").reshape(-1, 784).astype(dtype) / 255.0
    return x, _read_idx(d / f"{part}-labels-idx1-ubyte.gz").astype(np.int64)


def fashion_mnist(seed: int, *, n_train: int = 6000, n_test: int = 2000) -> Dataset:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (a stratified subsample)."""
    x, y = _fashion_mnist_arrays("train")
    rng = np.random.default_rng(seed)
    keep = rng.choice(len(y), size=min(len(y), n_train + n_test), replace=False)
    parts = split(x[keep], y[keep], seed, stratify=True, test=n_test / (n_train + n_test))
    return to_dataset(
        parts,
        num_classes=10,
        meta={"source": "Fashion-MNIST (Debian package)", "image_shape": (1, 28, 28)},
    )


def fashion_mnist_full(seed: int, *, n_val: int = 10_000) -> Dataset:
    """All of Fashion-MNIST: the 60,000 training images split (stratified, by ``seed``) into
    50,000 for training and 10,000 for validation; the official 10,000 test images as the test
    set (the same for every seed). What ``losslab compare --full`` trains on."""
    from sklearn.model_selection import train_test_split

    x, y = _fashion_mnist_arrays("train", np.float32)  # float32: 60,000 images in half the memory
    x_test, y_test = _fashion_mnist_arrays("t10k", np.float32)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=n_val, random_state=seed, stratify=y
    )
    return to_dataset(
        (x_train, y_train, x_val, y_val, x_test, y_test),
        num_classes=10,
        meta={
            "source": "Fashion-MNIST (Debian package), all 60,000 + 10,000 images",
            "image_shape": (1, 28, 28),
        },
    )
