"""The recommendation rule on constructed stored runs: a clear winner, a tie decided by the
secondary criteria, a trade-off, a best whose runs diverge, groups, one seed, and the JSON."""

from __future__ import annotations

import json
import math

import pytest

from losslab.lab.recommend import RULE, recommend, summary_dict, summary_paragraph
from losslab.lab.store import Store
from losslab.lab.train import RunResult
from losslab.report.tables import build_report

LOSSES = {
    "BCE": "binary_cross_entropy_with_logits",
    "BCE + pos_weight": "binary_cross_entropy_with_logits",
    "focal": "sigmoid_focal_loss",
    "hinge": "hinge_loss",
}


def _run(task, comp, seed, metrics, *, epochs=3.0, overfit=0.0, diverged=False):
    loss = LOSSES.get(comp, "mse_loss")
    hist = {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "val_f1": [0.5, 0.6]}
    if diverged:
        return RunResult(
            task, comp, loss, seed, 0.01, "diverged", 2, 1, diverged_epoch=2, history=hist
        )
    m = dict(metrics)
    m.update(epochs_to_converge=epochs, overfitting=overfit, generalization_gap=0.1)
    return RunResult(task, comp, loss, seed, 0.01, "finished", 2, 2, history=hist, metrics=m)


def _info(comps, *, groups=None, kwargs=None, primary="f1"):
    groups = groups or {}
    kwargs = kwargs or {}
    return {
        "kind": "binary",
        "description": "constructed",
        "metrics": [primary, "recall", "precision"],
        "primary": primary,
        "higher_is_better": True,
        "competitors": [
            {
                "label": c,
                "loss": LOSSES.get(c, "mse_loss"),
                "kwargs": kwargs.get(c, {}),
                "note": "",
                "group": groups.get(c, ""),
                "data_kwargs": c == "BCE + pos_weight",
            }
            for c in comps
        ],
    }


def _report(tmp_path, info, runs, *, name="t"):
    with Store(tmp_path / "s.sqlite") as st:
        st.set_meta("config", {"select": "final"})
        st.set_meta("tasks", [name])
        st.set_meta("task_info", {name: info})
        for r in runs:
            st.add_run(r)
        return build_report(st)


# per seed: (f1, recall, precision)
NOISE = [0.000, 0.004, -0.003, 0.002, -0.001]
#: seed-to-seed noise of each competitor (a constant paired difference is not realistic)
OFFSET = {"BCE": 0, "hinge": 1, "focal": 2, "BCE + pos_weight": 3}


def _rows(task, comp, f1, recall, precision, **kw):
    k = OFFSET[comp]
    noise = NOISE[k:] + NOISE[:k]
    return [
        _run(task, comp, s, {"f1": f1 + e, "recall": recall + e, "precision": precision - e}, **kw)
        for s, e in enumerate(noise)
    ]


def test_clear_winner(tmp_path):
    runs = _rows("t", "BCE", 0.90, 0.8, 0.9) + _rows("t", "hinge", 0.70, 0.6, 0.7)
    rep = _report(tmp_path, _info(["BCE", "hinge"]), runs)
    (rec,) = rep.tasks[0].recommendations
    assert rec.recommended == "BCE" and rec.top_group == ("BCE",) and not rec.tied
    assert rec.reason.startswith("best F1; the other 1 are worse")
    assert rec.tradeoffs == ()


def test_a_tie_is_called_a_tie_and_the_secondary_criteria_decide(tmp_path):
    # focal has the higher mean F1 by 0.001, not distinguishable; BCE converges faster
    shift = [0.01, -0.012, 0.008, -0.006, 0.0]
    runs = [
        _run("t", "focal", s, {"f1": 0.901 + d, "recall": 0.8, "precision": 0.9}, epochs=9)
        for s, d in enumerate(shift)
    ] + [
        _run("t", "BCE", s, {"f1": 0.900 + d2, "recall": 0.8, "precision": 0.9}, epochs=5)
        for s, d2 in enumerate(reversed(shift))
    ]
    rep = _report(tmp_path, _info(["focal", "BCE"]), runs)
    t = rep.tasks[0]
    assert t.best == "focal"  # the best mean ...
    (rec,) = t.recommendations
    assert set(rec.top_group) == {"focal", "BCE"} and rec.tied
    assert rec.recommended == "BCE"  # ... is not what the rule recommends
    assert "tied on F1 with 1 other" in rec.reason
    assert "fewer epochs to converge (5 vs 9 for focal)" in rec.reason
    assert any("tie" in n or "tied" in n for n in t.power_notes)


def test_simpler_loss_wins_a_full_tie(tmp_path):
    shift = [0.01, -0.012, 0.008, -0.006, 0.0]
    runs = [
        _run("t", c, s, {"f1": 0.9 + d * k, "recall": 0.8, "precision": 0.9})
        for c, k in (("BCE + pos_weight", 1), ("BCE", -1))
        for s, d in enumerate(shift)
    ]
    rep = _report(tmp_path, _info(["BCE + pos_weight", "BCE"]), runs)
    (rec,) = rep.tasks[0].recommendations
    assert rec.recommended == "BCE"
    assert "the simpler loss (than BCE + pos_weight)" in rec.reason


