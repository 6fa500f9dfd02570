"""The lab's task registry: data, competing losses, metrics. Open: ``register_task`` adds more.

Each task names a catalog task (``kind``) that decides the output head of every competing loss,
and its default competitors are checked against the catalog's task field when registered.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import catalog
from .._data_sources import SOURCES
from . import data as D
from .metrics import THRESHOLD

__all__ = ["Competitor", "Task", "register_task", "get_task", "task_names", "competitor_for_loss"]


@dataclass(frozen=True)
class Competitor:
    """One competing loss in a task: a catalog loss plus fixed and data-derived hyperparameters."""

    label: str
    loss: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: hyperparameters computed from the training split (e.g. pos_weight from class counts)
    data_kwargs: Callable[[D.Dataset], dict[str, Any]] | None = None
    note: str = ""
    #: "classifier" (predict the target) or "autoencoder" (reconstruct the input, score by error)
    model: str = "classifier"
    hidden: tuple[int, ...] | None = None  # overrides the task's hidden layers
    #: a competitor-specific trainer with train_stack's signature (a module-level function or a
    #: picklable callable instance, since studies may run in worker processes); it takes
    #: precedence over the task's trainer and the lab's batched trainer
    trainer: Callable[..., list[Any]] | None = None
    #: the comparison group: competitors of different groups answer different questions (e.g.
    #: unsupervised autoencoders vs a supervised classifier), so the report compares and
    #: recommends within a group only; "" = the task's one group
    group: str = ""

    def spec(self) -> catalog.LossSpec:
        return catalog.get(self.loss)


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # catalog task key for heads: "binary", "multiclass", "regression", "imbalanced"
    description: str
    load: Callable[[int], D.Dataset]
    competitors: tuple[Competitor, ...]
    metrics: tuple[str, ...]
    primary: str
    higher_is_better: bool = True
    epochs: int = 40
    full_epochs: int = 150
    hidden: tuple[int, ...] = (32,)
    batch_size: int = 64
    optional: bool = False
    #: the loader ``--full`` uses (e.g. the whole data set rather than a sample); None: ``load``
    full_load: Callable[[int], D.Dataset] | None = None
    #: the optional data set the task needs (a key of losslab._data_sources.SOURCES), if any
    source: str | None = None
    notes: str = ""
    #: (C, H, W) when the features are image pixels: enables the CNN option
    image_shape: tuple[int, int, int] | None = None
    #: a task-specific trainer with train_stack's signature (task, competitor, runs, datasets,
    #: config) -> list[RunResult]; None uses the lab's batched MLP/CNN trainer. Module-level
    #: functions or picklable callable instances (studies may run in worker processes).
    trainer: Callable[..., list[Any]] | None = None


_TASKS: dict[str, Task] = {}


def _check_competitor(task: Task, comp: Competitor) -> None:
    spec = comp.spec()
    if comp.model not in ("classifier", "autoencoder"):
        raise ValueError(
            f"lab.register_task: 'model' must be 'classifier' or 'autoencoder', got {comp.model!r}"
        )
    try:
        head = spec.head_for("regression" if comp.model == "autoencoder" else task.kind)
    except KeyError:
        raise ValueError(
            f"compare: loss {comp.loss!r} declares no output head for task kind {task.kind!r} "
            f"(its tasks: {', '.join(spec.tasks)})"
        ) from None
    if head.outputs and comp.trainer is None and task.trainer is None:
        # the default system trains one raw output; named outputs need lab.systems.uncertainty
        outputs = ", ".join(n for n, _ in head.outputs)
        raise ValueError(
            f"compare: loss {comp.loss!r} needs a head with the outputs {outputs}, which task "
            f"{task.name!r} does not build; use --task uncertainty, uncertainty-diabetes or "
            "calibration"
        )


def register_task(task: Task, *, replace: bool = False) -> Task:
    if task.name in _TASKS and not replace:
        raise ValueError(f"lab.register_task: 'name' must be unused, got {task.name!r}")
    if task.source is not None and task.source not in SOURCES:
        raise ValueError(
            f"lab.register_task: 'source' must be one of {sorted(SOURCES)} or None, got {task.source!r}"
        )
    if task.primary not in task.metrics:
        raise ValueError(
            f"lab.register_task: 'primary' must be one of {task.metrics}, got {task.primary!r}"
        )
    for comp in task.competitors:
        _check_competitor(task, comp)
    _TASKS[task.name] = task
    return task


def task_names() -> list[str]:
    return list(_TASKS)


def get_task(name: str) -> Task:
    if name in _TASKS:
        return _TASKS[name]
    close = difflib.get_close_matches(name, list(_TASKS), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"compare: '--task' must be one of {', '.join(_TASKS)}, got {name!r}.{hint}")


def competitor_for_loss(task: Task, loss: str) -> Competitor:
    """A competitor for a loss named by the user (catalog name), checked against the task."""
    spec = catalog.get(loss)
    comp = Competitor(label=spec.name, loss=spec.name)
    _check_competitor(task, comp)
    return comp


# -- data-derived hyperparameters ------------------------------------------------------------


def _pos_weight(ds: D.Dataset) -> dict[str, Any]:
    pos = float(ds.y_train.sum())
    neg = float(len(ds.y_train) - pos)
    return {"pos_weight": torch.tensor(neg / max(pos, 1.0))}


def _class_balanced(ds: D.Dataset) -> dict[str, Any]:
    from ..functional import class_counts, effective_number_weights

    w = effective_number_weights(class_counts(ds.y_train, 2), beta=0.999)
    return {"pos_weight": (w[1] / w[0]).reshape(())}


def _train_adaptive_robust(*args: Any) -> list[Any]:
    from .train_adaptive import train_adaptive_robust  # train imports this module

    return train_adaptive_robust(*args)


# -- built-in tasks --------------------------------------------------------------------------

BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "fpr")
#: the imbalanced tasks' rates, all at the decision threshold, plus the threshold-free average
#: precision (each run also stores its test precision-recall curve: see losslab.lab.store)
IMBALANCED_METRICS = (
    "f1",
    "minority_recall",
    "precision",
    "fpr",
    "balanced_accuracy",
    "average_precision",
    "accuracy",
)
_RATE_NOTES = (
    "Decisions flag P({positive}) >= {THRESHOLD:g} (the lab's default threshold, "
    "losslab.lab.metrics.THRESHOLD); minority recall (= TPR), precision, FPR, balanced accuracy "
    "(= (TPR + TNR) / 2), F1 and accuracy are computed at that threshold; average precision and "
    "the stored precision-recall curve use the raw scores (every threshold)."
).replace("{THRESHOLD:g}", f"{THRESHOLD:g}")

register_task(
    Task(
        name="binary",
        kind="binary",
        description="Breast cancer (scikit-learn WDBC): malignant vs benign from 30 features.",
        load=D.breast_cancer,
        competitors=(
            Competitor(
                "MSE (sigmoid head)",
                "mse_loss",
                note="1 sigmoid unit, squared error on the probability",
            ),
            Competitor("BCE", "binary_cross_entropy_with_logits"),
            Competitor("hinge", "hinge_loss"),
            Competitor("focal (gamma=2)", "sigmoid_focal_loss", {"gamma": 2.0, "alpha": None}),
        ),
        metrics=BINARY_METRICS,
        primary="accuracy",
    )
)

register_task(
    Task(
        name="multiclass",
        kind="multiclass",
        description="Digits (scikit-learn, 8x8 images): 10 classes.",
        load=D.digits,
        competitors=(
            Competitor("CE", "cross_entropy"),
            Competitor("CE (label smoothing 0.1)", "cross_entropy", {"label_smoothing": 0.1}),
            Competitor("softmax focal (gamma=2)", "softmax_focal_loss", {"gamma": 2.0}),
            Competitor("multiclass hinge", "multiclass_hinge_loss"),
        ),
        metrics=("top1", "top5", "macro_f1"),
        primary="top1",
        hidden=(64,),
        epochs=30,
        image_shape=(1, 8, 8),
    )
)

register_task(
    Task(
        name="regression",
        kind="regression",
        description="Diabetes (scikit-learn) with 10% of training and validation targets corrupted "
        "by +-5 sd; RMSE/MAE on a clean test set, in the target's units. Targets are standardised with "
        "the corrupted training targets' mean and sd.",
        load=D.diabetes_with_outliers,
        competitors=(
            Competitor("MSE", "mse_loss"),
            Competitor("MAE", "l1_loss"),
            Competitor("Huber (delta=1)", "huber_loss", {"delta": 1.0}),
            Competitor("log-cosh", "log_cosh_loss"),
            Competitor(
                "general robust (alpha=0)", "general_robust_loss", {"alpha": 0.0, "scale": 0.5}
            ),
            Competitor(
                "adaptive robust (learned alpha, scale)",
                "general_robust_loss",
                note="Barron's NLL with alpha in [0.001, 1.999] and scale learned jointly with "
                "the model; reports learned_alpha and learned_scale (target units)",
                trainer=_train_adaptive_robust,
            ),
        ),
        metrics=("rmse", "mae"),
        primary="rmse",
        higher_is_better=False,
        epochs=60,
    )
)

register_task(
    Task(
        name="imbalanced",
        kind="imbalanced",
        description="Digits '8 vs rest' (about 1:9): the minority class is positive.",
        load=D.digits_eight_vs_rest,
        competitors=(
            Competitor("BCE", "binary_cross_entropy_with_logits"),
            Competitor(
                "BCE (pos_weight = neg/pos)",
                "binary_cross_entropy_with_logits",
                data_kwargs=_pos_weight,
            ),
            Competitor(
                "focal (alpha=0.25, gamma=2)", "sigmoid_focal_loss", {"gamma": 2.0, "alpha": 0.25}
            ),
            Competitor(
                "class-balanced BCE (beta=0.999)",
                "binary_cross_entropy_with_logits",
                data_kwargs=_class_balanced,
                note="Cui et al. 2019 effective-number weights",
            ),
        ),
        metrics=IMBALANCED_METRICS,
        primary="f1",
        epochs=30,
        notes=_RATE_NOTES.format(positive="digit 8"),
    )
)

_AE = "unsupervised (autoencoders)"
_SPLIT = D.ANOMALY_SPLIT

register_task(
    Task(
        name="anomaly",
        kind="binary",  # heads and scores of a binary task; the autoencoders reconstruct instead
        description="Breast cancer (WDBC) anomaly detection, semi-supervised protocol: benign rows "
        f"are normal, malignant rows anomalies; every seed's test split holds {_SPLIT['test'][0]} "
        f"normal rows and {_SPLIT['test'][1]} anomalies. Autoencoders learn from the "
        f"{_SPLIT['train'][0]} normal training rows only and flag a sample when its reconstruction "
        "error exceeds the 95th percentile of the validation normal rows' errors; the supervised "
        f"BCE classifier (its own group) also gets the {_SPLIT['train'][1]} labelled training "
        f"anomalies and flags P(anomaly) >= {THRESHOLD:g}.",
        load=D.breast_cancer_anomaly,
        competitors=(
            Competitor(
                "autoencoder, MSE", "mse_loss", model="autoencoder", hidden=(16, 4, 16), group=_AE
            ),
            Competitor(
                "autoencoder, MAE", "l1_loss", model="autoencoder", hidden=(16, 4, 16), group=_AE
            ),
            Competitor(
                "autoencoder, Huber",
                "huber_loss",
                {"delta": 1.0},
                model="autoencoder",
                hidden=(16, 4, 16),
                group=_AE,
            ),
            Competitor(
                "supervised BCE classifier",
                "binary_cross_entropy_with_logits",
                note="uses the labels the autoencoders never see",
                group="supervised",
            ),
        ),
        metrics=("roc_auc", "tpr", "fpr", "precision", "balanced_accuracy", "average_precision"),
        primary="roc_auc",
        epochs=60,
        batch_size=32,
        notes="Protocol: the semi-supervised anomaly-detection setting of Ruff et al. 2020 (Deep "
        "SAD, ICLR) and ADBench (Han et al. 2022, NeurIPS): unsupervised detectors train on normal "
        "data only, a supervised detector on normal data plus a few labelled anomalies; every "
        "split has a fixed number of each (train "
        f"{_SPLIT['train'][0]} + {_SPLIT['train'][1]}, validation {_SPLIT['val'][0]} + "
        f"{_SPLIT['val'][1]}, test {_SPLIT['test'][0]} + {_SPLIT['test'][1]}), drawn from the seed "
        "out of scikit-learn's bundled WDBC (357 benign, 212 malignant). The older ODDS WDBC set "
        "(10 anomalies in 367 rows) left about 2 anomalies per test split, too few to resolve any "
        f"difference. Test anomalies make up {_SPLIT['test'][1] / sum(_SPLIT['test']):.0%} of the "
        "test split, so precision and average precision are not comparable with ODDS numbers. "
        "ROC-AUC and average precision rank the raw scores; TPR, FPR, precision and balanced "
        "accuracy are read at each detector's threshold. Autoencoders and the classifier are "
        "separate groups: compare within a group.",
    )
)

register_task(
    Task(
        name="fashion-mnist",
        kind="multiclass",
        description="Fashion-MNIST (Debian's dataset-fashion-mnist): a stratified 8,000-image sample, "
        "10 classes, pixels as features; with --full all 60,000 training images (50,000 train, "
        "10,000 validation) and the official 10,000 test images.",
        load=D.fashion_mnist,
        full_load=D.fashion_mnist_full,
        competitors=(
            Competitor("CE", "cross_entropy"),
            Competitor("CE (label smoothing 0.1)", "cross_entropy", {"label_smoothing": 0.1}),
            Competitor("softmax focal (gamma=2)", "softmax_focal_loss", {"gamma": 2.0}),
            Competitor("multiclass hinge", "multiclass_hinge_loss"),
        ),
        metrics=("top1", "top5", "macro_f1"),
        primary="top1",
        hidden=(128,),
        epochs=15,
        full_epochs=40,
        batch_size=128,
        optional=True,
        source="fashion-mnist",
        image_shape=(1, 28, 28),
    )
)
