"""Figures of a task report as inline SVG text (matplotlib, Agg backend, deterministic).

Figures are plain :class:`~matplotlib.figure.Figure` objects, never pyplot: no window, no display,
no global backend switch and no figure left open in a caller's session. Every function takes a :class:`~losslab.report.tables.TaskReport` and returns ``<svg ...>...</svg>``
without the XML header, ready to be inlined in HTML or written to a ``.svg`` file. Output is
byte-for-byte reproducible: fixed ``svg.hashsalt``, no date or creator metadata, text kept as
SVG text (small files, selectable; the viewer's sans-serif draws it, no font is embedded or
fetched), and every ``id`` prefixed so that several figures can
share one HTML document. ``$`` in labels is escaped, so user text is never read as mathtext.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..lab.metrics import METRIC_LABELS
from .tables import Band, Cell, TaskReport, fmt_lr

__all__ = [
    "curves_svg",
    "metric_svg",
    "val_metric_svg",
    "lr_svg",
    "pr_curves_svg",
    "calibration_svg",
    "task_figures",
    "PALETTE",
]

#: Okabe–Ito colours (distinguishable with the common colour-vision deficiencies)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
TRAIN, VAL = "#0072B2", "#D55E00"

_STYLE = {
    "svg.fonttype": "none",  # text stays text: small files; the browser's sans-serif draws it
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e5e5",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "figure.dpi": 72,
}


def _text(s: str) -> str:
    """User text for matplotlib: '$' escaped so it is never parsed as mathtext."""
    return s.replace("$", r"\$")


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _slug(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-") or "fig"


def _prefix_ids(svg: str, prefix: str) -> str:
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', svg)
    return re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)


def _to_svg(fig: Figure, key: str) -> str:
    """Render ``fig``; ``key`` (e.g. "task:curves") makes the ids unique and stable."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"losslab:{key}"}):
        fig.savefig(
            buf,
            format="svg",
            bbox_inches="tight",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    return _prefix_ids(text, f"{_slug(key)}-").strip() + "\n"


def _draw_band(
    ax: Axes, band: Band, colour: str, style: str, label: str, alpha: float = 0.18
) -> None:
    if band.empty:
        return
    ax.fill_between(band.epochs, band.low, band.high, color=colour, alpha=alpha, linewidth=0)
    ax.plot(band.epochs, band.mean, color=colour, linestyle=style, linewidth=1.6, label=label)


def _grid(n: int) -> tuple[int, int]:
    """Rows and columns for n panels: at most 3 columns, 2 x 2 for four."""
    cols = 2 if n == 4 else max(1, min(3, n))
    return math.ceil(n / cols), cols


def curves_svg(task: TaskReport) -> str:
    """Training (solid) and validation (dashed) loss per epoch: one panel per competitor.

    The line is the mean over seeds, the band spans the seeds' minimum to maximum. Each panel has
    its own y-axis: losses of different competitors are on different scales.
    """
    curves = task.curves or []
    rows, cols = _grid(max(len(curves), 1))
    with matplotlib.rc_context(_STYLE):
        width = 3.3 if cols == 3 else 4.2
        fig = Figure(figsize=(width * cols, 2.5 * rows))
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax in axes.flat[len(curves) :]:
            ax.set_visible(False)
        for ax, c in zip(axes.flat, curves, strict=False):
            _draw_band(ax, c.train_loss, TRAIN, "-", "train loss")
            _draw_band(ax, c.val_loss, VAL, "--", "validation loss")
            ax.set_title(_text(f"{c.label}  (lr {fmt_lr(c.lr)})"), loc="left", fontweight="bold")
            ax.set_xlabel("epoch")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="lower center", ncol=2, bbox_to_anchor=(0.5, 1.0))
        fig.tight_layout()
        return _to_svg(fig, f"{task.name}:curves")


def val_metric_svg(task: TaskReport) -> str:
    """Validation primary metric per epoch, all competitors on one axis (mean, min–max band)."""
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.6, 3.2))
        ax = fig.subplots()
        for i, c in enumerate(task.curves):
            _draw_band(ax, c.val_metric, _colour(i), "-", c.label, alpha=0.08)
        ax.set_xlabel("epoch")
        ax.set_ylabel(_text(f"validation {task.primary_label}"))
        _legend_right(ax)
        fig.tight_layout()
        return _to_svg(fig, f"{task.name}:val-metric")


