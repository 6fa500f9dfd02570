"""The label-noise view of a study: clean-test accuracy per loss and noise setting.

The ``noisy-labels*`` tasks (:mod:`losslab.lab.tasks_noisy`) run one noise setting each; this
module gathers those present in a study into one "loss x noise rate" table (:func:`noise_table`,
each cell the task report's own primary-metric cell: mean ± 95% CI over seeds at the
competitor's chosen learning rate) and one figure (:func:`noise_svg`: accuracy against noise
rate, one line per loss, a panel per data set and noise model, the clean task as rate 0 of
every panel of its data set; Okabe–Ito colours and distinct markers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib
from matplotlib.figure import Figure

from ..lab.store import Store
from .plots import _STYLE, PALETTE, _text, _to_svg
from .tables import Cell, StudyReport, TaskReport, build_report, metric_label

__all__ = [
    "NoiseColumn",
    "NoiseRow",
    "NoiseTable",
    "noise_table",
    "noise_table_from_store",
    "noise_markdown",
    "noise_svg",
]

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: horizontal offset between the losses' points at one noise rate (in rate units)
DODGE = 0.005


@dataclass(frozen=True)
class NoiseColumn:
    """One noise setting: the task that ran it, its data set, noise model and rate."""

    task: str
    data: str
    kind: str
    rate: float

    @property
    def header(self) -> str:
        what = "clean" if self.rate == 0 else f"{self.kind[:4]} {self.rate:.0%}"
        return what if self.data == "digits" else f"{self.data}: {what}"


@dataclass(frozen=True)
class NoiseRow:
    label: str
    loss: str
    cells: dict[str, Cell] = field(default_factory=dict)  # task name -> primary-metric cell


@dataclass(frozen=True)
class NoiseTable:
    metric: str  # the tasks' primary metric (clean test top-1)
    columns: list[NoiseColumn]
    rows: list[NoiseRow]

    @property
    def metric_label(self) -> str:
        return f"clean test {metric_label(self.metric)}"


def noise_table(report: StudyReport) -> NoiseTable | None:
    """The loss x noise-setting table of the study's noisy-label tasks (None: it ran none)."""
    from ..lab.tasks_noisy import NOISE_SETTINGS

    tasks: list[TaskReport] = [t for t in report.tasks if t.name in NOISE_SETTINGS]
    if not tasks:
        return None
    columns = sorted(
        (
            NoiseColumn(t.name, s.data, s.kind, s.rate)
            for t in tasks
            for s in [NOISE_SETTINGS[t.name]]
        ),
        key=lambda c: (c.data != "digits", c.data, c.rate > 0, c.kind != "symmetric", c.rate),
    )
    rows: dict[str, NoiseRow] = {}
    for t in tasks:
        for r in t.main:
            row = rows.setdefault(r.label, NoiseRow(r.label, r.loss))
            if t.primary in r.cells:
                row.cells[t.name] = r.cells[t.primary]
    return NoiseTable(tasks[0].primary, columns, list(rows.values()))


def noise_table_from_store(store: Store, *, select_on: str = "val") -> NoiseTable | None:
    """:func:`noise_table` of the study in ``store``."""
    return noise_table(build_report(store, select_on=select_on))


def noise_markdown(table: NoiseTable, digits: int = 3) -> str:
    """The table as markdown (mean ± 95% CI; "–" where a loss did not run a setting)."""
    from .render import md_escape  # render imports this module lazily: no import cycle

    head = ["loss", *(md_escape(c.header) for c in table.columns)]
    lines = [
        f"| {' | '.join(head)} |",
        "| --- |" + " ---: |" * len(table.columns),
    ]
    for r in table.rows:
        cells = [r.cells[c.task].text(digits) if c.task in r.cells else "–" for c in table.columns]
        lines.append(f"| {' | '.join([md_escape(r.label), *cells])} |")
    return "\n".join(lines) + "\n"


def _panels(table: NoiseTable) -> list[tuple[str, list[NoiseColumn]]]:
    """(title, columns by rate) per data set and noise model; the clean column joins each."""
    out = []
    for data in dict.fromkeys(c.data for c in table.columns):
        mine = [c for c in table.columns if c.data == data]
        clean = [c for c in mine if c.rate == 0]
        for kind in dict.fromkeys(c.kind for c in mine if c.rate > 0):
            cols = clean + sorted(
                (c for c in mine if c.kind == kind and c.rate > 0), key=lambda c: c.rate
            )
            what = "rate within classes 2, 3, 5, 6, 7" if kind == "asymmetric" else "labels wrong"
            out.append((f"{data}, {kind} noise ({what})", cols))
        if not any(c.rate > 0 for c in mine):
            out.append((f"{data}, no noise", clean))
    return out


def noise_svg(table: NoiseTable, key: str = "noisy-labels:accuracy-vs-noise") -> str:
    """Clean test accuracy against the noise rate: one line per loss (mean, 95% CI whiskers)."""
    panels = _panels(table)
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(3.6 * len(panels) + 2.4, 3.2))
        axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
        for ax, (title, cols) in zip(axes, panels, strict=True):
            for i, row in enumerate(table.rows):
                pts = [(c.rate, row.cells[c.task].summary) for c in cols if c.task in row.cells]
                pts = [(x, s) for x, s in pts if s.n > 0]
                if not pts:
                    continue
                dodge = (i - (len(table.rows) - 1) / 2) * DODGE  # whiskers side by side
                xs = [x + dodge for x, _ in pts]
                ys = [s.mean for _, s in pts]
                err = [[s.mean - s.low for _, s in pts], [s.high - s.mean for _, s in pts]]
                ax.errorbar(
                    xs,
                    ys,
                    yerr=err,
                    color=PALETTE[i % len(PALETTE)],
                    marker=MARKERS[i % len(MARKERS)],
                    markersize=4,
                    linewidth=1.4,
                    capsize=2,
                    label=_text(row.label),
                )
            ax.set_title(_text(title), loc="left", fontweight="bold")
            ax.set_xlabel("label noise rate (training and validation)")
            ax.set_xticks(sorted({c.rate for c in cols}))
            ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        axes[0].set_ylabel(_text(table.metric_label))
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            axes[-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        fig.tight_layout()
        return _to_svg(fig, key)
