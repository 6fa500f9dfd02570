"""Systems of the ``non-differentiable`` task: four ways to train a binary classifier for F1.

Every system outputs one logit per sample and scores it with a sigmoid; they differ in what
training follows and where the decision threshold sits:

* :class:`ThresholdMovingSystem`: BCE by gradient descent (the lab's MLP), then the decision
  threshold that maximises the validation F1 (every distinct validation score is a candidate,
  via scikit-learn's precision-recall curve); model selection uses that tuned validation F1;
* :class:`SoftF1System`: gradient descent on :func:`losslab.functional.soft_f1_loss` of each
  model's batch (a batch-level loss: computed per model, never across the stack);
* :class:`ReinforceSystem`: gradient descent on the REINFORCE estimate of the batch F1's
  gradient (:class:`losslab.blackbox.MetricReinforce`, one per model with its own sampling
  stream and moving-average baseline);
* :class:`ESSystem`: CMA-ES (pycma) on the training F1 of hard decisions, one optimiser per
  model, a linear scorer (the 65 weights of 64 pixels + bias: CMA-ES's cost grows with the square
  of the dimension), all models' populations scored in one batched matmul per generation.

``function_evaluations`` counts evaluations of the metric during training (ES: one per candidate
on the training split; REINFORCE: one per sampled labelling of a batch; threshold moving: one per
candidate threshold of the final tuning; soft F1: 0, it differentiates a surrogate). The
per-epoch validation F1 every system computes for model selection is not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ...blackbox import MetricReinforce
from ...functional import soft_f1_loss
from ...losses.metric_surrogates import F1_EPS
from ..engine import StepOutput, masked_update
from ..metrics import STANDARD_METRICS, THRESHOLD, compute_metrics
from ..models import make_model
from ..seeds import NOISE, stream_seed
from .mlp import MLPSystem

if TYPE_CHECKING:
    from ..data import Dataset
    from ..tasks import Competitor, Task
    from ..train import RunKey, TrainConfig

__all__ = [
    "ESSystem",
    "NonDiffSystem",
    "ReinforceSystem",
    "SoftF1System",
    "ThresholdMovingSystem",
    "f1_of_decisions",
    "f1_of_population",
    "hard_f1_loss",
    "COST_FN",
    "COST_FP",
    "total_cost",
]

#: the cost matrix of total_cost (the cost-sensitive task's: a missed 8 costs ten false alarms)
COST_FN, COST_FP = 10.0, 1.0


def total_cost(scores: torch.Tensor, y: torch.Tensor, threshold: float) -> float:
    """Cost per 1,000 samples of flagging ``score >= threshold``: c_FN * FN + c_FP * FP."""
    flag = scores >= threshold
    pos = y.bool()
    fn, fp = int((~flag & pos).sum()), int((flag & ~pos).sum())
    return 1000.0 * (COST_FN * fn + COST_FP * fp) / max(int(y.numel()), 1)


def f1_of_decisions(y: torch.Tensor, decisions: torch.Tensor) -> float:
    """F1 of hard 0/1 ``decisions`` against labels ``y``: ``1 - soft_f1_loss`` on them (exact on
    hard inputs up to its 1e-7 in the denominator; 0 when neither has a positive)."""
    return 1.0 - float(soft_f1_loss(decisions.double(), y.double()))


def f1_of_population(y: torch.Tensor, decisions: torch.Tensor) -> torch.Tensor:
    """(P,) F1 of P candidates' hard decisions (P, N) against ``y`` (N,) at once: the same
    expected-count formula as ``soft_f1_loss`` (its epsilon included), batched over candidates
    (``tests/lab/test_task_nondiff.py`` checks it equals ``1 - soft_f1_loss`` per row)."""
    t = y.double()
    tp = decisions @ t
    return 2 * tp / (decisions.sum(dim=1) + t.sum() + F1_EPS)


def hard_f1_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(M,) 1 - F1 of each model's decisions ``logit >= 0`` (no gradient; NaN if a logit is)."""
    bad = torch.where(torch.isfinite(z).all(dim=(1, 2)), 0.0, torch.nan)
    dec = (z[..., 0] >= 0).double()
    return torch.stack([soft_f1_loss(d, t.double()) for d, t in zip(dec, y)]).float() + bad


