"""``losslab tune`` (:func:`tune`, also ``losslab.tune``): an Optuna search over one loss's
hyperparameters on one lab task, then a study of the best settings against the defaults.

The search space comes from the catalog (:func:`search_space`): every keyword hyperparameter a
loss declares (:class:`~losslab._validation.Param`) becomes one dimension, except tensors (class
weights, priors: data-shaped) and the options that describe the data or the numerics rather than
the loss (:data:`NOT_TUNED`). Ranges follow the declared bounds; a positive scale with no upper
bound (``gt=0``: Huber's delta, a temperature) is searched on a log scale around its default;
choices and bools are categorical. The learning rate is always searched (log-uniform,
:data:`LR_RANGE`). A composite ``"dice_loss+cross_entropy"`` is tuned as the weighted sum
:func:`composite_spec` builds: one positive weight per term (``w_dice_loss``, ``w_cross_entropy``),
registered in the catalog while the tune runs.

:func:`tune` runs an Optuna study (TPE sampler with a seed; the default configuration is its
first trial) whose objective is the task's validation primary metric of the selected epoch,
averaged over ``seeds`` seeds. Each epoch's seed-averaged best-so-far validation metric is
reported to the trial, and Optuna's :class:`~optuna.pruners.MedianPruner` stops a trial that
falls behind (for tasks trained by the lab's MLP system; a task with its own trainer reports its
curve after training, unpruned). The study lives in ``<folder>/tune.sqlite`` (Optuna's RDB
storage), so a killed tune resumes where it stopped (``resume=folder``).

The best configuration and the default one are then re-run as a regular lab study in the same
folder (``results.sqlite``, the lab's store; resumable like any study) on a task derived from
the tuned one whose two competitors are ``"<loss> (tuned)"`` and ``"<loss> (default)"``, so the
report gives their test metrics with intervals and the verdict. Optuna's optimisation history
and the parameter importances are drawn into the report's ``plots/`` folder and linked from a
"Tuning" section of report.md / report.html.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import inspect
import json
import math
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__, catalog
from .._validation import Param, Raw, fail
from . import study as S
from .tasks import Competitor, Task, competitor_for_loss, get_task

__all__ = [
    "DEFAULT_LR",
    "Dimension",
    "LR_RANGE",
    "NOT_TUNED",
    "TUNE_JSON",
    "TUNE_STORAGE",
    "TuneResult",
    "composite_spec",
    "search_space",
    "tune",
]

WHO = "tune"
TUNE_STORAGE = "tune.sqlite"
TUNE_JSON = "tune.json"
OPTUNA_STUDY = "losslab-tune"
#: the learning rate's search range (log-uniform) and the default configuration's learning rate
LR_RANGE = (1e-4, 1e-1)
DEFAULT_LR = 0.01
#: hyperparameters that describe the data or the numerics, not the loss: never searched
NOT_TUNED = frozenset(
    {
        "reduction",
        "ignore_index",
        "dim",
        "blank",
        "log_target",
        "log_input",
        "full",
        "zero_infinity",
        "eps",
        "tol",
        "max_iter",
        "chunk_size",
        "softcap",
        "smooth_nr",
        "smooth_dr",
        "activation",  # must match the output head the lab gives the loss
        "include_background",
    }
)
#: bounds of the tune's own options (checked before anything runs)
TUNE_PARAMS: dict[str, Param] = {
    "trials": Param(
        "int", "trials in total (a resumed tune counts the stored ones)", ge=1, le=10_000
    ),
    "seeds": Param("int", "seeds averaged per trial and in the verification", ge=1, le=100),
    "epochs": Param(
        "int", "training epochs (None: the task's own)", ge=1, le=10_000, optional=True
    ),
    "timeout": Param("float", "seconds for this call's trials", gt=0, optional=True),
    "sampler_seed": Param("int", "the TPE sampler's seed", ge=0),
    "pruning": Param("bool", "prune trials on per-epoch validation"),
}
OPTION = {
    "trials": "--trials",
    "seeds": "--seeds",
    "epochs": "--epochs",
    "timeout": "--timeout",
    "sampler_seed": "--sampler-seed",
    "pruning": "--pruning",
}


# -- the search space ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: ``kind`` "float", "int" or "categorical"."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    default: Any = None

    def suggest(self, trial: Any) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def describe(self) -> str:
        if self.kind == "categorical":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        scale = "log-uniform" if self.log else "uniform"
        return f"{self.kind} in [{self.low:g}, {self.high:g}], {scale}"


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _range(p: Param, base: float | None) -> tuple[float, float, bool] | None:
    """(low, high, log) for a number hyperparameter, or None when there is nothing to centre on."""
    lo = p.ge if p.ge is not None else p.gt
    hi = p.le if p.le is not None else p.lt
    lo = lo if lo is not None and math.isfinite(lo) else None
    hi = hi if hi is not None and math.isfinite(hi) else None
    if lo is not None and hi is not None:
        low, high = float(lo), float(hi)
    elif base is None:
        return None
    elif p.gt == 0 and hi is None and base > 0:  # a positive scale: a decade either side
        return base / 10, base * 10, True
    elif lo is not None:
        low, high = float(lo), float(lo) + max(2.5 * (base - lo), 1.0)
    elif hi is not None:
        low, high = float(hi) - max(2.5 * (hi - base), 1.0), float(hi)
    else:
        half = max(abs(base), 1.0)
        low, high = base - half, base + half
    nudge = 1e-3 * (high - low)  # open bounds are excluded
    if p.gt is not None and low == p.gt:
        low += nudge
    if p.lt is not None and high == p.lt:
        high -= nudge
    return low, high, False


def search_space(loss: str | catalog.LossSpec, *, lr: bool = True) -> dict[str, Dimension]:
    """The Optuna search space of a catalog loss, from its declared constraints, plus ``lr``.

    >>> space = search_space("sigmoid_focal_loss")
    >>> sorted(space)
    ['alpha', 'gamma', 'lr']
    >>> space["gamma"].describe(), space["lr"].describe()
    ('float in [0, 5], uniform', 'float in [0.0001, 0.1], log-uniform')
    >>> search_space("huber_loss")["delta"].describe()
    'float in [0.1, 10], log-uniform'
    >>> sorted(search_space("dice_loss+cross_entropy"))
    ['lr', 'w_cross_entropy', 'w_dice_loss']
    """
    if isinstance(loss, catalog.LossSpec):
        spec = loss
    else:  # a composite "a+b": one weight per term (see composite_spec)
        spec = composite_spec(loss) if "+" in loss else catalog.get(loss)
    setting = spec.setting()
    out: dict[str, Dimension] = {}
    for name, p in spec.params.items():
        if name in NOT_TUNED:
            continue
        base = setting.get(name)
        if p.kind == "choice":
            out[name] = Dimension(name, "categorical", choices=tuple(p.choices), default=base)
        elif p.kind == "bool":
            out[name] = Dimension(name, "categorical", choices=(False, True), default=base)
        elif p.kind in ("float", "float_or_tensor", "int"):
            if base is not None and not _is_real(base):
                continue  # a tensor setting (one value per quantile, per class): data-shaped
            bounds = _range(p, None if base is None else float(base))
            if bounds is None:
                continue
            low, high, log = bounds
            if p.kind == "int":
                low, high = math.ceil(low), math.floor(high)
                if low >= high:
                    continue
                out[name] = Dimension(name, "int", low, high, log, default=base)
            else:
                out[name] = Dimension(name, "float", low, high, log, default=base)
    if lr:
        out["lr"] = Dimension("lr", "float", *LR_RANGE, log=True, default=DEFAULT_LR)
    return out


def _default_params(space: Mapping[str, Dimension]) -> dict[str, Any]:
    """The default configuration as a point of the space (None where the default is outside)."""
    out = {}
    for name, d in space.items():
        if d.default is None:
            continue
        if d.kind == "categorical":
            if d.default in d.choices:
                out[name] = d.default
        elif d.low <= d.default <= d.high:
            out[name] = d.default
    return out


# -- running trials ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _PruneSchedule:
    """When a trial asks the pruner: after ``warmup`` epochs, every ``every`` epochs, from trial
    ``startup`` on. The same numbers configure the MedianPruner; asking less often than every
    epoch matters because each question reads every stored trial (about 15 ms from SQLite)."""

    warmup: int
    every: int
    startup: int = 5

    @classmethod
    def for_epochs(cls, epochs: int) -> _PruneSchedule:
        return cls(warmup=max(1, epochs // 4), every=max(1, epochs // 10))

    def asks(self, trial_number: int, epoch: int) -> bool:
        return (
            trial_number >= self.startup
            and epoch > self.warmup
            and (epoch - self.warmup) % self.every == 0
        )

    def pruner(self) -> Any:
        import optuna

        return optuna.pruners.MedianPruner(
            n_startup_trials=self.startup, n_warmup_steps=self.warmup, interval_steps=self.every
        )


class _ReportingSystem:
    """A lab System whose every evaluation reports the seeds' mean best-so-far validation metric
    to the Optuna trial, which may prune it (raising optuna.TrialPruned out of the loop) at the
    epochs ``schedule`` says (None: every epoch)."""

    def __init__(
        self, system: Any, trial: Any, higher: bool, schedule: _PruneSchedule | None = None
    ):
        self._system, self._trial, self._higher = system, trial, higher
        self._schedule = schedule
        self._best: list[float] | None = None
        self._epoch = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._system, name)

    def evaluate(self, stats: Any) -> Any:
        import optuna

        ev = self._system.evaluate(stats)
        self._best = _best_so_far(self._best, [float(v) for v in ev.metric], self._higher)
        self._epoch += 1
        _report(self._trial, self._best, self._epoch)
        asks = self._schedule is None or self._schedule.asks(self._trial.number, self._epoch)
        if asks and self._trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {self._epoch}")
        return ev


def _best_so_far(best: list[float] | None, values: list[float], higher: bool) -> list[float]:
    """Each seed's best validation value so far (a non-finite value never counts)."""
    if best is None:
        return values
    pick = max if higher else min
    return [
        b if not math.isfinite(v) else (v if not math.isfinite(b) else pick(b, v))
        for b, v in zip(best, values)
    ]


