"""Lab benchmarks: batched training vs a loop, and the default `losslab compare` wall time.

Run:  python benchmarks/bench_lab.py [--quick] [--out benchmarks/results]

* batched: one StackedMLP holding N models (N seeds) trained by `train_stack`, against two loops
  measured in the same process: (a) `train_stack` called once per model (the same work, the
  same diagnostics), (b) a plain PyTorch loop (nn.Sequential + torch.optim.Adam + the loss, no
  per-epoch metrics) — the least a user's own loop would cost.
* compare: the default study (`losslab compare`, no options) in a fresh process, wall time.
* jobs: `losslab compare --jobs 1` vs `--jobs 2` on the same study, interleaved (bench_jobs).
* fashion_full: `--full` Fashion-MNIST, N models stacked vs one at a time (bench_fashion_full).

Writes <out>/lab.json and <out>/lab.md. Medians over repetitions.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def _median_time(fn, reps: int) -> float:
    fn()  # warm-up: first-call imports and allocations are not what we measure
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_batched(n_models: int, epochs: int, reps: int) -> dict:
    from losslab.lab.tasks import get_task
    from losslab.lab.train import RunKey, TrainConfig, train_stack

    task = get_task("binary")
    comp = task.competitors[1]  # BCE
    data = {s: task.load(s % 5) for s in range(n_models)}
    cfg = TrainConfig(epochs=epochs, hidden=task.hidden, batch_size=task.batch_size)
    keys = [RunKey(s, 0.01) for s in range(n_models)]

    def batched():
        train_stack(task, comp, keys, data, cfg)

    def loop_same_work():
        for k in keys:
            train_stack(task, comp, [k], data, cfg)

    def loop_plain_pytorch():
        for k in keys:
            ds = data[k.seed]
            g = torch.Generator().manual_seed(k.seed)
            net = torch.nn.Sequential(
                torch.nn.Linear(ds.num_features, task.hidden[0]),
                torch.nn.ReLU(),
                torch.nn.Linear(task.hidden[0], 1),
            )
            opt = torch.optim.Adam(net.parameters(), lr=k.lr)
            y = ds.y_train.float()
            n = len(y)
            for _ in range(epochs):
                perm = torch.randperm(n, generator=g)
                for s in range(0, n, task.batch_size):
                    idx = perm[s : s + task.batch_size]
                    opt.zero_grad()
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(
                        net(ds.x_train[idx])[:, 0], y[idx]
                    )
                    loss.backward()
                    opt.step()

    t_b = _median_time(batched, reps)
    t_l = _median_time(loop_same_work, reps)
    t_p = _median_time(loop_plain_pytorch, reps)
    return {
        "models": n_models,
        "epochs": epochs,
        "batched_s": t_b,
        "loop_same_work_s": t_l,
        "loop_plain_pytorch_s": t_p,
        "speedup_vs_loop_same_work": t_l / t_b,
        "speedup_vs_plain_pytorch_loop": t_p / t_b,
    }


def bench_fashion_full(n_models: int, epochs: int, reps: int) -> dict:
    """`--full` Fashion-MNIST (50,000 / 10,000 / 10,000 images): the default MLP with CE, N seeds
    trained as one stack vs one at a time (the same work), and the time per run."""
    from losslab.lab import data as D
    from losslab.lab.tasks import get_task
    from losslab.lab.train import RunKey, TrainConfig, train_stack

    task = get_task("fashion-mnist")
    comp = task.competitors[0]  # CE
    data = {s: D.fashion_mnist_full(s) for s in range(n_models)}
    cfg = TrainConfig(epochs=epochs, hidden=task.hidden, batch_size=task.batch_size)
    keys = [RunKey(s, 0.01) for s in range(n_models)]
    t_b = _median_time(lambda: train_stack(task, comp, keys, data, cfg), reps)
    t_l = _median_time(lambda: [train_stack(task, comp, [k], data, cfg) for k in keys], reps)
    return {
        "models": n_models,
        "epochs": epochs,
        "train_images": len(data[0].y_train),
        "batched_s": t_b,
        "loop_same_work_s": t_l,
        "per_run_batched_s": t_b / n_models,
        "per_run_alone_s": t_l / n_models,
        "speedup_vs_loop_same_work": t_l / t_b,
    }


def bench_compare(reps: int) -> dict:
    times = []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = subprocess.run(
                [sys.executable, "-m", "losslab.cli", "compare", "--out", tmp, "--quiet"],
                capture_output=True,
                text=True,
            )
            times.append(time.perf_counter() - t0)
            if res.returncode != 0:
                raise RuntimeError(f"losslab compare failed:\n{res.stderr}")
    return {"default_compare_s": statistics.median(times), "runs": reps, "budget_s": 60.0}


def bench_jobs(reps: int, args: tuple[str, ...] = ()) -> dict:
    """`losslab compare --jobs 1` against `--jobs 2` on the same study, each in a fresh process,
    interleaved (1, 2, 1, 2, ...) so both see the same machine load. Also the CPU seconds each
    spent (its process tree): a wall time near the CPU time means only one core was free."""
    import os
    import resource

    walls: dict[int, list[float]] = {1: [], 2: []}
    cpus: dict[int, list[float]] = {1: [], 2: []}
    loads = []
    for _ in range(reps):
        for jobs in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                loads.append(os.getloadavg()[0])
                t0 = time.perf_counter()
                res = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "losslab.cli",
                        "compare",
                        *args,
                        "--jobs",
                        str(jobs),
                        "--out",
                        tmp,
                        "--quiet",
                    ],
                    capture_output=True,
                    text=True,
                )
                walls[jobs].append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus[jobs].append(
                    after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                )
                if res.returncode != 0:
                    raise RuntimeError(f"losslab compare --jobs {jobs} failed:\n{res.stderr}")
    out = {
        "args": " ".join(args) or "(default study)",
        "reps": reps,
        "cpus": os.cpu_count(),
        "load_avg_1min_median": statistics.median(loads),
    }
    for jobs in (1, 2):
        out[f"jobs{jobs}_s"] = statistics.median(walls[jobs])
        out[f"jobs{jobs}_cpu_s"] = statistics.median(cpus[jobs])
    out["speedup_jobs2_vs_jobs1"] = out["jobs1_s"] / out["jobs2_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a smoke run (seconds)")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        results = {"batched": [bench_batched(4, 2, 1)]}
    else:
        results = {
            "batched": [bench_batched(32, 20, 3), bench_batched(128, 10, 1)],
            "compare": bench_compare(2),
        }
    results["machine"] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    (out / "lab.json").write_text(json.dumps(results, indent=2))
    lines = [
        "| models | epochs | batched (s) | loop, same work (s) | speed-up | plain PyTorch loop (s) | speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["batched"]:
        lines.append(
            f"| {r['models']} | {r['epochs']} | {r['batched_s']:.2f} | {r['loop_same_work_s']:.2f} | "
            f"{r['speedup_vs_loop_same_work']:.1f}x | {r['loop_plain_pytorch_s']:.2f} | "
            f"{r['speedup_vs_plain_pytorch_loop']:.1f}x |"
        )
    if "compare" in results:
        c = results["compare"]
        lines += [
            "",
            f"Default `losslab compare`: {c['default_compare_s']:.1f} s (median of {c['runs']}; budget {c['budget_s']:.0f} s)",
        ]
    (out / "lab.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
