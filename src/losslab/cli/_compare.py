"""``losslab compare`` (run a study) and ``losslab report`` (rebuild a study's reports)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer.core import TyperCommand, TyperOption

console = Console()
err_console = Console(stderr=True)


def _fail(message: str) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code=2)


class StrictCommand(TyperCommand):
    """A command on which an option that takes one value may be given only once.

    Click keeps the last of repeated values silently (``--target a --target b`` runs ``b``); here
    that is an error (exit 2) naming the option. List options are declared ``multiple`` (and
    split on commas by :func:`comma_list`), so repeating them is allowed.
    """

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        # the parser records every occurrence of an option in order; parse a copy to count them
        order = (
            [] if ctx.resilient_parsing else self.make_parser(ctx).parse_args(args=list(args))[2]
        )
        rest = super().parse_args(ctx, args)  # eager options (--help) act first
        counts = Counter(
            p
            for p in order
            if isinstance(p, TyperOption) and not (p.multiple or p.count or p.is_flag)
        )
        for param, n in counts.items():
            if n > 1:
                opt = max(param.opts, key=len)
                _fail(
                    f"{ctx.info_name}: '{opt}' takes one value and may be given once, got it {n} times"
                )
        return rest


def comma_list(
    ctx: typer.Context, param: typer.CallbackParam, values: list[str] | None
) -> list[str] | None:
    """Callback of a list option: ``--x a,b --x c`` -> ``['a', 'b', 'c']`` (an empty item is an error)."""
    if not values:
        return None
    items = [item.strip() for value in values for item in value.split(",")]
    if any(not item for item in items):
        opt = max(param.opts, key=len)
        given = " ".join(f"{opt} {v}" for v in values)
        _fail(
            f"{ctx.info_name}: '{opt}' must be one or more non-empty values separated by commas, "
            f"got {given!r}"
        )
    return items


def _parse_lrs(values: list[str]) -> tuple[float, ...]:
    """Numbers from the ``--lr`` strings (their bounds are StudyConfig's to check)."""
    try:
        lrs = tuple(float(x) for x in values)
    except ValueError:
        _fail(
            f"compare: '--lr' must be a comma-separated list of numbers, got {','.join(values)!r}"
        )
    return tuple(dict.fromkeys(lrs))  # a repeated value is one learning rate


class _Reporter:
    """Progress on a terminal (rich bar) or plain lines when output is not a TTY."""

    def __init__(self, quiet: bool = False):
        self.tty = console.is_terminal and not quiet
        self.quiet = quiet
        self.progress: Progress | None = None
        self.task_id = None
        self.done = 0
        self.total = 0
        self.started = False

    def __enter__(self) -> _Reporter:
        if self.tty:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def on_plan(self, total: int, already: int) -> None:
        self.started = True  # training starts now: a ValueError from here on is not the user's
        self.total, self.done = total, already
        if self.progress is not None:
            self.task_id = self.progress.add_task(
                "runs (task × loss × seed × lr)", total=total, completed=already
            )
        elif not self.quiet:
            print(f"{total} runs planned, {already} already stored", flush=True)

    def on_results(self, unit, results) -> None:
        self.done += len(results)
        diverged = sum(r.status == "diverged" for r in results)
        if self.progress is not None:
            self.progress.update(
                self.task_id, advance=len(results), description=f"{unit.task}: {unit.competitor}"
            )
        elif not self.quiet:
            extra = f", {diverged} diverged" if diverged else ""
            print(
                f"[{self.done}/{self.total}] {unit.task} / {unit.competitor}: "
                f"{len(results)} runs{extra}",
                flush=True,
            )

    def on_skip(self, task: str, reason: str) -> None:
        err_console.print(f"[yellow]skipping task {escape(task)}:[/yellow] {escape(reason)}")

    def on_warning(self, task: str, message: str) -> None:  # also with --quiet
        err_console.print(f"[yellow]warning ({escape(task)}):[/yellow] {escape(message)}")

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_plan": self.on_plan,
            "on_results": self.on_results,
            "on_skip": self.on_skip,
            "on_warning": self.on_warning,
        }