class NonDiffSystem(MLPSystem):
    """The shared part: sigmoid scores, a decision threshold per model, the task's test metrics
    at it, and the metric-evaluation counter."""

    def __init__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, Dataset],
        config: TrainConfig,
        *,
        val_metric: Callable[[torch.Tensor, torch.Tensor], list[float]] | None = None,
    ):
        super().__init__(task, competitor, runs, datasets, config, val_metric=val_metric)
        self.evaluations = [0] * self.num_models

    def scores(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z[..., 0])

    def thresholds(self) -> list[float]:
        return [self.config.threshold] * self.num_models

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        d = self.data
        s_test = self.test_scores = self.scores(self.model(d.x_test), d.x_test)
        thresholds = self.thresholds()
        standard = tuple(k for k in self.task.metrics if k in STANDARD_METRICS)
        out: list[dict[str, float]] = []
        for i in range(self.num_models):
            if not ok[i]:
                out.append({})
                continue
            m = compute_metrics(
                standard, s_test[i], d.y_test[i], num_classes=2, threshold=thresholds[i]
            )
            m["total_cost"] = total_cost(s_test[i], d.y_test[i], thresholds[i])
            m["function_evaluations"] = float(self.evaluations[i])
            out.append(m)
        return out


# -- BCE + threshold moving --------------------------------------------------------------------


def best_f1_threshold(scores: torch.Tensor, y: torch.Tensor) -> tuple[float, float, int]:
    """(threshold, F1, candidates tried): the threshold on ``scores`` maximising F1 on ``y``.

    Candidates are the distinct scores (scikit-learn's precision_recall_curve); ties go to the
    highest threshold. With no positive in ``y`` the lab's default threshold and F1 = 0."""
    from sklearn.metrics import precision_recall_curve

    s, t = scores.detach().double().numpy(), y.detach().numpy()
    if not (t == 1).any() or not np.isfinite(s).all():
        return THRESHOLD, 0.0, 0
    precision, recall, thr = precision_recall_curve(t, s)
    p, r = precision[:-1], recall[:-1]
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0.0)
    best = int(np.flatnonzero(f1 == f1.max())[-1])
    return float(thr[best]), float(f1[best]), len(thr)


class ThresholdMovingSystem(NonDiffSystem):
    """BCE, then the validation-F1-optimal threshold (model selection on that tuned F1)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, val_metric=self._tuned_val_f1, **kwargs)

    def _tuned_val_f1(self, s_val: torch.Tensor, y_val: torch.Tensor) -> list[float]:
        return [best_f1_threshold(s_val[i], y_val[i])[1] for i in range(s_val.shape[0])]

    def thresholds(self) -> list[float]:
        d = self.data
        s_val = self.scores(self.model(d.x_val), d.x_val)
        out = []
        for i in range(self.num_models):
            thr, _, tried = best_f1_threshold(s_val[i], d.y_val[i])
            self.evaluations[i] = tried  # the final tuning's candidates
            out.append(thr)
        return out


# -- soft F1 -----------------------------------------------------------------------------------


class _PerModelBatchLoss:
    """A batch-level loss of probabilities, computed per model (never across the stack)."""

    def __init__(self, fn: Callable[..., torch.Tensor]):
        self.fn = fn

    def __call__(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(z[..., 0])
        return torch.stack([self.fn(p[i], y[i].float()) for i in range(p.shape[0])])


class SoftF1System(NonDiffSystem):
    """Gradient descent on each model's batch soft F1 (``soft_f1_loss``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_of = _PerModelBatchLoss(soft_f1_loss)


# -- REINFORCE on F1 ---------------------------------------------------------------------------


class ReinforceSystem(NonDiffSystem):
    """Gradient descent on the REINFORCE estimate of the batch F1's gradient.

    Model i samples from ``stream_seed(seed_i, NOISE)``; ``SAMPLES`` labellings per step;
    the moving-average baseline has momentum 0.9. The train and validation losses of the history
    are 1 - F1 of the hard decisions (the step's REINFORCE loss only carries the gradient); the
    history adds the epoch's mean variance of the single-sample gradient estimates
    (``estimator_variance``).
    """

    SAMPLES = 16

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_of = hard_f1_loss
        self.reinforce = [
            MetricReinforce(
                f1_of_decisions,
                samples=self.SAMPLES,
                generator=torch.Generator().manual_seed(stream_seed(s, NOISE)),
            )
            for s in self.seeds
        ]
        self._var_sum = [0.0] * self.num_models
        self._var_n = [0] * self.num_models

    def step(
        self, idx: torch.Tensor, active: torch.Tensor, penalty: Callable[[], torch.Tensor]
    ) -> StepOutput:
        rows = self._rows
        z = self.model(self.data.x_train[rows, idx])[..., 0]
        y = self.t_train[rows, idx]
        losses = []
        for i in range(self.num_models):
            if not bool(active[i]):
                losses.append(0.0 * z[i].sum())
                continue
            rf = self.reinforce[i]
            surrogate = rf(z[i], y[i])
            self.evaluations[i] = rf.evaluations
            if rf.last is not None:
                self._var_sum[i] += rf.last.grad_variance
                self._var_n[i] += 1
            losses.append(surrogate)
        total = torch.stack(losses) + penalty()
        norms = masked_update(total, active, self.parameters(), self.optimizers)
        return StepOutput(total, norms)

    def evaluate(self, stats):
        ev = super().evaluate(stats)
        var = [v / n if n else float("nan") for v, n in zip(self._var_sum, self._var_n)]
        self._var_sum = [0.0] * self.num_models
        self._var_n = [0] * self.num_models
        ev.extra["estimator_variance"] = var
        return ev


