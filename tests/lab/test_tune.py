"""`losslab tune`: search spaces from the catalog, a tiny tune end to end, resume, CLI errors."""

from __future__ import annotations

import json
import math
import sqlite3

import optuna
import pytest
from typer.testing import CliRunner

from losslab import catalog
from losslab.cli import app
from losslab.lab import tuner as T
from losslab.lab.store import Store
from losslab.lab.tasks import task_names

runner = CliRunner()
optuna.logging.set_verbosity(optuna.logging.WARNING)


# -- search spaces ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", catalog.names())
def test_every_sampled_setting_passes_the_losss_own_validation(name):
    spec = catalog.get(name)
    space = T.search_space(spec)
    assert "lr" in space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(6):
        trial = study.ask()
        hp = {n: d.suggest(trial) for n, d in space.items()}
        lr = hp.pop("lr")
        assert 1e-4 <= lr <= 1e-1
        spec.setting(**hp)  # raises on a value the loss's declared constraints refuse
        for n, v in hp.items():
            d = space[n]
            if d.kind == "categorical":
                assert v in spec.params[n].choices or (
                    spec.params[n].kind == "bool" and v in (0, 1)
                )
            else:
                assert d.low <= v <= d.high
        study.tell(trial, 0.0)
    for n in space:
        if n != "lr":  # every dimension is a declared hyperparameter, never a tensor
            assert n in spec.params and spec.params[n].kind != "tensor"
            assert n not in T.NOT_TUNED


def test_search_space_follows_the_declared_constraints():
    focal = T.search_space("sigmoid_focal_loss")
    assert sorted(focal) == ["alpha", "gamma", "lr"]
    assert (focal["alpha"].low, focal["alpha"].high, focal["alpha"].log) == (0.0, 1.0, False)
    assert focal["gamma"].low == 0.0 and focal["gamma"].high > 2.0  # around the default 2
    huber = T.search_space("huber_loss")["delta"]  # gt=0, no upper bound: a positive scale
    assert huber.log and huber.low == pytest.approx(0.1) and huber.high == pytest.approx(10.0)
    gce = T.search_space("generalized_cross_entropy")["q"]  # (0, 1]: the open end is excluded
    assert 0 < gce.low < 0.01 and gce.high == 1.0
    triplet = T.search_space("batch_triplet_loss")
    assert triplet["mining"].choices == ("all", "hard", "semihard")
    assert T.search_space("triplet_margin_loss")["swap"].choices == (False, True)
    lr = focal["lr"]
    assert lr.log and (lr.low, lr.high) == (1e-4, 1e-1)


@pytest.mark.parametrize("name", ["mse_loss", "binary_cross_entropy_with_logits", "l1_loss"])
def test_a_loss_with_nothing_tunable_searches_the_learning_rate_only(name):
    # their only hyperparameters are tensors (weights), or nothing
    assert list(T.search_space(name)) == ["lr"]
    assert T.search_space(name, lr=False) == {}


def test_fixed_trial_at_the_bounds_is_valid():
    spec = catalog.get("generalized_cross_entropy")
    q = T.search_space(spec)["q"]
    for value in (q.low, q.high):
        trial = optuna.trial.FixedTrial({"q": value})
        spec.setting(q=q.suggest(trial))


def _study_with(params_values, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for params, value in params_values:
        dists = {k: optuna.distributions.FloatDistribution(0.0, 10.0) for k in params}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value))
    return study


def test_importances_need_two_parameters_and_varying_values():
    # the objective depends on "a" only: a gets (nearly) all the importance
    rows = [({"a": a, "b": b}, a) for a, b in [(1, 5), (2, 1), (3, 4), (4, 2), (5, 3), (6, 6)]]
    imp = T._importances(_study_with(rows))
    assert set(imp) == {"a", "b"} and imp["a"] > imp["b"]
    assert T._importances(_study_with([({"lr": 1.0}, 1.0), ({"lr": 2.0}, 2.0)])) is None
    assert T._importances(_study_with([({"a": 1.0, "b": 1.0}, 1.0)])) is None
    assert (
        T._importances(_study_with([({"a": 1.0, "b": 2.0}, 1.0), ({"a": 2.0, "b": 1.0}, 1.0)]))
        is None
    )


# -- pruning hook ---------------------------------------------------------------------------------


class _FakeTrial:
    def __init__(self, prune_at: int):
        self.reported: list[tuple[float, int]] = []
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        self.reported.append((value, step))

    def should_prune(self) -> bool:
        return len(self.reported) >= self.prune_at


