r"""Optimising a metric that has no useful gradient: evolution strategies and REINFORCE.

F1, 0-1 error, a total cost or an episode's return are piecewise constant in a model's
parameters, so gradient descent cannot follow them. Besides a differentiable surrogate
(:func:`losslab.functional.soft_f1_loss`, ...), two general ways remain, both here:

* **black-box optimisation** with CMA-ES (the ``cma`` package, Hansen's pycma; not a home-made
  ES): :func:`es_minimize` minimises any function of a real vector, evaluating a whole
  population per call when the function is batched; :func:`train_parameters` trains a small
  model's parameters (flattened) directly on a metric, the population's forward passes in one
  batched call (:func:`torch.func.functional_call` under :func:`torch.vmap`). A loss's
  coefficients are tuned the same way with :func:`es_minimize` (the objective trains with the
  coefficients and returns the validation metric);
* the **score-function (REINFORCE) estimator** for a stochastic classifier
  (:class:`MetricReinforce`): sample labels from the model's predictive distribution, reward each
  sampled labelling with the metric, and follow :math:`\mathbb{E}[(R - b)\nabla \log \pi]`, an
  unbiased estimate of :math:`\nabla \mathbb{E}_\pi[R]`, with a moving-average baseline
  :math:`b`; the estimator's variance (with and without the baseline) is reported at each step.

Runnable example (CMA-ES trains a linear classifier on F1):

    >>> import torch
    >>> from sklearn.metrics import f1_score
    >>> from losslab import blackbox
    >>> g = torch.Generator().manual_seed(0)
    >>> X = torch.randn(200, 2, generator=g)
    >>> y = (X[:, 0] + 0.5 * X[:, 1] > 1.0).long()           # ~20% positives, separable
    >>> model = torch.nn.Linear(2, 1)
    >>> def f1(outputs, target):                             # any metric: higher is better
    ...     return f1_score(target.numpy(), (outputs[:, 0] > 0).numpy(), zero_division=0)
    >>> res = blackbox.train_parameters(model, f1, X, y, max_evaluations=600, seed=0)
    >>> res.best_value > 0.9, res.evaluations <= 600
    (True, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .losses.rl import reinforce_loss

__all__ = [
    "ESResult",
    "MetricReinforce",
    "ReinforceStats",
    "es_minimize",
    "population_outputs",
    "train_parameters",
]


def _fail(fn: str, arg: str, expected: str, got: Any, kind: type[Exception] = ValueError):
    raise kind(f"{fn}: '{arg}' must be {expected}, got {got!r}")


@dataclasses.dataclass(frozen=True)
class ESResult:
    """What an evolution-strategy run found.

    ``best_x``: the best candidate evaluated (float64); ``best_value``: its objective (for
    :func:`train_parameters`: the metric, higher is better); ``evaluations``: function
    evaluations used (one per candidate); ``generations``; ``history``: the best value of each
    generation; ``stop``: why CMA-ES stopped (its termination conditions, or the budget).
    """

    best_x: torch.Tensor
    best_value: float
    evaluations: int
    generations: int
    history: tuple[float, ...]
    stop: str


def es_minimize(
    objective: Callable[[torch.Tensor], torch.Tensor | float],
    x0: torch.Tensor,
    *,
    sigma0: float = 0.5,
    popsize: int | None = None,
    max_evaluations: int = 2000,
    batched: bool = True,
    seed: int = 0,
) -> ESResult:
    r"""Minimise ``objective`` with CMA-ES (pycma) from ``x0`` with initial step size ``sigma0``.

    With ``batched=True`` the objective receives the whole population as a (P, D) float64
    tensor and returns P values (one call per generation); with ``batched=False`` it receives
    one (D,) candidate and returns a number. Non-finite values count as the worst value of the
    generation. Stops after ``max_evaluations`` candidates (a generation is never cut) or when
    CMA-ES's own termination criteria fire. Deterministic for a given ``seed``.

    Example:
        >>> import torch
        >>> res = es_minimize(lambda xs: ((xs - 3.0) ** 2).sum(dim=1), torch.zeros(4),
        ...                   sigma0=1.0, max_evaluations=1500, seed=1)
        >>> bool((res.best_x - 3.0).abs().max() < 1e-2)
        True
    """
    import cma  # the lab extra's dependency: imported on use

    name = "es_minimize"
    if not callable(objective):
        _fail(name, "objective", "a callable", type(objective).__name__, TypeError)
    if not isinstance(x0, torch.Tensor) or x0.dim() != 1 or x0.numel() < 1:
        _fail(name, "x0", "a 1-d tensor with at least one element", x0, TypeError)
    if not (isinstance(sigma0, (int, float)) and sigma0 > 0 and math.isfinite(sigma0)):
        _fail(name, "sigma0", "a finite number > 0", sigma0)
    if popsize is not None and (not isinstance(popsize, int) or popsize < 2):
        _fail(name, "popsize", "an int >= 2 (or None: CMA-ES's default 4 + 3 ln D)", popsize)
    if not isinstance(max_evaluations, int) or max_evaluations < 1:
        _fail(name, "max_evaluations", "an int >= 1", max_evaluations)
    opts: dict[str, Any] = {"seed": seed + 1, "verbose": -9, "maxfevals": max_evaluations}
    if popsize is not None:
        opts["popsize"] = popsize
    x_start = x0.detach().to(torch.float64).cpu().numpy()
    if x_start.size == 1:  # pycma needs D >= 2: optimise a dummy second coordinate
        x_start = np.concatenate([x_start, [0.0]])
    one_d = x0.numel() == 1
    # pycma seeds and draws from numpy's global generator: keep the caller's state intact; its
    # eigendecompositions of small matrices run ~10x faster on one BLAS thread
    from threadpoolctl import threadpool_limits

    outer = np.random.get_state()
    try:
        with threadpool_limits(1):
            return _run_cma(
                cma, objective, x_start, one_d, float(sigma0), opts, batched, max_evaluations
            )
    finally:
        np.random.set_state(outer)


def _run_cma(cma, objective, x_start, one_d, sigma0, opts, batched, max_evaluations) -> ESResult:
    name = "es_minimize"
    es = cma.CMAEvolutionStrategy(x_start, sigma0, opts)
    best_x, best_value, history, evaluations = None, math.inf, [], 0
    while not es.stop() and evaluations < max_evaluations:
        cand = np.asarray(es.ask())
        xs = torch.from_numpy(cand[:, :1] if one_d else cand)
        if batched:
            values = torch.as_tensor(objective(xs), dtype=torch.float64).reshape(-1)
            if values.numel() != len(cand):
                _fail(
                    name,
                    "objective",
                    f"returning {len(cand)} values for a (P, D) batch",
                    tuple(values.shape),
                )
        else:
            values = torch.tensor([float(objective(x)) for x in xs], dtype=torch.float64)
        finite = torch.isfinite(values)
        worst = values[finite].max().item() if bool(finite.any()) else 1e300
        values = torch.where(finite, values, torch.full_like(values, worst))
        es.tell(list(cand), values.tolist())
        evaluations += len(cand)
        i = int(values.argmin())
        history.append(values[i].item())
        if values[i].item() < best_value:
            best_value, best_x = values[i].item(), xs[i].clone()
    stop = ", ".join(es.stop()) or "max_evaluations"
    return ESResult(best_x, best_value, evaluations, len(history), tuple(history), stop)


def _flat_params(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    params = {k: v.detach() for k, v in model.named_parameters()}
    flat = torch.cat([v.reshape(-1) for v in params.values()]).to(torch.float64)
    return params, flat


def _unflatten(flat: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, i = {}, 0
    for k, v in like.items():
        out[k] = flat[i : i + v.numel()].reshape(v.shape).to(v.dtype)
        i += v.numel()
    return out


def population_outputs(
    model: torch.nn.Module, flats: torch.Tensor, X: torch.Tensor
) -> torch.Tensor:
    """The model's outputs on ``X`` for each row of ``flats`` (P flattened parameter vectors),
    in one batched call: :func:`torch.func.functional_call` under :func:`torch.vmap`.

    Returns (P, N, ...); buffers (e.g. batch-norm statistics) are the model's own, shared.
    """
    like, _ = _flat_params(model)

    def one(flat: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(model, _unflatten(flat, like), (X,))

    with torch.no_grad():
        return torch.vmap(one)(flats)


def train_parameters(
    model: torch.nn.Module,
    metric: Callable[[torch.Tensor, torch.Tensor], float],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    maximize: bool = True,
    sigma0: float = 0.5,
    popsize: int | None = None,
    max_evaluations: int = 2000,
    seed: int = 0,
) -> ESResult:
    r"""Train ``model``'s parameters directly on ``metric(outputs, y)`` with CMA-ES.

    The parameters are flattened into one vector (start: the model's current values; keep the
    model small: CMA-ES's cost grows with the square of the number of parameters); each
    generation's P candidates run forward in one batched call (:func:`population_outputs`),
    then ``metric`` scores each candidate's (N, ...) outputs (any callable returning a number,
    e.g. an sklearn score on thresholded outputs). The best candidate is loaded into ``model``
    (in place) and returned in ``ESResult.best_x``; ``best_value`` is the metric (not negated).

    Args:
        model: a torch module (its parameters are overwritten with the best candidate).
        metric: ``metric(outputs, y) -> float``.
        X, y: the data the metric is measured on (use a training split; select on validation).
        maximize: True when a higher metric is better (F1); False for a cost.
        sigma0, popsize, max_evaluations, seed: as in :func:`es_minimize`.
    """
    name = "train_parameters"
    if not isinstance(model, torch.nn.Module):
        _fail(name, "model", "a torch.nn.Module", type(model).__name__, TypeError)
    if not callable(metric):
        _fail(
            name,
            "metric",
            "a callable metric(outputs, y) -> float",
            type(metric).__name__,
            TypeError,
        )
    like, x0 = _flat_params(model)
    if x0.numel() == 0:
        _fail(name, "model", "a module with parameters", model)
    sign = -1.0 if maximize else 1.0

    def objective(flats: torch.Tensor) -> torch.Tensor:
        outs = population_outputs(model, flats, X)
        return torch.tensor([sign * float(metric(o, y)) for o in outs], dtype=torch.float64)

    res = es_minimize(
        objective, x0, sigma0=sigma0, popsize=popsize, max_evaluations=max_evaluations, seed=seed
    )
    if res.best_x is not None:
        with torch.no_grad():
            for k, v in _unflatten(res.best_x, like).items():
                model.get_parameter(k).copy_(v)
    return dataclasses.replace(
        res, best_value=sign * res.best_value, history=tuple(sign * h for h in res.history)
    )


# -- REINFORCE on a metric ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReinforceStats:
    """One REINFORCE step: the mean reward of the sampled labellings, the baseline used, and the
    variance of the single-sample gradient estimates w.r.t. the logits (mean over coordinates),
    with the baseline and without it (what the baseline saved)."""

    mean_reward: float
    baseline: float
    grad_variance: float
    grad_variance_no_baseline: float
    samples: int


class MetricReinforce:
    r"""REINFORCE on a non-differentiable metric for a stochastic classifier.

    The classifier's logits define :math:`\pi(\hat y \mid x)`: independent Bernoulli labels
    for (N,) logits, categorical ones for (N, C) logits. Each call samples ``samples`` whole
    labellings :math:`\hat y_k` of the batch, rewards each with ``metric(y, \hat y_k)`` (higher is
    better, e.g. F1 of the batch) and returns
    :func:`~losslab.functional.reinforce_loss` of the labellings' log-probabilities
    :math:`\log \pi(\hat y_k) = \sum_i \log \pi(\hat y_{ki} \mid x_i)`, whose gradient
    w.r.t. the logits is :math:`-\frac1K \sum_k (R_k - b)\, \nabla \log \pi(\hat y_k)`, an unbiased estimate of
    :math:`-\nabla \mathbb{E}_\pi[R]`: the baseline :math:`b` is a moving average of earlier
    calls' rewards (``momentum``), so it does not depend on the current samples (0 at the first
    call). :attr:`last` holds the step's :class:`ReinforceStats`; :attr:`evaluations` counts
    metric calls.

    Args:
        metric: ``metric(target, sampled_labels) -> float`` on (N,) integer tensors.
        samples: labellings sampled per call (K >= 2 to report a variance).
        momentum: the baseline's moving-average factor in [0, 1).
        generator: a seeded ``torch.Generator`` for reproducible sampling.

    Example:
        >>> import torch
        >>> acc = lambda y, yhat: (y == yhat).double().mean().item()
        >>> rf = MetricReinforce(acc, samples=400, generator=torch.Generator().manual_seed(0))
        >>> logits = torch.zeros(5, requires_grad=True)
        >>> rf(logits, torch.ones(5, dtype=torch.long)).backward()
        >>> bool((logits.grad < 0).all())  # raising every logit raises the expected accuracy
        True
    """

    def __init__(
        self,
        metric: Callable[[torch.Tensor, torch.Tensor], float],
        *,
        samples: int = 16,
        momentum: float = 0.9,
        generator: torch.Generator | None = None,
    ) -> None:
        name = "MetricReinforce"
        if not callable(metric):
            _fail(
                name,
                "metric",
                "a callable metric(target, labels) -> float",
                type(metric).__name__,
                TypeError,
            )
        if not isinstance(samples, int) or samples < 1:
            _fail(name, "samples", "an int >= 1", samples)
        if not (isinstance(momentum, (int, float)) and 0 <= momentum < 1):
            _fail(name, "momentum", "a number in [0, 1)", momentum)
        self.metric = metric
        self.samples = samples
        self.momentum = float(momentum)
        self.generator = generator
        self.baseline: float | None = None
        self.evaluations = 0
        self.last: ReinforceStats | None = None

    def _sample(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """K sampled labellings (K, N) and their score d log pi / d logits (K, N[, C])."""
        k = self.samples
        with torch.no_grad():
            if logits.dim() == 1:
                p = torch.sigmoid(logits.double())
                u = torch.rand(k, *p.shape, generator=self.generator, dtype=torch.float64)
                labels = (u < p).long()
                return labels, labels.double() - p
            p = torch.softmax(logits.double(), dim=1)
            labels = torch.multinomial(p, k, replacement=True, generator=self.generator).T
            onehot = torch.nn.functional.one_hot(labels, p.shape[1]).double()
            return labels, onehot - p

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not isinstance(logits, torch.Tensor) or logits.dim() not in (1, 2):
            _fail(
                "MetricReinforce",
                "logits",
                "an (N,) or (N, C) tensor",
                getattr(logits, "shape", logits),
                TypeError,
            )
        labels, score = self._sample(logits)
        rewards = torch.tensor(
            [float(self.metric(target, lab)) for lab in labels], dtype=torch.float64
        )
        self.evaluations += len(rewards)
        b = 0.0 if self.baseline is None else self.baseline
        shape = (-1,) + (1,) * (score.dim() - 1)
        per_sample = -(rewards - b).reshape(shape) * score  # gradient estimates of the loss
        plain = -rewards.reshape(shape) * score
        var = per_sample.var(dim=0).mean().item() if len(rewards) > 1 else math.nan
        var0 = plain.var(dim=0).mean().item() if len(rewards) > 1 else math.nan
        self.last = ReinforceStats(rewards.mean().item(), b, var, var0, len(rewards))
        mean_r = rewards.mean().item()
        self.baseline = (
            mean_r
            if self.baseline is None
            else self.momentum * self.baseline + (1 - self.momentum) * mean_r
        )
        # log pi of each sampled labelling, differentiable in the logits: (K,)
        if logits.dim() == 1:
            log_pi = -torch.nn.functional.binary_cross_entropy_with_logits(
                logits.expand(len(labels), -1), labels.to(logits.dtype), reduction="none"
            ).sum(dim=1)
        else:
            logp = torch.log_softmax(logits, dim=1)
            log_pi = logp.gather(1, labels.T).sum(dim=0)
        return reinforce_loss(log_pi, rewards.to(log_pi.dtype), baseline=b)
