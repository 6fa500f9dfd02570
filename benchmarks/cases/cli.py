"""CLI start-up: `losslab --help` and `losslab tasks` answer without importing torch.

Self-timed: each command runs in a fresh interpreter (`python -m losslab ...`, so the console
script's own start-up is not counted differently from the baselines), ``reps`` times interleaved
with the baselines; the median wall time is reported. Baselines measured in the same run: an
empty interpreter, and one that imports torch (what the commands would cost if they imported it).
The goal is the issue's budget, 0.5 s on a 2-core CPU.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

BUDGET_S = 0.5
COMMANDS = {
    "losslab --help": [sys.executable, "-m", "losslab", "--help"],
    "losslab tasks": [sys.executable, "-m", "losslab", "tasks"],
    "python -c pass (empty interpreter)": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}


def cases(quick: bool) -> list[dict]:
    goals = [
        [name, "budget", "time", 1.0, f"{name} within {BUDGET_S} s"]
        for name in ("losslab --help", "losslab tasks")
    ]
    case = {
        "id": "cli_startup",
        "group": "cli",
        "mode": "run",
        "params": {"reps": 1 if quick else 15},
        "note": "median wall time of a fresh process; budget 0.5 s",
    }
    return [case] if quick else [{**case, "goals": goals}]  # one quick rep decides nothing


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run(params: dict) -> dict:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for cmd in COMMANDS.values():  # warm the file cache once
        _time(cmd)
    for _ in range(params["reps"]):
        for name, cmd in COMMANDS.items():
            times[name].append(_time(cmd))
    variants = {name: {"time_s": statistics.median(t)} for name, t in times.items()}
    variants["budget"] = {"time_s": BUDGET_S}
    return {"variants": variants, "baseline": "budget"}
