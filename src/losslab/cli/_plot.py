"""``losslab plot NAME[:param=value,...] ... --out FILE.svg|.png``: pictures of losses.

The drawing lives in :mod:`losslab.report.loss_curves`; this module parses, calls and reports.
Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._catalog import fail, lookup, parse_params


def _split(item: str) -> tuple[str, dict[str, Any]]:
    """``huber_loss:delta=0.5`` -> ("huber_loss", {"delta": 0.5}); ``mymod:fn`` (no '=' after
    the colon) is a user loss; ``mymod:fn:alpha=1`` a user loss with hyperparameters."""
    from .. import catalog

    parts = item.split(":")
    if len(parts) == 1:
        return item, {}
    try:
        catalog.get(parts[0])
        known = len(parts) == 2  # a catalog loss: what follows the colon are its hyperparameters
    except catalog.UnknownLossError:
        known = False
    if known or "=" in parts[-1]:
        return ":".join(parts[:-1]), parse_params([parts[-1]], "plot", option="NAME:params")
    return item, {}


def plot(
    names: Annotated[
        list[str],
        typer.Argument(
            help="losses to draw, each NAME or NAME:param=value,... (e.g. huber_loss:delta=0.5); "
            "module:function for your own loss"
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="the picture to write (.svg or .png)")
    ] = Path("loss_curves.svg"),
    points: Annotated[int, typer.Option(help="points along the x-axis", min=11, max=10001)] = 401,
) -> None:
    """Draw each loss and its derivative against the error, logit or margin (one figure, two panels)."""
    if out.suffix.lower() not in (".svg", ".png"):
        fail("plot", f"--out must end in .svg or .png, got {str(out)!r}")
    items = []
    for item in names:
        name, hp = _split(item)
        items.append((lookup(name, "plot"), hp))
    from ..report.loss_curves import NotPlottableError, write_curves

    try:
        path = write_curves(out, items, points=points)
    except NotPlottableError as exc:
        fail("plot", str(exc).removeprefix("plot: "))
    except (TypeError, ValueError) as exc:  # a hyperparameter the loss rejects, with its message
        fail("plot", str(exc))
    except OSError as exc:
        fail("plot", f"--out could not be written: {exc}")
    typer.echo(f"wrote {path} ({len(items)} loss{'es' if len(items) != 1 else ''})")


def register_commands(app: typer.Typer) -> None:
    app.command("plot")(plot)
