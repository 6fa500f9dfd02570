"""The tables of a study, built only from its store.

:func:`build_report` reads a :class:`~losslab.lab.store.Store` and returns a :class:`StudyReport`:
plain dataclasses holding every number the markdown, HTML and terminal views show, each number
with the run ids it was computed from, so any cell can be traced back to rows of the store.

Rules (stated in every rendered report):

* a cell is the mean over seeds with the half-width of the two-sided 95% t interval
  (:func:`losslab.lab.stats.summarize`); diverged runs have no test metrics and are counted apart;
* when several learning rates were swept, each competitor is reported at ONE learning rate: the
  one with the fewest diverged runs, then the best mean *validation* primary metric of the
  evaluated model (so the test numbers are not chosen on the test set);
* a run's test metrics are those of the model its selection rule kept (``--select``): its best
  validation epoch (default) or its last epoch; with the best epoch, a "best checkpoint vs final
  epoch" table shows what the last epoch would have given (stores of schema version 2);
* the task's best competitor is the one with the best mean test primary metric; every other
  competitor is compared with it by a two-sided paired t-test over seeds (pairs matched by seed).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..lab.metrics import METRIC_LABELS
from ..lab.recommend import recommend
from ..lab.stats import (
    Difference,
    Summary,
    detectable_difference,
    holm,
    metric_range,
    paired_difference,
    paired_p_value,
    summarize,
    verdict,
)
from ..lab.store import DIAGNOSTICS, Store

__all__ = [
    "BINARY_KINDS",
    "Band",
    "Cell",
    "CompetitorCurves",
    "CheckpointRow",
    "ConvergenceRow",
    "LrRow",
    "LrTable",
    "MainRow",
    "RateRow",
    "RunRecord",
    "SkippedTask",
    "StudyReport",
    "TaskReport",
    "build_report",
    "digits_for",
    "fmt_lr",
    "metric_label",
]

#: task kinds that get a TPR/FPR table
BINARY_KINDS = ("binary", "imbalanced", "anomaly")
#: metrics read as the true-positive rate, in order of preference
TPR_METRICS = ("tpr", "recall", "minority_recall")
#: used only when a store has no task info: metrics where lower is better
_LOWER_IS_BETTER = ("rmse", "mae", "mse", "fpr", "loss")


#: short verdict codes for narrow tables, and their legend
VERDICT_CODES = {"best": "best", "same": "tie", "worse": "worse", "better": "better", "na": "n/a"}
VERDICT_LEGEND = (
    "best: best mean of its group; tie: not distinguishable from the best (paired t-test over "
    "seeds, Holm-adjusted, 5%); worse/better: distinguishable; n/a: too few seeds to test"
)


def metric_label(name: str) -> str:
    """Display label of a metric (``recall`` -> ``recall (TPR)``); unknown names unchanged."""
    return METRIC_LABELS.get(name, name)


def fmt_lr(lr: float | None) -> str:
    return "–" if lr is None else f"{lr:g}"


def digits_for(cells: Iterable[Cell | None]) -> int:
    """Decimals for one column: 3, or fewer when its means reach 10 or 100."""
    means = [abs(c.summary.mean) for c in cells if c is not None and c.summary.n > 0]
    top = max(means, default=0.0)
    return 1 if top >= 100 else 2 if top >= 10 else 3


# -- the records read from the store ------------------------------------------------------------
@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs`` with its final values (test metrics and diagnostics, NaN when NULL)."""

    run_id: int
    task: str
    competitor: str
    loss: str
    seed: int
    lr: float
    status: str
    epochs_run: int
    best_epoch: int
    final: dict[str, float] = field(default_factory=dict)
    #: test metrics at the run's last epoch (empty in stores of schema version 1)
    last: dict[str, float] = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"


