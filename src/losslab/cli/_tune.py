"""``losslab tune``: search a loss's hyperparameters with Optuna on a lab task, then verify them.

The command parses, calls :func:`losslab.lab.tuner.tune` and prints; the search space, the
objective and the verification study are that module's.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ._compare import StrictCommand, _fail, _Reporter, comma_list, console, err_console


def tune(
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="the lab task (see `losslab tasks`)")
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            "--loss",
            "-l",
            help="the catalog loss whose settings to tune, or a sum of catalog losses whose "
            "weights to tune, e.g. 'dice_loss+cross_entropy'",
        ),
    ] = None,
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            callback=comma_list,
            metavar="LOSS[,LOSS...]",
            help="other catalog losses (at their defaults) the verification runs beside the tuned "
            "and the default loss, e.g. cross_entropy",
        ),
    ] = None,
    trials: Annotated[
        int, typer.Option(help="trials in total (a resumed tune counts its stored trials)")
    ] = 20,
    timeout: Annotated[
        float | None, typer.Option(help="stop starting trials after this many seconds")
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(help="seeds averaged per trial and run in the verification (default: 3)"),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="epochs (default: the task's own)")] = None,
    pruning: Annotated[
        bool, typer.Option("--pruning/--no-pruning", help="prune trials on per-epoch validation")
    ] = True,
    sampler_seed: Annotated[int, typer.Option(help="the TPE sampler's seed")] = 0,
    out: Annotated[Path, typer.Option(help="folder holding the studies")] = Path("losslab-runs"),
    name: Annotated[
        str | None, typer.Option(help="tune folder name (default: tune-<task>-<loss>-<time>)")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="tune folder to resume: stored trials are kept")
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="local (this process) or ray (trials and the verification's units as Ray "
            "tasks, as many at once as the cluster has CPUs; trials on Ray are not pruned)",
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="with --executor ray: the cluster to join (default: a local one)"
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
) -> None:
    """Tune a loss's hyperparameters and the learning rate (Optuna, TPE, median pruning) on a
    task's validation split, then run the best and the default settings on the test split and
    report them against each other."""
    import torch

    from ..lab import study as S
    from ..lab import tuner as T
    from ..lab.store import Store
    from ..report import build_report, print_summary, write_report

    if resume is None and (task is None or loss is None):
        _fail(
            "tune: '--task' and '--loss' are required (or '--resume FOLDER'), got "
            + (
                "neither"
                if task is None and loss is None
                else ("no '--task'" if task is None else "no '--loss'")
            )
        )
    from ..lab.executors import make_executor

    try:
        runner = make_executor(executor, address, who="tune")
        if runner is not None:
            runner.check(S.StudyConfig(tasks=(task or "?",)), who="tune")
        if resume is not None:
            stored = T._read_json(resume)
            task, loss = task or stored["task"], loss or stored["loss"]
            folder = resume
        else:  # None: the library names it tune-<task>-<loss>-<time> once it has checked both
            folder = S.default_study_dir(name, out) if name is not None else None
    except (ValueError, TypeError) as exc:
        _fail(str(exc).replace("compare: ", "tune: ", 1))  # the study's name rule is ours too

    started = False  # a ValueError once trials have run is a failure, not a refused option

    def on_trial(t) -> None:
        nonlocal started
        started = True
        if quiet:
            return
        value = "–" if t.value is None or not math.isfinite(t.value) else f"{t.value:.4g}"
        shown = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items()
        )
        print(f"trial {t.number} {t.state.name.lower()}: {value} ({shown})", flush=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the lab's models are tiny: one thread per process is fastest
    try:
        with _Reporter(quiet) as rep:

            def on_results(unit, results) -> None:
                nonlocal started
                started = True
                rep.on_results(unit, results)

            try:
                result = T.tune(
                    task,
                    loss,
                    trials=trials,
                    timeout=timeout,
                    seeds=seeds,
                    epochs=epochs,
                    folder=None if resume is not None else folder,
                    out=out,
                    resume=resume,
                    sampler_seed=sampler_seed,
                    pruning=pruning,
                    on_trial=on_trial,
                    on_results=on_results,
                    on_plan=rep.on_plan,
                    executor=runner,
                    against=tuple(against or ()),
                )
            except (ValueError, TypeError) as exc:
                if started:
                    raise
                _fail(str(exc))
    except (OSError, sqlite3.DatabaseError) as exc:
        _fail(f"tune: cannot write the tune folder {str(folder or out)!r}: {exc}")
    except KeyboardInterrupt:
        err_console.print(
            f"interrupted: finished trials and runs are stored; continue with "
            f"`losslab tune --resume {escape(str(folder))}`"
        )
        raise typer.Exit(code=130) from None
    finally:
        torch.set_num_threads(threads)
    with Store(result.folder / S.STORE_NAME) as st:
        report = build_report(st)
        paths = write_report(st, result.folder)
    paths.update(T.write_tune_report(result.folder))
    print_summary(report, console)
    shown = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}"
        for k, v in result.best_params.items()
    )
    console.print(
        f"\nBest trial {result.best_trial} of {sum(result.trials.values())} "
        f"({', '.join(f'{v} {k.lower()}' for k, v in sorted(result.trials.items()))}): "
        f"{escape(shown)}; validation value {result.best_value:.4g}"
    )
    console.print(f"Tune folder: {escape(str(result.folder))}")
    for label, path in paths.items():
        console.print(f"  {label}: {escape(str(path))}")


def register_commands(app: typer.Typer) -> None:
    app.command("tune", cls=StrictCommand)(tune)
