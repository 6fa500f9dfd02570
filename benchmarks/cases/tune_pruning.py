"""`losslab tune`: 30 trials with Optuna's median pruning against 30 trials without.

Self-timed in one process, interleaved (pruned, unpruned, pruned, ...): each variant is a fresh
tune of ``huber_loss`` on the regression task (2 seeds per trial, the task's 60 epochs), same
TPE seed. The time is the search's (start to the last trial's end; the verification study that
follows is the same for both and left out). Each variant also reports how many trials were
pruned and the best validation RMSE found, so the saving is read against what it cost.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

PRUNED = "tune with MedianPruner"
UNPRUNED = "tune without pruning"


def cases(quick: bool) -> list[dict]:
    common = {"group": "lab", "mode": "run"}
    if quick:  # a smoke test of the case, not a measurement
        return [
            {
                **common,
                "id": "tune_pruning_tiny",
                "params": {"reps": 1, "trials": 3, "seeds": 1, "epochs": 2},
            }
        ]
    return [
        {
            **common,
            "id": "tune_pruning",
            "params": {"reps": 2, "trials": 30, "seeds": 2},
            "note": "losslab tune --task regression --loss huber_loss --trials 30 --seeds 2, "
            "search time with and without median pruning (verification left out)",
        }
    ]


def _tune(folder: Path, params: dict, pruning: bool) -> tuple[float, int, float]:
    from losslab.lab.tuner import tune

    ends: list[float] = []
    t0 = time.perf_counter()
    result = tune(
        "regression",
        "huber_loss",
        trials=params["trials"],
        seeds=params["seeds"],
        epochs=params.get("epochs"),
        folder=folder,
        pruning=pruning,
        on_trial=lambda t: ends.append(time.perf_counter()),
    )
    return ends[-1] - t0, result.trials.get("PRUNED", 0), result.best_value


def run(params: dict) -> dict:
    import torch

    from losslab.lab import study as S
    from losslab.lab.tasks import get_task

    torch.set_num_threads(1)
    S._datasets(get_task("regression"), range(params["seeds"]))  # loaded once, before timing
    out: dict[str, dict[str, list[float]]] = {
        PRUNED: {"t": [], "pruned": [], "best": []},
        UNPRUNED: {"t": [], "pruned": [], "best": []},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(params["reps"]):
            order = list(out) if i % 2 == 0 else list(out)[::-1]
            for k, name in enumerate(order):
                t, pruned, best = _tune(Path(tmp) / f"rep{i}-{k}", params, name == PRUNED)
                out[name]["t"].append(t)
                out[name]["pruned"].append(pruned)
                out[name]["best"].append(best)
    return {
        "variants": {name: {"time_s": statistics.median(v["t"])} for name, v in out.items()},
        "baseline": UNPRUNED,
        "pruned_trials": {name: v["pruned"] for name, v in out.items()},
        "best_val_rmse": {name: v["best"] for name, v in out.items()},
    }
