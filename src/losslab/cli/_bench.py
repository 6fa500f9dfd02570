"""``losslab bench``: the benchmark runner (time and peak memory against same-run baselines).

The runner lives here so ``losslab bench`` works from an installed package; the *cases* live in
the repository's ``benchmarks/cases/*.py`` (found with ``--benchmarks``, ``$LOSSLAB_BENCHMARKS``,
``./benchmarks`` or next to an editable install), and ``python benchmarks/run.py`` calls
:func:`main` with that folder.

A case module defines ``cases(quick: bool) -> list[dict]`` and either
``setup(params, variant) -> step`` (a zero-argument callable doing one forward+backward and
releasing its outputs) or ``run(params) -> dict`` for self-timed cases (the lab's). Each case
dict has ``id``, ``group``, ``params``, ``variants`` (names; the first is the baseline unless
``baseline`` says otherwise), optional ``rounds``/``reps``/``warmup``/``threads``/``env``
(environment per variant) and ``goals`` (``[variant, baseline, "time"|"memory", max ratio,
text]``).

Protocol (every number is a median, every ratio is against a baseline measured in the same
run): for each round, each variant runs in a **fresh subprocess** (variants interleaved, so a
busy machine slows them alike): build the inputs, ``warmup`` untimed calls, then ``reps``
timed calls. Peak memory is the resident-set high-water mark: before each timed call the
kernel's counter is reset (``/proc/self/clear_refs`` <- 5) and the extra peak is
``VmHWM - VmRSS`` around the call (torch's CPU allocations are invisible to tracemalloc; RSS
sees them). Without ``clear_refs`` (non-Linux) ``ru_maxrss`` since process start is used and
the report says so. Output: ``<out>/bench.json`` and ``<out>/bench.md`` (cases already there
from other runs are kept unless re-measured).
"""

from __future__ import annotations

import fnmatch
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

__all__ = ["register_commands", "main", "find_benchmarks_dir", "run_suite"]

RESULTS_JSON = "bench.json"
RESULTS_MD = "bench.md"


# -- locating the cases ---------------------------------------------------------------------


def find_benchmarks_dir(explicit: str | Path | None = None) -> Path | None:
    """The folder holding ``cases/``: explicit, $LOSSLAB_BENCHMARKS, ./benchmarks, the repo's."""
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get("LOSSLAB_BENCHMARKS"):
        candidates.append(Path(os.environ["LOSSLAB_BENCHMARKS"]))
    candidates.append(Path.cwd() / "benchmarks")
    candidates.append(Path(__file__).resolve().parents[3] / "benchmarks")  # src/losslab/cli -> repo
    for c in candidates:
        if (c / "cases").is_dir():
            return c.resolve()
    return None


def _load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"losslab_bench_{path.stem}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - not a python file
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent.parent))  # cases may import benchmarks' helpers
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return module


def discover(bench_dir: Path, quick: bool, patterns: Sequence[str] = ()) -> list[tuple[Path, dict]]:
    """(module path, case) for every case whose id or group matches one of ``patterns``."""
    found = []
    for path in sorted((bench_dir / "cases").glob("*.py")):
        if path.name.startswith("_"):
            continue
        for case in _load_module(path).cases(quick):
            if not patterns or any(
                fnmatch.fnmatch(case["id"], p)
                or fnmatch.fnmatch(case["group"], p)
                or p == case["group"]
                for p in patterns
            ):
                found.append((path, case))
    return found


# -- the worker (one subprocess per case x variant x round) -----------------------------------


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _measure(step: Callable[[], Any], reps: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        step()
    times, peaks = [], []
    method = "VmHWM-VmRSS (clear_refs reset)"
    for _ in range(reps):
        gc.collect()
        if _reset_peak():
            before = _status()["VmRSS"]
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
            # the kernel's counters move in pages around the reset: a call that allocates nothing
            # can read a few pages below `before`; that is 0 extra memory
            peaks.append(max(0, _status()["VmHWM"] - before))
        else:  # pragma: no cover - non-Linux
            import resource

            method = "ru_maxrss since process start"
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
            peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"times": times, "peaks": peaks, "memory_method": method}