def _report(trial: Any, values: Sequence[float], epoch: int) -> None:
    finite = [v for v in values if math.isfinite(v)]
    if finite:
        trial.report(statistics.fmean(finite), epoch)


def _train_trial(
    task: Task,
    comp: Competitor,
    runs: Sequence[Any],
    data: Any,
    tc: Any,
    trial: Any,
    schedule: _PruneSchedule | None = None,
) -> list[Any]:
    from .engine import train_system
    from .systems.mlp import MLPSystem

    trainer = comp.trainer or task.trainer
    if trainer is None:  # the lab's MLP system: prune while it trains
        system = MLPSystem(task, comp, runs, data, tc)
        return train_system(
            _ReportingSystem(system, trial, task.higher_is_better, schedule), task, comp, runs, tc
        )
    results = trainer(task, comp, runs, data, tc)  # its own loop: report the curve afterwards
    _report_after(trial, results, task)
    return results


def _report_after(trial: Any, results: Sequence[Any], task: Task) -> None:
    """Report a finished trial's per-epoch curve (the seeds' mean best-so-far), unpruned."""
    curves = [r.history.get(f"val_{task.primary}", []) for r in results]
    best = None
    for e in range(max((len(c) for c in curves), default=0)):
        now = [c[e] if e < len(c) else math.nan for c in curves]
        best = _best_so_far(best, now, task.higher_is_better)
        _report(trial, best, e + 1)


