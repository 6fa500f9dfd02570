"""Writing a study's report: markdown, a self-contained HTML page, SVG figures and two CSV files.

:func:`write_report` reads ONLY the store. The HTML page needs nothing but itself: CSS and SVG are
inline, there is no script and no external resource, so it opens the same from ``file://``, a mail
attachment or an air-gapped machine. Every user-supplied string (task names and descriptions,
competitor labels, loss names, file names) is escaped by jinja2's autoescaping in HTML and by
:func:`md_escape` in markdown.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ..lab.recommend import RULE, summary_dict, summary_paragraph
from ..lab.store import DIAGNOSTICS, Store
from .plots import (
    calibration_svg,
    pr_curves_svg,
    robust_curves_svg,
    task_figures,
    tradeoff_svg,
)
from .tables import (
    Cell,
    LrTable,
    MainRow,
    RateRow,
    StudyReport,
    TaskReport,
    build_report,
    digits_for,
    fmt_lr,
    metric_label,
)
from .terminal import print_summary

__all__ = [
    "write_report",
    "render_markdown",
    "render_html",
    "write_results_csv",
    "write_curves_csv",
    "md_escape",
    "print_summary",
    "HOW_TO_READ",
]

RESULTS_FIXED = ("run_id", "task", "competitor", "loss", "seed", "lr", "status")
CURVES_COLUMNS = ("run_id", "task", "competitor", "seed", "lr", "split", "epoch", "metric", "value")

HOW_TO_READ = (
    "Each cell is the mean over seeds ± the half-width of the two-sided 95% t confidence "
    "interval; with few seeds the intervals are wide. An interval that would leave its "
    "metric's range ([0, 1] for rates and scores, ≥ 0 for errors, costs and epochs) is computed "
    "on the angular (asin √p) or log scale and shown as mean (low–high): it never leaves the "
    "range.",
    "Verdicts compare each competitor with the best one of its group (fewest diverged runs, "
    "then the best mean test primary metric) by a two-sided paired t-test across seeds (runs "
    "matched by seed); the p-values of a group are adjusted together by Holm's method, "
    'family-wise α = 0.05. A "tie" means this study cannot tell them apart, not that they are '
    "equal; the power notes say how large a difference it could have seen.",
    "Δ vs best is the effect size: the mean paired difference from the group's best with its "
    "95% t interval, and Cohen's d_z (mean difference / SD of the differences).",
    "The recommendation follows a stated rule (at the top of the page): among the losses tied "
    "with the best, fewest diverged runs, then fewest epochs to converge, then fewest "
    "overfitting runs, then the simpler loss.",
    "Diverged runs (non-finite loss, gradient or weights) have no test metrics: they are "
    "counted, never averaged in.",
    "Every number comes from the store: results.csv has one row per run and curves.csv every "
    "per-epoch value; in the HTML page, hovering a cell shows the run ids it was computed from.",
)

GAP_NOTE = (
    "generalization gap = final validation loss − final training loss, in each loss's own "
    "units (not comparable across losses of different scales)"
)
GRAD_NOTE = (
    "grad-norm median = median over runs of each run's median per-epoch gradient norm; "
    "max = the largest seen in any run"
)


# -- files --------------------------------------------------------------------------------------
def write_report(store: Store, out_dir: str | Path, *, select_on: str = "val") -> dict[str, Path]:
    """Write report.md, report.html, results.csv, curves.csv and plots/*.svg into ``out_dir``.

    Returns the paths by name: ``markdown``, ``html``, ``results``, ``curves``, ``plots`` (folder)
    and ``summary`` (summary.json: the recommendations and their evidence).
    """
    out = Path(out_dir)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    report = build_report(store, select_on=select_on)
    figures = [task_figures(t) for t in report.tasks]
    _add_loss_curves(store, report.tasks, figures)
    _add_pr_curves(store, report.tasks, figures)
    _add_calibration_curves(store, report.tasks, figures)
    _add_robustness_figures(store, report.tasks, figures)
    files = _write_figures(report.tasks, figures, plots)
    paths = {
        "markdown": out / "report.md",
        "html": out / "report.html",
        "results": out / "results.csv",
        "curves": out / "curves.csv",
        "plots": plots,
    }
    advice = read_advice(out)
    paths["markdown"].write_text(render_markdown(report, files, advice), encoding="utf-8")
    paths["html"].write_text(render_html(report, figures, advice), encoding="utf-8")
    write_results_csv(store, paths["results"])
    write_curves_csv(store, paths["curves"])
    paths["summary"] = out / "summary.json"  # the recommendations and their evidence, for scripts
    paths["summary"].write_text(
        json.dumps(summary_dict(report), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return paths


def _add_loss_curves(
    store: Store, tasks: Sequence[TaskReport], figures: Sequence[dict[str, str]]
) -> None:
    """Each task's competing losses and their derivatives (``loss_curves``), where they can be drawn."""
    # the catalog (torch) is imported only when a report is written
    from .loss_curves import competitor_curves_svg

    infos = store.meta("task_info", {}) or {}
    for i, (task, figs) in enumerate(zip(tasks, figures, strict=True), start=1):
        competitors = (infos.get(task.name) or {}).get("competitors") or []
        svg = competitor_curves_svg(competitors, key=f"{i:02d}-{task.name}:loss-curves")
        if svg is not None:
            figs["loss_curves"] = svg


def _add_pr_curves(
    store: Store, tasks: Sequence[TaskReport], figures: Sequence[dict[str, str]]
) -> None:
    """Each task's test precision-recall curves (``pr_curve``), where its runs stored them."""
    infos = store.meta("task_info", {}) or {}
    points = store.test_curves("pr")
    for i, (task, figs) in enumerate(zip(tasks, figures, strict=True), start=1):
        info = infos.get(task.name) or {}
        size, positives = info.get("test_size"), info.get("test_positives")
        rate = positives / size if size and positives is not None else None
        mine = [p for p in points if p["task"] == task.name]
        svg = pr_curves_svg(task, mine, rate, key=f"{i:02d}-{task.name}:pr-curve")
        if svg is not None:
            figs["pr_curve"] = svg


def _add_calibration_curves(
    store: Store, tasks: Sequence[TaskReport], figures: Sequence[dict[str, str]]
) -> None:
    """Reliability diagrams (``reliability``) and PIT histograms (``pit``) of the tasks whose
    runs stored them (the uncertainty and calibration tasks)."""
    for curve in ("reliability", "pit"):
        points = store.test_curves(curve)
        for i, (task, figs) in enumerate(zip(tasks, figures, strict=True), start=1):
            mine = [p for p in points if p["task"] == task.name]
            svg = calibration_svg(task, mine, curve, key=f"{i:02d}-{task.name}:{curve}")
            if svg is not None:
                figs[curve] = svg


def _add_robustness_figures(
    store: Store, tasks: Sequence[TaskReport], figures: Sequence[dict[str, str]]
) -> None:
    """The adversarial task's accuracy-vs-epsilon curves (``robust_vs_eps``, where its runs
    stored them) and clean/robust accuracy trade-off (where the main table has both)."""
    points = store.test_curves("robust_vs_eps")
    for i, (task, figs) in enumerate(zip(tasks, figures, strict=True), start=1):
        mine = [p for p in points if p["task"] == task.name]
        svg = robust_curves_svg(task, mine, key=f"{i:02d}-{task.name}:robust-vs-eps")
        if svg is not None:
            figs["robust_vs_eps"] = svg
            trade = tradeoff_svg(task, key=f"{i:02d}-{task.name}:tradeoff")
            if trade is not None:
                figs["tradeoff"] = trade


#: the calibration figures: kind, title, how to read it (markdown and HTML)
CALIBRATION_FIGURES = (
    (
        "reliability",
        "Reliability diagrams (test)",
        "Accuracy against mean confidence in each of 15 equal-width confidence bins (non-empty "
        "bins only), one line per seed; on the dashed diagonal a model is calibrated, below it "
        "overconfident.",
    ),
    (
        "pit",
        "PIT histograms (test)",
        "Share of test targets in each of 10 bins of their PIT value F(y) (bars: mean over seeds, "
        "lines: each seed); a calibrated model is flat at the dashed line, a U shape means "
        "intervals too narrow, a hump too wide.",
    ),
    (
        "robust_vs_eps",
        "Accuracy under attack vs epsilon (test)",
        "Test accuracy under PGD at each L-infinity radius (eps = 0: clean accuracy), one thin "
        "line per seed and the mean over seeds (thick): a more robust loss decays more slowly.",
    ),
    (
        "tradeoff",
        "Clean vs robust accuracy (test)",
        "Each loss's mean clean accuracy against its mean robust accuracy with their 95% "
        "intervals over seeds: up and to the right is better; adversarial training usually buys "
        "robustness with some clean accuracy.",
    ),
)


def read_advice(folder: Path) -> dict[str, Any] | None:
    """``advice.json`` of a ``losslab advise`` study folder (its profile, candidates and caveats),
    or None where there is none or it cannot be read (the report is then written without it)."""
    try:
        data = json.loads((folder / "advice.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("candidates"), list):
        return None
    return data


def _advice_lines(data: dict[str, Any]) -> tuple[list[str], list[tuple[str, str, str]], list[str]]:
    """(profile lines, (label, trigger, reason) per candidate, caveats) of ``advice.json``."""
    profile = [str(x) for x in data.get("profile_lines") or []]
    candidates = [
        (str(c.get("label", "")), str(c.get("trigger", "")), str(c.get("reason", "")))
        for c in data["candidates"]
        if isinstance(c, dict)
    ]
    return profile, candidates, [str(x) for x in data.get("caveats") or []]


def _md_advice(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return []
    profile, candidates, caveats = _advice_lines(data)
    lines = ["## Your data and the candidates (`losslab advise`)", ""]
    lines += [f"- {md_escape(p)}" for p in profile] + [""]
    lines += _md_table(
        ["candidate", "proposed for", "why"],
        [[md_escape(a), md_escape(b), md_escape(c)] for a, b, c in candidates],
        set(),
    )
    lines += [f"- caveat: {md_escape(c)}" for c in caveats]
    return lines + [""]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "task"


def _write_figures(
    tasks: Sequence[TaskReport], figures: Sequence[dict[str, str]], folder: Path
) -> list[dict[str, str]]:
    """Write each SVG; returns, per task, figure name -> path relative to the report."""
    out = []
    for i, (task, figs) in enumerate(zip(tasks, figures, strict=True), start=1):
        rel = {}
        for kind, svg in figs.items():
            name = f"{i:02d}-{_slug(task.name)}-{kind}.svg"
            (folder / name).write_text(svg, encoding="utf-8")
            rel[kind] = f"{folder.name}/{name}"
        out.append(rel)
    return out


def _metric_columns(store: Store, finals: Sequence[dict]) -> list[str]:
    names: list[str] = []
    for info in (store.meta("task_info", {}) or {}).values():
        names += [m for m in info.get("metrics", []) if m not in names]
    names += [r["name"] for r in finals if r["split"] == "test" and r["name"] not in names]
    names = list(dict.fromkeys(names))
    present = {r["name"] for r in finals}
    diag = [d for d in DIAGNOSTICS if d in present]
    diag += sorted({r["name"] for r in finals if r["split"] == "diag"} - set(diag))
    return [n for n in names if n in present] + diag


def write_results_csv(store: Store, path: str | Path) -> Path:
    """One row per run: its identity and status, then each test metric and diagnostic."""
    finals = store.final_metrics()
    columns = _metric_columns(store, finals)
    values: dict[int, dict[str, object]] = {}
    for r in finals:
        values.setdefault(r["run_id"], {})[r["name"]] = r["value"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*RESULTS_FIXED, *columns])
        for run in store.runs():
            v = values.get(run["run_id"], {})
            w.writerow([*(run[k] for k in RESULTS_FIXED), *(_csv_value(v.get(c)) for c in columns)])
    return Path(path)


def write_curves_csv(store: Store, path: str | Path) -> Path:
    """Every per-epoch value in long format (one row per run, split, epoch and metric)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CURVES_COLUMNS)
        for r in store.curves():
            w.writerow(
                [
                    r["run_id"],
                    r["task"],
                    r["competitor"],
                    r["seed"],
                    r["lr"],
                    r["split"],
                    r["epoch"],
                    r["name"],
                    _csv_value(r["value"]),
                ]
            )
    return Path(path)


def _csv_value(v: object) -> object:
    return "" if v is None else v


# -- shared by markdown and HTML ----------------------------------------------------------------
@dataclass(frozen=True)
class _Digits:
    """Decimals per column, so that the numbers of a column line up."""

    main: dict[str, int]
    lr: int
    gap: int


def _lr_digits(table: LrTable | None) -> int:
    return digits_for(c for r in table.rows for c in r.cells.values()) if table else 3


def _digits(t: TaskReport) -> _Digits:
    return _Digits(
        {m: digits_for(r.cells.get(m) for r in t.main) for m in t.metrics},
        _lr_digits(t.by_lr),
        digits_for(r.gap for r in t.convergence),
    )


# -- markdown -----------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")


def md_escape(text: object) -> str:
    """User text safe inside a markdown table cell: punctuation escaped, no raw HTML, one line."""
    s = _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]], right: set[int]) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines + [""]


def _md_cell(cell: Cell | None, digits: int, *, bold: bool = False, mark: bool = False) -> str:
    text = "–" if cell is None else cell.text(digits, mark_diverged=mark)
    return f"**{text}**" if bold and cell is not None and cell.summary.n else text


def effect_text(row: MainRow, digits: int) -> str:
    """Δ vs best of a row: the mean paired difference, its 95% CI and Cohen's d_z."""
    e = row.effect
    if row.is_best:
        return "–"
    if e is None or e.n == 0:
        return "n/a"
    text = e.text(digits)
    if math.isfinite(e.d_z):
        text += f", d_z {e.d_z:+.1f}"
    return text


def _md_main(t: TaskReport) -> list[str]:
    swept = len(t.lrs) > 1
    digits = _digits(t).main
    others = [m for m in t.metrics if m != t.primary]
    recommended = {r.recommended for r in t.recommendations}
    header = [
        "loss",
        "function",
        *(["group"] if len(t.groups) > 1 else []),
        *(["lr"] if swept else []),
        md_escape(t.primary_label),
        "Δ vs best (95% CI)",
        "verdict",
        *(md_escape(metric_label(m)) for m in others),
        "runs",
        "diverged",
    ]
    rows = []
    for r in t.main:
        label = md_escape(r.label)
        label = f"★ **{label}**" if r.label in recommended else label
        rows.append(
            [
                label,
                _md_code(r.loss),
                *([md_escape(r.group)] if len(t.groups) > 1 else []),
                *([fmt_lr(r.lr)] if swept else []),
                _md_cell(r.cells.get(t.primary), digits.get(t.primary, 3), bold=r.is_best),
                effect_text(r, digits.get(t.primary, 3)),
                r.verdict,
                *(_md_cell(r.cells.get(m), digits[m]) for m in others),
                str(r.runs),
                _diverged_text(r.diverged, r.diverged_other_lrs),
            ]
        )
    first = 3 if len(t.groups) > 1 else 2
    right = set(range(first, first + (2 if swept else 1) + 1))
    right |= set(range(first + (2 if swept else 1) + 2, len(header)))
    return _md_table(header, rows, right)


def _md_summary(report: StudyReport) -> list[str]:
    if not report.tasks:
        return []
    rows = [
        [
            md_escape(f"{t.name} / {r.group}" if r.group else t.name),
            f"**{md_escape(r.recommended or 'none')}**",
            md_escape("; ".join(x for x in r.top_group if x != r.recommended) or "none"),
            md_escape(" ".join([r.reason, *(f"Trade-off: {x}." for x in r.tradeoffs)])),
        ]
        for t in report.tasks
        for r in t.recommendations
    ]
    return [
        "## Which loss to use",
        "",
        md_escape(summary_paragraph(report)),
        "",
        *_md_table(["task", "recommended", "tied with it", "why"], rows, set()),
        f"Rule: {md_escape(RULE)}",
        "",
    ]


def _md_code(text: str) -> str:
    return (
        f"`{text}`" if "`" not in text and "\n" not in text and "|" not in text else md_escape(text)
    )


def _diverged_text(here: int, elsewhere: int) -> str:
    return f"{here} (+{elsewhere} at other lrs)" if elsewhere else str(here)


def _md_lr(table: LrTable) -> list[str]:
    digits = _lr_digits(table)
    header = ["loss", *(f"lr {fmt_lr(lr)}" for lr in table.lrs)]
    rows = [
        [
            md_escape(r.label),
            *(
                _md_cell(r.cells.get(lr), digits, bold=lr == r.chosen, mark=True)
                for lr in table.lrs
            ),
        ]
        for r in table.rows
    ]
    return _md_table(header, rows, set(range(1, len(header))))


def _md_convergence(t: TaskReport) -> list[str]:
    header = [
        "loss",
        "lr",
        "epochs to converge",
        "overfitting",
        "generalization gap",
        "grad-norm median",
        "grad-norm max",
    ]
    gd = _digits(t).gap
    rows = [
        [
            md_escape(r.label),
            fmt_lr(r.lr),
            r.epochs.text(1),
            r.overfit_text,
            r.gap.text(gd),
            _num(r.grad_norm_median),
            _num(r.grad_norm_max),
        ]
        for r in t.convergence
    ]
    return _md_table(header, rows, {1, 2, 3, 4, 5, 6})


def _md_checkpoints(t: TaskReport) -> list[str]:
    digits = _digits(t).main.get(t.primary, 3)
    header = ["loss", "lr", "best checkpoint (reported)", "final epoch", "best − final"]
    rows = [
        [
            md_escape(r.label),
            fmt_lr(r.lr),
            r.best.text(digits),
            r.final.text(digits),
            r.difference.text(digits),
        ]
        for r in t.checkpoints or ()
    ]
    return _md_table(header, rows, {1, 2, 3, 4})


CHECKPOINT_NOTE = (
    "best checkpoint = the model of each run's best validation epoch (what the "
    "tables above report); final epoch = the same run's model after its last epoch; "
    "best − final is paired by run"
)


def _pval(p: float) -> str:
    return "n/a" if p != p else "< 0.001" if p < 0.001 else f"{p:.2g}"


def _num(x: float) -> str:
    return "n/a" if x != x else f"{x:.3g}"


def _md_rates(rates: Sequence[RateRow], tpr_metric: str) -> list[str]:
    optional = [
        (name, label)
        for name, label in (
            ("fpr", "FPR"),
            ("precision", "precision"),
            ("balanced_accuracy", "balanced accuracy"),
        )
        if any(getattr(r, name) is not None for r in rates)
    ]
    header = ["loss", md_escape(metric_label(tpr_metric)), *(label for _, label in optional)]
    rows = [
        [
            md_escape(r.label),
            r.tpr.text(3),
            *(_md_cell(getattr(r, name), 3) for name, _ in optional),
        ]
        for r in rates
    ]
    return _md_table(header, rows, set(range(1, len(header))))


def _md_task(t: TaskReport, figs: dict[str, str]) -> list[str]:
    lines = [f"## {md_escape(t.name)} ({md_escape(t.kind)})", "", md_escape(t.description), ""]
    lines += [line for w in t.warnings for line in (f"> **Warning:** {md_escape(w)}", "")]
    if t.notes:
        lines += [md_escape(t.notes), ""]
    lines += [
        f"- primary metric: {md_escape(t.primary_label)} ({t.direction}); "
        f"{t.seeds} seeds; {t.epochs if t.epochs is not None else '?'} epochs",
        f"- {md_escape(t.selection_rule)}",
        "",
    ]
    lines += ["### Loss × metrics (test set)", "", *_md_main(t)]
    lines += [line for n in t.power_notes for line in (f"> **Power:** {md_escape(n)}", "")]
    lines += [f"![test {md_escape(t.primary_label)} per loss]({figs['metric']})", ""]
    if t.checkpoints is not None:
        lines += [
            f"### Best checkpoint vs final epoch (test {md_escape(t.primary_label)})",
            "",
            *_md_checkpoints(t),
            f"- {CHECKPOINT_NOTE}",
            "",
        ]
    if t.by_lr is not None:
        lines += [
            f"### Loss × learning rate (test {md_escape(t.primary_label)})",
            "",
            "Bold: the learning rate used in the other tables.",
            "",
            *_md_lr(t.by_lr),
        ]
        lines += [f"![test {md_escape(t.primary_label)} per learning rate]({figs['lr']})", ""]
    lines += ["### Convergence and overfitting", "", *_md_convergence(t)]
    lines += [
        f"- {md_escape(s)}" for s in (t.convergence_rule, t.overfit_rule, GAP_NOTE, GRAD_NOTE)
    ]
    lines += [""]
    if t.rates is not None:
        lines += [
            "### Rates at the decision threshold (test set)",
            "",
            *_md_rates(t.rates, t.tpr_metric or "recall"),
        ]
    lines += [
        "### Training curves",
        "",
        "Mean over seeds; the band spans the seeds' minimum to maximum.",
        "",
        f"![training and validation loss]({figs['curves']})",
        "",
        f"![validation {md_escape(t.primary_label)}]({figs['val_metric']})",
        "",
    ]
    if "pr_curve" in figs:
        lines += [
            "### Precision-recall curves (test)",
            "",
            "One thin line per seed, the thick line is their mean; dashed: chance (positive rate).",
            "",
            f"![test precision-recall curves]({figs['pr_curve']})",
            "",
        ]
    for kind, title, text in CALIBRATION_FIGURES:
        if kind in figs:
            lines += [f"### {title}", "", text, "", f"![{title.lower()}]({figs[kind]})", ""]
    if "loss_curves" in figs:
        lines += [
            "### The competing losses",
            "",
            f"![each loss and its derivative]({figs['loss_curves']})",
            "",
        ]
    return lines


def _study_line(report: StudyReport) -> str:
    cfg = report.config
    parts = [f"store {md_escape(Path(report.source).name)}"]
    if report.created:
        parts.append(f"created {md_escape(report.created)}")
    if report.version:
        parts.append(f"losslab {md_escape(report.version)}")
    parts.append(f"{report.runs} runs ({report.diverged} diverged)")
    if cfg:
        parts.append(f"optimizer {md_escape(cfg.get('optimizer', '?'))}")
        parts.append("learning rates " + ", ".join(fmt_lr(float(x)) for x in cfg.get("lrs", [])))
    return " · ".join(parts)


def render_markdown(
    report: StudyReport,
    figures: Sequence[dict[str, str]],
    advice: dict[str, Any] | None = None,
) -> str:
    """The report as markdown; ``figures`` gives, per task, figure name -> relative image path;
    ``advice``: the study's ``advice.json`` (:func:`read_advice`), shown after the summary."""
    lines = ["# losslab study report", "", _study_line(report), "", *_md_summary(report)]
    lines += _md_advice(advice)
    lines += ["How to read:", ""]
    lines += [f"- {s}" for s in HOW_TO_READ] + [""]
    for t, figs in zip(report.tasks, figures, strict=True):
        lines += _md_task(t, figs)
    from .noisy_labels import noise_markdown, noise_table  # the noisy-labels tasks' table

    noise = noise_table(report)
    if noise is not None:
        lines += [
            "## Clean-test accuracy by label noise",
            "",
            "Mean ± 95% CI over seeds, each loss at its chosen learning rate; the figure is in "
            "report.html.",
            "",
            noise_markdown(noise),
        ]
    if report.skipped:
        lines += [
            "## Skipped tasks",
            "",
            *_md_table(
                ["task", "reason"],
                [[md_escape(s.name), md_escape(s.reason)] for s in report.skipped],
                set(),
            ),
        ]
    return "\n".join(lines).rstrip() + "\n"


# -- HTML ---------------------------------------------------------------------------------------
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("losslab.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        fmt_lr=fmt_lr,
        metric_label=metric_label,
        diverged_text=_diverged_text,
        num=_num,
        how_to_read=HOW_TO_READ,
        gap_note=GAP_NOTE,
        grad_note=GRAD_NOTE,
        checkpoint_note=CHECKPOINT_NOTE,
        effect_text=effect_text,
        pval=_pval,
        rule=RULE,
    )
    return env


def render_html(
    report: StudyReport,
    figures: Sequence[dict[str, str]],
    advice: dict[str, Any] | None = None,
) -> str:
    """The self-contained HTML page; ``figures`` gives, per task, figure name -> SVG text;
    ``advice``: the study's ``advice.json`` (:func:`read_advice`), shown after the summary."""
    trusted = [{k: Markup(v) for k, v in figs.items()} for figs in figures]  # matplotlib output
    template = _environment().get_template("report.html.j2")
    tasks = [(t, figs, _digits(t)) for t, figs in zip(report.tasks, trusted, strict=True)]
    from .noisy_labels import noise_svg, noise_table  # the noisy-labels tasks' loss x noise table

    noise = noise_table(report)
    return template.render(
        report=report,
        tasks=tasks,
        source_name=Path(report.source).name,
        calibration_figures=CALIBRATION_FIGURES,
        summary_text=summary_paragraph(report),
        noise=noise,
        noise_svg=Markup(noise_svg(noise)) if noise is not None else None,  # matplotlib output
        advice=_advice_lines(advice) if advice is not None else None,
    )
