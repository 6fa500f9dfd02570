"""The typer application; command groups live in their own modules."""

from __future__ import annotations

import typer

from . import _advise, _bench, _catalog, _compare, _plot, _tasks, _tune

app = typer.Typer(
    name="losslab",
    help="Choose, compose and trust loss functions for PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_catalog.register_commands(app)
_compare.register_commands(app)
_advise.register_commands(app)
_bench.register_commands(app)
_tasks.register_commands(app)
_plot.register_commands(app)
_tune.register_commands(app)
