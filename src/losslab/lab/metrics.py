"""Turning model outputs into scores and metrics (torchmetrics, ``average=`` always explicit)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchmetrics.functional.classification as C
import torchmetrics.functional.regression as R

from ..catalog import Head

__all__ = [
    "scores_from_outputs",
    "compute_metrics",
    "metric_per_model",
    "METRIC_LABELS",
    "THRESHOLD",
    "PR_LEVELS",
    "pr_curve",
]

#: decision threshold on the positive-class probability for binary tasks
THRESHOLD = 0.5

#: the metrics compute_metrics knows (task-specific trainers add others, e.g. total_cost)
STANDARD_METRICS = frozenset(
    {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "average_precision",
        "balanced_accuracy",
        "minority_recall",
        "tpr",
        "fpr",
        "top1",
        "top5",
        "macro_f1",
        "rmse",
        "mae",
    }
)

#: display names: what a table header or an axis shows (never the internal key)
METRIC_LABELS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "precision": "precision",
    "recall": "recall (TPR)",
    "f1": "F1",
    "roc_auc": "ROC-AUC",
    # stored by older studies; the same number as average_precision (torchmetrics' step-wise AP)
    "pr_auc": "PR-AUC (average precision)",
    "average_precision": "average precision",
    "minority_recall": "minority recall (TPR)",
    "tpr": "TPR (recall)",
    "fpr": "FPR",
    "top1": "top-1",
    "top5": "top-5",
    "macro_f1": "macro-F1",
    "rmse": "RMSE",
    "mae": "MAE",
    "robust_accuracy": "robust accuracy",
    "clean_accuracy": "clean accuracy",
    "passes_per_step": "passes per step",
    "collapsed": "collapsed (catastrophic overfitting)",
    "learned_alpha": "learned alpha",
    "learned_scale": "learned scale",
    "class_top1": "class top-1",
    "parity_accuracy": "parity accuracy",
    "mean_accuracy": "mean accuracy",
    "weight_sparsity": "weight sparsity",
    "total_cost": "total cost",
    "dice": "Dice",
    "iou": "IoU",
    "ece": "ECE (15 bins, L1)",
    "mce": "MCE (15 bins, max)",
    "nll": "NLL",
    "brier": "Brier",
    "crps": "CRPS",
    "coverage_50": "50% coverage",
    "coverage_90": "90% coverage",
    "width_50": "50% width",
    "width_90": "90% width",
    "function_evaluations": "function evaluations",
    "mean_return": "mean return (last 20 episodes)",
    "episodes_to_solve": "episodes to solve (100-episode mean 475)",
}


def scores_from_outputs(z: torch.Tensor, head: Head, kind: str) -> torch.Tensor:
    """Raw outputs (..., units) -> what metrics need.

    regression: the prediction (...); binary: P(positive) (...); multiclass: probabilities (..., C).
    A 1-unit head is read as a probability when its activation is a sigmoid, and otherwise as a
    logit or signed margin (sigmoid of it: the 0.5 threshold is the margin's sign).
    """
    if kind == "regression":
        return z[..., 0]
    if z.shape[-1] == 1:
        return z[..., 0] if head.activation == "sigmoid" else torch.sigmoid(z[..., 0])
    probs = torch.softmax(z, dim=-1)
    return probs[..., 1] if kind != "multiclass" else probs


def compute_metrics(
    names: tuple[str, ...],
    scores: torch.Tensor,
    y: torch.Tensor,
    *,
    num_classes: int | None,
    target_std: float = 1.0,
    threshold: float = THRESHOLD,
) -> dict[str, float]:
    """Metrics of ONE model: scores as returned by :func:`scores_from_outputs`.

    Binary decisions flag ``score >= threshold``; ranking metrics (ROC-AUC, average precision)
    use the raw scores, so they also accept unbounded scores such as reconstruction errors.

    Binary metrics, with TP/FP/TN/FN counted at ``threshold``: ``precision`` = TP / (TP + FP)
    (0 when nothing is flagged), ``recall`` = ``tpr`` = ``minority_recall`` = TP / (TP + FN),
    ``fpr`` = FP / (FP + TN), ``balanced_accuracy`` = (TPR + TNR) / 2, ``average_precision``
    (= the older ``pr_auc``) = sum over thresholds of (R_k - R_k-1) P_k, without interpolation.
    """
    out: dict[str, float] = {}
    s = scores.detach().float()
    for name in names:
        if name in ("rmse", "mae"):
            fn = R.mean_squared_error if name == "rmse" else R.mean_absolute_error
            kw = {"squared": False} if name == "rmse" else {}
            out[name] = float(fn(s, y.float(), **kw)) * target_std
        elif name in ("top1", "top5", "macro_f1"):
            yt = y.long()
            if name == "macro_f1":
                v = C.multiclass_f1_score(s, yt, num_classes=num_classes, average="macro")
            else:
                k = 1 if name == "top1" else min(5, num_classes or 5)
                v = C.multiclass_accuracy(s, yt, num_classes=num_classes, average="micro", top_k=k)
            out[name] = float(v)
        else:
            out[name] = _binary_metric(name, s, y.long(), threshold)
    return out


def _binary_metric(name: str, s: torch.Tensor, y: torch.Tensor, threshold: float) -> float:
    if name == "roc_auc":  # rank-based: any monotone score works
        return float(C.binary_auroc(s, y))
    if name in ("pr_auc", "average_precision"):
        return float(C.binary_average_precision(s, y))
    # decisions are made here: torchmetrics would apply a sigmoid to float scores outside [0, 1]
    # (e.g. reconstruction errors) before thresholding
    hard = (s >= threshold).long()
    if name == "accuracy":
        return float(C.binary_accuracy(hard, y))
    if name == "precision":
        return float(C.binary_precision(hard, y))
    if name in ("recall", "minority_recall", "tpr"):
        return float(C.binary_recall(hard, y))
    if name == "fpr":
        return float(1 - C.binary_specificity(hard, y))
    if name == "balanced_accuracy":
        return float((C.binary_recall(hard, y) + C.binary_specificity(hard, y)) / 2)
    if name == "f1":
        return float(C.binary_f1_score(hard, y))
    raise ValueError(f"compare: unknown metric {name!r}")


def metric_per_model(
    name: str,
    scores: torch.Tensor,
    y: torch.Tensor,
    *,
    num_classes: int | None,
    target_std: float | Sequence[float] = 1.0,
    threshold: float = THRESHOLD,
) -> list[float]:
    """One metric for each of M stacked models (scores and y lead with M).

    ``target_std`` is one value for all models or one per model (each model's own split's).

    Accuracy-type metrics go through torchmetrics in one call (``multidim_average="samplewise"``
    treats each model as a sample); the others are computed model by model.
    """
    s = scores.detach().float()
    if name in ("accuracy", "f1") and s.dim() == 2:
        hard = (s >= threshold).long()
        fn = C.binary_accuracy if name == "accuracy" else C.binary_f1_score
        return fn(hard, y.long(), multidim_average="samplewise").reshape(-1).tolist()
    if name == "top1" and s.dim() == 3:
        return (
            C.multiclass_accuracy(
                s.transpose(1, 2),
                y.long(),
                num_classes=num_classes,
                average="micro",
                multidim_average="samplewise",
            )
            .reshape(-1)
            .tolist()
        )
    stds = (
        [float(target_std)] * s.shape[0]
        if isinstance(target_std, (int, float))
        else list(target_std)
    )
    return [
        compute_metrics(
            (name,), s[i], y[i], num_classes=num_classes, target_std=stds[i], threshold=threshold
        )[name]
        for i in range(s.shape[0])
    ]


#: the recall levels a stored precision-recall curve is read at: 0, 0.02, ..., 1 (51 points)
PR_LEVELS = 51


def pr_curve(
    scores: torch.Tensor, y: torch.Tensor, *, levels: int = PR_LEVELS
) -> list[tuple[float, float]]:
    """The test precision-recall curve of ONE model, as ``(recall, precision)`` pairs at
    ``levels`` evenly spaced recall levels from 0 to 1.

    Computed from scikit-learn's ``precision_recall_curve`` over every threshold of the raw
    scores (any monotone score works: probabilities, margins, reconstruction errors), then read
    as the *interpolated* precision ``p(r) = max over r' >= r of precision(r')`` (the PASCAL VOC
    convention; Everingham et al. 2010), which is defined at every recall level, so curves of
    several seeds can be averaged point by point. Empty when ``y`` has no positive or the scores
    are not all finite (a diverged model).
    """
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    if levels < 2:
        raise ValueError(f"lab.pr_curve: 'levels' must be >= 2, got {levels}")
    s = scores.detach().double().reshape(-1).numpy()
    t = y.detach().reshape(-1).numpy().astype(np.int64)
    if not np.isfinite(s).all() or not t.any():
        return []
    precision, recall, _ = precision_recall_curve(t, s)
    grid = np.linspace(0.0, 1.0, levels)
    # recall is non-increasing along sklearn's arrays: a running maximum from the high-recall end
    order = np.argsort(recall, kind="stable")
    r_sorted, p_sorted = recall[order], precision[order]
    best_from = np.maximum.accumulate(p_sorted[::-1])[::-1]
    idx = np.searchsorted(r_sorted, grid, side="left")
    return [(float(r), float(best_from[i])) for r, i in zip(grid, idx, strict=True)]