# -- CMA-ES on F1 ------------------------------------------------------------------------------


class ESSystem(NonDiffSystem):
    """CMA-ES on each model's training F1 (hard decisions of a linear scorer).

    One engine step per epoch runs ``GENERATIONS`` generations of every active model's CMA-ES
    (``popsize`` = pycma's default 4 + 3 ln D), then loads each ES's mean into the model. The
    step's loss is 1 - F1 of that generation's best candidate (NaN if any output is).
    """

    GENERATIONS = 20
    SIGMA0 = 0.5

    def __init__(self, *args, **kwargs):
        import cma

        super().__init__(*args, **kwargs)
        self.loss_of = hard_f1_loss
        nf = self.ds0.num_features
        self.model = make_model("mlp", self.seeds, nf, (), 1)  # linear: D = nf + 1
        self.optimizers = []
        self.train_size = 1  # one engine step per epoch: the generations run on the full split
        x0 = self._flat().double().numpy()
        outer = np.random.get_state()
        self.es, self._np_state = [], []
        for i, s in enumerate(self.seeds):
            opts = {"seed": stream_seed(s, NOISE) + 1, "verbose": -9}
            self.es.append(cma.CMAEvolutionStrategy(x0[i], self.SIGMA0, opts))
            self._np_state.append(np.random.get_state())
        np.random.set_state(outer)

    def penalized_weights(self) -> list[torch.Tensor]:
        return []  # no gradient, no penalty

    # pycma draws from numpy's global generator (its 'seed' option seeds it): each model keeps
    # its own generator state and swaps it in around every ask/tell, so the stacked models'
    # streams never interleave (a stack equals each model alone); the caller's state is restored
    def _ask(self, i: int) -> np.ndarray:
        outer = np.random.get_state()
        np.random.set_state(self._np_state[i])
        try:
            return np.asarray(self.es[i].ask())
        finally:
            self._np_state[i] = np.random.get_state()
            np.random.set_state(outer)

    def _tell(self, i: int, cands: np.ndarray, values: list[float]) -> None:
        outer = np.random.get_state()
        np.random.set_state(self._np_state[i])
        try:
            self.es[i].tell(list(cands), values)
        finally:
            self._np_state[i] = np.random.get_state()
            np.random.set_state(outer)

    def _flat(self) -> torch.Tensor:
        w, b = self.model.weights[0], self.model.biases[0]  # (M, nf, 1), (M, 1)
        return torch.cat([w[..., 0], b], dim=1).detach()

    def _load(self, i: int, x: np.ndarray) -> None:
        t = torch.from_numpy(x).float()
        with torch.no_grad():
            self.model.weights[0][i, :, 0] = t[:-1]
            self.model.biases[0][i] = t[-1]

    def step(
        self, idx: torch.Tensor, active: torch.Tensor, penalty: Callable[[], torch.Tensor]
    ) -> StepOutput:
        from threadpoolctl import threadpool_limits

        # pycma's eigendecompositions of a 65 x 65 covariance are ~10x slower on a multi-threaded
        # BLAS than on one thread (thread start-up dominates such small matrices)
        with threadpool_limits(1):
            return self._generations(active, penalty)

    def _generations(self, active: torch.Tensor, penalty: Callable[[], torch.Tensor]) -> StepOutput:
        m = self.num_models
        x, y = self.data.x_train, self.t_train  # (M, N, nf), (M, N)
        live = [i for i in range(m) if bool(active[i])]
        best = torch.full((m,), torch.nan)
        for _ in range(self.GENERATIONS):
            cands = {i: self._ask(i) for i in live}
            if not cands:
                break
            # every live model's population in one batched matmul: (L, P, N)
            w = torch.from_numpy(np.stack([cands[i] for i in live])).float()
            z = torch.matmul(w[..., :-1], x[live].transpose(1, 2)) + w[..., -1:]
            for j, i in enumerate(live):
                fit = 1.0 - f1_of_population(y[i], (z[j] >= 0).double())
                fit = torch.where(torch.isfinite(z[j]).all(dim=1), fit, torch.nan)
                self.evaluations[i] += len(fit)
                best[i] = fit.min() if bool(torch.isfinite(fit).all()) else torch.nan
                self._tell(i, cands[i], torch.nan_to_num(fit, nan=2.0).tolist())
        for i in live:
            self._load(i, np.asarray(self.es[i].mean))
        return StepOutput(best + penalty(), torch.zeros(m))