def compare(
    ctx: typer.Context,
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task",
            "-t",
            callback=comma_list,
            metavar="TASK[,TASK...]",
            help="task(s) to run, comma-separated or repeated; list them with `losslab tasks` "
            "(default: the built-in study)",
        ),
    ] = None,
    loss: Annotated[
        list[str] | None,
        typer.Option(
            "--loss",
            "-l",
            callback=comma_list,
            metavar="LOSS[,LOSS...]",
            help="loss(es) replacing each task's default competitors, comma-separated or repeated: "
            "catalog names, or 'module:function' to import your own (found in the current "
            "directory too)",
        ),
    ] = None,
    seeds: Annotated[
        int, typer.Option(help="seeds per loss (data split, init and batch order)")
    ] = 5,
    lr: Annotated[
        list[str] | None,
        typer.Option(
            "--lr",
            callback=comma_list,
            metavar="LR[,LR...]",
            help="learning rate(s), comma-separated or repeated: a sweep (default: 0.01)",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="epochs (default: each task's own)")] = None,
    full: Annotated[bool, typer.Option("--full", help="the larger study: longer training")] = False,
    optimizer: Annotated[str, typer.Option(help="adam or sgd")] = "adam",
    model: Annotated[
        str, typer.Option("--model", help="mlp, or cnn for image tasks (multiclass, fashion-mnist)")
    ] = "mlp",
    l1: Annotated[float, typer.Option("--l1", help="L1 penalty on weights")] = 0.0,
    l2: Annotated[float, typer.Option("--l2", help="L2 penalty on weights")] = 0.0,
    early_stopping: Annotated[
        int | None, typer.Option(help="patience (epochs) on the validation metric")
    ] = None,
    select: Annotated[
        str,
        typer.Option(
            "--select",
            help="which epoch's model gives each run's test metrics: best "
            "(its best validation epoch) or final (its last epoch)",
        ),
    ] = "best",
    jobs: Annotated[int, typer.Option(help="parallel worker processes")] = 1,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="local (this process, or --jobs processes) or ray (each unit a Ray task; "
            "pip install 'losslab[ray]')",
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="with --executor ray: the cluster to join (e.g. auto, or the address `ray start "
            "--head` printed); default: a local Ray instance for this study",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="folder holding the studies")] = Path("losslab-runs"),
    name: Annotated[
        str | None, typer.Option(help="study name (default: study-<date>-<time>)")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="study folder to resume: finished runs are skipped")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="your own CSV or Parquet file")] = None,
    target: Annotated[str | None, typer.Option(help="target column of --data")] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help=(
                "with --data: binary, multiclass or regression. Default, inferred from the target: text "
                "or bool -> classes; numbers not all integers -> regression; integers with 2 values -> "
                "binary, with at most 10 distinct values and at most half the rows distinct -> "
                "multiclass, else regression"
            ),
        ),
    ] = None,
    mlflow: Annotated[
        str | None, typer.Option("--mlflow", help="also log every run to this MLflow tracking URI")
    ] = None,
    tensorboard: Annotated[
        Path | None, typer.Option("--tensorboard", help="also write TensorBoard logs here")
    ] = None,
    add_loss: Annotated[
        list[str] | None,
        typer.Option(
            "--add-loss",
            callback=comma_list,
            metavar="LOSS[,LOSS...]",
            help="loss(es) competing beside each task's default competitors (catalog names or "
            "'module:function'); not with --loss, which replaces them",
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="no progress output (the summary, the study folder, "
            "warnings and errors are still printed)",
        ),
    ] = False,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json", help="also write the recommendations and evidence to this JSON file"
        ),
    ] = None,
) -> None:
    """Train models with competing losses on real data, report honestly (mean ± 95% CI over
    seeds) and recommend a loss per task (ties are called ties)."""
    import torch

    from ..lab import study as S
    from ..lab.store import Store
    from ..report import build_report, print_summary, write_report

    lrs = _parse_lrs(lr or ["0.01"])
    from ..lab.executors import UnitFailed, make_executor

    try:
        runner = make_executor(executor, address)
        if runner is not None and resume is not None:
            runner.check(S.load_study_config(resume))
    except (ValueError, TypeError) as exc:
        _fail(str(exc))
    if json_out is not None and not json_out.parent.is_dir():
        _fail(f"compare: '--json' must be a file in an existing folder, got {str(json_out)!r}")
    given = {
        p for p in ctx.params if getattr(ctx.get_parameter_source(p), "name", "") == "COMMANDLINE"
    }
    imports = _load_user_losses([*(loss or ()), *(add_loss or ())])
    if resume is not None:
        requested = {
            key: value
            for key, value in {
                "tasks": tuple(dict.fromkeys(task or ())),
                "losses": _catalog_names(loss, imports),
                "added_losses": _catalog_names(add_loss, imports),
                "seeds": seeds,
                "lrs": lrs,
                "epochs": epochs,
                "full": full,
                "optimizer": optimizer,
                "model": model,
                "l1": l1,
                "l2": l2,
                "early_stopping": early_stopping,
                "select": select,
                "data": data and str(data),
                "target": target,
                "kind": kind,
                "name": name,
            }.items()
            if _OPTION_PARAM.get(key, key) in given
        }
        folder = resume

        def start(rep: _Reporter) -> None:
            S.resume_study(resume, requested, jobs=jobs, executor=runner, **rep.callbacks())
    else:
        extra = {}
        tasks = tuple(task or ())
        if data is not None:
            if target is None:
                _fail(
                    "compare: '--target' must name the target column when '--data' is given, got nothing"
                )
            user_task = _register_user_data(str(data), target, kind)
            extra = {
                "data": str(data.resolve()),
                "data_sha256": S.file_sha256(data),
                "target": target,
                "kind": kind,
            }
            tasks = tasks + (user_task,)
        elif target is not None or kind is not None:
            _fail("compare: '--target'/'--kind' need '--data FILE'")
        if not tasks:
            tasks = S.DEFAULT_TASKS + (S.FULL_EXTRA_TASKS if full else ())
        try:
            cfg = S.StudyConfig(
                tasks=tuple(dict.fromkeys(tasks)),
                losses=_catalog_names(loss, imports),
                added_losses=_catalog_names(add_loss, imports),
                seeds=seeds,
                lrs=lrs,
                optimizer=optimizer,
                model=model,
                epochs=epochs,
                full=full,
                l1=l1,
                l2=l2,
                early_stopping=early_stopping,
                select=select,
                jobs=jobs,
                loss_imports=imports,
                extra=extra,
            )
            S.check_config(cfg)
            if runner is not None:
                runner.check(cfg)
            folder = S.default_study_dir(name, out)
        except (ValueError, TypeError) as exc:
            _fail(str(exc))

        def start(rep: _Reporter) -> None:
            S.start_study(cfg, folder, executor=runner, **rep.callbacks())

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the lab's models are tiny: one thread per process is fastest
    try:
        with _Reporter(quiet) as rep:
            try:
                start(rep)
            except (ValueError, TypeError) as exc:
                if rep.started:  # not a refused option or folder: a failure while training
                    raise
                _fail(str(exc))
    except (S.NothingToRun, UnitFailed) as exc:
        _fail(str(exc))
    except (OSError, sqlite3.DatabaseError) as exc:
        _fail(f"compare: cannot write the study folder {str(folder)!r}: {exc}")
    except KeyboardInterrupt:
        err_console.print(
            f"interrupted: every finished run is stored; continue with "
            f"`losslab compare --resume {escape(str(folder))}`"
        )
        raise typer.Exit(code=130) from None
    finally:
        torch.set_num_threads(threads)
    with Store(folder / S.STORE_NAME) as st:
        report = build_report(st)
        paths = write_report(st, folder)
        _export(st, folder, mlflow, tensorboard)
    print_summary(report, console)  # also with --quiet: the result, not progress
    if json_out is not None:
        _write_json(report, json_out, "compare")
    console.print(f"\nStudy folder: {escape(str(folder))}")
    for label, path in paths.items():
        console.print(f"  {label}: {escape(str(path))}")


