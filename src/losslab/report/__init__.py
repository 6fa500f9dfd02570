"""Reports of a study, built only from its store: tables, plots, markdown, HTML, CSV, terminal.

``build_report(store)`` gives the numbers (dataclasses, each cell with its run ids);
``write_report(store, out_dir)`` writes report.md, report.html, results.csv, curves.csv and
plots/*.svg; ``print_summary(report, console)`` prints the main tables with rich.
"""

from .render import write_report
from .tables import StudyReport, TaskReport, build_report
from .terminal import print_summary

__all__ = ["StudyReport", "TaskReport", "build_report", "print_summary", "write_report"]
