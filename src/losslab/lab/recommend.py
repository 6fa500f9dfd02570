"""Which loss to use: the recommendation rule, applied to a study's tables.

The rule (:data:`RULE`, printed with every recommendation):

1. **Top group.** Within each competitor group of a task, the best loss (fewest diverged runs,
   then the best mean test primary metric) and every loss *not distinguishable* from it: a
   paired t-test over seeds, p-values adjusted by Holm's method across the group's comparisons,
   5% level. Ties are called ties.
2. **Recommendation.** Within the top group, in this order: (a) fewest diverged runs (every
   learning rate tried); (b) fewest epochs to converge (means compared in whole epochs);
   (c) fewest runs flagged as overfitting (the generalization gap is measured in each loss's own
   units, so it cannot rank different losses: the flag, defined on the validation metric, can);
   (d) the simpler loss: a torch loss at its defaults, then fewer hyperparameters set;
   (e) the better mean primary metric.
3. **Trade-offs.** Every other member of the top group that is better than the recommendation on
   another of the task's metrics (paired t-test over seeds, 5%, not adjusted: a pointer, not a
   claim) is named with what it gains and what it costs, in points for rates.

:func:`recommend` applies the rule to one task's report; :func:`summary_paragraph` and
:func:`summary_dict` summarise a study (``--json``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .metrics import METRIC_LABELS
from .stats import (
    ALPHA,
    has_direction,
    higher_is_better,
    metric_range,
    paired_difference,
    paired_p_value,
)

if TYPE_CHECKING:  # the report package imports this module
    from ..report.tables import MainRow, StudyReport, TaskReport

__all__ = ["RULE", "Recommendation", "recommend", "summary_dict", "summary_paragraph"]

RULE = (
    "Top group: the best loss of each group and every loss not distinguishable from it (paired "
    "t-test over seeds, Holm-adjusted, 5%). Within it, the recommendation has (a) the fewest "
    "diverged runs, then (b) the fewest epochs to converge (whole epochs), then (c) the fewest "
    "runs flagged as overfitting, then (d) the simpler loss (a torch loss at its defaults, then "
    "fewer hyperparameters set), then (e) the better mean primary metric. A tied loss that is "
    "better on another metric (paired t-test, 5%, unadjusted) is named as a trade-off."
)

_CRITERIA = (
    "fewer diverged runs",
    "fewer epochs to converge",
    "fewer runs flagged as overfitting",
    "the simpler loss",
    "the better mean",
)


@dataclass(frozen=True)
class Recommendation:
    """The rule's answer for one competitor group of one task."""

    task: str
    group: str
    primary: str
    #: the recommended competitor (None when no competitor finished a run)
    recommended: str | None
    #: the competitors tied with the best, the best first
    top_group: tuple[str, ...]
    #: one line: why this one
    reason: str
    #: "A vs B: gains +3.4 points recall; costs -2.1 points precision" for tied losses better
    #: elsewhere (paired over seeds, 5%, unadjusted)
    tradeoffs: tuple[str, ...] = ()
    #: False when the seeds could not test any difference (fewer than 2 paired seeds)
    resolved: bool = True

    @property
    def tied(self) -> bool:
        return len(self.top_group) > 1


def _fmt_delta(name: str, d: float) -> str:
    label = METRIC_LABELS.get(name, name)
    if metric_range(name) == (0.0, 1.0):
        return f"{100 * d:+.1f} points {label}"
    return f"{d:+.3g} {label}"


def _tradeoff(row: MainRow, rec: MainRow, metrics: Sequence[str], primary: str) -> str | None:
    gains, costs = [], []
    for m in metrics:
        if m == primary or m not in row.cells or m not in rec.cells or not has_direction(m):
            continue
        mine, ref = row.cells[m].by_seed(), rec.cells[m].by_seed()
        seeds = sorted(set(mine) & set(ref))
        a, b = [mine[s] for s in seeds], [ref[s] for s in seeds]
        p = paired_p_value(a, b)
        if math.isnan(p) or p >= ALPHA:
            continue
        d = paired_difference(a, b).mean
        good = d > 0 if higher_is_better(m) else d < 0
        (gains if good else costs).append(_fmt_delta(m, d))
    if not gains:
        return None
    text = f"{row.label} vs {rec.label}: gains " + ", ".join(gains)
    return text + ("; costs " + ", ".join(costs) if costs else "")