#: resume_conflicts key -> the command's parameter name, where they differ
_OPTION_PARAM = {"tasks": "task", "losses": "loss", "added_losses": "add_loss", "lrs": "lr"}


def _export(st, folder: Path, mlflow_uri: str | None, tb_dir: Path | None) -> None:
    from ..lab.export import ExportError, export_mlflow, export_tensorboard

    # each destination gets each run once, also across --resume
    exported = dict(st.meta("exported", {}))
    targets = []
    if tb_dir is not None:
        targets.append(
            (
                "TensorBoard",
                f"tensorboard:{tb_dir.resolve()}",
                lambda skip: export_tensorboard(st, tb_dir, skip=skip),
            )
        )
    if mlflow_uri is not None:
        targets.append(
            (
                "MLflow",
                f"mlflow:{mlflow_uri}",
                lambda skip: export_mlflow(
                    st, mlflow_uri, experiment=f"losslab/{folder.name}", skip=skip
                ),
            )
        )
    for label, key, export in targets:
        done = set(exported.get(key, []))
        try:
            ids = export(done)
        except ExportError as exc:
            _fail(f"{exc} (the study itself is stored in {folder})")
        except Exception as exc:  # the exporters' own libraries raise many kinds of errors
            _fail(
                f"compare: exporting to {label} failed: {type(exc).__name__}: {exc} "
                f"(the study itself is stored in {folder})"
            )
        exported[key] = sorted(done | set(ids))
        st.set_meta("exported", exported)
        console.print(f"{label}: {len(ids)} new runs exported")