# -- cells and rows -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """Mean ± 95% CI over the runs in ``run_ids``; ``diverged_ids`` were excluded (no value)."""

    summary: Summary
    run_ids: tuple[int, ...] = ()
    diverged_ids: tuple[int, ...] = ()
    missing_ids: tuple[int, ...] = ()  # finished runs without a finite value
    values: tuple[float, ...] = ()  # the value of each run in ``run_ids``, in the same order
    seeds: tuple[int, ...] = ()  # the seed of each run in ``run_ids``, in the same order

    def by_seed(self) -> dict[int, float]:
        """seed -> value of the runs with a value (for comparisons paired by seed)."""
        return dict(zip(self.seeds, self.values, strict=True))

    @property
    def runs(self) -> int:
        return len(self.run_ids) + len(self.diverged_ids) + len(self.missing_ids)

    @property
    def diverged(self) -> int:
        return len(self.diverged_ids)

    def text(self, digits: int = 3, *, mark_diverged: bool = False, compact: bool = False) -> str:
        if self.summary.n == 0 and self.diverged:
            return f"diverged ({self.diverged} of {self.runs})"
        base = self.summary.text(digits, compact=compact)
        if mark_diverged and self.diverged:
            return f"{base} ({self.diverged} of {self.runs} diverged)"
        return base

    def source(self) -> str:
        """Which runs the cell comes from, for a tooltip or a footnote."""
        used = ", ".join(map(str, self.run_ids)) or "none"
        out = f"runs {used}"
        if self.diverged_ids:
            out += f"; diverged (excluded): {', '.join(map(str, self.diverged_ids))}"
        if self.missing_ids:
            out += f"; no value: {', '.join(map(str, self.missing_ids))}"
        return out


@dataclass(frozen=True)
class MainRow:
    """One competitor in the "loss × metrics" table, at its chosen learning rate."""

    label: str
    loss: str
    note: str
    lr: float | None
    cells: dict[str, Cell]
    runs: int
    diverged: int
    diverged_other_lrs: int
    is_best: bool
    p_value: float
    verdict: str
    run_ids: tuple[int, ...]
    #: the competitor group it is compared within ("" when the task has one group)
    group: str = ""
    #: ``p_value`` adjusted by Holm's method across the group's comparisons with its best
    p_holm: float = math.nan
    #: primary metric, this competitor minus the group's best, paired by seed
    effect: Difference | None = None
    #: 0: a torch loss at its defaults; more: hyperparameters the competitor sets (for the rule)
    complexity: int = 0

    @property
    def verdict_kind(self) -> str:
        """ "best", "better", "worse", "same" (a tie) or "na" (no test possible)."""
        if self.is_best:
            return "best"
        for kind in ("better", "worse"):
            if self.verdict.startswith(kind):
                return kind
        return "same" if self.verdict.startswith("tie") else "na"

    @property
    def verdict_code(self) -> str:
        """The verdict in a few characters for narrow tables (see :data:`VERDICT_LEGEND`)."""
        return VERDICT_CODES[self.verdict_kind]


@dataclass(frozen=True)
class LrRow:
    label: str
    loss: str
    cells: dict[float, Cell]  # test primary metric per learning rate
    selection: dict[float, Cell]  # the score the learning rate was chosen on
    chosen: float | None


@dataclass(frozen=True)
class LrTable:
    lrs: tuple[float, ...]
    rows: list[LrRow]

    @property
    def any_all_diverged(self) -> bool:
        """Whether some (competitor, lr) has no finished run at all."""
        return any(c.summary.n == 0 and c.diverged for r in self.rows for c in r.cells.values())


@dataclass(frozen=True)
class ConvergenceRow:
    label: str
    loss: str
    lr: float | None
    epochs: Cell
    overfit: int
    overfit_of: int
    gap: Cell
    grad_norm_median: float  # median over runs of each run's median gradient norm
    grad_norm_max: float  # largest gradient norm seen in any run
    run_ids: tuple[int, ...]

    @property
    def overfit_text(self) -> str:
        return f"{self.overfit} of {self.overfit_of} runs"