def _key(task: TaskReport, row: MainRow) -> tuple[float, ...]:
    conv = next((c for c in task.convergence if c.label == row.label), None)
    epochs = conv.epochs.summary.mean if conv is not None else math.nan
    overfit = conv.overfit if conv is not None else 0
    mean = row.cells[task.primary].summary.mean if task.primary in row.cells else math.nan
    return (
        float(row.diverged + row.diverged_other_lrs),
        float(round(epochs)) if math.isfinite(epochs) else math.inf,
        float(overfit),
        float(row.complexity),
        (-mean if task.higher_is_better else mean) if math.isfinite(mean) else math.inf,
    )


def _why(task: TaskReport, rec: MainRow, others: Sequence[MainRow]) -> str:
    """Which criterion put ``rec`` ahead of each other member of the top group, with values."""
    conv = {c.label: c for c in task.convergence}
    by_crit: dict[int, list[MainRow]] = {}
    ka = _key(task, rec)
    for o in others:
        kb = _key(task, o)
        crit = next((i for i, (x, y) in enumerate(zip(ka, kb, strict=True)) if x != y), 4)
        by_crit.setdefault(crit, []).append(o)
    parts = []
    for crit in sorted(by_crit):
        rows = by_crit[crit]
        if crit == 0:
            vals = ", ".join(f"{o.diverged + o.diverged_other_lrs} for {o.label}" for o in rows)
            parts.append(f"{_CRITERIA[0]} ({rec.diverged + rec.diverged_other_lrs} vs {vals})")
        elif crit == 1:
            mine = conv[rec.label].epochs.summary.mean
            vals = ", ".join(f"{conv[o.label].epochs.summary.mean:.0f} for {o.label}" for o in rows)
            parts.append(f"{_CRITERIA[1]} ({mine:.0f} vs {vals})")
        elif crit == 2:
            vals = ", ".join(f"{conv[o.label].overfit_text} for {o.label}" for o in rows)
            parts.append(f"{_CRITERIA[2]} ({conv[rec.label].overfit_text} vs {vals})")
        elif crit == 3:
            parts.append(f"{_CRITERIA[3]} (than {', '.join(o.label for o in rows)})")
        else:
            parts.append(
                f"{_CRITERIA[4]} {task.primary_label} (than {', '.join(o.label for o in rows)})"
            )
    return "; ".join(parts)


def _recommend_group(task: TaskReport, group: str) -> Recommendation:
    rows = [r for r in task.main if r.group == group]
    best = next((r for r in rows if r.is_best), None)
    if best is None:
        return Recommendation(
            task.name, group, task.primary, None, (), "no competitor finished a run"
        )
    ties = [r for r in rows if r.verdict_kind == "same"]
    untested = [r for r in rows if not r.is_best and r.verdict_kind == "na" and r.lr is not None]
    resolved = (
        not untested or bool(ties) or any(r.verdict_kind in ("worse", "better") for r in rows)
    )
    members = [best, *ties]
    if untested and not resolved:
        members += untested
    ranked = sorted(members, key=lambda r: _key(task, r))
    rec = ranked[0]
    label = task.primary_label
    if not resolved:
        reason = (
            f"too few seeds to test any difference: every loss counts as tied, {rec.label} is "
            "only ahead by the rule's secondary criteria; run at least 3 seeds"
        )
    elif len(members) == 1:
        others = len(rows) - 1
        reason = (
            f"best {label}"
            + (f"; the other {others} are worse" if others else "")
            + " (paired t-test, Holm-adjusted, 5%)"
        )
    else:
        n = len(members) - 1
        tie = f"tied on {label} with {n} other{'s' if n > 1 else ''}"
        if rec is not best:
            mean = rec.cells[task.primary].summary.mean
            top = best.cells[task.primary].summary.mean
            tie += f" (best mean {best.label} {top:.3f}, this {mean:.3f})"
        reason = f"{tie}; chosen for {_why(task, rec, ranked[1:])}"
    tradeoffs = tuple(
        t
        for r in members
        if r is not rec
        for t in [_tradeoff(r, rec, task.metrics, task.primary)]
        if t is not None
    )
    return Recommendation(
        task.name,
        group,
        task.primary,
        rec.label,
        tuple(r.label for r in members),
        reason,
        tradeoffs,
        resolved,
    )


