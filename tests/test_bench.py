"""The benchmark suite's quick mode: it runs, and its JSON and Markdown are well-formed.

Never asserts on timings (a smoke test on a shared machine); only on structure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from losslab.cli import app
from losslab.cli._bench import find_benchmarks_dir, main

BENCH = find_benchmarks_dir(Path(__file__).resolve().parents[1] / "benchmarks")
pytestmark = pytest.mark.skipif(BENCH is None, reason="needs the repository's benchmarks/ folder")

GROUPS = {"ce_logits", "linear_ce", "elementwise", "lab", "cli"}
SELF_TIMED = {"lab", "cli"}  # cases that time themselves (no per-call times or memory)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert main(["--quick", "--out", str(out)], bench_dir=BENCH) == 0
    return out


def test_quick_run_writes_wellformed_json(quick_run):
    doc = json.loads((quick_run / "bench.json").read_text())
    assert doc["mode"] == "quick"
    assert {"python", "torch", "cpus"} <= set(doc["machine"])
    assert {c["group"] for c in doc["cases"].values()} == GROUPS
    for case_id, case in doc["cases"].items():
        assert case["id"] == case_id
        assert case["baseline"] in case["variants"], case_id
        for name, v in case["variants"].items():
            assert "error" not in v, f"{case_id} / {name}: {v.get('error')}"
            assert v["time_s"] > 0
            assert v["speedup_vs_baseline"] > 0
            if case["group"] not in SELF_TIMED:
                assert len(v["times_s"]) >= 1 and v["peak_extra_bytes"] >= 0
                assert v["memory_method"].startswith(("VmHWM", "ru_maxrss"))
        base = case["variants"][case["baseline"]]
        assert base["speedup_vs_baseline"] == pytest.approx(1.0)


def test_quick_run_writes_a_markdown_table(quick_run):
    md = (quick_run / "bench.md").read_text()
    assert md.startswith("# losslab benchmarks")
    for group in GROUPS:
        assert f"## {group}" in md
    header = "| case | variant | time (s) | speed-up | extra peak (MiB) | memory |"
    assert header in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "(baseline)" in line]
    assert len(rows) >= len(json.loads((quick_run / "bench.json").read_text())["cases"])
    for line in md.splitlines():
        if line.startswith("|"):
            assert line.count("|") == header.count("|") or line.startswith("| case | goal"), line


def test_cli_bench_selects_cases_and_rejects_unknown(tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "bench",
            "--quick",
            "--cases",
            "ce_logits",
            "--out",
            str(tmp_path),
            "--benchmarks",
            str(BENCH),
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert {c["group"] for c in doc["cases"].values()} == {"ce_logits"}
    res = runner.invoke(
        app,
        [
            "bench",
            "--quick",
            "--cases",
            "no_such_case",
            "--out",
            str(tmp_path),
            "--benchmarks",
            str(BENCH),
        ],
    )
    assert res.exit_code == 2


def test_find_benchmarks_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOSSLAB_BENCHMARKS", raising=False)
    assert find_benchmarks_dir(tmp_path / "nowhere") == BENCH  # falls back to the repository's
    (tmp_path / "mine" / "cases").mkdir(parents=True)
    assert find_benchmarks_dir(tmp_path / "mine") == (tmp_path / "mine").resolve()
    monkeypatch.setenv("LOSSLAB_BENCHMARKS", str(tmp_path / "mine"))
    assert find_benchmarks_dir() == (tmp_path / "mine").resolve()


def test_elementwise_variants_compute_the_same_loss():
    """Each elementwise case compares like with like: every variant gives the same value."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location(
        "bench_elementwise", BENCH / "cases" / "elementwise.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    gen = torch.Generator().manual_seed(0)
    for case in mod.cases(quick=True):
        name = case["params"]["loss"]
        if "hw" in case["params"]:
            x = torch.randn(2, 4, 8, 8, generator=gen, dtype=torch.float64)
            y = torch.randint(0, 4, (2, 8, 8), generator=gen)
        else:
            x = torch.randn(500, generator=gen, dtype=torch.float64)
            y = (
                torch.randint(0, 2, (500,), generator=gen).double()
                if name == "sigmoid_focal_loss"
                else torch.randn(500, generator=gen, dtype=torch.float64)
            )
        values = {v: mod.loss_fn(name, v)(x, y) for v in case["variants"]}
        ref = values[mod.LOSSLAB]
        assert len(values) >= 2
        for v, got in values.items():  # (MONAI's focal loss computes in float32)
            torch.testing.assert_close(got.double(), ref, rtol=1e-6, atol=1e-9, msg=f"{name}: {v}")