class _FakeSystem:
    num_models = 2

    def __init__(self, curves):
        self.curves, self.epoch = curves, 0

    def evaluate(self, stats):
        class Ev:
            metric = [c[self.epoch] for c in self.curves]

        self.epoch += 1
        return Ev()


def test_each_epoch_reports_the_mean_best_so_far_and_prunes():
    trial = _FakeTrial(prune_at=3)
    system = T._ReportingSystem(_FakeSystem([[0.5, 0.7, 0.6], [0.3, 0.2, 0.4]]), trial, True)
    assert system.num_models == 2  # everything else is the wrapped system's
    system.evaluate(None)
    system.evaluate(None)
    with pytest.raises(optuna.TrialPruned):
        system.evaluate(None)
    # best so far per seed: (0.5, 0.3), (0.7, 0.3), (0.7, 0.4)
    assert [s for _, s in trial.reported] == [1, 2, 3]
    assert [v for v, _ in trial.reported] == pytest.approx([0.4, 0.5, 0.55])


def test_the_pruner_is_asked_after_the_warmup_every_few_epochs():
    schedule = T._PruneSchedule.for_epochs(40)
    assert (schedule.warmup, schedule.every, schedule.startup) == (10, 4, 5)
    asked = [e for e in range(1, 41) if schedule.asks(5, e)]
    assert asked == [14, 18, 22, 26, 30, 34, 38]
    assert not any(schedule.asks(4, e) for e in range(1, 41))  # the startup trials run out
    pruner = schedule.pruner()
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    assert (pruner._n_startup_trials, pruner._n_warmup_steps, pruner._interval_steps) == (5, 10, 4)
    assert T._PruneSchedule.for_epochs(2) == T._PruneSchedule(warmup=1, every=1)


# -- end to end -----------------------------------------------------------------------------------


def _storage_trials(folder):
    study = optuna.load_study(
        study_name=T.OPTUNA_STUDY, storage=f"sqlite:///{folder / T.TUNE_STORAGE}"
    )
    return study.trials


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune") / "focal"
    seen = []
    result = T.tune(
        "binary",
        "sigmoid_focal_loss",
        trials=2,
        seeds=2,
        epochs=2,
        folder=folder,
        on_trial=seen.append,
    )
    return folder, result, seen


def test_tune_finds_the_best_trial_and_verifies_it(tuned):
    folder, result, seen = tuned
    assert [t.number for t in seen] == [0, 1]
    trials = _storage_trials(folder)
    assert len(trials) == 2
    # trial 0 is the default configuration
    assert trials[0].params == {"alpha": 0.25, "gamma": 2.0, "lr": 0.01}
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value)  # binary: accuracy, higher is better
    assert result.best_trial == best.number and result.best_value == best.value
    assert result.best_params == best.params
    assert 0.0 <= result.best_value <= 1.0
    # the verification study: tuned and default, each seed, at the default and the tuned lr
    with sqlite3.connect(folder / "results.sqlite") as c:
        rows = c.execute("SELECT task, competitor, seed, lr FROM runs").fetchall()
    lrs = {0.01, best.params["lr"]}
    expected = {
        (result.verify_task, label, s, lr) for label in result.labels for s in (0, 1) for lr in lrs
    }
    assert set(rows) == expected and len(rows) == len(expected)
    assert result.labels == ("sigmoid_focal_loss (tuned)", "sigmoid_focal_loss (default)")
    with Store(folder / "results.sqlite") as st:
        info = st.meta("task_info")[result.verify_task]
    comps = {c["label"]: c for c in info["competitors"]}
    assert set(comps["sigmoid_focal_loss (tuned)"]["kwargs"]) == {"alpha", "gamma"}
    assert comps["sigmoid_focal_loss (default)"]["kwargs"] == {}
    assert result.verify_task not in task_names()  # the derived task left the registry
    stored = json.loads((folder / T.TUNE_JSON).read_text())
    assert stored["best_trial"] == result.best_trial and stored["seeds"] == 2


def test_the_objective_is_the_validation_metric_of_the_selected_epoch(tuned):
    """Trial 0 is the default configuration at lr 0.01: its objective equals the seeds' mean
    validation accuracy at their best epochs in the verification study's default runs (the same
    seeds, data, model and lr)."""
    folder, result, _ = tuned
    trial0 = _storage_trials(folder)[0]
    with sqlite3.connect(folder / "results.sqlite") as c:
        runs = c.execute(
            "SELECT run_id, best_epoch FROM runs WHERE competitor = ? AND lr = 0.01",
            ("sigmoid_focal_loss (default)",),
        ).fetchall()
        vals = [
            c.execute(
                "SELECT value FROM metrics WHERE run_id = ? AND split = 'val' AND epoch = ? "
                "AND name = 'accuracy'",
                (run_id, epoch),
            ).fetchone()[0]
            for run_id, epoch in runs
        ]
    assert len(vals) == 2
    assert trial0.value == pytest.approx(sum(vals) / 2, abs=1e-9)


