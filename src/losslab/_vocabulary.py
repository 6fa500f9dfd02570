"""The catalog's vocabulary (properties, tasks, input kinds), importable without torch.

The CLI reads these for its help texts; ``losslab --help`` must not pay for importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["INPUT_KINDS", "PROPERTIES", "TASKS"]

#: Every property a loss must declare (True/False; None only where it does not apply).
PROPERTIES: Mapping[str, str] = {
    "nonnegative": "the loss is >= 0 for every input and target",
    "zero_at_perfect": "the loss is 0 at a perfect prediction (for logits: a confident, correct one)",
    "convex": "the per-element loss is convex in the input",
    "smooth": "the loss is differentiable everywhere in the input",
    "bounded": "the loss is bounded above however wrong the prediction is",
    "robust_to_outliers": "the gradient w.r.t. the input stays bounded as the error grows "
    "(bounded influence: one outlier cannot dominate a batch)",
    "symmetric": "mirroring the error (over- vs under-prediction, or swapping the binary label "
    "together with the sign of the logit) leaves the loss unchanged",
}

TASKS: Mapping[str, str] = {
    "regression": "predict a real value",
    "binary": "two classes, one output",
    "multiclass": "one of C classes",
    "multilabel": "any subset of C labels",
    "imbalanced": "classes of very different frequency",
    "noisy_labels": "training labels partly wrong",
    "distribution": "match a probability distribution",
    "ranking": "order pairs of items",
    "metric_learning": "learn an embedding where distance means similarity",
    "sequence": "align an unsegmented sequence to labels",
    "segmentation": "classify every pixel",
    "generative": "match a data distribution with samples",
    "anomaly": "score how unusual a sample is",
    "reinforcement_learning": "learn a policy or a value function from rewards",
}

INPUT_KINDS = ("logits", "probabilities", "log_probabilities", "real", "embeddings")
