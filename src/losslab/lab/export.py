"""Optional exporters: copy a study's stored runs to TensorBoard or MLflow.

Both read the store only (what you see there is what the report shows) and need their optional
package (``pip install tensorboard`` / ``pip install mlflow-skinny``); a missing package gives a
clear error naming the install command.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .store import Store

__all__ = ["ExportError", "export_tensorboard", "export_mlflow"]


class ExportError(RuntimeError):
    """An exporter's package is missing or its destination is unusable."""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_") or "_"


def _collect(
    store: Store,
) -> tuple[dict[int, dict[str, Any]], dict[int, list], dict[int, dict[str, float]]]:
    runs = {r["run_id"]: r for r in store.runs()}
    curves: dict[int, list] = defaultdict(list)
    for row in store.curves():
        curves[row["run_id"]].append((f"{row['split']}/{row['name']}", row["epoch"], row["value"]))
    finals: dict[int, dict[str, float]] = defaultdict(dict)
    for row in store.final_metrics():
        finals[row["run_id"]][f"{row['split']}/{row['name']}"] = row["value"]
    return runs, curves, finals


def export_tensorboard(store: Store, logdir: str | Path, *, skip: Iterable[int] = ()) -> list[int]:
    """One TensorBoard run per stored run (task/competitor/seed_lr) not in ``skip``; returns the
    exported run ids."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch raises ImportError when the tensorboard package is absent
        raise ExportError(
            "compare: '--tensorboard' needs the tensorboard package: pip install tensorboard"
        ) from exc
    runs, curves, finals = _collect(store)
    skipped = set(skip)
    runs = {k: v for k, v in runs.items() if k not in skipped}
    for run_id, r in runs.items():
        path = (
            Path(logdir)
            / _safe(r["task"])
            / _safe(r["competitor"])
            / f"seed{r['seed']}_lr{r['lr']:g}"
        )
        with SummaryWriter(log_dir=str(path)) as w:
            for tag, epoch, value in curves[run_id]:
                if value is not None:
                    w.add_scalar(tag, value, epoch)
            for tag, value in finals[run_id].items():
                if value is not None:
                    w.add_scalar(f"final/{tag}", value, 0)
            w.add_text(
                "run",
                f"task={r['task']} loss={r['loss']} competitor={r['competitor']} status={r['status']}",
            )
    return list(runs)


def export_mlflow(
    store: Store, uri: str, experiment: str, *, skip: Iterable[int] = ()
) -> list[int]:
    """One MLflow run per stored run (not in ``skip``) in ``experiment`` at tracking ``uri``;
    returns the exported run ids."""
    try:
        import mlflow
    except ImportError as exc:
        raise ExportError(
            "compare: '--mlflow' needs the mlflow package: pip install mlflow-skinny"
        ) from exc
    runs, curves, finals = _collect(store)
    skipped = set(skip)
    runs = {k: v for k, v in runs.items() if k not in skipped}
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    for run_id, r in runs.items():
        name = f"{r['task']}/{r['competitor']}/seed{r['seed']}/lr{r['lr']:g}"
        with mlflow.start_run(run_name=name):
            mlflow.log_params(
                {k: r[k] for k in ("task", "competitor", "loss", "seed", "lr", "status")}
            )
            for tag, epoch, value in curves[run_id]:
                if value is not None:
                    mlflow.log_metric(_safe(tag), value, step=epoch)
            mlflow.log_metrics(
                {_safe(f"final/{k}"): v for k, v in finals[run_id].items() if v is not None}
            )
    return list(runs)