@dataclass(frozen=True)
class CheckpointRow:
    """Test primary metric of one competitor (at its chosen lr): the best validation epoch's
    model (what the main table reports) vs the last epoch's; ``difference`` is paired by run."""

    label: str
    loss: str
    lr: float | None
    best: Cell
    final: Cell
    difference: Cell


@dataclass(frozen=True)
class RateRow:
    label: str
    loss: str
    lr: float | None
    tpr: Cell
    fpr: Cell | None  # None: the study did not record the false-positive rate
    precision: Cell | None = None  # None: not recorded
    balanced_accuracy: Cell | None = None  # None: not recorded


@dataclass(frozen=True)
class Band:
    """Per-epoch mean and min–max over seeds (``n`` seeds with a finite value that epoch)."""

    epochs: tuple[int, ...]
    mean: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    n: tuple[int, ...]

    @property
    def empty(self) -> bool:
        return not any(self.n)


@dataclass(frozen=True)
class CompetitorCurves:
    label: str
    lr: float | None
    run_ids: tuple[int, ...]
    train_loss: Band
    val_loss: Band
    val_metric: Band


@dataclass(frozen=True)
class SkippedTask:
    name: str
    reason: str


@dataclass(frozen=True)
class TaskReport:
    name: str
    kind: str
    description: str
    notes: str
    primary: str
    higher_is_better: bool
    metrics: tuple[str, ...]
    epochs: int | None
    seeds: int
    lrs: tuple[float, ...]
    convergence_rule: str
    overfit_rule: str
    selection_rule: str
    best: str | None
    main: list[MainRow]
    by_lr: LrTable | None
    convergence: list[ConvergenceRow]
    rates: list[RateRow] | None
    tpr_metric: str | None
    curves: list[CompetitorCurves]
    #: warnings stored with the task's info (e.g. a user file too small to resolve anything)
    warnings: tuple[str, ...] = ()
    #: which epoch's model gives the test metrics: "best" (validation) or "final"
    selection: str = "final"
    #: best checkpoint vs final epoch per competitor (None: selection "final", or not stored)
    checkpoints: list[CheckpointRow] | None = None
    #: the competitor groups in order ("" alone when the task has one group)
    groups: tuple[str, ...] = ("",)
    #: the recommendation of each group (:mod:`losslab.lab.recommend`)
    recommendations: tuple[Any, ...] = ()
    #: what the seeds and the test split can resolve (:func:`power_notes`)
    power_notes: tuple[str, ...] = ()

    @property
    def primary_label(self) -> str:
        return metric_label(self.primary)

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


@dataclass(frozen=True)
class StudyReport:
    source: str
    created: str | None
    version: str | None
    config: dict[str, Any]
    tasks: list[TaskReport]
    skipped: list[SkippedTask]
    runs: int
    diverged: int


# -- reading the store --------------------------------------------------------------------------
def _float(v: Any) -> float:
    return math.nan if v is None else float(v)


def _read_runs(store: Store) -> list[RunRecord]:
    finals: dict[int, dict[str, float]] = defaultdict(dict)
    for row in store.final_metrics():
        finals[row["run_id"]][row["name"]] = _float(row["value"])
    last: dict[int, dict[str, float]] = defaultdict(dict)
    for row in store.last_epoch_metrics():
        last[row["run_id"]][row["name"]] = _float(row["value"])
    return [
        RunRecord(
            r["run_id"],
            r["task"],
            r["competitor"],
            r["loss"],
            int(r["seed"]),
            float(r["lr"]),
            r["status"],
            int(r["epochs_run"]),
            int(r["best_epoch"]),
            finals.get(r["run_id"], {}),
            last.get(r["run_id"], {}),
        )
        for r in store.runs()
    ]


