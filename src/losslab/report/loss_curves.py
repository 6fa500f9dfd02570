"""Pictures of losses: each loss and its derivative against the error, margin or logit.

>>> from losslab.report.loss_curves import loss_curve
>>> c = loss_curve("huber_loss", delta=0.5)
>>> c.axis.label, c.label
('error x - y', 'huber_loss (delta=0.5)')
>>> round(float(c.loss[-1]), 3), round(float(c.derivative[-1]), 3)  # at error 4: delta (|e| - delta/2)
(1.875, 0.5)

The x-axis depends on what the loss reads (its catalog sampler): a regression loss is drawn against
the error ``x - y`` (target 0, or 1 where the target must stay away from 0), a binary logit loss
against the logit for a positive target (for ±1 labels that is the margin ``y·x``), a class-indexed
loss against the target logit's margin over the other logits (all 0), a probability loss against
the probability of the true class. The derivative is the one autograd gives with respect to that
x-axis variable. Losses over embeddings, sequences, distributions or masks have no such axis:
:class:`NotPlottableError` names them.

Figures are plain :class:`~matplotlib.figure.Figure` objects (Agg canvas, never pyplot).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import catalog
from ..catalog import LossSpec

__all__ = [
    "Axis",
    "Curve",
    "NotPlottableError",
    "loss_curve",
    "curves_figure",
    "write_curves",
    "curves_svg",
    "competitor_curves_svg",
    "AXES",
]

POINTS = 401
C = 4  # classes for the class-indexed losses: the target logit against three logits at 0


class NotPlottableError(ValueError):
    """A loss has no single x-axis (embeddings, sequences, distributions, masks)."""


@dataclass(frozen=True)
class Axis:
    """One kind of x-axis: its label, default range, and how to build the loss's arguments."""

    kind: str  # losses of the same kind share a figure
    label: str
    low: float
    high: float
    build: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]


