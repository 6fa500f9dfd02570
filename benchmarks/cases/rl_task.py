"""`losslab compare --task rl` (CartPole-v1, 5 agents x 5 seeds): within its 5-minute budget.

Self-timed: the whole command runs in a fresh process (``python -m losslab compare --task rl
--seeds 5``: training, statistics, report files), ``reps`` times; the median wall time is reported
against the issue's budget (300 s on this machine).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

BUDGET_S = 300.0


def cases(quick: bool) -> list[dict]:
    case = {
        "id": "rl_task_5seeds",
        "group": "lab",
        "mode": "run",
        # quick: a smoke test (1 seed, 1 epoch), not a measurement
        "params": {"reps": 1, "seeds": 1, "epochs": 1} if quick else {"reps": 1, "seeds": 5},
        "note": "wall time of `losslab compare --task rl --seeds 5` in a fresh process; budget 300 s",
    }
    if quick:
        return [case]
    goal = ["losslab compare --task rl (5 seeds)", "budget", "time", 1.0, "rl task within 5 min"]
    return [{**case, "goals": [goal]}]


def run(params: dict) -> dict:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(params["reps"]):
            cmd = [sys.executable, "-m", "losslab", "compare", "--task", "rl", "--out", tmp]
            cmd += ["--name", f"rl-{i}", "--quiet", "--seeds", str(params["seeds"])]
            if "epochs" in params:
                cmd += ["--epochs", str(params["epochs"])]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
    return {
        "variants": {
            "losslab compare --task rl (5 seeds)"
            if params["seeds"] == 5
            else f"losslab compare --task rl ({params['seeds']} seeds)": {
                "time_s": statistics.median(times)
            },
            "budget": {"time_s": BUDGET_S},
        },
        "baseline": "budget",
    }
