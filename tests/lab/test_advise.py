"""`losslab advise` / ``losslab.advise``: planted properties are found and lead to their losses.

Each data set below is built with one known property (label noise at a known rate, heavy-tailed
or grossly corrupted regression targets, a 1:20 class ratio, duplicated rows) and the tests
check that the profile measures it and that the candidates answer it; clean data must get only
the baseline and the one generic alternative. The references are the planted quantities
themselves (the flipped labels, the corrupted rows, the class counts), not the implementation.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import make_classification
from typer.testing import CliRunner

import losslab
from losslab.cli import app
from losslab.lab import advisor as A
from losslab.lab import data as D

runner = CliRunner()

NOISE_TOLERANCE = 0.05  # |estimated - planted| noise rate on well-separated synthetic classes


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def separable(n: int, classes: int, *, seed: int = 0, weights=None):
    x, y = make_classification(
        n_samples=n,
        n_features=8,
        n_informative=6,
        n_redundant=0,
        n_classes=classes,
        n_clusters_per_class=1,
        class_sep=2.5,
        flip_y=0.0,
        weights=weights,
        random_state=seed,
    )
    return x, y


def with_symmetric_noise(y: np.ndarray, rate: float, classes: int, seed: int = 0):
    """Flip a ``rate`` share of labels to another class chosen uniformly; returns the mask."""
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < rate
    noisy = y.copy()
    noisy[flip] = (y[flip] + rng.integers(1, classes, flip.sum())) % classes
    return noisy, flip


def triggers(advice) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in advice.candidates:
        out.setdefault(c.trigger, set()).add(c.loss)
    return out


# -- label noise -------------------------------------------------------------------------------


def test_thirty_percent_label_noise_is_estimated_and_gets_noise_robust_losses():
    x, y = separable(1500, 3)
    noisy, flip = with_symmetric_noise(y, 0.3, 3)
    advice = losslab.advise(x, noisy, run=False)
    p = advice.profile
    assert p.kind == "multiclass"
    assert abs(p.noise_rate - flip.mean()) <= NOISE_TOLERANCE, (p.noise_rate, flip.mean())
    # cleanlab's flagged rows are mostly the flipped ones
    assert abs(p.label_issues - flip.sum()) <= 0.2 * flip.sum()
    assert p.properties == ("label_noise",)
    found = triggers(advice)
    assert {"generalized_cross_entropy", "symmetric_cross_entropy"} <= found["label_noise"]
    assert found["baseline"] == {"cross_entropy"}
    assert all(c.reason for c in advice.candidates)
    assert len(advice.candidates) <= 1 + A.MAX_PER_PROPERTY


def test_binary_label_noise_gets_a_bounded_loss():
    x, y = separable(1200, 2, seed=1)
    noisy, flip = with_symmetric_noise(y, 0.3, 2, seed=1)
    advice = losslab.advise(x, noisy, run=False)
    assert abs(advice.profile.noise_rate - flip.mean()) <= NOISE_TOLERANCE
    assert triggers(advice)["label_noise"] == {"mse_loss"}  # the noise family has no binary head
    assert any("binary head" in why for why in advice.not_proposed.values())


def test_clean_labels_estimate_almost_no_noise():
    x, y = separable(1500, 3, seed=2)
    profile = A.profile_arrays(x, y, "multiclass")
    assert profile.noise_rate < A.NOISE_RATE
    assert "label_noise" not in profile.properties


# -- regression tails ----------------------------------------------------------------------------


def linear_regression(n: int, noise: np.ndarray, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    return x, x @ rng.normal(size=6) + noise


def test_heavy_tailed_targets_get_robust_regression_losses():
    rng = np.random.default_rng(3)
    x, y = linear_regression(1500, rng.standard_t(1.5, size=1500))
    advice = losslab.advise(x, y, run=False)
    assert advice.profile.kind == "regression"
    assert advice.profile.properties == ("outliers",)
    found = triggers(advice)
    assert {"huber_loss", "l1_loss"} <= found["outliers"]
    assert found["baseline"] == {"mse_loss"}
    for c in advice.candidates:
        if c.trigger == "outliers":
            assert losslab.catalog.get(c.loss).properties_at(**c.kwargs)["robust_to_outliers"]


def test_gross_outliers_are_counted_on_the_residuals():
    rng = np.random.default_rng(4)
    n = 2000
    x, y = linear_regression(n, 0.5 * rng.normal(size=n), seed=4)
    bad = rng.random(n) < 0.05
    y[bad] += rng.choice([-1.0, 1.0], bad.sum()) * 10 * y.std()
    profile = A.profile_arrays(x, y, "regression")
    assert abs(profile.residual_outlier_fraction - bad.mean()) <= 0.01
    assert "outliers" in profile.properties


# -- imbalance ---------------------------------------------------------------------------------


def test_one_to_twenty_imbalance_gets_imbalance_losses():
    x, y = separable(2100, 2, weights=[20 / 21, 1 / 21], seed=5)
    advice = losslab.advise(x, y, run=False)
    counts = np.bincount(y)
    assert advice.profile.class_counts == tuple(int(c) for c in counts)
    assert advice.profile.imbalance_ratio == pytest.approx(counts.max() / counts.min())
    assert advice.profile.properties == ("imbalance",)
    labels = {c.label for c in advice.candidates if c.trigger == "imbalance"}
    assert labels == {
        "BCE (pos_weight = neg/pos)",
        "class-balanced BCE (beta=0.999)",
        "focal (alpha=0.25, gamma=2)",
    }


def test_multiclass_imbalance_gets_weighted_and_adjusted_losses():
    x, y = separable(2000, 3, weights=[0.9, 0.05, 0.05], seed=6)
    advice = losslab.advise(x, y, run=False)
    assert triggers(advice)["imbalance"] == {
        "cross_entropy",
        "softmax_focal_loss",
        "logit_adjusted_cross_entropy",
    }


def test_data_derived_weights_come_from_the_training_split():
    y_train = torch.tensor([0] * 30 + [1] * 6 + [2] * 4)
    ds = D.Dataset(*(torch.zeros(40, 2), y_train) * 3, num_classes=3)
    w = A._inverse_frequency_weight(ds)["weight"]
    by_hand = np.array([1 / 30, 1 / 6, 1 / 4])
    np.testing.assert_allclose(w.numpy(), 3 * by_hand / by_hand.sum(), rtol=1e-6)
    prior = A._class_prior(ds)["class_prior"]
    np.testing.assert_allclose(prior.numpy(), [0.75, 0.15, 0.1], rtol=1e-6)
    binary = D.Dataset(*(torch.zeros(40, 2), (y_train > 0).long()) * 3, num_classes=2)
    assert float(A._pos_weight(binary)["pos_weight"]) == pytest.approx(30 / 10)


# -- clean data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_clean_data_get_the_baseline_and_one_generic_alternative(kind):
    """The rule: no property found -> the baseline plus exactly one generic alternative; no
    imbalance, label-noise or outlier family."""
    if kind == "regression":
        rng = np.random.default_rng(7)
        x, y = linear_regression(1500, rng.normal(size=1500), seed=7)
    else:
        x, y = separable(1500, 2 if kind == "binary" else 3, seed=7)
    advice = losslab.advise(x, y, kind=kind, run=False)
    assert advice.profile.properties == ()
    assert [c.trigger for c in advice.candidates] == ["baseline", "generic"]
    families = {losslab.catalog.get(c.loss).family for c in advice.candidates}
    assert not families & {"imbalance", "noisy_labels", "cost_sensitive"}


# -- duplicates ----------------------------------------------------------------------------------


def test_duplicates_and_conflicting_duplicates_are_counted():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(400, 5))
    y = (x[:, 0] > 0).astype(int)
    x = np.vstack([x, x[:12]])  # 12 copies ...
    y = np.concatenate([y, y[:12]])
    y[-4:] = 1 - y[-4:]  # ... 4 of them with the other label
    profile = A.profile_arrays(x, y, "binary")
    assert profile.duplicate_rows == 8
    assert profile.conflicting_rows == 8  # 4 pairs, both rows of each
    assert any("duplicated rows" in c for c in profile.caveats)


# -- the study -----------------------------------------------------------------------------------


def test_end_to_end_tiny_study_recommends_a_candidate(tmp_path):
    x, y = separable(300, 3, seed=9)
    noisy, _ = with_symmetric_noise(y, 0.3, 3, seed=9)
    advice = losslab.advise(x, noisy, seeds=2, epochs=2, out=tmp_path, name="tiny")
    assert advice.folder == tmp_path / "tiny"
    for name in ("advice.json", "results.sqlite", "report.html", "data.parquet"):
        assert (advice.folder / name).exists(), name
    labels = [c.label for c in advice.candidates]
    assert advice.recommendation is not None
    assert advice.recommendation.recommended in labels
    stored = json.loads((advice.folder / "advice.json").read_text())
    assert [c["label"] for c in stored["candidates"]] == labels
    assert stored["recommendation"]["recommended"] == advice.recommendation.recommended
    assert stored["profile"]["kind"] == "multiclass"
    assert stored["summary"]["tasks"][0]["recommended"] == advice.recommendation.recommended
    # the reports show the profile, the candidates with their reasons and the caveats
    html = (advice.folder / "report.html").read_text(encoding="utf-8")
    section = html[html.index('<section class="advice"') :]
    section = section[: section.index("</section>")]
    assert html.index('<section class="advice"') < html.index('<section class="task"')
    assert stored["profile_lines"] == advice.profile.lines()
    assert "label noise (cleanlab" in section
    for c in advice.candidates:
        assert f'<td class="label">{c.label}</td>' in section
    assert "Caveat:" in section
    markdown = (advice.folder / "report.md").read_text(encoding="utf-8")
    assert "## Your data and the candidates (`losslab advise`)" in markdown


def test_run_false_keeps_no_data_to_run_on():
    x, y = separable(200, 2, seed=10)
    advice = losslab.advise(x, y, run=False)
    with pytest.raises(ValueError, match="advise: this advice has no data to run a study on"):
        A.run_candidates(advice)


def test_python_errors_name_advise():
    with pytest.raises(ValueError, match=r"advise: 'y' must be 1-D with one value per row"):
        losslab.advise(np.zeros((10, 2)), np.zeros(9), run=False)
    with pytest.raises(ValueError, match=r"advise: '--seeds' must be an integer >= 1"):
        losslab.advise(np.zeros((10, 2)), np.zeros(10), seeds=0, run=False)


# -- the command -------------------------------------------------------------------------------


@pytest.fixture
def csv_file(tmp_path):
    x, y = separable(300, 2, seed=11)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    frame["label"] = np.where(y == 1, "yes", "no")
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def _bad_inputs(tmp_path, csv_file):
    few = tmp_path / "few.csv"
    pd.DataFrame({"a": range(6), "y": [0.5, 1.5] * 3}).to_csv(few, index=False)
    return [
        ["--data", str(tmp_path / "missing.csv"), "--target", "label"],
        ["--data", str(csv_file), "--target", "Label "],
        ["--data", str(csv_file), "--target", "label", "--kind", "ordinal"],
        ["--data", str(csv_file), "--target", "label", "--kind", "regression"],
        ["--data", str(few), "--target", "y"],
    ]


def test_bad_data_get_compares_messages(tmp_path, csv_file):
    for args in _bad_inputs(tmp_path, csv_file):
        ours = run("advise", "--no-run", *args)
        theirs = run("compare", "--out", str(tmp_path / "runs"), *args)
        assert ours.exit_code == theirs.exit_code == 2, (args, ours.output)
        assert "Traceback" not in ours.output
        expected = " ".join(theirs.output.split()).replace("compare: ", "advise: ")
        assert " ".join(ours.output.split()) == expected, args
        assert expected.startswith("error: advise: '--")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            "advise: pass either '--data FILE' (with '--target COL') or '--task NAME', got neither",
        ),
        (
            ["--data", "x.csv", "--target", "y", "--task", "binary"],
            "advise: pass either '--data FILE' (with '--target COL') or '--task NAME', got both",
        ),
        (["--data", "x.csv"], "advise: '--target' must name the target column"),
        (
            ["--task", "binary", "--kind", "binary"],
            "advise: '--target'/'--kind' need '--data FILE'",
        ),
        (["--task", "nope"], "advise: '--task' must be one of"),
        (["--task", "segmentation"], "advise: '--task' must be a binary, multiclass or regression"),
        (["--task", "binary", "--seeds", "0"], "advise: '--seeds' must be an integer >= 1"),
        (["--task", "binary", "--name", "../x"], "advise: '--name' must be 1 to 100 letters"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(tmp_path, args, message):
    res = run("advise", "--out", str(tmp_path / "runs"), *args)
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert not (tmp_path / "runs").exists()


def test_no_run_prints_profile_and_candidates_and_writes_json(tmp_path, csv_file):
    out = tmp_path / "advice.json"
    res = runner.invoke(
        app, ["advise", "--data", str(csv_file), "--target", "label", "--quick", "--json", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "Profile of" in res.output and "Candidates" in res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
    stored = json.loads(out.read_text())
    assert stored["study"] is None and stored["recommendation"] is None
    assert stored["profile"]["classes"] == ["no", "yes"]
    assert [c["trigger"] for c in stored["candidates"]] == ["baseline", "generic"]


def test_command_runs_the_quick_study(tmp_path, csv_file):
    res = run(
        "advise",
        "--data",
        str(csv_file),
        "--target",
        "label",
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--out",
        str(tmp_path),
        "--name",
        "cli",
    )
    assert res.exit_code == 0, res.output
    assert "Advice: use " in res.output
    assert (tmp_path / "cli" / "advice.json").exists()
    assert (tmp_path / "cli" / "report.html").exists()


def test_builtin_regression_task_with_planted_outliers_gets_robust_losses():
    """The `regression` task corrupts 10% of its training and validation targets by +-5 sd."""
    advice = A.advise_task("regression", run=False)
    assert advice.profile.rows == 353  # 80% of diabetes' 442 rows: the test split is not read
    assert advice.profile.residual_outlier_fraction >= 0.05
    assert "outliers" in advice.profile.properties
    assert {"huber_loss", "l1_loss"} <= triggers(advice)["outliers"]


def test_imbalanced_data_are_studied_on_f1():
    x, y = separable(2100, 2, weights=[20 / 21, 1 / 21], seed=12)
    profile = losslab.advise(x, y, run=False).profile
    task = losslab.lab.tasks.get_task("binary")
    assert A._study_primary(profile, task) == "f1"  # accuracy would reward the majority class
    clean = losslab.advise(*separable(600, 2, seed=12), run=False).profile
    assert A._study_primary(clean, task) == task.primary
