"""The uncertainty system: an MLP whose head has the loss's declared outputs, scored on how well
its stated uncertainty holds.

The network (the lab's stacked MLP or CNN) has as many output units as the loss's head declares
(``"2"``: a mean and a variance, ``"4"``: the NIG parameters, ``"Q"``: one per quantile level,
``"C"``: one per class); :meth:`~losslab.catalog.Head.split` cuts them into the loss's
arguments with their activations (softplus variances, softplus + 1 for alpha, ...), and the loss
is called as ``loss(*outputs, target)``. A head without named outputs (MSE, cross-entropy,
focal) is one output, as in the lab's default system.

What each head predicts (regression, :class:`~losslab.lab.calibration.Predictive`): a mean and a
variance or standard deviation -> a Gaussian; NIG outputs -> their Student-t marginal; a
quantile set -> its quantiles; an interval (interval score) -> the Gaussian whose central
(1 - alpha) interval it is; a single output (MSE) -> a Gaussian whose one standard deviation
per model is the RMS of its validation residuals ("MSE + a constant fitted variance").
Classification: class probabilities from the softmax of the logits, or alpha / S for Dirichlet
evidence (alpha = evidence + 1). With ``temperature=True`` the logits (log(alpha / S) for
evidence) are divided by the temperature fitted on the validation split (Guo et al. 2017) before
the test metrics; training is the same.

Model selection (best checkpoint, early stopping) reads the validation CRPS (regression) or the
task's primary metric (the calibration task's: NLL) of the untempered model on the validation
split (classification), so a tempered row selects the same epoch as its untempered twin. Test metrics: ``rmse`` of the mean (the
median of a quantile set) and the regression metrics of :mod:`losslab.lab.calibration`, or
``accuracy`` and its classification metrics; each finished run also stores its test PIT
histogram (``curves["pit"]``: bin centre, fraction) or reliability diagram
(``curves["reliability"]``: mean confidence, accuracy of each non-empty bin).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..calibration import (
    PIT_BINS,
    Predictive,
    classification_metrics,
    fit_temperature,
    pit_histogram,
    regression_metrics,
    reliability_diagram,
)
from ..data import Dataset
from ..engine import train_system
from ..models import make_model, make_optimizer
from .base import StackedSplits, SupervisedSystem, loss_kwargs, target_stds

if TYPE_CHECKING:
    from ..tasks import Competitor, Task
    from ..train import RunKey, RunResult, TrainConfig

__all__ = ["UncertaintySystem", "UncertaintyTrainer", "output_units"]


def output_units(units: str, ds: Dataset, kwargs: dict[str, Any]) -> int:
    """The number of units a head declares: ``"C"`` the data's classes, ``"Q"`` the number of
    quantile levels in the loss's ``quantiles``, digits as written."""
    if units == "C":
        return int(ds.num_classes or 1)
    if units == "Q":
        q = kwargs.get("quantiles")
        if q is None:
            raise ValueError("compare: a head with 'Q' units needs the loss's 'quantiles'")
        return len(q)
    if units.isdigit():
        return int(units)
    raise ValueError(f"compare: head with {units!r} units is not supported by the lab")