def test_tradeoff_is_named_with_points(tmp_path):
    shift = [0.01, -0.012, 0.008, -0.006, 0.0]
    runs = [
        _run("t", "BCE", s, {"f1": 0.9 + d, "recall": 0.70 + e, "precision": 0.90 - e})
        for s, (d, e) in enumerate(zip(shift, NOISE, strict=True))
    ] + [
        _run(
            "t",
            "BCE + pos_weight",
            s,
            {"f1": 0.9 - d, "recall": 0.734 + e / 2, "precision": 0.879 + e},
        )
        for s, (d, e) in enumerate(zip(shift, NOISE[::-1], strict=True))
    ]
    rep = _report(tmp_path, _info(["BCE", "BCE + pos_weight"]), runs)
    (rec,) = rep.tasks[0].recommendations
    assert rec.recommended == "BCE"
    (trade,) = rec.tradeoffs
    assert trade == (
        "BCE + pos_weight vs BCE: gains +3.4 points recall (TPR); costs -2.0 points precision"
    )


def test_best_mean_with_diverged_runs_is_not_recommended(tmp_path):
    runs = _rows("t", "BCE", 0.90, 0.8, 0.9)
    # focal: higher F1 on the seeds that finished, but two of five runs diverged
    runs += [
        _run("t", "focal", s, {"f1": 0.95, "recall": 0.8, "precision": 0.9}, diverged=s in (1, 3))
        for s in range(5)
    ]
    rep = _report(tmp_path, _info(["focal", "BCE"]), runs)
    t = rep.tasks[0]
    (rec,) = t.recommendations
    assert t.best == "BCE"  # fewest diverged runs first
    assert rec.recommended == "BCE"
    focal = next(r for r in t.main if r.label == "focal")
    assert focal.diverged == 2


def test_groups_are_judged_apart(tmp_path):
    groups = {"BCE": "supervised", "hinge": "supervised", "focal": "unsupervised"}
    runs = (
        _rows("t", "BCE", 0.90, 0.8, 0.9)
        + _rows("t", "hinge", 0.70, 0.6, 0.7)
        + _rows("t", "focal", 0.60, 0.5, 0.6)
    )
    rep = _report(tmp_path, _info(["BCE", "hinge", "focal"], groups=groups), runs)
    t = rep.tasks[0]
    assert t.groups == ("supervised", "unsupervised")
    recs = {r.group: r for r in t.recommendations}
    assert recs["supervised"].recommended == "BCE"
    assert recs["unsupervised"].recommended == "focal"  # alone in its group, not "worse" than BCE
    focal = next(r for r in t.main if r.label == "focal")
    assert focal.is_best and focal.verdict_kind == "best"


def test_one_seed_is_not_resolved(tmp_path):
    runs = [
        _run("t", "BCE", 0, {"f1": 0.9, "recall": 0.8, "precision": 0.9}),
        _run("t", "hinge", 0, {"f1": 0.8, "recall": 0.8, "precision": 0.9}),
    ]
    rep = _report(tmp_path, _info(["BCE", "hinge"]), runs)
    (rec,) = rep.tasks[0].recommendations
    assert not rec.resolved and rec.tied
    assert "too few seeds" in rec.reason
    assert "one seed cannot separate" in rep.tasks[0].power_notes[0]


def test_few_test_positives_get_a_power_note(tmp_path):
    info = _info(["BCE", "hinge"])
    info["test_positives"] = 2
    runs = _rows("t", "BCE", 0.90, 0.8, 0.9) + _rows("t", "hinge", 0.70, 0.6, 0.7)
    t = _report(tmp_path, info, runs).tasks[0]
    assert any("only 2 positives" in n and "0.500" in n for n in t.power_notes)


def test_summary_and_json(tmp_path):
    runs = _rows("t", "BCE", 0.90, 0.8, 0.9) + _rows("t", "hinge", 0.70, 0.6, 0.7)
    rep = _report(tmp_path, _info(["BCE", "hinge"]), runs)
    text = summary_paragraph(rep)
    assert "Recommended: t: BCE." in text
    assert "top group in 1 of 1" in text
    data = json.loads(json.dumps(summary_dict(rep), allow_nan=False))
    assert data["rule"] == RULE
    (task,) = data["tasks"]
    assert task["recommended"] == "BCE" and task["top_group"] == ["BCE"]
    hinge = next(c for c in task["competitors"] if c["label"] == "hinge")
    assert hinge["verdict"] == "worse"
    assert hinge["difference"]["mean"] == pytest.approx(-0.2)
    assert 0.0 <= hinge["low"] <= hinge["mean"] <= hinge["high"] <= 1.0


def test_recommend_is_pure(tmp_path):
    runs = _rows("t", "BCE", 0.90, 0.8, 0.9) + _rows("t", "hinge", 0.70, 0.6, 0.7)
    t = _report(tmp_path, _info(["BCE", "hinge"]), runs).tasks[0]
    assert recommend(t) == t.recommendations
    assert not math.isnan(t.main[1].p_holm)


def test_metrics_with_a_target_are_never_a_gain_or_a_cost():
    from losslab.lab.stats import has_direction

    assert not has_direction("coverage_90") and not has_direction("width_90")
    assert has_direction("recall") and has_direction("rmse")
