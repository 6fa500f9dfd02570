"""`losslab advise` on 5,000 rows x 30 features (classification): within its 2-minute budget.

Self-timed: the whole command (profile with cleanlab, proposal, quick study of the candidates,
recommendation, report files) runs in a fresh process (``python -m losslab advise``), ``reps``
times; the median wall time is reported against the issue's budget (120 s). The data: three
classes from scikit-learn's ``make_classification`` (seed 0) with 20% of the labels flipped to
another class, so that the profile finds label noise and the study runs the largest candidate
set (the baseline and three noise-robust losses, 3 seeds each).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 120.0


def _variant(rows: int) -> str:
    return f"losslab advise ({rows:,} x 30, 3 classes)"


def cases(quick: bool) -> list[dict]:
    case = {
        "id": "advise_5000x30",
        "group": "lab",
        "mode": "run",
        # quick: a smoke test of the case (300 rows, 2 seeds, 2 epochs), not a measurement
        "params": {"rows": 300, "reps": 1, "seeds": 2, "epochs": 2}
        if quick
        else {"rows": 5000, "reps": 3},
        "note": "median wall time of `losslab advise --data --target` in a fresh process; "
        "budget 120 s",
    }
    if quick:
        return [case]
    goal = [_variant(5000), "budget", "time", 1.0, "advise on 5,000 x 30 within its 120 s budget"]
    return [{**case, "goals": [goal]}]


def _data(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=rows, n_features=30, n_informative=10, n_classes=3, random_state=0
    )
    rng = np.random.default_rng(0)
    flip = rng.random(rows) < 0.2
    y[flip] = (y[flip] + rng.integers(1, 3, flip.sum())) % 3
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(30)])
    frame["label"] = y
    frame.to_csv(path, index=False)


def run(params: dict) -> dict:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        _data(data, params["rows"])
        for i in range(params["reps"]):
            cmd = [sys.executable, "-m", "losslab", "advise", "--data", str(data)]
            cmd += ["--target", "label", "--out", tmp, "--name", f"advise-{i}", "--quiet"]
            for option in ("seeds", "epochs"):
                if option in params:
                    cmd += [f"--{option}", str(params[option])]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
    return {
        "variants": {
            _variant(params["rows"]): {"time_s": statistics.median(times)},
            "budget": {"time_s": BUDGET_S},
        },
        "baseline": "budget",
        "rows": params["rows"],
    }