def test_report_gets_the_tuning_section_and_figures(tuned):
    from losslab.report import build_report, write_report

    folder, result, _ = tuned
    with Store(folder / "results.sqlite") as st:
        report = build_report(st)
        write_report(st, folder)
    task = next(t for t in report.tasks if t.name == result.verify_task)
    assert {r.label for r in task.main} >= set(result.labels)
    paths = T.write_tune_report(folder)
    assert paths["history"].read_text().lstrip().startswith("<?xml")
    md = (folder / "report.md").read_text()
    values = {t.value for t in _storage_trials(folder)}
    if len(values) > 1:  # alpha, gamma and lr: importances are drawn
        assert "importances" in paths and "plots/tune-importances.svg" in md
    else:  # two trials that scored the same: no variance to share out
        assert "importances" not in paths and "Parameter importances are not drawn" in md
    assert "## Tuning" in md and "plots/tune-history.svg" in md
    assert "| gamma |" in md
    html = (folder / "report.html").read_text()
    assert '<section id="tuning">' in html and html.index("tuning") < html.rindex("</body>")


def test_losslab_report_rebuilds_the_tuning_section(tuned):
    folder, _, _ = tuned
    (folder / "report.md").unlink()
    res = run("report", str(folder))
    assert res.exit_code == 0, res.output
    assert "## Tuning" in (folder / "report.md").read_text()
    assert "tune-history.svg" in res.output


def test_a_killed_tune_resumes_from_its_storage(tmp_path):
    folder = tmp_path / "huber"
    T.tune("regression", "huber_loss", trials=2, seeds=1, epochs=1, folder=folder)
    # a trial left RUNNING by a killed process
    study = optuna.load_study(
        study_name=T.OPTUNA_STUDY, storage=f"sqlite:///{folder / T.TUNE_STORAGE}"
    )
    study.ask()
    with pytest.raises(
        ValueError, match=r"'--resume' must be given the tune's own .*'--task' binary"
    ):
        T.tune("binary", "huber_loss", trials=3, resume=folder)
    result = T.tune(trials=4, resume=folder)  # task and loss come from the folder
    trials = _storage_trials(folder)
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    interrupted = [t for t in trials if t.user_attrs.get("interrupted")]
    assert [t.number for t in interrupted] == [2]
    assert interrupted[0].state == optuna.trial.TrialState.FAIL
    assert sum(result.trials.values()) == 5  # 4 finished + the interrupted one
    finished = [t for t in trials if t.state.is_finished() and not t.user_attrs.get("interrupted")]
    assert len(finished) == 4
    # nothing more to run: a resume with the same total only re-verifies
    again = T.tune("regression", "huber_loss", trials=4, resume=folder)
    assert len(_storage_trials(folder)) == 5 and again.best_trial == result.best_trial
    with sqlite3.connect(folder / "results.sqlite") as c:
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2 * len(
            {0.01, result.best_params["lr"]}
        )


def test_a_new_best_trial_gets_a_new_verification_and_the_old_one_is_kept(tmp_path):
    from types import SimpleNamespace

    from losslab.lab import study as S
    from losslab.lab.tasks import get_task

    folder = tmp_path / "hinge"
    first = T.tune("binary", "hinge_loss", trials=1, seeds=1, epochs=1, folder=folder)
    assert first.best_trial == 0
    params = {"margin": 0.5, "lr": 0.02}
    info = {"best_trial": 7, "n_trials": 8, "sampler_seed": 0, "pruning": True, "seeds": 1}
    vtask = T._verify_task(get_task("binary"), "hinge_loss", params, info)
    cfg = S.StudyConfig(tasks=("binary",), seeds=1, epochs=1)
    T._verify(folder, vtask, cfg, SimpleNamespace(number=7), params, {})
    assert (folder / "results-trial0.sqlite").is_file()  # the old verification, kept
    with sqlite3.connect(folder / "results-trial0.sqlite") as c:
        old = c.execute("SELECT DISTINCT lr FROM runs").fetchall()
    with sqlite3.connect(folder / "results.sqlite") as c:
        new = c.execute("SELECT DISTINCT lr FROM runs ORDER BY lr").fetchall()
    assert old == [(0.01,)] and new == [(0.01,), (0.02,)]
    assert json.loads((folder / "verified-trial.json").read_text()) == {"trial": 7}