def _legend_right(ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, [_text(s) for s in labels], loc="upper left", bbox_to_anchor=(1.01, 1.0))


def metric_svg(task: TaskReport) -> str:
    """Test primary metric per competitor: each seed (dots), mean and 95% CI (bar with whiskers)."""
    rows = task.main
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(6.4, 0.45 * len(rows) + 0.9))
        ax = fig.subplots()
        for y, row in enumerate(rows):
            _draw_interval(ax, y, row.cells.get(task.primary), row.is_best)
        ax.set_yticks(range(len(rows)), [_text(r.label) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlabel(_text(f"test {task.primary_label} ({task.direction})"))
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
        return _to_svg(fig, f"{task.name}:metric")


def _draw_interval(ax: Axes, y: int, cell: Cell | None, best: bool) -> None:
    if cell is None or cell.summary.n == 0:
        return
    colour = VAL if best else TRAIN
    s = cell.summary
    ax.scatter(cell.values, [y] * len(cell.values), s=12, color="#999999", zorder=2)
    if s.n > 1 and math.isfinite(s.half_width):
        ax.errorbar(
            [s.mean],
            [y],
            xerr=[[s.mean - s.low], [s.high - s.mean]],  # intervals may be asymmetric
            fmt="none",
            ecolor=colour,
            elinewidth=1.4,
            capsize=4,
            zorder=3,
        )
    ax.plot([s.mean], [y], marker="D", markersize=6, color=colour, zorder=4)


def lr_svg(task: TaskReport) -> str | None:
    """Test primary metric against learning rate (mean and 95% CI), or None for a single lr."""
    if task.by_lr is None:
        return None
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(6.4, 3.0))
        ax = fig.subplots()
        rows = task.by_lr.rows
        for i, row in enumerate(rows):
            dodge = 10 ** (0.012 * (i - (len(rows) - 1) / 2))  # side by side, not on top
            _draw_lr_line(ax, task.by_lr.lrs, row.cells, _colour(i), row.label, dodge)
        ax.set_xscale("log")
        ax.set_xticks(task.by_lr.lrs, [fmt_lr(lr) for lr in task.by_lr.lrs])
        ax.minorticks_off()
        ax.set_xlabel("learning rate")
        ax.set_ylabel(_text(f"test {task.primary_label}"))
        _legend_right(ax)
        fig.tight_layout()
        return _to_svg(fig, f"{task.name}:lr")


def _draw_lr_line(
    ax: Axes, lrs: Sequence[float], cells: dict[float, Cell], colour: str, label: str, dodge: float
) -> None:
    xs = [lr for lr in lrs if lr in cells and cells[lr].summary.n > 0]
    means = [cells[lr].summary.mean for lr in xs]
    below, above = [], []  # intervals may be asymmetric (they stay in the metric's range)
    for lr in xs:
        s = cells[lr].summary
        ok = s.n > 1 and math.isfinite(s.half_width)
        below.append(s.mean - s.low if ok else 0.0)
        above.append(s.high - s.mean if ok else 0.0)
    errs = [below, above]
    if xs:
        ax.errorbar(
            [x * dodge for x in xs],
            means,
            yerr=errs,
            color=colour,
            marker="o",
            markersize=4,
            capsize=3,
            linewidth=1.4,
            label=label,
        )
    gone = [lr for lr in lrs if lr in cells and cells[lr].summary.n == 0 and cells[lr].diverged]
    for lr in gone:  # every run diverged at this lr: mark it on the axis
        ax.plot(
            [lr],
            [0],
            transform=ax.get_xaxis_transform(),
            marker="x",
            color=colour,
            markersize=7,
            clip_on=False,
        )


def pr_curves_svg(
    task: TaskReport,
    points: Sequence[Mapping[str, Any]],
    positive_rate: float | None = None,
    *,
    key: str | None = None,
) -> str | None:
    """Test precision-recall curves of each competitor, or None when no run stored one.

    ``points`` are rows of :meth:`losslab.lab.store.Store.test_curves` (``x`` = recall, ``y`` =
    precision, ``idx`` = point index); only the runs of the task's main table are drawn (each
    competitor's chosen learning rate, diverged runs excluded). Thin light lines: one per seed;
    thick line: the mean over seeds at each recall level (the stored curves share their recall
    levels). ``positive_rate`` (the test split's share of positives) is drawn as the dashed
    chance level: the precision of a detector that ranks at random.
    """
    by_run: dict[int, list[tuple[int, float, float]]] = {}
    for p in points:
        if p.get("curve", "pr") == "pr" and p["x"] is not None and p["y"] is not None:
            by_run.setdefault(int(p["run_id"]), []).append((int(p["idx"]), p["x"], p["y"]))
    rows = [(r, [sorted(by_run[i]) for i in r.run_ids if i in by_run]) for r in task.main]
    rows = [(r, runs) for r, runs in rows if runs]
    if not rows:
        return None
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.6, 3.6))
        ax = fig.subplots()
        for i, (row, runs) in enumerate(rows):
            colour = _colour(i)
            for run in runs:
                ax.plot(
                    [x for _, x, _ in run], [y for _, _, y in run], color=colour, lw=0.7, alpha=0.3
                )
            n = min(len(run) for run in runs)
            xs = [runs[0][k][1] for k in range(n)]
            mean = [sum(run[k][2] for run in runs) / len(runs) for k in range(n)]
            seeds = f"{len(runs)} seed{'s' if len(runs) != 1 else ''}"
            ax.plot(xs, mean, color=colour, lw=1.8, label=f"{row.label} (mean of {seeds})")
        if positive_rate is not None and math.isfinite(positive_rate):
            ax.axhline(
                positive_rate,
                color="#555555",
                linestyle="--",
                lw=1.0,
                label=f"chance: positive rate {positive_rate:.2f}",
            )
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        _legend_right(ax)
        fig.tight_layout()
        return _to_svg(fig, key or f"{task.name}:pr-curve")