def _run_job(module: ModuleType, job: dict) -> dict:
    import torch

    default_threads = torch.get_num_threads()
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    try:
        if job["mode"] == "run":
            result = module.run(job["params"])
        else:
            step = module.setup(job["params"], job["variant"])
            result = _measure(step, job["reps"], job["warmup"])
        result["threads"] = torch.get_num_threads()
    except Exception as e:  # reported in the table, the suite goes on
        result = {"error": f"{type(e).__name__}: {e}"}
    finally:
        torch.set_num_threads(default_threads)
    return result


def _worker(argv: Sequence[str]) -> None:
    """Run a list of jobs of one case module; print their results as one JSON line."""
    jobs = json.loads(argv[0])
    module = _load_module(Path(jobs[0]["module"]))
    results = [_run_job(module, job) for job in jobs]
    print("@@RESULT@@" + json.dumps(results))


def _spawn(jobs: list[dict], env_extra: dict[str, str] | None, timeout: float | None) -> list[dict]:
    env = {**os.environ, **(env_extra or {})}
    code = "import sys; from losslab.cli._bench import _worker; _worker(sys.argv[1:])"
    cmd = [sys.executable, "-c", code, json.dumps(jobs)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"error": f"worker timed out after {timeout} s"} for _ in jobs]
    for line in res.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@") :])
    tail = (res.stderr or res.stdout)[-2000:]
    return [{"error": f"worker exited with {res.returncode}: {tail}"} for _ in jobs]


# -- the suite --------------------------------------------------------------------------------


def _summarise(case: dict, runs: dict[str, list[dict]]) -> dict:
    variants: dict[str, Any] = {}
    for name, results in runs.items():
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            variants[name] = {"error": errors[0]}
            continue
        times = [t for r in results for t in r["times"]]
        peaks = [p for r in results for p in r["peaks"]]
        variants[name] = {
            "time_s": statistics.median(times),
            "times_s": times,
            "peak_extra_bytes": int(statistics.median(peaks)) if peaks else None,
            "memory_method": results[0].get("memory_method"),
            "threads": results[0].get("threads"),
        }
    return variants


def _ratios(case: dict, variants: dict[str, Any]) -> None:
    base = variants.get(case.get("baseline") or case["variants"][0], {})
    for v in variants.values():
        if "error" in v or "error" in base or not base:
            continue
        v["speedup_vs_baseline"] = base["time_s"] / v["time_s"] if v["time_s"] else None
        if v.get("peak_extra_bytes") is not None and base.get("peak_extra_bytes"):
            v["memory_vs_baseline"] = v["peak_extra_bytes"] / base["peak_extra_bytes"]


def _goals(case: dict, variants: dict[str, Any]) -> list[dict]:
    out = []
    for variant, baseline, metric, limit, text in case.get("goals", []):
        a, b = variants.get(variant, {}), variants.get(baseline, {})
        key = "time_s" if metric == "time" else "peak_extra_bytes"
        if a.get(key) is None or not b.get(key):
            ratio = None
        else:
            ratio = a[key] / b[key]
        out.append(
            {
                "variant": variant,
                "baseline": baseline,
                "metric": metric,
                "ratio": ratio,
                "limit": limit,
                "met": None if ratio is None else ratio <= limit,
                "goal": text,
            }
        )
    return out


def _jobs(path: Path, case: dict, rounds: int) -> list[tuple[str, dict]]:
    """(variant, job) in execution order: rounds outermost, variants interleaved."""
    if case.get("mode") == "run":
        return [
            (
                "*",
                {
                    "module": str(path),
                    "mode": "run",
                    "params": case["params"],
                    "threads": case.get("threads"),
                },
            )
        ]
    return [
        (
            variant,
            {
                "module": str(path),
                "mode": "setup",
                "params": case["params"],
                "variant": variant,
                "reps": int(case.get("reps", 3)),
                "warmup": int(case.get("warmup", 1)),
                "threads": case.get("threads"),
            },
        )
        for _ in range(rounds)
        for variant in case["variants"]
    ]