def _remote_trial(task: Task, comp: Competitor, runs: Sequence[Any], tc: Any) -> list[Any]:
    """One trial in a Ray worker: its seeds' data, the task's trainer, one torch thread."""
    import torch

    from .train import train_stack

    torch.set_num_threads(1)
    data = S._datasets(task, sorted({r.seed for r in runs}))
    return (comp.trainer or task.trainer or train_stack)(task, comp, runs, data, tc)


def _optimize_on_ray(
    ray: Any,
    executor: Any,
    study: Any,
    space: Mapping[str, Dimension],
    task: Task,
    loss: str,
    seeds: Sequence[int],
    tc: Any,
    n_trials: int,
    timeout: float | None,
    on_trial: Callable[[Any], None] | None,
) -> None:
    """``n_trials`` trials as Ray tasks, as many at once as the cluster has CPUs (ask/tell); a
    trial whose task fails (after Ray's retries) is stored as failed with its error, and the
    tune stops with a ValueError naming it once the running trials are in."""
    from optuna.trial import TrialState

    from .executors import describe_failure

    remote = ray.remote(num_cpus=1, max_retries=executor.max_retries)(_remote_trial)
    task_ref = ray.put(task)
    start, left = time.monotonic(), n_trials
    pending: dict[Any, Any] = {}
    errors: list[str] = []
    while left or pending:
        while left and not errors and len(pending) < executor.width():
            if timeout is not None and time.monotonic() - start > timeout:
                left = 0
                break
            trial = study.ask()
            params = {n: d.suggest(trial) for n, d in space.items()}
            lr = params.pop("lr")
            catalog.get(loss).setting(**params)  # the loss's own validation, before training
            comp = Competitor(f"{loss} (trial {trial.number})", loss, params)
            runs = tuple(S.RunKey(s, float(lr)) for s in seeds)
            pending[remote.remote(task_ref, comp, runs, tc)] = trial
            left -= 1
        if not pending:
            break
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            trial = pending.pop(ref)
            try:
                results = ray.get(ref)
            except Exception as exc:
                message = describe_failure(exc)
                trial.set_user_attr("error", message)
                frozen = study.tell(trial, state=TrialState.FAIL)
                errors.append(f"trial {trial.number}: {message}")
            else:
                _report_after(trial, results, task)
                value = _objective_value(results, task.primary)
                if math.isfinite(value):
                    frozen = study.tell(trial, value)
                else:
                    trial.set_user_attr("diverged", True)
                    frozen = study.tell(trial, state=TrialState.FAIL)
            if on_trial:
                on_trial(frozen)
    if errors:
        raise ValueError(
            f"{WHO}: trials failed on the Ray cluster ({'; '.join(errors)}); the finished trials "
            "are stored, resume with '--resume' once the cause is fixed"
        )


def _objective_value(results: Sequence[Any], primary: str) -> float:
    """The seeds' mean validation primary metric at each run's selected epoch; NaN (a failed
    trial) if any run diverged."""
    values = []
    for r in results:
        if r.status != "finished":
            return math.nan
        curve = r.history.get(f"val_{primary}", [])
        values.append(curve[r.best_epoch - 1] if 0 < r.best_epoch <= len(curve) else math.nan)
    finite = [v for v in values if math.isfinite(v)]
    return statistics.fmean(finite) if len(finite) == len(values) else math.nan


# -- the tune ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` found and where it is stored."""

    folder: Path
    task: str
    loss: str
    #: the best trial's hyperparameters (``lr`` included) and its objective value
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    #: trials in the storage by state name ("COMPLETE", "PRUNED", "FAIL")
    trials: dict[str, int]
    #: the verification study's task (in ``folder/results.sqlite``) and its two competitors
    verify_task: str
    labels: tuple[str, str]
    space: dict[str, Dimension]


def _check_options(**options: Any) -> None:
    for key, value in options.items():
        TUNE_PARAMS[key].check(WHO, OPTION[key], value)


#: the catalog family of the weighted sums ``tune`` registers for a composite ``--loss a+b``
COMPOSITE_FAMILY = "composite (losslab tune)"
#: the prefix of a composite's weight hyperparameters: ``w_<term>``
WEIGHT_PREFIX = "w_"
#: a composite's weights: positive, default 1 (the plain sum); searched log-uniform over a decade
#: either side of 1 (the search space's rule for a positive scale): [0.1, 10]
WEIGHT_PARAM = Param("float", "the weight of one term of the sum", gt=0)