def _runs_by_competitor(
    task: TaskReport, points: Sequence[Mapping[str, Any]], curve: str
) -> list[tuple[str, list[list[tuple[float, float]]]]]:
    """(label, one point list per run) for the main table's rows whose runs stored ``curve``."""
    by_run: dict[int, list[tuple[int, float, float]]] = {}
    for p in points:
        if p.get("curve") == curve and p["x"] is not None and p["y"] is not None:
            by_run.setdefault(int(p["run_id"]), []).append((int(p["idx"]), p["x"], p["y"]))
    out = []
    for row in task.main:
        runs = [[(x, y) for _, x, y in sorted(by_run[i])] for i in row.run_ids if i in by_run]
        if runs:
            out.append((row.label, runs))
    return out


def calibration_svg(
    task: TaskReport, points: Sequence[Mapping[str, Any]], curve: str, *, key: str | None = None
) -> str | None:
    """A reliability diagram (``curve="reliability"``: accuracy against mean confidence per
    confidence bin, the diagonal is perfect calibration) or a PIT histogram (``curve="pit"``:
    the share of test targets per PIT bin, the dashed line is a calibrated model's share), one
    panel per competitor of the main table; thin lines: one per seed, bars/markers: their mean.
    None when no run stored the curve (rows of :meth:`losslab.lab.store.Store.test_curves`).
    """
    rows = _runs_by_competitor(task, points, curve)
    if not rows:
        return None
    nrows, cols = _grid(len(rows))
    with matplotlib.rc_context(_STYLE):
        width = 3.3 if cols == 3 else 4.2
        fig = Figure(figsize=(width * cols, 2.6 * nrows))
        axes = fig.subplots(nrows, cols, squeeze=False)
        for ax in axes.flat[len(rows) :]:
            ax.set_visible(False)
        for i, (ax, (label, runs)) in enumerate(zip(axes.flat, rows, strict=False)):
            colour = _colour(i)
            if curve == "pit":
                n = min(len(r) for r in runs)
                xs = [runs[0][k][0] for k in range(n)]
                mean = [sum(r[k][1] for r in runs) / len(runs) for k in range(n)]
                ax.bar(xs, mean, width=1.0 / max(n, 1), color=colour, alpha=0.6, edgecolor="white")
                for r in runs:
                    ax.plot([x for x, _ in r], [y for _, y in r], color=colour, lw=0.7, alpha=0.5)
                ax.axhline(1.0 / max(n, 1), color="#555555", linestyle="--", lw=1.0)
                ax.set_xlabel("PIT value F(y)")
                ax.set_ylabel("share of test targets")
            else:
                ax.plot([0, 1], [0, 1], color="#555555", linestyle="--", lw=1.0)
                for r in runs:
                    ax.plot(
                        [x for x, _ in r],
                        [y for _, y in r],
                        color=colour,
                        lw=0.8,
                        marker="o",
                        markersize=2.5,
                        alpha=0.6,
                    )
                ax.set_ylim(0.0, 1.02)
                ax.set_xlabel("confidence")
                ax.set_ylabel("accuracy")
            ax.set_xlim(0.0, 1.0)
            seeds = f"{len(runs)} seed{'s' if len(runs) != 1 else ''}"
            title = "\n".join(textwrap.wrap(f"{label} ({seeds})", 34))
            ax.set_title(_text(title), loc="left", fontweight="bold")
        fig.tight_layout()
        return _to_svg(fig, key or f"{task.name}:{curve}")