class UncertaintySystem(SupervisedSystem):
    """M stacked MLPs (or CNNs) with a multi-output head, for the uncertainty and calibration
    tasks (see the module docstring)."""

    def __init__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, Dataset],
        config: TrainConfig,
        *,
        temperature: bool = False,
    ):
        dss = [datasets[r.seed] for r in runs]
        super().__init__([r.seed for r in runs], StackedSplits.of(dss))
        spec = competitor.spec()
        self.task, self.config, self.temperature = task, config, temperature
        self.fn = spec.function
        self.head = spec.head_for(task.kind)
        self.names = tuple(n for n, _ in self.head.outputs)
        self.kwargs = loss_kwargs(competitor, dss)
        ds0 = self.ds0 = dss[0]
        self.regression = task.kind == "regression"
        units = output_units(self.head.units, ds0, self.kwargs[0])
        self.model = make_model(
            config.architecture,
            self.seeds,
            ds0.num_features,
            competitor.hidden or config.hidden,
            units,
            ds0.meta.get("image_shape"),
        )
        lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
        self.optimizers = [
            (make_optimizer(config.optimizer, list(self.model.parameters()), lr), None)
        ]
        self.t_train, self.t_val = self.data.y_train, self.data.y_val
        self.target_std = target_stds(dss)
        self.curves: list[dict[str, list[tuple[float, float]]]] = [{} for _ in runs]

    # -- outputs and loss ---------------------------------------------------------------------
    def outputs(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(M, B, units) -> the loss's predicted arguments, each (M, B, ...)."""
        if not self.head.outputs:  # one output: the raw units (a regression mean: squeezed)
            return (z[..., 0],) if self.regression and z.shape[-1] == 1 else (z,)
        return self.head.split(z)

    def loss_of(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        m, b = z.shape[:2]
        outs = [o.reshape(m * b, *o.shape[2:]) for o in self.outputs(z)]
        tgt = y.reshape(m * b)
        tgt = tgt.float() if self.regression else tgt.long()
        if all(kw is self.kwargs[0] for kw in self.kwargs[1:]) or len(self.kwargs) != m:
            per = self.fn(*outs, tgt, reduction="none", **self.kwargs[0])
        else:
            per = torch.cat(
                [
                    self.fn(*parts[:-1], parts[-1], reduction="none", **kw)
                    for *parts, kw in zip(
                        *(o.chunk(m) for o in outs), tgt.chunk(m), self.kwargs, strict=True
                    )
                ]
            )
        return per.reshape(m, b, -1).mean(dim=(1, 2))

    # -- predictions ----------------------------------------------------------------------------
    def predictive(self, z: torch.Tensor, i: int, resid_std: float = 1.0) -> Predictive:
        """Model ``i``'s predictive distributions from its outputs ``z`` (M, n, units)."""
        outs = [o[i].detach().double() for o in self.outputs(z)]
        if self.names[:1] == ("gamma",):
            return Predictive.nig(*outs)
        if self.names == ("quantiles",):
            return Predictive.quantiles(self.kwargs[i]["quantiles"].tolist(), outs[0])
        if self.names == ("mean", "var"):
            return Predictive.gaussian(outs[0], outs[1].clamp_min(1e-12).sqrt())
        if self.names == ("mean", "std"):
            return Predictive.gaussian(outs[0], outs[1])
        if self.names == (
            "lower",
            "upper",
        ):  # the Gaussian whose central (1 - alpha) interval it is
            z = statistics.NormalDist().inv_cdf(1 - self.kwargs[i].get("alpha", 0.1) / 2)
            lo, hi = torch.minimum(*outs), torch.maximum(*outs)
            return Predictive.gaussian((lo + hi) / 2, ((hi - lo) / (2 * z)).clamp_min(1e-6))
        return Predictive.gaussian(outs[0], torch.full_like(outs[0], resid_std))

    def _point(self, pred: Predictive) -> torch.Tensor:
        return torch.from_numpy(pred.loc)

    def _resid_std(self, z_val: torch.Tensor, i: int) -> float:
        """RMS validation residual of a single-output regressor (its constant fitted std)."""
        if self.head.outputs:
            return 1.0
        err = self.outputs(z_val)[0][i].detach().double() - self.data.y_val[i].double()
        return float(err.pow(2).mean().sqrt().clamp_min(1e-6))

    def log_probs(self, z: torch.Tensor) -> torch.Tensor:
        """(M, n, C) log class probabilities (the logits temperature scaling divides)."""
        if self.names == ("evidence",):
            alpha = self.outputs(z)[0].detach().double() + 1
            return alpha.log() - alpha.sum(-1, keepdim=True).log()
        return torch.log_softmax(z.detach().double(), dim=-1)

    # -- the engine's hooks -------------------------------------------------------------------
    def val_metric(self, z_val: torch.Tensor) -> list[float]:
        out = []
        for i in range(self.num_models):
            if self.regression:
                pred = self.predictive(z_val, i, self._resid_std(z_val, i))
                out.append(regression_metrics(pred, self.data.y_val[i], ("crps",))["crps"])
            else:
                p = self.log_probs(z_val)[i].exp()
                name = self.task.primary
                out.append(classification_metrics(p, self.data.y_val[i], (name,))[name])
        return out

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        d = self.data
        z_test, z_val = self.model(d.x_test), self.model(d.x_val)
        out: list[dict[str, float]] = []
        for i in range(self.num_models):
            if not ok[i]:
                out.append({})
                continue
            if self.regression:
                out.append(self._regression_metrics(z_test, z_val, i))
            else:
                out.append(self._classification_metrics(z_test, z_val, i))
        return out

    def _regression_metrics(self, z_test, z_val, i: int) -> dict[str, float]:
        pred = self.predictive(z_test, i, self._resid_std(z_val, i))
        y = self.data.y_test[i].double()
        std = self.target_std[i]
        names = tuple(k for k in self.task.metrics if k != "rmse")
        res = {"rmse": float((self._point(pred) - y).pow(2).mean().sqrt()) * std}
        res.update(regression_metrics(pred, y, names, target_std=std))
        hist = pit_histogram(pred, y)
        self.curves[i] = {"pit": [((k + 0.5) / PIT_BINS, f) for k, f in enumerate(hist)]}
        return {k: res[k] for k in self.task.metrics}

    def _classification_metrics(self, z_test, z_val, i: int) -> dict[str, float]:
        logits = self.log_probs(z_test)[i]
        if self.temperature:
            t = fit_temperature(self.log_probs(z_val)[i], self.data.y_val[i])
            logits = logits / t
        p = torch.softmax(logits, dim=-1)
        y = self.data.y_test[i]
        names = tuple(k for k in self.task.metrics if k != "accuracy")
        res = {"accuracy": float((p.argmax(-1) == y).double().mean())}
        res.update(classification_metrics(p, y, names))
        diag = reliability_diagram(p, y)
        self.curves[i] = {
            "reliability": [
                (c, a)
                for c, a, n in zip(diag["confidence"], diag["accuracy"], diag["count"], strict=True)
                if n > 0
            ]
        }
        return {k: res[k] for k in self.task.metrics}


@dataclasses.dataclass(frozen=True)
class UncertaintyTrainer:
    """Train one uncertainty model per run key at once (train_stack's signature); picklable.

    ``temperature``: score the test split after temperature scaling fitted on the validation
    split (the trained model is the same as without it)."""

    temperature: bool = False

    def __call__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, Dataset],
        config: TrainConfig,
    ) -> list[RunResult]:
        system = UncertaintySystem(
            task, competitor, runs, datasets, config, temperature=self.temperature
        )
        results = train_system(system, task, competitor, runs, config)
        for res, curves in zip(results, system.curves, strict=True):
            if res.status == "finished":  # the selected model's: the last test metrics computed
                res.curves.update(curves)
        return results