def _read_curves(store: Store) -> dict[int, dict[str, dict[int, float]]]:
    """run_id -> "split_metric" (e.g. ``val_loss``) -> epoch -> value."""
    out: dict[int, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in store.curves():
        out[row["run_id"]][f"{row['split']}_{row['name']}"][int(row["epoch"])] = _float(
            row["value"]
        )
    return out


def _task_order(store: Store, runs: Sequence[RunRecord]) -> list[str]:
    order = list(store.meta("tasks", []) or [])
    for r in runs:
        if r.task not in order:
            order.append(r.task)
    return order


def _fallback_info(runs: Sequence[RunRecord]) -> dict[str, Any]:
    names: list[str] = []
    for r in runs:
        names += [k for k in r.final if k not in DIAGNOSTICS and k not in names]
    primary = names[0] if names else "loss"
    return {
        "kind": "unknown",
        "description": "(no task information stored)",
        "metrics": names,
        "primary": primary,
        "higher_is_better": primary not in _LOWER_IS_BETTER,
    }


def _complexity(loss: str, stored: dict[str, Any]) -> int:
    """0 for a torch loss at its defaults; else 1 + the hyperparameters the competitor sets
    (fixed or computed from the data). Stored competitors without this information count 1."""
    from .. import catalog

    try:
        drop_in = catalog.get(loss).drop_in_for is not None
    except (KeyError, ValueError):
        drop_in = False
    n_set = len(stored.get("kwargs") or {}) + int(bool(stored.get("data_kwargs")))
    return n_set + (0 if drop_in and n_set == 0 else 1)


def _competitor_order(
    info: dict[str, Any], runs: Sequence[RunRecord]
) -> list[tuple[str, str, str, str, int]]:
    """(label, loss, note, group, complexity) of each competitor: the stored order first, then
    any others run."""
    loss_of = {r.competitor: r.loss for r in runs}
    out = [
        (
            c["label"],
            loss_of.get(c["label"], c["loss"]),
            c.get("note", ""),
            str(c.get("group") or ""),
            _complexity(loss_of.get(c["label"], c["loss"]), c),
        )
        for c in info.get("competitors", [])
        if c["label"] in loss_of
    ]
    seen = {c[0] for c in out}
    for r in runs:
        if r.competitor not in seen:
            out.append((r.competitor, r.loss, "", "", _complexity(r.loss, {})))
            seen.add(r.competitor)
    return out


# -- statistics of groups of runs ---------------------------------------------------------------
def _cell(
    runs: Iterable[RunRecord],
    value_of: Callable[[RunRecord], float],
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> Cell:
    runs = list(runs)
    values = {r.run_id: value_of(r) for r in runs if not r.diverged}
    seed_of = {r.run_id: r.seed for r in runs}
    used = tuple(i for i, v in values.items() if math.isfinite(v))
    return Cell(
        summarize([values[i] for i in used], bounds=bounds),
        used,
        tuple(r.run_id for r in runs if r.diverged),
        tuple(i for i, v in values.items() if not math.isfinite(v)),
        tuple(values[i] for i in used),
        tuple(seed_of[i] for i in used),
    )


def _metric_cell(runs: Iterable[RunRecord], name: str) -> Cell:
    return _cell(runs, lambda r: r.final.get(name, math.nan), metric_range(name))


def _selection_score(
    run: RunRecord, curves: dict[str, dict[int, float]], primary: str, best_selected: bool
) -> float:
    """Validation primary metric of the model that was evaluated on the test set."""
    val = curves.get(f"val_{primary}", {})
    if best_selected:
        return val.get(run.best_epoch, math.nan)
    finite = [e for e, v in val.items() if math.isfinite(v)]
    return val[max(finite)] if finite else math.nan


def _is_better(a: float, b: float, higher: bool) -> bool:
    return a > b if higher else a < b


def _choose_lr(
    by_lr: dict[float, list[RunRecord]], scores: dict[float, Cell], higher: bool
) -> float | None:
    """Fewest diverged runs first, then the best mean score; None when nothing finished."""
    usable = [lr for lr in sorted(by_lr) if scores[lr].summary.n > 0]
    if not usable:
        return None

    def key(lr: float) -> tuple[int, float]:
        mean = scores[lr].summary.mean
        return (scores[lr].diverged, -mean if higher else mean)

    return min(usable, key=key)


def _band(
    runs: Sequence[RunRecord], curves: dict[int, dict[str, dict[int, float]]], key: str
) -> Band:
    per_epoch: dict[int, list[float]] = defaultdict(list)
    for r in runs:
        for epoch, v in curves.get(r.run_id, {}).get(key, {}).items():
            per_epoch[epoch].append(v)
    epochs = tuple(sorted(per_epoch))
    mean, low, high, n = [], [], [], []
    for e in epochs:
        vals = [v for v in per_epoch[e] if math.isfinite(v)]
        n.append(len(vals))
        mean.append(statistics.fmean(vals) if vals else math.nan)
        low.append(min(vals) if vals else math.nan)
        high.append(max(vals) if vals else math.nan)
    return Band(epochs, tuple(mean), tuple(low), tuple(high), tuple(n))


# -- one task -----------------------------------------------------------------------------------
@dataclass
class _Competitor:
    label: str
    loss: str
    note: str
    by_lr: dict[float, list[RunRecord]]
    scores: dict[float, Cell]
    lr: float | None
    group: str = ""
    complexity: int = 0

    @property
    def chosen(self) -> list[RunRecord]:
        return self.by_lr.get(self.lr, []) if self.lr is not None else []


def _competitors(
    info: dict[str, Any],
    runs: Sequence[RunRecord],
    curves: dict[int, Any],
    best_selected: bool,
    select_on: str,
) -> list[_Competitor]:
    primary, higher = info["primary"], bool(info["higher_is_better"])
    out = []
    for label, loss, note, group, complexity in _competitor_order(info, runs):
        by_lr: dict[float, list[RunRecord]] = defaultdict(list)
        for r in runs:
            if r.competitor == label:
                by_lr[r.lr].append(r)
        if select_on == "val":
            scores = {
                lr: _cell(
                    rs,
                    lambda r: _selection_score(r, curves.get(r.run_id, {}), primary, best_selected),
                )
                for lr, rs in by_lr.items()
            }
        else:
            scores = {lr: _metric_cell(rs, primary) for lr, rs in by_lr.items()}
        out.append(
            _Competitor(
                label,
                loss,
                note,
                dict(by_lr),
                scores,
                _choose_lr(by_lr, scores, higher),
                group,
                complexity,
            )
        )
    return out


def _per_seed(runs: Sequence[RunRecord], name: str) -> dict[int, float]:
    return {r.seed: r.final.get(name, math.nan) for r in runs}


def _best_index(
    idx: Sequence[int], means: Sequence[float], diverged: Sequence[int], higher: bool
) -> int | None:
    """The best of ``idx``: fewest diverged runs first (a loss whose seeds mostly diverged cannot
    win on its few survivors), then the best mean."""
    best_i = None
    for i in idx:
        if not math.isfinite(means[i]):
            continue
        if (
            best_i is None
            or diverged[i] < diverged[best_i]
            or (diverged[i] == diverged[best_i] and _is_better(means[i], means[best_i], higher))
        ):
            best_i = i
    return best_i


def _main_rows(
    comps: Sequence[_Competitor], metrics: Sequence[str], primary: str, higher: bool
) -> tuple[list[MainRow], str | None]:
    """One row per competitor; each group's competitors are compared with the group's best, the
    p-values of a group adjusted together by Holm's method."""
    cells = [{m: _metric_cell(c.chosen, m) for m in metrics} for c in comps]
    means = [cs[primary].summary.mean if primary in cs else math.nan for cs in cells]
    diverged = [sum(r.diverged for r in c.chosen) for c in comps]
    groups = list(dict.fromkeys(c.group for c in comps))
    best_of: dict[str, int | None] = {}
    raw_p = [math.nan] * len(comps)
    effects: list[Difference | None] = [None] * len(comps)
    for g in groups:
        idx = [i for i, c in enumerate(comps) if c.group == g]
        b = _best_index(idx, means, diverged, higher)
        best_of[g] = b
        if b is None:
            continue
        best_seeds = cells[b][primary].by_seed()
        for i in idx:
            if i == b or comps[i].lr is None:
                continue
            mine = cells[i][primary].by_seed()
            seeds = sorted(set(mine) | set(best_seeds))
            a = [mine.get(s, math.nan) for s in seeds]
            ref = [best_seeds.get(s, math.nan) for s in seeds]
            raw_p[i] = paired_p_value(a, ref)
            effects[i] = paired_difference(a, ref, bounds=metric_range(primary))
    adjusted = [math.nan] * len(comps)
    for g in groups:
        idx = [i for i, c in enumerate(comps) if c.group == g]
        for i, p in zip(idx, holm([raw_p[i] for i in idx]), strict=True):
            adjusted[i] = p
    rows = []
    for i, (c, cs) in enumerate(zip(comps, cells, strict=True)):
        b = best_of[c.group]
        is_best = i == b
        if c.lr is None:
            text = "every run diverged" if c.by_lr else "no runs"
        else:
            better = b is not None and _is_better(means[i], means[b], higher)
            text = verdict(adjusted[i], is_best=is_best, better=better, adjusted=True)
        chosen_div = sum(r.diverged for r in c.chosen)
        all_div = sum(r.diverged for rs in c.by_lr.values() for r in rs)
        rows.append(
            MainRow(
                c.label,
                c.loss,
                c.note,
                c.lr,
                cs,
                len(c.chosen),
                chosen_div,
                all_div - chosen_div,
                is_best,
                raw_p[i],
                text,
                tuple(r.run_id for r in c.chosen),
                group=c.group,
                p_holm=adjusted[i],
                effect=effects[i],
                complexity=c.complexity,
            )
        )
    first = best_of.get(groups[0]) if groups else None
    return rows, (comps[first].label if first is not None else None)


def power_notes(
    main: Sequence[MainRow], primary: str, seeds: int, test_positives: int | None = None
) -> tuple[str, ...]:
    """What the study can resolve on ``primary``: a note per group with a tie (the smallest
    paired difference its seeds would detect with 80% power), and one when the test split has
    few positives (one positive more or less moves a rate by 1/positives)."""
    notes = []
    label = metric_label(primary)
    unit = metric_range(primary) == (0.0, 1.0)
    for g in dict.fromkeys(r.group for r in main):
        rows = [r for r in main if r.group == g]
        ties = [r for r in rows if r.verdict_kind in ("same", "na")]
        if not ties:
            continue
        where = f" ({g})" if g else ""
        if seeds < 2:
            notes.append(
                f"{label}{where}: one seed cannot separate any two losses; run at least 3 seeds"
            )
            continue
        sds = [r.effect.sd for r in rows if r.effect is not None and r.effect.sd > 0]
        if not sds:
            continue
        mdd = detectable_difference(statistics.median(sds), seeds)
        shown = f"{mdd:.3f}" + (f" ({100 * mdd:.1f} points)" if unit else "")
        notes.append(
            f"{label}{where}: {len(ties) + 1} losses are tied; with {seeds} seeds and the spread "
            f"seen between them, only differences above about {shown} would be detected (80% "
            "power, 5% level): more seeds narrow this"
        )
    if test_positives is not None and test_positives < 30:
        notes.append(
            f"the test split has only {test_positives} positives: one more or one fewer moves a "
            f"rate such as recall by {1 / max(test_positives, 1):.3f}, so small differences in "
            "recall-type metrics cannot be resolved"
        )
    return tuple(notes)


def _lr_table(comps: Sequence[_Competitor], primary: str) -> LrTable | None:
    lrs = tuple(sorted({lr for c in comps for lr in c.by_lr}))
    if len(lrs) < 2:
        return None
    rows = [
        LrRow(
            c.label,
            c.loss,
            {lr: _metric_cell(rs, primary) for lr, rs in sorted(c.by_lr.items())},
            dict(sorted(c.scores.items())),
            c.lr,
        )
        for c in comps
    ]
    return LrTable(lrs, rows)


def _convergence_rows(comps: Sequence[_Competitor]) -> list[ConvergenceRow]:
    rows = []
    for c in comps:
        ok = [r for r in c.chosen if not r.diverged]
        flags = [r.final.get("overfitting", math.nan) for r in ok]
        flags = [f for f in flags if math.isfinite(f)]
        med = [r.final.get("grad_norm_median", math.nan) for r in ok]
        mx = [r.final.get("grad_norm_max", math.nan) for r in ok]
        med = [v for v in med if math.isfinite(v)]
        mx = [v for v in mx if math.isfinite(v)]
        rows.append(
            ConvergenceRow(
                c.label,
                c.loss,
                c.lr,
                _metric_cell(c.chosen, "epochs_to_converge"),
                int(sum(f > 0.5 for f in flags)),
                len(flags),
                _metric_cell(c.chosen, "generalization_gap"),
                statistics.median(med) if med else math.nan,
                max(mx) if mx else math.nan,
                tuple(r.run_id for r in c.chosen),
            )
        )
    return rows


def _rate_rows(
    kind: str, metrics: Sequence[str], comps: Sequence[_Competitor]
) -> tuple[list[RateRow] | None, str | None]:
    tpr = next((m for m in TPR_METRICS if m in metrics), None)
    if kind not in BINARY_KINDS or tpr is None:
        return None, None

    def optional(c: _Competitor, name: str) -> Cell | None:
        return _metric_cell(c.chosen, name) if name in metrics else None

    rows = [
        RateRow(
            c.label,
            c.loss,
            c.lr,
            _metric_cell(c.chosen, tpr),
            optional(c, "fpr"),
            optional(c, "precision"),
            optional(c, "balanced_accuracy"),
        )
        for c in comps
    ]
    return rows, tpr


def _model_rule(selection: str, primary: str) -> str:
    if selection == "best":
        return (
            f"test metrics of each run's best validation {metric_label(primary)} epoch "
            "(--select best)"
        )
    return "test metrics of each run's last epoch (--select final)"


def _selection_rule(
    primary: str, select_on: str, lrs: Sequence[float], has_val: bool, selection: str = "final"
) -> str:
    model = _model_rule(selection, primary)
    if len(lrs) < 2:
        return f"{model}; one learning rate ({fmt_lr(lrs[0])})" if lrs else "no runs"
    source = (
        f"the best mean validation {metric_label(primary)} of the evaluated model"
        if select_on == "val" and has_val
        else f"the best mean test {metric_label(primary)}"
    )
    return (
        f"{model}; learning rate chosen per competitor: the one with the fewest diverged "
        f"runs, then {source}"
    )


def _checkpoint_rows(comps: Sequence[_Competitor], primary: str) -> list[CheckpointRow] | None:
    """Best checkpoint vs final epoch (None when no run stored its last epoch's metrics)."""
    if not any(r.last for c in comps for r in c.chosen):
        return None
    rows = []
    for c in comps:
        rows.append(
            CheckpointRow(
                c.label,
                c.loss,
                c.lr,
                _metric_cell(c.chosen, primary),
                _cell(c.chosen, lambda r: r.last.get(primary, math.nan), metric_range(primary)),
                _cell(
                    c.chosen,
                    lambda r: r.final.get(primary, math.nan) - r.last.get(primary, math.nan),
                ),
            )
        )
    return rows


def selection_of(config: dict[str, Any]) -> str:
    """The study's model selection: its ``select`` option; before that option existed, the best
    epoch with early stopping and the last epoch without."""
    if config.get("select"):
        return str(config["select"])
    return "best" if config.get("early_stopping") is not None else "final"


def _task_report(
    name: str,
    info: dict[str, Any],
    runs: Sequence[RunRecord],
    curves: dict[int, Any],
    selection: str,
    select_on: str,
) -> TaskReport:
    primary, higher = info["primary"], bool(info["higher_is_better"])
    has_val = any(f"val_{primary}" in curves.get(r.run_id, {}) for r in runs)
    mode = select_on if has_val else "test"
    metrics = tuple(info.get("metrics") or (primary,))
    # metrics only some competitors report (e.g. an adaptive loss's learned alpha) get columns too
    extra = sorted({k for r in runs for k in r.final if k not in DIAGNOSTICS and k not in metrics})
    metrics = metrics + tuple(extra)
    comps = _competitors(info, runs, curves, selection == "best", mode)
    main, best = _main_rows(comps, metrics, primary, higher)
    rates, tpr = _rate_rows(info.get("kind", ""), metrics, comps)
    lrs = tuple(sorted({r.lr for r in runs}))
    seeds = len({r.seed for r in runs})
    return TaskReport(
        name=name,
        kind=info.get("kind", "unknown"),
        description=info.get("description", ""),
        notes=info.get("notes", ""),
        primary=primary,
        higher_is_better=higher,
        metrics=metrics,
        epochs=info.get("epochs"),
        seeds=seeds,
        lrs=lrs,
        convergence_rule=info.get("convergence_rule", "(not stored)"),
        overfit_rule=info.get("overfit_rule", "(not stored)"),
        selection_rule=_selection_rule(primary, select_on, lrs, has_val, selection),
        best=best,
        main=main,
        by_lr=_lr_table(comps, primary),
        convergence=_convergence_rows(comps),
        rates=rates,
        tpr_metric=tpr,
        curves=[
            CompetitorCurves(
                c.label,
                c.lr,
                tuple(r.run_id for r in c.chosen),
                _band(c.chosen, curves, "train_loss"),
                _band(c.chosen, curves, "val_loss"),
                _band(c.chosen, curves, f"val_{primary}"),
            )
            for c in comps
        ],
        warnings=tuple(info.get("warnings", ())),
        selection=selection,
        checkpoints=_checkpoint_rows(comps, primary) if selection == "best" else None,
        groups=tuple(dict.fromkeys(c.group for c in comps)) or ("",),
        power_notes=power_notes(main, primary, seeds, info.get("test_positives")),
    )


def build_report(store: Store, *, select_on: str = "val") -> StudyReport:
    """Every table of the study in ``store`` (see the module docstring for the rules).

    ``select_on`` is ``"val"`` (default: learning rates chosen on the validation primary metric)
    or ``"test"`` (chosen on the test primary metric, which flatters the chosen setting).
    """
    if select_on not in ("val", "test"):
        raise ValueError(f"build_report: 'select_on' must be 'val' or 'test', got {select_on!r}")
    runs = _read_runs(store)
    curves = _read_curves(store)
    config = store.meta("config", {}) or {}
    infos = store.meta("task_info", {}) or {}
    selection = selection_of(config)
    tasks = []
    for name in _task_order(store, runs):
        task_runs = [r for r in runs if r.task == name]
        if not task_runs:
            continue
        info = infos.get(name) or _fallback_info(task_runs)
        task = _task_report(name, info, task_runs, curves, selection, select_on)
        tasks.append(dataclasses.replace(task, recommendations=recommend(task)))
    skipped = [SkippedTask(k, str(v)) for k, v in (store.meta("skipped", {}) or {}).items()]
    return StudyReport(
        source=str(store.path),
        created=store.meta("created"),
        version=store.meta("losslab_version"),
        config=config,
        tasks=tasks,
        skipped=skipped,
        runs=len(runs),
        diverged=sum(r.diverged for r in runs),
    )