def _record(case: dict, results: list[tuple[str, dict]]) -> dict:
    """The JSON record of one case from its (variant, worker result) pairs."""
    record = {
        "id": case["id"],
        "group": case["group"],
        "params": case["params"],
        "note": case.get("note", ""),
    }
    if case.get("mode") == "run":
        res = results[0][1]
        variants = {"error": {"error": res["error"]}} if "error" in res else res["variants"]
        baseline = res.get("baseline")
        record["extra"] = {
            k: v for k, v in res.items() if k not in ("variants", "baseline", "threads", "error")
        }
    else:
        runs: dict[str, list[dict]] = {}
        for variant, res in results:
            runs.setdefault(variant, []).append(res)
        variants = _summarise(case, runs)
        baseline = case.get("baseline") or case["variants"][0]
    _ratios({**case, "baseline": baseline, "variants": list(variants)}, variants)
    record.update({"baseline": baseline, "variants": variants, "goals": _goals(case, variants)})
    return record


def _status_line(res: dict) -> str:
    if "error" in res:
        return res["error"].splitlines()[0][:200]
    if "times" not in res:
        return "done"
    return f"{statistics.median(res['times']):.4f} s, peak +{statistics.median(res['peaks']) / 2**20:.1f} MiB"


def run_case(
    path: Path, case: dict, *, rounds: int | None = None, log: Callable[[str], None] = print
) -> dict:
    """Measure one case, each job in its own subprocess; returns its JSON record."""
    results = []
    for variant, job in _jobs(path, case, rounds or int(case.get("rounds", 3))):
        t0 = time.perf_counter()
        (res,) = _spawn([job], case.get("env", {}).get(variant), case.get("timeout"))
        results.append((variant, res))
        log(
            f"  [{case['id']}] {variant}: {_status_line(res)} ({time.perf_counter() - t0:.0f} s wall)"
        )
    return _record(case, results)


def run_module_batched(
    path: Path, cases: list[dict], *, log: Callable[[str], None] = print
) -> list[dict]:
    """Quick mode: every job of one case module in a single subprocess, one round."""
    plan = [(case, variant, job) for case in cases for variant, job in _jobs(path, case, 1)]
    t0 = time.perf_counter()
    results = _spawn([job for _, _, job in plan], None, None)
    log(f"  {path.name}: {len(plan)} jobs in one worker ({time.perf_counter() - t0:.0f} s wall)")
    records = []
    for case in cases:
        mine = [(variant, res) for (c, variant, _), res in zip(plan, results) if c is case]
        records.append(_record(case, mine))
    return records


def _machine() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cuda": torch.cuda.is_available(),
    }


def _fmt_mib(b: int | None) -> str:
    if b is None:
        return ""
    mib = b / 2**20
    return f"{mib:,.0f}" if mib >= 10 else f"{mib:.2f}"


def _fmt_ratio(r: float | None, suffix: str = "x") -> str:
    return "" if r is None else f"{r:.2f}{suffix}"