def _composite_terms(loss: str, option: str = "--loss") -> list[catalog.LossSpec]:
    """The catalog losses of a composite ``"a+b[+c...]"`` (aliases resolved), checked: every
    term a catalog loss, at least two, none twice."""
    parts = [p.strip() for p in loss.split("+")]
    if len(parts) < 2 or any(not p for p in parts):
        raise ValueError(
            f"{WHO}: '{option}' must be one catalog loss or a sum of at least two, "
            f"'LOSS+LOSS[+LOSS...]', got {loss!r} (an empty term)"
        )
    specs = []
    for part in parts:
        try:
            specs.append(catalog.get(part))
        except catalog.UnknownLossError as exc:
            raise ValueError(f"{WHO}: '{option}' term {part!r} of {loss!r}: {exc}") from None
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(
            f"{WHO}: '{option}' must sum different losses, got {loss!r} with "
            f"{', '.join(twice)} more than once (its weight already scales it)"
        )
    if any(s.family == COMPOSITE_FAMILY for s in specs):
        raise ValueError(f"{WHO}: '{option}' terms must be catalog losses, got {loss!r}")
    return specs


def _same_head(heads: Sequence[Any]) -> bool:
    key = {(h.activation, h.units, tuple(h.outputs)) for h in heads}
    return len(key) == 1


def composite_spec(loss: str, option: str = "--loss") -> catalog.LossSpec:
    """The catalog entry of the weighted sum ``"a+b[+c...]"`` (not registered): its function is
    ``w_a * a(input, target) + w_b * b(input, target) + ...`` with keyword hyperparameters
    ``w_<term>`` (> 0, default 1: the plain sum; see :data:`WEIGHT_PARAM`), every term at its
    catalog defaults. Its tasks are those every term has with the same output head (activation,
    units). With ``reduction="none"`` each term is first averaged over each sample's elements
    (the lab's per-sample loss), so terms of different shapes (Dice per image, cross-entropy per
    pixel) add up per sample.

    >>> spec = composite_spec("cross_entropy+multi_margin_loss")
    >>> spec.name, sorted(spec.params), spec.tasks
    ('cross_entropy_plus_multi_margin_loss', ['reduction', 'w_cross_entropy', 'w_multi_margin_loss'], ('multiclass',))
    """
    from .._validation import REDUCTION, loss_function

    terms = _composite_terms(loss, option)
    names = [t.name for t in terms]
    name = "_plus_".join(names)
    tasks = tuple(
        k
        for k in terms[0].tasks
        if all(k in t.tasks for t in terms[1:]) and _same_head([t.head_for(k) for t in terms])
    )
    weights = [WEIGHT_PREFIX + n for n in names]
    fns = [t.function for t in terms]

    @loss_function(name, reduction=REDUCTION, **{w: WEIGHT_PARAM for w in weights})
    def weighted_sum(input: Any, target: Any, *, reduction: str = "mean", **hp: Any) -> Any:
        total = None
        for w, fn in zip(weights, fns):
            value = fn(input, target, reduction=reduction)
            if reduction == "none":  # per sample: the mean of its elements
                value = value.reshape(input.shape[0], -1).mean(dim=1)
            value = float(hp.get(w, 1.0)) * value
            total = value if total is None else total + value
        return total

    P = inspect.Parameter
    del weighted_sum.__wrapped__  # the signature below is the catalog's view
    weighted_sum.__name__ = weighted_sum.__qualname__ = name
    weighted_sum.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            P("input", P.POSITIONAL_OR_KEYWORD),
            P("target", P.POSITIONAL_OR_KEYWORD),
            P("reduction", P.KEYWORD_ONLY, default="mean"),
            *(P(w, P.KEYWORD_ONLY, default=1.0) for w in weights),
        ]
    )
    shown = " + ".join(f"{w} * {n}" for w, n in zip(weights, names))
    return dataclasses.replace(
        terms[0],
        name=name,
        function=weighted_sum,
        module=None,
        family=COMPOSITE_FAMILY,
        tasks=tasks,
        heads={k: terms[0].head_for(k) for k in tasks},
        formula=shown,
        derivative="(autograd)",
        derivative_fn=None,
        properties={},
        rules={},
        references=(),
        summary=f"Weighted sum {shown} (each term at its catalog defaults).",
        when_to_use="(registered by losslab tune to search the weights of a composite loss)",
        test_kwargs={},
        aliases=(),
        drop_in_for=None,
        builtin=False,
        notes=f"Registered by `losslab tune --loss {'+'.join(names)}` for the tune's duration.",
    )


def _check_composite(task: Task, loss: str, option: str) -> catalog.LossSpec:
    """A composite for ``task``: every term applies to it with the same head; registered in the
    catalog (the lab's competitors name catalog losses) until :func:`tune` returns."""
    terms = _composite_terms(loss, option)
    for t in terms:
        try:
            competitor_for_loss(task, t.name)
        except ValueError as exc:
            raise ValueError(
                f"{WHO}: '{option}' term {t.name!r} of {loss!r} must be a loss for task "
                f"{task.name!r} (kind {task.kind!r}): {exc}"
            ) from None
    heads = [t.head_for(task.kind) for t in terms]
    if not _same_head(heads):
        shown = ", ".join(
            f"{t.name}: {h.activation} x {h.units}" for t, h in zip(terms, heads, strict=True)
        )
        raise ValueError(
            f"{WHO}: '{option}' terms of {loss!r} must share the output head for task "
            f"{task.name!r} (one model output feeds every term), got {shown}"
        )
    spec = composite_spec(loss, option)
    try:
        existing = catalog.get(spec.name)
    except catalog.UnknownLossError:
        existing = None
    if existing is not None and existing.family != COMPOSITE_FAMILY:
        raise ValueError(
            f"{WHO}: '{option}' {loss!r} would be registered as {spec.name!r}, a name the "
            "catalog already uses for another loss"
        )
    catalog.register(spec, replace=existing is not None)
    competitor_for_loss(task, spec.name)
    return spec


