"""The lab: batched training of 32 / 128 models vs a loop, and the default `losslab compare`.

Self-timed cases that call ``benchmarks/bench_lab.py``'s functions (one torch thread, as that
script uses); see its docstring for the protocol. The baseline is the loop doing the same work.
"""

from __future__ import annotations

import bench_lab

BATCHED = "batched (train_stack, N models at once)"
LOOP = "loop of train_stack (same work)"
PLAIN = "plain PyTorch loop"


def cases(quick: bool) -> list[dict]:
    common = {"group": "lab", "mode": "run", "threads": 1}
    if quick:
        return [{**common, "id": "lab_batched_4", "params": {"models": 4, "epochs": 2, "reps": 1}}]
    return [
        {**common, "id": "lab_batched_32", "params": {"models": 32, "epochs": 20, "reps": 3}},
        {**common, "id": "lab_batched_128", "params": {"models": 128, "epochs": 10, "reps": 1}},
        {
            **common,
            "id": "compare_default",
            "params": {"compare": True, "reps": 2},
            "note": "wall time of `losslab compare` with no options in a fresh process; budget 60 s",
            "goals": [
                [
                    "losslab compare (default)",
                    "budget",
                    "time",
                    1.0,
                    "default compare within its 60 s budget",
                ]
            ],
        },
        {
            **common,
            "id": "lab_fashion_full_4",
            "params": {"fashion_full": True, "models": 4, "epochs": 1, "reps": 1},
            "note": "--full Fashion-MNIST (50,000 training images), CE, 4 seeds: one stack vs one at a time; "
            "needs Debian's dataset-fashion-mnist",
        },
    ]


def run(params: dict) -> dict:
    if params.get("compare"):
        r = bench_lab.bench_compare(params["reps"])
        return {
            "variants": {
                "losslab compare (default)": {"time_s": r["default_compare_s"]},
                "budget": {"time_s": r["budget_s"]},
            },
            "baseline": "budget",
        }
    if params.get("fashion_full"):
        r = bench_lab.bench_fashion_full(params["models"], params["epochs"], params["reps"])
        return {
            "variants": {
                LOOP: {"time_s": r["loop_same_work_s"]},
                BATCHED: {"time_s": r["batched_s"]},
            },
            "baseline": LOOP,
            "models": r["models"],
            "epochs": r["epochs"],
            "per_run_batched_s": r["per_run_batched_s"],
            "per_run_alone_s": r["per_run_alone_s"],
        }
    r = bench_lab.bench_batched(params["models"], params["epochs"], params["reps"])
    return {
        "variants": {
            LOOP: {"time_s": r["loop_same_work_s"]},
            PLAIN: {"time_s": r["loop_plain_pytorch_s"]},
            BATCHED: {"time_s": r["batched_s"]},
        },
        "baseline": LOOP,
        "models": r["models"],
        "epochs": r["epochs"],
    }