def render_markdown(doc: dict) -> str:
    m = doc["machine"]
    lines = [
        "# losslab benchmarks",
        "",
        f"Command: `{doc['command']}` ({doc['mode']} mode). Machine: {m['cpus']} CPUs "
        f"({m['torch_threads']} torch threads), torch {m['torch']}, Python {m['python']}, "
        f"{m['platform']}.",
        "",
        "Times are medians over repetitions (each variant in fresh subprocesses, interleaved); "
        "**speed-up** = baseline time / variant time and **memory** = variant extra peak / "
        "baseline extra peak, both against the baseline (first row of each case) measured in the "
        "same run. Extra peak = resident-set high-water mark during one call minus the resident "
        "set just before it (`/proc/self/clear_refs` reset), so torch's allocations count.",
        "",
    ]
    goals = [(c, g) for c in doc["cases"].values() for g in c.get("goals", [])]
    if goals:
        lines += ["## Goals", "", "| case | goal | measured | met |", "|---|---|---:|:---:|"]
        for c, g in goals:
            met = "n/a" if g["met"] is None else ("yes" if g["met"] else "**no**")
            lines.append(f"| {c['id']} | {g['goal']} | {_fmt_ratio(g['ratio'])} | {met} |")
        lines.append("")
    groups: dict[str, list[dict]] = {}
    for c in doc["cases"].values():
        groups.setdefault(c["group"], []).append(c)
    for group, cases in groups.items():
        lines += [
            f"## {group}",
            "",
            "| case | variant | time (s) | speed-up | extra peak (MiB) | memory |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for c in cases:
            for name, v in c["variants"].items():
                if "error" in v:
                    lines.append(
                        f"| {c['id']} | {name} | error: {v['error'].splitlines()[0][:80]} | | | |"
                    )
                    continue
                lines.append(
                    f"| {c['id']} | {name}{' (baseline)' if name == c.get('baseline') else ''} | "
                    f"{v['time_s']:.4g} | {_fmt_ratio(v.get('speedup_vs_baseline'))} | "
                    f"{_fmt_mib(v.get('peak_extra_bytes'))} | {_fmt_ratio(v.get('memory_vs_baseline'))} |"
                )
        notes = [f"- {c['id']}: {c['note']}" for c in cases if c.get("note")]
        lines += ["", *notes, ""] if notes else [""]
    return "\n".join(lines).rstrip() + "\n"


def run_suite(
    bench_dir: Path,
    *,
    quick: bool,
    patterns: Sequence[str],
    out: Path,
    command: str,
    log: Callable[[str], None] = print,
) -> dict:
    cases = discover(bench_dir, quick, patterns)
    if not cases:
        raise ValueError(
            f"bench: '--cases' must match at least one case id or group, got {list(patterns)}"
        )
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / RESULTS_JSON
    doc: dict[str, Any] = {"cases": {}}
    if json_path.exists():
        try:
            previous = json.loads(json_path.read_text())
            if previous.get("mode") == ("quick" if quick else "full"):
                doc["cases"] = previous.get("cases", {})
        except (OSError, ValueError):
            pass
    doc.update(
        {
            "command": command,
            "mode": "quick" if quick else "full",
            "machine": _machine(),
            "memory_method": "VmHWM - VmRSS around each call after /proc/self/clear_refs=5",
            "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )

    def save() -> None:
        json_path.write_text(json.dumps(doc, indent=2))  # partial results survive an interruption
        (out / RESULTS_MD).write_text(render_markdown(doc))

    if quick:
        by_module: dict[Path, list[dict]] = {}
        for path, case in cases:
            by_module.setdefault(path, []).append(case)
        for path, group in by_module.items():
            for record in run_module_batched(path, group, log=log):
                doc["cases"][record["id"]] = record
            save()
    else:
        for path, case in cases:
            log(f"{case['id']} ({path.name})")
            doc["cases"][case["id"]] = run_case(path, case, log=log)
            save()
    return doc


# -- entry points -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, *, bench_dir: Path | None = None) -> int:
    """``python benchmarks/run.py [--quick] [--cases PATTERN ...] [--out DIR]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="tiny sizes, one round (CI smoke, seconds)"
    )
    ap.add_argument("--cases", nargs="*", default=[], help="case ids or groups (glob patterns)")
    ap.add_argument("--out", default=None, help="output folder (default <benchmarks>/results)")
    ap.add_argument("--benchmarks", default=None, help="the benchmarks folder (with cases/)")
    args = ap.parse_args(argv)
    where = bench_dir or find_benchmarks_dir(args.benchmarks)
    if where is None:
        print(
            "bench: 'benchmarks' must be the repository's benchmarks/ folder (with cases/); "
            "pass --benchmarks or set LOSSLAB_BENCHMARKS",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out) if args.out else where / "results"
    command = (
        "python benchmarks/run.py"
        + (" --quick" if args.quick else "")
        + (f" --cases {' '.join(args.cases)}" if args.cases else "")
    )
    try:
        doc = run_suite(where, quick=args.quick, patterns=args.cases, out=out, command=command)
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
    print(render_markdown(doc))
    return 0


def register_commands(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        quick: Annotated[
            bool, typer.Option("--quick", help="tiny sizes, one round (seconds)")
        ] = False,
        cases: Annotated[
            list[str] | None, typer.Option("--cases", help="case id or group (glob); repeatable")
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", help="output folder")] = None,
        benchmarks: Annotated[
            Path | None, typer.Option("--benchmarks", help="the benchmarks/ folder")
        ] = None,
    ) -> None:
        """Time and peak memory of losslab's fast paths against same-run baselines."""
        argv = (["--quick"] if quick else []) + (["--cases", *cases] if cases else [])
        argv += ["--out", str(out)] if out else []
        argv += ["--benchmarks", str(benchmarks)] if benchmarks else []
        code = main(argv)
        if code:
            raise typer.Exit(code=code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
