"""`losslab compare --jobs 2` against `--jobs 1`: the same study, fresh processes, same run.

Self-timed (``benchmarks/bench_lab.py``'s ``bench_jobs``): the two are interleaved so both see
the same machine load; each variant also reports the CPU seconds its process tree used (a wall
time close to the CPU time means only one core was free for the study).
"""

from __future__ import annotations

import bench_lab

JOBS1 = "losslab compare --jobs 1"
JOBS2 = "losslab compare --jobs 2"


def cases(quick: bool) -> list[dict]:
    common = {"group": "lab", "mode": "run"}
    if quick:
        return [
            {
                **common,
                "id": "compare_jobs_tiny",
                "params": {
                    "reps": 1,
                    "args": [
                        "--task",
                        "binary",
                        "--seeds",
                        "1",
                        "--epochs",
                        "1",
                        "--loss",
                        "hinge_loss,binary_cross_entropy_with_logits",
                    ],
                },
            }
        ]
    return [
        {
            **common,
            "id": "compare_jobs",
            "params": {"reps": 3, "args": ["--seeds", "3"]},
            "note": "default tasks, 3 seeds: --jobs 2 vs --jobs 1 (wall time, fresh processes, interleaved)",
            "goals": [[JOBS2, JOBS1, "time", 1.0, "--jobs 2 at least as fast as --jobs 1"]],
        }
    ]


def run(params: dict) -> dict:
    r = bench_lab.bench_jobs(params["reps"], tuple(params["args"]))
    return {
        "variants": {
            JOBS1: {"time_s": r["jobs1_s"], "cpu_s": r["jobs1_cpu_s"]},
            JOBS2: {"time_s": r["jobs2_s"], "cpu_s": r["jobs2_cpu_s"]},
        },
        "baseline": JOBS1,
        "cpus": r["cpus"],
        "load_avg_1min_median": r["load_avg_1min_median"],
    }
