"""The lab's one training loop: M stacked models trained at once, each as if it were alone.

What differs between tasks is a small :class:`System` (``lab/systems/``): building the M models,
one training step's per-model losses, evaluating a split, the test metrics. Everything else is
done here, once, for every system: the per-model batch order (from each run's seed), divergence
detection, the per-epoch history, gradient-norm statistics, the best-validation checkpoint,
early stopping, L1/L2 penalties, the selected vs final test metrics, the diagnostics and the
:class:`~losslab.lab.train.RunResult` of each run.

Rules the engine applies to every model ``i`` of a stack, exactly as if it had been trained alone:

* **Batch order**: a ``torch.Generator`` seeded with the run's seed draws a permutation of the
  training rows each epoch; batches are its consecutive slices (the last one short unless the
  system sets ``drop_last``).
* **Divergence**: a model whose step loss or gradient norm is non-finite, or whose parameters are
  non-finite at the end of an epoch, stops: it is never updated again, its history gets one NaN
  entry for that epoch and ends there, its run is ``"diverged"`` with no test metrics.
* **History** (per epoch, only while the model trains): ``train_loss``, ``val_loss``,
  ``val_<primary>`` from :meth:`System.evaluate`, ``grad_norm`` = the mean over the epoch's steps
  of the per-step gradient norm, plus the system's extra series.
* **Best checkpoint**: the epoch with the best validation primary metric (first one on ties).
* **Early stopping** (``config.early_stopping = patience``): a model stops after ``patience``
  epochs without a new best.
* **Selection** (``config.select``): ``"best"`` (default) reports the test metrics of the best
  checkpoint, ``"final"`` those of the last epoch trained. Both are always computed: a run's
  ``metrics`` are the selected ones (plus diagnostics), ``final_metrics`` the last epoch's.
* **Penalties**: ``config.l1``/``config.l2`` add :func:`~losslab.functional.l1_penalty` /
  :func:`~losslab.functional.l2_penalty` of :meth:`System.penalized_weights` to each model's
  step loss; a system with nothing to penalise raises instead of ignoring the option.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch

from .._validation import content_checks
from ..functional import l1_penalty, l2_penalty

if TYPE_CHECKING:
    from .tasks import Competitor, Task
    from .train import RunKey, RunResult, TrainConfig

__all__ = [
    "System",
    "StepOutput",
    "Evaluation",
    "EpochStats",
    "train_system",
    "masked_update",
    "SELECTIONS",
    "rows_of",
]

#: the values of TrainConfig.select
SELECTIONS = ("best", "final")


@dataclass
class StepOutput:
    """What :meth:`System.step` returns: per-model training loss (penalty included) and the
    per-model norm of the gradient that was (or, for a failing model, would have been) applied."""

    losses: torch.Tensor  # (M,)
    grad_norms: torch.Tensor  # (M,)


@dataclass
class EpochStats:
    """Means over the epoch's steps, handed to :meth:`System.evaluate` (e.g. as its train loss)."""

    step_loss: torch.Tensor  # (M,) mean step loss (penalty included)
    grad_norm: torch.Tensor  # (M,) mean step gradient norm
    steps: int


@dataclass
class Evaluation:
    """One epoch's per-model values. ``metric`` is the validation primary metric (model
    selection and early stopping use it); ``extra`` adds history series (e.g. a learned alpha)."""

    train_loss: Sequence[float] | torch.Tensor
    val_loss: Sequence[float] | torch.Tensor
    metric: Sequence[float] | torch.Tensor
    extra: dict[str, Sequence[float] | torch.Tensor] = field(default_factory=dict)