# -- CLI --------------------------------------------------------------------------------------


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "nope", "--loss", "huber_loss"], "'--task' must be one of"),
        (["--task", "regression", "--loss", "hubr_loss"], "unknown loss 'hubr_loss'"),
        (
            ["--task", "binary", "--loss", "huber_loss"],
            "tune: '--loss' must be a loss for task 'binary' (kind 'binary'), got 'huber_loss'",
        ),
        (
            ["--task", "binary", "--loss", "hinge_loss", "--trials", "0"],
            "tune: '--trials' must be an integer >= 1 and <= 10000, got 0",
        ),
        (
            ["--task", "binary", "--loss", "hinge_loss", "--seeds", "0"],
            "tune: '--seeds' must be an integer >= 1 and <= 100, got 0",
        ),
        (
            ["--task", "binary", "--loss", "hinge_loss", "--timeout", "-1"],
            "tune: '--timeout' must be a finite real number > 0 (or None), got -1.0",
        ),
        (["--loss", "hinge_loss"], "tune: '--task' and '--loss' are required"),
        (
            ["--task", "multiclass", "--loss", "cross_entropy+nope"],
            "tune: '--loss' term 'nope' of 'cross_entropy+nope': catalog: unknown loss 'nope'",
        ),
        (
            ["--task", "multiclass", "--loss", "cross_entropy+"],
            "tune: '--loss' must be one catalog loss or a sum of at least two, "
            "'LOSS+LOSS[+LOSS...]', got 'cross_entropy+' (an empty term)",
        ),
        (
            ["--task", "multiclass", "--loss", "cross_entropy+multi_margin_loss+cross_entropy"],
            "tune: '--loss' must sum different losses, got "
            "'cross_entropy+multi_margin_loss+cross_entropy' with cross_entropy more than once",
        ),
        (
            ["--task", "multiclass", "--loss", "dice_loss+cross_entropy"],
            "tune: '--loss' term 'dice_loss' of 'dice_loss+cross_entropy' must be a loss for "
            "task 'multiclass' (kind 'multiclass')",
        ),
        (
            ["--task", "multiclass", "--loss", "cross_entropy+nll_loss"],
            "tune: '--loss' terms of 'cross_entropy+nll_loss' must share the output head for "
            "task 'multiclass' (one model output feeds every term), got cross_entropy: "
            "identity x C, nll_loss: log_softmax x C",
        ),
        (
            [
                "--task",
                "multiclass",
                "--loss",
                "cross_entropy",
                "--against",
                "cross_entropy+nll_loss",
            ],
            "tune: '--against' must be catalog losses (not sums), got 'cross_entropy+nll_loss'",
        ),
        (
            ["--task", "binary", "--loss", "hinge_loss", "--against", "huber_loss"],
            "tune: '--against' must be a loss for task 'binary' (kind 'binary'), got 'huber_loss'",
        ),
        (
            ["--task", "binary", "--loss", "hinge_loss", "--against", "hinge_loss"],
            "tune: '--against' must be losses other than the tuned 'hinge_loss', got 'hinge_loss'",
        ),
        (["--resume", "nowhere"], "tune: '--resume' must be a tune folder containing tune.json"),
    ],
)
def test_bad_inputs_exit_2_with_a_clear_message(tmp_path, args, message):
    res = run("tune", "--out", str(tmp_path / "runs"), *args)
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert not any(tmp_path.rglob("*")), "a refused option wrote something"
    assert not [n for n in catalog.names() if "_plus_" in n]  # no composite left registered


def test_cli_tune_end_to_end(tmp_path):
    res = run(
        "tune",
        "--task",
        "binary",
        "--loss",
        "hinge_loss",
        "--trials",
        "2",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--name",
        "t",
        "--against",
        "binary_cross_entropy_with_logits",
    )
    assert res.exit_code == 0, res.output
    assert "binary_cross_entropy_with_logits (default)" in res.output
    assert "trial 0 complete" in res.output and "trial 1 complete" in res.output
    assert "hinge_loss (tuned)" in res.output and "hinge_loss (default)" in res.output
    assert (tmp_path / "t" / "plots" / "tune-history.svg").exists()
    stored = json.loads((tmp_path / "t" / T.TUNE_JSON).read_text())
    assert stored["trials"] == {"COMPLETE": 2}
    assert math.isfinite(stored["best_value"])