def _regression(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return t, torch.zeros_like(t)


def _away(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return 1 + t, torch.ones_like(t)


def _positive_logit(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return t, torch.ones_like(t)


def _class_logits(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = torch.zeros(t.shape[0], C, dtype=t.dtype)
    x = torch.cat([t[:, None], x[:, 1:]], dim=1)
    return x, torch.zeros(t.shape[0], dtype=torch.long)


def _class_log_probs(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x, y = _class_logits(t)
    return torch.log_softmax(x, dim=1), y


def _probability(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return t, torch.ones_like(t)


_ERROR = "error x - y"
_LOGIT = "logit x for a positive target (margin y·x for ±1 labels)"
_CLASS = f"target logit margin z_y - z_j (the {C - 1} other logits at 0)"

#: sampler name -> x-axis (custom losses share the built-ins' samplers)
AXES: Mapping[str, Axis] = {
    "regression": Axis("error", _ERROR, -4.0, 4.0, _regression),
    "above_minus_one": Axis("error", _ERROR + " (target 0; x > -1)", -0.95, 4.0, _regression),
    "target_away_from_zero": Axis("error", _ERROR + " (target 1)", -4.0, 4.0, _away),
    "binary_logits": Axis("logit", _LOGIT, -6.0, 6.0, _positive_logit),
    "signed_binary": Axis("logit", _LOGIT, -6.0, 6.0, _positive_logit),
    "signed_logits": Axis("logit", _LOGIT, -6.0, 6.0, _positive_logit),
    "multilabel_logits": Axis(
        "logit", _LOGIT, -6.0, 6.0, lambda t: (t[:, None], torch.ones_like(t)[:, None])
    ),
    "class_logits": Axis("class", _CLASS, -6.0, 6.0, _class_logits),
    "class_margin": Axis("class", _CLASS, -6.0, 6.0, _class_logits),
    "class_log_probs": Axis("class", _CLASS, -6.0, 6.0, _class_log_probs),
    "binary_probs": Axis("probability", "probability of the true class", 1e-3, 1.0, _probability),
    "binary_probs_wide": Axis(
        "probability", "probability of the true class", 1e-3, 1.0, _probability
    ),
}


@dataclass(frozen=True)
class Curve:
    """One loss on its axis: ``loss`` and ``derivative`` (d loss / d x-axis) at each ``x``."""

    name: str
    label: str
    axis: Axis
    x: list[float]
    loss: list[float]
    derivative: list[float]


def axis_of(spec: LossSpec) -> Axis:
    axis = AXES.get(spec.sampler.name)
    if axis is None:
        raise NotPlottableError(
            f"plot: '{spec.name}' reads {spec.input_kind} ({spec.sampler.name}), which has no single "
            "x-axis; plottable: regression losses (error), binary logit losses (logit/margin), "
            "class-indexed losses (target logit margin), probability losses"
        )
    return axis


def _hyperparameters(spec: LossSpec, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The function's defaults, the catalog's test values only for hyperparameters without a
    default (a class prior, Barron's alpha), then ``hparams``, each validated."""
    spec.setting(**hparams)  # raises the loss's own message for a bad name or value
    defaults = spec.defaults
    needed = {k: v for k, v in spec.test_kwargs.items() if k not in defaults}
    return {**needed, **hparams}


def _label(name: str, hparams: Mapping[str, Any]) -> str:
    if not hparams:
        return name
    return f"{name} ({', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in hparams.items())})"


def loss_curve(
    loss: str | LossSpec,
    *,
    label: str | None = None,
    points: int = POINTS,
    xlim: tuple[float, float] | None = None,
    **hparams: Any,
) -> Curve:
    """The loss and its autograd derivative along the loss's x-axis (see the module docstring)."""
    spec = loss if isinstance(loss, LossSpec) else catalog.get(loss)
    axis = axis_of(spec)
    kw = _hyperparameters(spec, hparams)
    low, high = xlim or (axis.low, axis.high)
    t = torch.linspace(low, high, points, dtype=torch.float64).requires_grad_(True)
    args = axis.build(t)
    out = spec.function(*args, reduction="none", **kw)
    per_point = out.reshape(points, -1).sum(dim=1) if out.dim() else out.expand(points)
    (grad,) = torch.autograd.grad(per_point.sum(), t, allow_unused=True)
    grad = torch.zeros_like(t) if grad is None else grad
    return Curve(
        spec.name,
        label or _label(spec.name, hparams),
        axis,
        t.detach().tolist(),
        per_point.detach().tolist(),
        grad.detach().tolist(),
    )


def _finite(values: Sequence[float]) -> list[float]:
    return [v if math.isfinite(v) else float("nan") for v in values]


def curves_figure(curves: Sequence[Curve], *, title: str = ""):  # type: ignore[no-untyped-def]
    """One figure, two panels (loss, derivative), one legend shared below them."""
    import matplotlib
    from matplotlib.figure import Figure

    from .plots import _STYLE, _colour, _text

    if not curves:
        raise ValueError("plot: 'curves' must name at least one loss, got none")
    kinds = {c.axis.kind for c in curves}
    if len(kinds) > 1:
        by = ", ".join(f"{c.name} ({c.axis.kind})" for c in curves)
        raise NotPlottableError(
            f"plot: the losses must share one x-axis, got {by}; plot them separately"
        )
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(9.0, 3.6))
        loss_ax, grad_ax = fig.subplots(1, 2)
        for i, c in enumerate(curves):
            loss_ax.plot(
                c.x, _finite(c.loss), color=_colour(i), linewidth=1.6, label=_text(c.label)
            )
            grad_ax.plot(c.x, _finite(c.derivative), color=_colour(i), linewidth=1.6)
        loss_ax.set_title("loss", loc="left", fontweight="bold")
        grad_ax.set_title("derivative (autograd)", loc="left", fontweight="bold")
        for ax in (loss_ax, grad_ax):
            ax.set_xlabel(_text(curves[0].axis.label))
            ax.axhline(0, color="#999999", linewidth=0.6)
        if title:
            fig.suptitle(_text(title), x=0.01, ha="left", fontsize=10)
        fig.tight_layout(rect=(0, 0.1 + 0.05 * (len(curves) // 4), 1, 1))
        handles, labels = loss_ax.get_legend_handles_labels()
        fig.legend(
            handles, labels, loc="lower center", ncol=min(len(curves), 4), bbox_to_anchor=(0.5, 0.0)
        )
    return fig


def curves_svg(curves: Sequence[Curve], *, key: str = "loss-curves", title: str = "") -> str:
    """The figure as inline SVG (ids prefixed with ``key``, like the report's other figures)."""
    from .plots import _to_svg

    return _to_svg(curves_figure(curves, title=title), key)


def write_curves(
    path: str | Path,
    items: Iterable[tuple[str | LossSpec, Mapping[str, Any]]],
    *,
    points: int = POINTS,
) -> Path:
    """Draw ``(loss, hyperparameters)`` pairs into ``path`` (.svg or .png, by its suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise ValueError(f"plot: 'out' must end in .svg or .png, got {str(path)!r}")
    curves = [loss_curve(loss, points=points, **dict(hp)) for loss, hp in items]
    if suffix == ".svg":
        path.write_text(curves_svg(curves), encoding="utf-8")
    else:
        buf = io.BytesIO()
        curves_figure(curves).savefig(buf, format="png", dpi=120, bbox_inches="tight")
        path.write_bytes(buf.getvalue())
    return path


def _literal(text: Any) -> Any:
    import ast

    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None  # a tensor or an object: not reproducible from its repr


def competitor_curves_svg(competitors: Sequence[Mapping[str, Any]], *, key: str) -> str | None:
    """The loss curves of a task's competitors, as stored in a study's ``task_info``.

    Each competitor is ``{"label", "loss", "kwargs": {name: repr}}``; hyperparameters whose repr is
    a Python literal are used, others (tensors computed from the data) keep the loss's defaults.
    Competitors drawn on the most common axis share the figure; the rest (another axis, no axis,
    a loss this session cannot import) are named in its title. None when nothing can be drawn.
    """
    curves: list[Curve] = []
    skipped: list[str] = []
    for comp in competitors:
        label = str(comp.get("label", comp.get("loss", "?")))
        hp = {k: _literal(v) for k, v in (comp.get("kwargs") or {}).items()}
        hp = {k: v for k, v in hp.items() if isinstance(v, (bool, int, float, str))}
        try:
            spec = catalog.get(str(comp.get("loss")))
            curves.append(loss_curve(spec, label=label, points=201, **hp))
        except (KeyError, TypeError, ValueError):  # unknown here, not plottable, or odd values
            skipped.append(label)
    if not curves:
        return None
    counts: dict[str, int] = {}
    for c in curves:
        counts[c.axis.kind] = counts.get(c.axis.kind, 0) + 1
    kind = max(counts, key=lambda k: counts[k])
    skipped += [c.label for c in curves if c.axis.kind != kind]
    drawn = [c for c in curves if c.axis.kind == kind]
    title = f"not drawn (no shared x-axis): {', '.join(skipped)}" if skipped else ""
    return curves_svg(drawn, key=key, title=title)