@runtime_checkable
class System(Protocol):
    """What one kind of task trains: M independent models stacked, and how to score them.

    A system is built for one (task, competitor) and the run keys of a stack (one model per
    run, in that order) and is handed to :func:`train_system`. It owns its models, its
    optimiser(s) and its data; the engine owns the loop and everything every task shares (see
    the module docstring). Contract, for porters of a new loop (metric learning, GAN,
    multi-task, ...):

    * ``num_models`` (M) and ``seeds`` (one per model). Every random choice of model ``i``
      (initialisation, noise, sampling) must come from a generator seeded from ``seeds[i]``
      alone, never from a generator shared by the stack: that is what makes the stack equal
      training each model alone (``tests/lab/test_stacked_equals_alone.py`` checks it for every
      registered task).
    * ``train_size``: the number of training rows the engine permutes each epoch; ``drop_last``:
      skip a short last batch (e.g. a GAN that wants full batches).
    * ``parameters()``: every tensor that training changes and that the best checkpoint must
      restore: model weights, learnable loss parameters (class centres, Barron's alpha), a
      critic, uncertainty weights... Each must be viewable as ``(M, -1)`` with row ``i``
      belonging to model ``i`` (lead with M, or be model-major like ``repeat_interleave``).
      Divergence is checked on them too.
    * ``penalized_weights()``: the (M, ...) weight tensors ``--l1/--l2`` penalise (weight
      matrices, not biases). Return ``[]`` only if the system has nothing to penalise: the
      engine then rejects a non-zero penalty with a ValueError rather than ignoring it.
    * ``check_inputs()``: one small forward/loss on real inputs; the engine runs it once with the
      package's content checks on (the loop itself runs with them off, for speed).
    * ``step(idx, active, penalty) -> StepOutput``: one optimisation step on the batch
      ``idx`` (M, B) (row i: training row indices of model i). ``penalty()`` returns the (M,)
      penalty to add to each model's loss before the backward pass (call it where the
      penalised weights get their gradient: in a GAN, the generator's loss). The system does
      its own backward(s) and optimiser step(s), as many as it needs (a critic's inner steps,
      two optimisers, gradient surgery, GradNorm's weights); it must update only models that are
      ``active`` and whose returned loss and gradient norm are finite (see
      :func:`masked_update`), and return the per-model losses and gradient norms (the engine
      marks the non-finite ones diverged and never calls them active again).
    * ``evaluate(stats) -> Evaluation``: per-model train loss, validation loss and validation
      primary metric at the current parameters (``stats`` gives the epoch's mean step loss,
      for systems whose "train loss" is that mean), plus extra history series.
    * ``test_metrics(ok) -> list[dict]``: per model, the test metrics at the current
      parameters (``{}`` where ``ok[i]`` is False: a diverged model). Called twice after
      training: at the final parameters, then at the selected ones (the engine swaps them in),
      so it must depend only on the current parameters. A system may override a diagnostic
      (e.g. its own ``generalization_gap``): its values win over the engine's.
    """

    num_models: int
    seeds: Sequence[int]
    train_size: int
    drop_last: bool

    def parameters(self) -> list[torch.Tensor]: ...

    def penalized_weights(self) -> list[torch.Tensor]: ...

    def check_inputs(self) -> None: ...

    def step(
        self, idx: torch.Tensor, active: torch.Tensor, penalty: Callable[[], torch.Tensor]
    ) -> StepOutput: ...

    def evaluate(self, stats: EpochStats) -> Evaluation: ...

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]: ...


def rows_of(p: torch.Tensor, m: int) -> torch.Tensor:
    """A stacked tensor as (M, -1) rows: row i is model i's part (a view)."""
    return p.view(m, -1)


class _Stepper(Protocol):
    def step(self, active: torch.Tensor) -> None: ...


def masked_update(
    losses: torch.Tensor,
    active: torch.Tensor,
    params: Sequence[torch.Tensor],
    optimizers: Sequence[tuple[_Stepper, torch.Tensor | None]],
) -> torch.Tensor:
    """Backward of the active models' summed losses, then one masked step of each optimiser.

    ``optimizers`` pairs each optimiser with the map from its mask entries to models (``None``:
    one entry per model; e.g. ``torch.arange(M).repeat_interleave(U)`` for per-unit loss
    parameters). Only models that are active and whose loss and gradient norm are finite move.
    Returns the (M,) gradient norms over ``params``. The stacked loss is a sum of per-model
    losses, so each model's gradient is its own.
    """
    m = losses.shape[0]
    for p in params:
        p.grad = None
    torch.where(active, losses, torch.zeros_like(losses)).sum().backward()
    with torch.no_grad():
        sq = torch.zeros(m)
        for p in params:
            if p.grad is not None:
                sq = sq + rows_of(p.grad, m).pow(2).sum(1)
        ok = active & torch.isfinite(losses.detach()) & torch.isfinite(sq)
    for opt, owner in optimizers:
        opt.step(ok if owner is None else ok[owner])
    return sq.sqrt()


def _penalty_fn(system: System, config: TrainConfig) -> Callable[[], torch.Tensor]:
    m = system.num_models
    if not (config.l1 or config.l2):
        zero = torch.zeros(m)
        return lambda: zero
    weights = system.penalized_weights()
    if not weights:
        raise ValueError(
            f"compare: '--l1'/'--l2' need weights to penalise, but the "
            f"{type(system).__name__} of this task declares none; run it without a penalty"
        )

    def penalty() -> torch.Tensor:
        total = torch.zeros(m)
        if config.l1:
            total = total + l1_penalty(weights, weight=config.l1, per_model=True)
        if config.l2:
            total = total + l2_penalty(weights, weight=config.l2, per_model=True)
        return total

    return penalty


def _floats(v: Sequence[float] | torch.Tensor) -> list[float]:
    return v.detach().double().tolist() if isinstance(v, torch.Tensor) else [float(x) for x in v]