# -- composite losses: the weights of a sum -------------------------------------------------------


def test_a_composite_searches_one_weight_per_term():
    space = T.search_space("dice_loss+cross_entropy")
    assert sorted(space) == ["lr", "w_cross_entropy", "w_dice_loss"]
    for w in ("w_dice_loss", "w_cross_entropy"):
        d = space[w]
        assert d.kind == "float" and d.log and d.default == 1.0
        assert (d.low, d.high) == (pytest.approx(0.1), pytest.approx(10.0))
    three = T.search_space("cross_entropy+multi_margin_loss+poly1_cross_entropy", lr=False)
    assert sorted(three) == ["w_cross_entropy", "w_multi_margin_loss", "w_poly1_cross_entropy"]
    spec = T.composite_spec("cross_entropy+multi_margin_loss")
    assert spec.tasks == ("multiclass",)  # the terms' shared task
    with pytest.raises(ValueError, match="'w_cross_entropy' must be"):
        spec.setting(w_cross_entropy=0.0)  # weights are positive
    assert spec.name not in catalog.names()  # building the entry registers nothing


def test_a_composite_is_the_weighted_sum_of_its_terms():
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (6,), generator=g)
    fn = T.composite_spec("cross_entropy+multi_margin_loss").function
    got = fn(x, y, w_cross_entropy=0.3, w_multi_margin_loss=2.5)
    want = 0.3 * F.cross_entropy(x, y) + 2.5 * F.multi_margin_loss(x, y)
    assert float(got) == pytest.approx(float(want), rel=1e-12)
    per = fn(x, y, reduction="none", w_cross_entropy=2.0)  # an absent weight is 1
    want = 2.0 * F.cross_entropy(x, y, reduction="none") + F.multi_margin_loss(
        x, y, reduction="none"
    )
    assert per.shape == (6,) and torch.allclose(per, want, rtol=1e-12, atol=0)
    # terms of different shapes (Dice per image, cross-entropy per pixel) add up per image
    seg = T.composite_spec("dice_loss+cross_entropy").function
    z = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    t = torch.randint(0, 2, (3, 4, 4), generator=g)
    per = seg(z, t, reduction="none", w_dice_loss=0.5)
    ce = F.cross_entropy(z, t, reduction="none").mean(dim=(1, 2))
    assert per.shape == (3,) and torch.all(per - ce > -1e-12)  # the Dice term is >= 0
    assert float(seg(z, t, w_dice_loss=1e-9)) == pytest.approx(float(F.cross_entropy(z, t)))


def test_a_composite_tune_end_to_end_stores_the_best_weights(tmp_path):
    folder = tmp_path / "composite"
    loss = "cross_entropy+multi_margin_loss"
    result = T.tune("multiclass", loss, trials=2, seeds=1, epochs=1, folder=folder)
    assert result.loss == loss
    trials = _storage_trials(folder)
    assert trials[0].params == {"w_cross_entropy": 1.0, "w_multi_margin_loss": 1.0, "lr": 0.01}
    assert set(trials[1].params) == {"w_cross_entropy", "w_multi_margin_loss", "lr"}
    assert trials[1].params != trials[0].params
    stored = json.loads((folder / T.TUNE_JSON).read_text())
    assert stored["loss"] == loss
    assert stored["best_params"] == result.best_params == trials[result.best_trial].params
    assert set(stored["space"]) == {"w_cross_entropy", "w_multi_margin_loss", "lr"}
    assert result.labels == (f"{loss} (tuned)", f"{loss} (default)")
    with Store(folder / "results.sqlite") as st:
        comps = {c["label"]: c for c in st.meta("task_info")[result.verify_task]["competitors"]}
    assert set(comps[f"{loss} (tuned)"]["kwargs"]) == {"w_cross_entropy", "w_multi_margin_loss"}
    assert comps[f"{loss} (default)"]["kwargs"] == {}  # the plain sum: every weight 1
    assert T.composite_spec(loss).name not in catalog.names()  # it left with the tune
    again = T.tune(trials=3, resume=folder)  # registered again from the stored name
    assert again.loss == loss and sum(again.trials.values()) == 3
    assert T.composite_spec(loss).name not in catalog.names()


def test_a_composite_is_refused_on_ray():
    with pytest.raises(ValueError, match="'--executor ray' must tune one catalog loss"):
        T.tune("multiclass", "cross_entropy+multi_margin_loss", executor=object())