def _load_user_losses(paths: list[str] | None) -> dict[str, str]:
    """Import and register every ``module:name`` given (the current directory first on sys.path,
    as ``python -m`` would); return catalog name -> path."""
    from ..custom import LossLoadError, load_loss

    imports: dict[str, str] = {}
    for path in paths or ():
        if ":" not in path:
            continue
        try:
            imports[load_loss(path, search_cwd=True).name] = path
        except LossLoadError as exc:
            _fail(f"compare: {exc}")
    return imports


def _catalog_names(given: list[str] | None, imports: dict[str, str]) -> tuple[str, ...]:
    """Catalog names of ``--loss``/``--add-loss`` values (import paths, aliases, repeats: once)."""
    from .. import catalog

    names = []
    for value in given or ():
        name = next(n for n, p in imports.items() if p == value) if ":" in value else value
        try:
            names.append(catalog.get(name).name)
        except catalog.UnknownLossError as exc:
            _fail(f"compare: {exc}")
    return tuple(dict.fromkeys(names))


def _register_user_data(path: str, target: str, kind: str | None) -> str:
    from ..lab.userdata import UserDataError, register_user_task

    try:
        return register_user_task(path, target, kind=kind).name
    except UserDataError as exc:
        _fail(str(exc))
    raise AssertionError("unreachable")


def report(
    study: Annotated[Path, typer.Argument(help="study folder (holding results.sqlite)")],
    lr: Annotated[
        bool, typer.Option("--lr", help="also print each task's loss x learning-rate table")
    ] = False,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="also write the recommendations and evidence to this file"),
    ] = None,
) -> None:
    """Print a study's recommendations and tables, and rebuild report.md, report.html and the
    CSVs from its store alone."""
    from ..lab.store import Store
    from ..report import build_report, print_summary, write_report

    db = study / "results.sqlite"
    if not db.exists():
        _fail(
            f"report: 'STUDY' must be a study folder containing results.sqlite, got {str(study)!r}"
        )
    with Store(db) as st:
        summary = build_report(st)
        paths = write_report(st, study)
    if (study / "tune.json").is_file():  # a `losslab tune` folder: its Tuning section too
        from ..lab.tuner import write_tune_report

        paths.update(write_tune_report(study))
    print_summary(summary, console, lrs=lr)
    if json_out is not None:
        _write_json(summary, json_out, "report")
    console.print(f"\nStudy folder: {escape(str(study))}")
    for label, path in paths.items():
        console.print(f"  {label}: {escape(str(path))}")


def _write_json(summary, path: Path, command: str) -> None:
    """The study's recommendations and evidence (:func:`losslab.lab.recommend.summary_dict`)."""
    import json

    from ..lab.recommend import summary_dict

    try:
        path.write_text(json.dumps(summary_dict(summary), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        _fail(f"{command}: '--json' must be a writable file, got {str(path)!r} ({exc})")


def register_commands(app: typer.Typer) -> None:
    app.command("compare", cls=StrictCommand)(compare)
    app.command("report", cls=StrictCommand)(report)