def train_system(
    system: System, task: Task, competitor: Competitor, runs: Sequence[RunKey], config: TrainConfig
) -> list[RunResult]:
    """Train the system's M models (one per run key) and return one RunResult per run."""
    from .train import RunResult, run_diagnostics  # train builds on this module

    if config.select not in SELECTIONS:
        raise ValueError(
            f"compare: '--select' must be one of {', '.join(SELECTIONS)}, got {config.select!r}"
        )
    t0 = time.perf_counter()
    m = system.num_models
    if m != len(runs):
        raise ValueError(f"lab.train_system: the system holds {m} models for {len(runs)} runs")
    params = system.parameters()
    penalty = _penalty_fn(system, config)
    higher = task.higher_is_better
    primary = f"val_{task.primary}"
    gens = [torch.Generator().manual_seed(int(s)) for s in system.seeds]
    n = system.train_size
    last = n - config.batch_size + 1 if system.drop_last else n
    starts = range(0, max(last, 0), config.batch_size)

    active = torch.ones(m, dtype=torch.bool)
    diverged_at: list[int | None] = [None] * m
    stopped = [False] * m
    hist: list[dict[str, list[float]]] = [{} for _ in range(m)]
    best = [-math.inf if higher else math.inf] * m
    best_epoch = [0] * m
    since_best = [0] * m
    best_state = [p.detach().clone() for p in params]

    def fail(bad: torch.Tensor, epoch: int) -> None:
        for i in torch.nonzero(active & bad).flatten().tolist():
            diverged_at[i] = epoch + 1
        active.logical_and_(~bad)

    with content_checks(True):  # validate the real inputs once, then train without syncs
        system.check_inputs()

    with content_checks(False):
        for epoch in range(config.epochs):
            if not bool(active.any()):
                break
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
            gsum, lsum, steps = torch.zeros(m), torch.zeros(m), 0
            for start in starts:
                out = system.step(perms[:, start : start + config.batch_size], active, penalty)
                with torch.no_grad():
                    loss = out.losses.detach().float()
                    ok = torch.isfinite(loss) & torch.isfinite(out.grad_norms)
                    gsum += torch.where(ok, out.grad_norms, 0.0)
                    lsum += torch.where(ok, loss, 0.0)
                fail(~ok, epoch)
                steps += 1
            with torch.no_grad():
                finite = torch.stack([torch.isfinite(rows_of(p, m)).all(1) for p in params]).all(0)
                fail(~finite, epoch)
                ev = system.evaluate(EpochStats(lsum / max(steps, 1), gsum / max(steps, 1), steps))
            series = {
                "train_loss": _floats(ev.train_loss),
                "val_loss": _floats(ev.val_loss),
                primary: _floats(ev.metric),
                "grad_norm": (gsum / max(steps, 1)).tolist(),
            }
            series.update({k: _floats(v) for k, v in ev.extra.items()})
            for i in range(m):
                # a model's history ends where it diverged (one NaN entry) or stopped early,
                # exactly as if it had been trained alone
                if stopped[i]:
                    continue
                if diverged_at[i] is not None:
                    if diverged_at[i] == epoch + 1:
                        for k in series:
                            hist[i].setdefault(k, []).append(math.nan)
                    stopped[i] = True
                    continue
                for k, v in series.items():
                    hist[i].setdefault(k, []).append(v[i])
                metric = series[primary][i]
                if metric > best[i] if higher else metric < best[i]:
                    best[i], best_epoch[i], since_best[i] = metric, epoch + 1, 0
                    with torch.no_grad():
                        for b, p in zip(best_state, params):
                            rows_of(b, m)[i] = rows_of(p, m)[i]
                else:
                    since_best[i] += 1
                if config.early_stopping is not None and since_best[i] >= config.early_stopping:
                    stopped[i] = True
                    active[i] = False

    ok = [d is None for d in diverged_at]
    with torch.no_grad():
        final = system.test_metrics(ok)
        if config.select == "best":
            for b, p in zip(best_state, params):
                p.copy_(b)
            selected = system.test_metrics(ok)
        else:
            selected = final
    seconds = (time.perf_counter() - t0) / m
    results = []
    for i, r in enumerate(runs):
        h = hist[i]
        res = RunResult(
            task.name,
            competitor.label,
            competitor.loss,
            r.seed,
            r.lr,
            status="finished" if ok[i] else "diverged",
            epochs_run=len(h.get("train_loss", [])),
            best_epoch=best_epoch[i],
            history=h,
            seconds=seconds,
            diverged_epoch=diverged_at[i],
        )
        if ok[i]:
            res.metrics = dict(selected[i])
            for k, v in run_diagnostics(h, float(best[i]), task.primary, higher, config).items():
                res.metrics.setdefault(k, v)
            res.final_metrics = dict(final[i])
        results.append(res)
    return results