def robust_curves_svg(
    task: TaskReport, points: Sequence[Mapping[str, Any]], *, key: str | None = None
) -> str | None:
    """Test accuracy against the attack radius of each competitor (``curve="robust_vs_eps"``,
    stored by the adversarial task): thin lines one per seed, thick line the mean over seeds.
    None when no run stored the curve."""
    rows = _runs_by_competitor(task, points, "robust_vs_eps")
    if not rows:
        return None
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.6, 3.6))
        ax = fig.subplots()
        for i, (label, runs) in enumerate(rows):
            colour = _colour(i)
            for run in runs:
                ax.plot([x for x, _ in run], [y for _, y in run], color=colour, lw=0.7, alpha=0.3)
            n = min(len(run) for run in runs)
            xs = [runs[0][k][0] for k in range(n)]
            mean = [sum(run[k][1] for run in runs) / len(runs) for k in range(n)]
            ax.plot(xs, mean, color=colour, lw=1.8, marker="o", markersize=3, label=label)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("attack radius eps (L-infinity, data units)")
        ax.set_ylabel("test accuracy under PGD")
        _legend_right(ax)
        fig.tight_layout()
        return _to_svg(fig, key or f"{task.name}:robust-vs-eps")


def tradeoff_svg(
    task: TaskReport,
    x_metric: str = "clean_accuracy",
    y_metric: str = "robust_accuracy",
    *,
    key: str | None = None,
) -> str | None:
    """Each competitor's mean ``y_metric`` against its mean ``x_metric`` with their 95%
    intervals (the main table's cells): the clean/robust accuracy trade-off. None when the main
    table lacks either metric."""
    rows = [
        (r.label, r.cells[x_metric], r.cells[y_metric])
        for r in task.main
        if x_metric in r.cells and y_metric in r.cells
    ]
    rows = [
        (label, cx, cy)
        for label, cx, cy in rows
        if math.isfinite(cx.summary.mean) and math.isfinite(cy.summary.mean)
    ]
    if not rows:
        return None
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.6, 3.6))
        ax = fig.subplots()
        for i, (label, cx, cy) in enumerate(rows):
            sx, sy = cx.summary, cy.summary

            def err(s: Any) -> list[list[float]]:
                lo = s.low if math.isfinite(s.low) else s.mean
                hi = s.high if math.isfinite(s.high) else s.mean
                return [[s.mean - lo], [hi - s.mean]]

            ax.errorbar(
                [sx.mean],
                [sy.mean],
                xerr=err(sx),
                yerr=err(sy),
                fmt="o",
                color=_colour(i),
                capsize=3,
                label=label,
            )
        ax.set_xlabel(METRIC_LABELS.get(x_metric, x_metric))
        ax.set_ylabel(METRIC_LABELS.get(y_metric, y_metric))
        _legend_right(ax)
        fig.tight_layout()
        return _to_svg(fig, key or f"{task.name}:tradeoff")


def task_figures(task: TaskReport) -> dict[str, str]:
    """Every figure of a task: name -> SVG text (``lr`` only when several lrs were swept)."""
    figs = {
        "metric": metric_svg(task),
        "curves": curves_svg(task),
        "val_metric": val_metric_svg(task),
    }
    lr = lr_svg(task)
    if lr is not None:
        figs["lr"] = lr
    return figs