def _check_loss(task: Task, loss: str, option: str = "--loss") -> catalog.LossSpec:
    if "+" in loss:
        return _check_composite(task, loss, option)
    try:
        spec = catalog.get(loss)
    except catalog.UnknownLossError as exc:
        raise ValueError(f"{WHO}: '{option}' {exc}") from None
    try:
        competitor_for_loss(task, spec.name)
    except ValueError as exc:
        raise ValueError(
            f"{WHO}: '{option}' must be a loss for task {task.name!r} (kind {task.kind!r}), got "
            f"{loss!r}: {exc}"
        ) from None
    return spec


def _shown_loss(spec: catalog.LossSpec) -> str:
    """The loss as the user names it: ``a+b`` for a composite, else its catalog name."""
    if spec.family == COMPOSITE_FAMILY:
        return "+".join(n[len(WEIGHT_PREFIX) :] for n in spec.params if n != "reduction")
    return spec.name


def _verify_task_name(task: str, loss: str) -> str:
    return f"{task}-tuned-{loss}"


def _shown_params(params: Mapping[str, Any]) -> str:
    def one(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else repr(v)

    return ", ".join(f"{k}={one(v)}" for k, v in params.items()) or "none"


@contextlib.contextmanager
def _registered(task: Task) -> Iterator[None]:
    """Register the verification task for the duration of its study (the registry is global:
    the task leaves it afterwards, so ``losslab tasks`` and the shipped index never see it)."""
    from . import tasks as T

    T.register_task(task, replace=True)
    try:
        yield
    finally:
        T._TASKS.pop(task.name, None)


def _verify_task(
    base: Task,
    loss: str,
    best: Mapping[str, Any],
    info: Mapping[str, Any],
    against: Sequence[str] = (),
    shown: str | None = None,
) -> Task:
    hp = {k: v for k, v in best.items() if k != "lr"}
    shown = shown or loss
    tuned = Competitor(
        f"{shown} (tuned)",
        loss,
        hp,
        note=f"losslab tune: trial {info['best_trial']}, {_shown_params(best)}",
    )
    default = Competitor(
        f"{shown} (default)", loss, note=f"the catalog's defaults, lr={DEFAULT_LR:g}"
    )
    notes = (
        f"Verification of `losslab tune` on task {base.name!r}: the best of "
        f"{info['n_trials']} trials (TPE sampler, seed {info['sampler_seed']}; pruning "
        f"{'on' if info['pruning'] else 'off'}) by the validation {base.primary} averaged over "
        f"{info['seeds']} seed(s), {_shown_params(best)}, against the loss's defaults"
        + "".join(f" and {a}'s" for a in against)
        + f". All run at the default lr {DEFAULT_LR:g} and at the tuned lr; each competitor's lr "
        "is chosen on validation, as in every study. The test split played no part in the search."
    )
    others = tuple(
        Competitor(f"{a} (default)", a, note="its catalog defaults (--against)") for a in against
    )
    return dataclasses.replace(
        base,
        name=_verify_task_name(base.name, loss),
        competitors=(tuned, default, *others),
        notes=(base.notes + " " + notes).strip(),
    )


def _read_json(folder: Path) -> dict[str, Any]:
    path = folder / TUNE_JSON
    if not path.is_file() or not (folder / TUNE_STORAGE).is_file():
        fail(
            WHO, "--resume", f"a tune folder containing {TUNE_JSON} and {TUNE_STORAGE}", str(folder)
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{WHO}: '--resume' cannot read {str(path)!r}: {exc}") from None


def tune(
    task: str | None = None,
    loss: str | None = None,
    *,
    trials: int = 20,
    timeout: float | None = None,
    seeds: int | None = None,
    epochs: int | None = None,
    folder: str | Path | None = None,
    out: str | Path = "losslab-runs",
    resume: str | Path | None = None,
    sampler_seed: int = 0,
    pruning: bool = True,
    on_trial: Callable[[Any], None] | None = None,
    on_results: Callable[..., None] | None = None,
    on_plan: Callable[..., None] | None = None,
    executor: Any = None,
    against: Sequence[str] = (),
) -> TuneResult:
    """Tune ``loss``'s hyperparameters and the learning rate on lab task ``task``, then verify.

    ``seeds`` (default 3) seeds are averaged per trial and run in the verification; ``epochs``
    (default: the task's own) bounds each training. ``trials`` is the total: a resumed tune
    (``resume=folder``; ``task``, ``loss`` and the other settings may be left out, and must match
    the stored ones where given) runs only the trials its storage lacks. ``timeout``
    bounds this call's search in seconds. ``folder`` is where a new tune is written (default:
    ``<out>/tune-<task>-<loss>-<date>-<time>``). ``on_trial(frozen_trial)`` is called
    after each trial; ``on_plan`` and ``on_results`` are the verification study's
    callbacks (:func:`~losslab.lab.study.run_study`). ``executor``: a
    :class:`~losslab.lab.executors.RayExecutor` runs the trials as Ray tasks, as many at once as
    the cluster has CPUs (each trial's per-epoch values are reported when it ends, so trials on
    Ray are not pruned), and the verification study's units. ``against``: other catalog losses
    (at their defaults) the verification study runs beside the tuned and the default loss
    (e.g. ``("cross_entropy",)`` for the PolyLoss search).

    ``loss`` may be a sum of catalog losses, ``"dice_loss+cross_entropy"``: the tune then
    searches one weight per term (``w_dice_loss``, ``w_cross_entropy``; > 0, log-uniform in
    [0.1, 10], the terms at their catalog defaults; :func:`composite_spec`) and the verification
    compares the tuned weights with the plain sum (every weight 1). The terms must be different
    losses for the task with the same output head; the sum is registered in the catalog while
    the tune runs (in this process: not with the Ray executor).

    Raises:
        ValueError/TypeError: a bad option, an unknown task or loss, a loss without a head for the
            task, an existing folder (without ``resume``) or settings that differ from the
            resumed tune's.
    """
    before = set(catalog.names())
    try:
        return _tune(
            task,
            loss,
            trials=trials,
            timeout=timeout,
            seeds=seeds,
            epochs=epochs,
            folder=folder,
            out=out,
            resume=resume,
            sampler_seed=sampler_seed,
            pruning=pruning,
            on_trial=on_trial,
            on_results=on_results,
            on_plan=on_plan,
            executor=executor,
            against=against,
        )
    finally:  # the composite's weighted sum leaves the catalog with the tune
        for name in set(catalog.names()) - before:
            if catalog.get(name).family == COMPOSITE_FAMILY:
                catalog.unregister(name)


def _tune(
    task: str | None = None,
    loss: str | None = None,
    *,
    trials: int = 20,
    timeout: float | None = None,
    seeds: int | None = None,
    epochs: int | None = None,
    folder: str | Path | None = None,
    out: str | Path = "losslab-runs",
    resume: str | Path | None = None,
    sampler_seed: int = 0,
    pruning: bool = True,
    on_trial: Callable[[Any], None] | None = None,
    on_results: Callable[..., None] | None = None,
    on_plan: Callable[..., None] | None = None,
    executor: Any = None,
    against: Sequence[str] = (),
) -> TuneResult:
    """:func:`tune` itself; a composite ``loss`` is registered in the catalog while it runs."""
    import optuna

    _check_options(
        trials=trials,
        seeds=3 if seeds is None else seeds,
        epochs=epochs,
        timeout=timeout,
        sampler_seed=sampler_seed,
        pruning=pruning,
    )
    if resume is not None:
        folder = Path(resume)
        stored = _read_json(folder)
        if loss is not None and "+" in loss:  # a composite as stored: "a+b", no spaces
            loss = "+".join(p.strip() for p in loss.split("+"))
        given = {"task": task, "loss": loss, "seeds": seeds, "epochs": epochs}
        given["against"] = list(against) if against else None
        clash = [
            f"'--{k}' {v} (the tune has {stored.get(k)})"
            for k, v in given.items()
            if v is not None and v != stored.get(k)
        ]
        if clash:
            fail(
                WHO,
                "--resume",
                "given the tune's own task, loss, seeds, epochs and --against (or none of them)",
                Raw(", ".join(clash)),
            )
        task, loss = stored["task"], stored["loss"]
        sampler_seed, pruning = stored["sampler_seed"], stored["pruning"]
        against = tuple(stored.get("against", ()))
        seeds, epochs = stored["seeds"], stored["epochs"]
    elif task is None or loss is None:
        raise ValueError(f"{WHO}: '--task' and '--loss' are required (or '--resume FOLDER')")
    seeds = 3 if seeds is None else seeds
    base = get_task(task)
    spec = _check_loss(base, loss)
    shown = _shown_loss(spec)
    if spec.family == COMPOSITE_FAMILY and executor is not None:
        raise ValueError(
            f"{WHO}: '--executor ray' must tune one catalog loss, got the composite {shown!r} "
            "(its weighted sum is registered in this process only; Ray workers do not have it); "
            "use the local executor"
        )
    composite = [a for a in against if "+" in a]
    if composite:
        fail(WHO, "--against", "catalog losses (not sums)", ",".join(composite))
    against = tuple(dict.fromkeys(_check_loss(base, a, "--against").name for a in against))
    if spec.name in against:
        fail(WHO, "--against", f"losses other than the tuned {spec.name!r}", ",".join(against))
    space = search_space(spec)
    if resume is None:
        if folder is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            folder = S.default_study_dir(f"tune-{task}-{spec.name}-{stamp}", out)
        folder = Path(folder)
        if (folder / TUNE_JSON).exists() or (folder / S.STORE_NAME).exists():
            raise ValueError(
                f"{WHO}: folder {str(folder)!r} already holds a tune or a study; use "
                f"'--resume {folder}' or another '--name'"
            )
        folder.mkdir(parents=True, exist_ok=True)
        stored = {
            "task": task,
            "loss": shown,
            "seeds": seeds,
            "epochs": epochs,
            "sampler_seed": sampler_seed,
            "pruning": pruning,
            "against": list(against),
            "space": {n: d.describe() for n, d in space.items()},
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "losslab_version": __version__,
        }
        (folder / TUNE_JSON).write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")
    folder = Path(folder)
    cfg = S.StudyConfig(tasks=(task,), seeds=seeds, epochs=epochs)
    tc = S.train_config(base, cfg)
    seed_list = list(range(seeds))
    higher = base.higher_is_better

    schedule = _PruneSchedule.for_epochs(tc.epochs) if pruning and executor is None else None
    session = executor.connected() if executor is not None else contextlib.nullcontext()
    with session as ray:
        with S.StudyLock(folder), _quiet_optuna():
            data = S._datasets(base, seed_list)
            study = optuna.create_study(
                study_name=OPTUNA_STUDY,
                storage=_storage(folder),
                sampler=optuna.samplers.TPESampler(seed=sampler_seed),
                pruner=schedule.pruner() if schedule else optuna.pruners.NopPruner(),
                direction="maximize" if higher else "minimize",
                load_if_exists=True,
            )
            _fail_interrupted(study)
            if not study.trials:
                study.enqueue_trial(_default_params(space), user_attrs={"default": True})
            done = _done(study)

            def objective(trial: Any) -> float:
                params = {n: d.suggest(trial) for n, d in space.items()}
                lr = params.pop("lr")
                spec.setting(**params)  # the loss's own validation, before training
                comp = Competitor(f"{spec.name} (trial {trial.number})", spec.name, params)
                runs = tuple(S.RunKey(s, float(lr)) for s in seed_list)
                value = _objective_value(
                    _train_trial(base, comp, runs, data, tc, trial, schedule), base.primary
                )
                if not math.isfinite(value):
                    trial.set_user_attr("diverged", True)
                return value

            if done < trials and executor is not None:
                _optimize_on_ray(
                    ray,
                    executor,
                    study,
                    space,
                    base,
                    spec.name,
                    seed_list,
                    tc,
                    trials - done,
                    timeout,
                    on_trial,
                )
            elif done < trials:
                study.optimize(
                    objective,
                    n_trials=trials - done,
                    timeout=timeout,
                    callbacks=[(lambda _s, t: on_trial(t))] if on_trial else None,
                )
            finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
            if not finished:
                raise ValueError(
                    f"{WHO}: no trial finished (every one was pruned, diverged or out of time); "
                    "give more '--trials' or '--timeout' and resume"
                )
            best = study.best_trial
            counts: dict[str, int] = {}
            for t in study.trials:
                counts[t.state.name] = counts.get(t.state.name, 0) + 1
            best_params = dict(best.params)
            info = {
                "best_trial": best.number,
                "n_trials": len(study.trials),
                "sampler_seed": sampler_seed,
                "pruning": pruning and executor is None,
                "seeds": seeds,
            }
        vtask = _verify_task(base, spec.name, best_params, info, against, shown)
        callbacks = {"on_results": on_results, "on_plan": on_plan, "executor": executor}
        _verify(folder, vtask, cfg, best, best_params, callbacks)
    stored.update(
        best_trial=best.number,
        best_params=best_params,
        best_value=best.value,
        trials=counts,
        verify_task=vtask.name,
    )
    (folder / TUNE_JSON).write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")
    return TuneResult(
        folder,
        task,
        shown,
        best_params,
        float(best.value),
        best.number,
        counts,
        vtask.name,
        (vtask.competitors[0].label, vtask.competitors[1].label),
        space,
    )


def _storage(folder: Path) -> Any:
    """Optuna's RDB storage on ``folder/tune.sqlite``, in SQLite's WAL mode with
    ``synchronous=NORMAL``: a commit no longer waits for the disk (measured: each per-epoch
    ``trial.report`` took about 30 ms with the default rollback journal, more than the epoch's
    training), and a killed process still loses no committed trial (only a power cut could
    lose the last ones)."""
    import sqlite3

    import optuna

    path = (folder / TUNE_STORAGE).resolve()

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"creator": connect})


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines off (the caller reports through ``on_trial``)."""
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def _fail_interrupted(study: Any) -> None:
    """Trials left RUNNING by a killed tune (the folder lock says nobody runs them now) fail,
    marked ``interrupted``: they do not count towards the total, so they are redone."""
    from optuna.trial import TrialState

    for t in study.trials:
        if t.state == TrialState.RUNNING:
            study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)


def _done(study: Any) -> int:
    return sum(t.state.is_finished() and not t.user_attrs.get("interrupted") for t in study.trials)


def _verify(
    folder: Path,
    vtask: Task,
    cfg: S.StudyConfig,
    best: Any,
    best_params: Mapping[str, Any],
    callbacks: Mapping[str, Callable[..., None] | None],
) -> None:
    """The verification study: the tuned and the default configuration on the test split."""
    lrs = tuple(sorted({DEFAULT_LR, float(best_params["lr"])}))
    vcfg = dataclasses.replace(cfg, tasks=(vtask.name,), lrs=lrs)
    marker = folder / "verified-trial.json"
    store = folder / S.STORE_NAME
    with _registered(vtask):
        if store.exists():
            previous = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
            if previous.get("trial") == best.number:
                S.resume_study(folder, **callbacks)
                return
            # a resumed tune found a better trial: keep the old verification beside, start anew
            for suffix in ("", "-wal", "-shm"):
                old = folder / f"{S.STORE_NAME}{suffix}"
                if old.exists():
                    old.rename(
                        folder / f"results-trial{previous.get('trial', 'unknown')}.sqlite{suffix}"
                    )
        marker.write_text(json.dumps({"trial": best.number}) + "\n", encoding="utf-8")
        S.start_study(vcfg, folder, **callbacks)


# -- figures and the report section ------------------------------------------------------------


def write_tune_report(folder: str | Path) -> dict[str, Path]:
    """Draw the optimisation history and the parameter importances into ``folder/plots`` and
    add a "Tuning" section (best vs default settings, the figures) to report.md and report.html.
    Call it after :func:`losslab.report.write_report`. Returns the figure paths by name."""
    import optuna

    folder = Path(folder)
    stored = _read_json(folder)
    study = optuna.load_study(study_name=OPTUNA_STUDY, storage=_storage(folder))
    plots = folder / "plots"
    plots.mkdir(exist_ok=True)
    base = get_task(stored["task"]) if stored["task"] in _task_names() else None
    metric = f"validation {base.primary if base else 'primary metric'} (mean over seeds)"
    paths = {"history": plots / "tune-history.svg"}
    _history_figure(study, metric, paths["history"])
    importances = _importances(study)
    if importances is not None:
        paths["importances"] = plots / "tune-importances.svg"
        _importance_figure(importances, paths["importances"])
    _add_section(folder, stored, study, paths, importances)
    return paths


def _task_names() -> list[str]:
    from .tasks import task_names

    return task_names()


def _importances(study: Any) -> dict[str, float] | None:
    """Optuna's parameter importances (fANOVA), or None when they cannot be computed (one
    parameter: the learning rate alone; fewer than two finished trials; all values equal)."""
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    names = {n for t in complete for n in t.params}
    if len(names) < 2 or len(complete) < 2:
        return None
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError):
        return None


def _history_figure(study: Any, metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    from ..report.plots import PALETTE

    higher = study.direction == optuna.study.StudyDirection.MAXIMIZE
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    xs = [t.number for t in done]
    ys = [t.value for t in done]
    ax.scatter(xs, ys, s=18, color=PALETTE[0], label="finished trial", zorder=3)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    if pruned:
        last = [
            t.intermediate_values[max(t.intermediate_values)]
            for t in pruned
            if t.intermediate_values
        ]
        ax.scatter(
            [t.number for t in pruned if t.intermediate_values],
            last,
            s=18,
            marker="x",
            color=PALETTE[1],
            label="pruned (last reported value)",
        )
    best, running = [], None
    for y in ys:
        running = y if running is None or (y > running if higher else y < running) else running
        best.append(running)
    if xs:
        ax.step(xs, best, where="post", color=PALETTE[2], label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("Optuna optimisation history")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)


def _importance_figure(importances: Mapping[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..report.plots import PALETTE

    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.45 * len(names)))
    ax.barh(names, [importances[n] for n in names], color=PALETTE[0])
    ax.set_xlabel("importance (Optuna's fANOVA, share of the objective's variance)")
    ax.set_ylabel("hyperparameter")
    ax.set_title("Parameter importances")
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)


def _add_section(
    folder: Path,
    stored: Mapping[str, Any],
    study: Any,
    paths: Mapping[str, Path],
    importances: Mapping[str, float] | None,
) -> None:
    import html

    best = stored.get("best_params", {})
    space = stored.get("space", {})
    defaults = _default_params(search_space(stored["loss"]))
    counts = stored.get("trials", {})
    rows = [(n, space.get(n, ""), defaults.get(n, "–"), best.get(n, "–")) for n in space]
    summary = (
        f"`losslab tune` searched {len(space)} hyperparameter(s) of {stored['loss']} on task "
        f"{stored['task']} in {sum(counts.values())} trial(s) ("
        + ", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items()))
        + f"); the best is trial {stored.get('best_trial')} with validation value "
        f"{stored.get('best_value', math.nan):.4g}. Its verification against the defaults is "
        f"task {stored.get('verify_task')} above."
    )
    note = (
        ""
        if importances is not None
        else (
            "Parameter importances are not drawn: they need at least two searched "
            "hyperparameters and two finished trials whose values differ."
        )
    )

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    md = [
        "",
        "## Tuning",
        "",
        summary,
        "",
        "| hyperparameter | searched | default | tuned |",
        "|---|---|---|---|",
    ]
    md += [f"| {n} | {s} | {fmt(d)} | {fmt(b)} |" for n, s, d, b in rows]
    md += (
        [""]
        + [f"![{k}](plots/{p.name})" for k, p in paths.items()]
        + ([note] if note else [])
        + [""]
    )
    report_md = folder / "report.md"
    if report_md.exists():
        report_md.write_text(
            report_md.read_text(encoding="utf-8") + "\n".join(md) + "\n", encoding="utf-8"
        )
    table = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{html.escape(s)}</td><td>{html.escape(fmt(d))}</td>"
        f"<td>{html.escape(fmt(b))}</td></tr>"
        for n, s, d, b in rows
    )
    figs = "".join(
        f'<figure><img src="plots/{p.name}" alt="{html.escape(k)}"></figure>'
        for k, p in paths.items()
    )
    section = (
        f'<section id="tuning"><h2>Tuning</h2><p>{html.escape(summary)}</p><table><thead><tr>'
        "<th>hyperparameter</th><th>searched</th><th>default</th><th>tuned</th></tr></thead>"
        f"<tbody>{table}</tbody></table>{figs}"
        + (f"<p>{html.escape(note)}</p>" if note else "")
        + "</section>"
    )
    report_html = folder / "report.html"
    if report_html.exists():
        text = report_html.read_text(encoding="utf-8")
        cut = text.rfind("</body>")
        text = text[:cut] + section + text[cut:] if cut >= 0 else text + section
        report_html.write_text(text, encoding="utf-8")
