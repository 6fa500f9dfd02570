"""The data model of the catalog: one :class:`LossSpec` per loss."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validation import Param, declared_params

__all__ = ["Case", "Sampler", "Head", "LossSpec", "PROPERTIES", "TASKS", "INPUT_KINDS"]

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
}

INPUT_KINDS = ("logits", "probabilities", "log_probabilities", "real", "embeddings")


@dataclass(frozen=True)
class Case:
    """Concrete arguments for calling a loss: positional tensors plus keyword options.

    ``args[0]`` is the input the derivative is taken with respect to.
    """

    args: tuple[torch.Tensor, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def with_input(self, x: torch.Tensor) -> Case:
        return Case((x, *self.args[1:]), self.kwargs)


@dataclass(frozen=True)
class Sampler:
    """How to make valid inputs for a loss.

    make(gen, dtype, scale): random valid arguments; ``scale`` sets the size of the error (or
        the magnitude of logits), so scale=1e4 produces the extreme inputs of the contract.
    perfect(gen, dtype): arguments where the prediction is perfect (None: no such notion).
    mirror(case): the same case with the error mirrored (None: symmetry does not apply).
    kink(dtype): a case at a point where the loss is not differentiable (for smooth=False).
    empty(dtype): arguments with an empty batch.
    """

    name: str
    make: Callable[[torch.Generator, torch.dtype, float], Case]
    perfect: Callable[[torch.Generator, torch.dtype], Case] | None = None
    mirror: Callable[[Case], Case] | None = None
    kink: Callable[[torch.dtype], Case] | None = None
    empty: Callable[[torch.dtype], Case] | None = None


@dataclass(frozen=True)
class Head:
    """The output layer a loss expects: activation and number of units."""

    activation: str  # "identity", "sigmoid", "softmax", "log_softmax", "tanh", "softplus", "l2_normalize"
    units: str  # "1", "C", "D" (embedding size), "Q" (number of quantiles), "2" (mean and variance)
    note: str = ""

    def describe(self) -> str:
        act = "no activation (raw outputs)" if self.activation == "identity" else self.activation
        text = f"{self.units} unit(s), {act}"
        return f"{text}; {self.note}" if self.note else text


@dataclass(frozen=True)
class LossSpec:
    """Everything losslab knows about one loss."""

    name: str
    function: Callable[..., torch.Tensor]
    module: type[torch.nn.Module] | None
    family: str
    tasks: tuple[str, ...]
    input_kind: str
    heads: Mapping[str, Head]
    formula: str
    derivative: str
    derivative_fn: Callable[..., torch.Tensor] | None
    properties: Mapping[str, bool | None]
    references: tuple[str, ...]
    summary: str
    when_to_use: str
    sampler: Sampler
    #: keyword options used when the contract tests call the loss (e.g. a class prior)
    test_kwargs: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    drop_in_for: str | None = None  # "torch.nn.functional.<name>" for the torch drop-ins
    builtin: bool = True
    notes: str = ""

    @property
    def params(self) -> Mapping[str, Param]:
        return declared_params(self.function)

    @property
    def defaults(self) -> dict[str, Any]:
        import inspect

        sig = inspect.signature(self.function)
        return {
            n: p.default
            for n, p in sig.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
        }

    def head_for(self, task: str) -> Head:
        """The head for one of the loss's tasks ("*" in ``heads`` covers every declared task)."""
        if task not in self.tasks:
            raise KeyError(f"{self.name}: no output head declared for task {task!r}")
        if task in self.heads:
            return self.heads[task]
        if "*" in self.heads:
            return self.heads["*"]
        raise KeyError(f"{self.name}: no output head declared for task {task!r}")
