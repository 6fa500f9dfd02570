"""The study's main tables in the terminal (rich), as ``losslab compare`` prints them."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .tables import StudyReport, TaskReport, digits_for, fmt_lr, metric_label

__all__ = ["print_summary", "main_table"]

_VERDICT_STYLE = {"best": "bold green", "worse": "red", "better": "green", "same": "", "na": "dim"}


def main_table(task: TaskReport, *, plain: bool = False) -> Table:
    """The "loss × metrics" table of one task. User text goes in as Text: never read as markup.

    ``plain``: for a pipe or a file: no box drawing and no folded cells, one row per line.
    """
    swept = len(task.lrs) > 1
    table = Table(
        title=Text(f"{task.name}: {task.description}"),
        title_justify="left",
        caption=Text(f"test set, mean ± 95% CI over seeds; {task.selection_rule}"),
        caption_justify="left",
        box=None if plain else box.HEAVY_HEAD,
        show_edge=not plain,
        pad_edge=not plain,
    )
    table.add_column("loss")
    if swept:
        table.add_column("lr", justify="right")
    for m in task.metrics:
        table.add_column(Text(metric_label(m)), justify="right")
    table.add_column("runs", justify="right")
    table.add_column("diverged", justify="right")
    table.add_column(Text(f"{task.primary_label} vs best"))
    digits = {m: digits_for(r.cells.get(m) for r in task.main) for m in task.metrics}
    for r in task.main:
        cells = [r.cells[m].text(digits[m]) if m in r.cells else "–" for m in task.metrics]
        table.add_row(
            Text(r.label, style="bold" if r.is_best else ""),
            *([fmt_lr(r.lr)] if swept else []),
            *map(Text, cells),
            str(r.runs),
            f"{r.diverged} (+{r.diverged_other_lrs} other lrs)"
            if r.diverged_other_lrs
            else str(r.diverged),
            Text(r.verdict, style=_VERDICT_STYLE[r.verdict_kind]),
        )
    return table


def print_summary(report: StudyReport, console: Console) -> None:
    """Print every task's main table, then the skipped tasks with their reasons.

    On a terminal the tables fit its width; elsewhere (a pipe, a file) they print plainly, one
    row per line and never folded, so ``grep`` and ``cut`` see whole rows.
    """
    plain = not console.is_terminal
    for task in report.tasks:
        table = main_table(task, plain=plain)
        if plain:
            for col in table.columns:
                col.no_wrap = True
            wide = Console(width=10_000, no_color=True, highlight=False)
            with wide.capture() as captured:
                wide.print(table)
            for line in captured.get().splitlines():
                console.out(line.rstrip(), highlight=False)  # never wrapped, recorded if recording
        else:
            console.print(table)
        console.print()
    for s in report.skipped:
        console.print(Text(f"skipped {s.name}: {s.reason}", style="yellow"))
    if not report.tasks:
        console.print("no finished runs in this study yet")