def recommend(task: TaskReport) -> tuple[Recommendation, ...]:
    """The rule's recommendation for each competitor group of ``task`` (see the module doc)."""
    return tuple(_recommend_group(task, g) for g in task.groups)


_BASELINES = (
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "mse_loss",
)


def summary_paragraph(report: StudyReport, *, picks: bool = True) -> str:
    """One paragraph across the study's tasks: what was recommended (``picks``), how often ties
    decided it, and how often the standard loss was in the top group."""
    recs = [r for t in report.tasks for r in t.recommendations if r.recommended is not None]
    if not recs:
        return "No task has a finished run yet, so nothing can be recommended."
    tied = [r for r in recs if r.tied]
    unresolved = [r for r in recs if not r.resolved]
    parts = []
    if picks:
        listed = "; ".join(
            f"{r.task}{f' / {r.group}' if r.group else ''}: {r.recommended}" for r in recs
        )
        parts.append(f"Recommended: {listed}.")
    if tied:
        parts.append(
            f"In {len(tied)} of {len(recs)} comparisons the top losses were statistically tied, so the "
            "rule's secondary criteria decided: treat those picks as reasonable defaults, not "
            "as winners."
        )
    else:
        parts.append("No recommendation rests on a tie.")
    with_baseline = 0
    baseline_tasks = 0
    for t in report.tasks:
        for r in t.recommendations:
            rows = [m for m in t.main if m.group == r.group]
            base = [m.label for m in rows if m.loss in _BASELINES and m.complexity == 0]
            if base and r.recommended is not None:
                baseline_tasks += 1
                with_baseline += any(b in r.top_group for b in base)
    if baseline_tasks:
        parts.append(
            f"The standard loss at its defaults was in the top group in {with_baseline} of "
            f"{baseline_tasks} comparisons where it ran."
        )
    if unresolved:
        parts.append(
            f"{len(unresolved)} could not be tested (too few seeds): run at least 3 seeds."
        )
    notes = sum(len(t.power_notes) for t in report.tasks)
    if notes:
        says = "power notes below say" if notes > 1 else "power note below says"
        parts.append(f"{notes} {says} what the study cannot resolve.")
    return " ".join(parts)


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def summary_dict(report: StudyReport) -> dict[str, Any]:
    """The study's recommendations and evidence as plain JSON-ready data (``--json FILE``)."""
    tasks = []
    for t in report.tasks:
        for r in t.recommendations:
            rows = []
            for m in t.main:
                if m.group != r.group:
                    continue
                c = m.cells.get(t.primary)
                s = c.summary if c is not None else None
                rows.append(
                    {
                        "label": m.label,
                        "loss": m.loss,
                        "lr": m.lr,
                        "mean": _num(s.mean) if s else None,
                        "low": _num(s.low) if s else None,
                        "high": _num(s.high) if s else None,
                        "runs": m.runs,
                        "diverged": m.diverged,
                        "verdict": m.verdict_kind,
                        "p": _num(m.p_value),
                        "p_holm": _num(m.p_holm),
                        "difference": None
                        if m.effect is None
                        else {
                            "mean": _num(m.effect.mean),
                            "low": _num(m.effect.low),
                            "high": _num(m.effect.high),
                            "d_z": _num(m.effect.d_z),
                        },
                    }
                )
            tasks.append(
                {
                    "task": r.task,
                    "group": r.group,
                    "primary": r.primary,
                    "higher_is_better": t.higher_is_better,
                    "seeds": t.seeds,
                    "recommended": r.recommended,
                    "top_group": list(r.top_group),
                    "tied": r.tied,
                    "resolved": r.resolved,
                    "reason": r.reason,
                    "tradeoffs": list(r.tradeoffs),
                    "power_notes": list(t.power_notes),
                    "competitors": rows,
                }
            )
    return {
        "study": report.source,
        "rule": RULE,
        "summary": summary_paragraph(report),
        "tasks": tasks,
        "skipped": {s.name: s.reason for s in report.skipped},
    }
