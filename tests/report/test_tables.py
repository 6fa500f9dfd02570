"""build_report on a store written by hand: every number checked against an independent
computation (scipy's t distribution and paired t-test), plus the choices the report makes."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats as sps

from losslab.lab.store import Store
from losslab.lab.train import RunResult
from losslab.report.tables import build_report

EPOCHS = 4

# test accuracy per seed (0, 1, 2) of each (competitor, lr); None: the run diverged
TEST_ACC = {
    ("A", 0.01): [0.90, 0.92, 0.94],
    ("A", 0.1): [0.97, 0.98, 0.99],  # better on test, but worse on validation: not chosen
    ("same", 0.01): [0.90, 0.92, 0.94],
    ("same", 0.1): [0.50, 0.50, 0.50],
    ("bad", 0.01): [0.60, 0.65, 0.61],
    ("bad", 0.1): [0.55, 0.58, 0.52],
    ("unstable", 0.01): [0.70, 0.74, None],
    ("unstable", 0.1): [None, None, None],
}
# final validation accuracy per (competitor, lr): decides the learning rate
VAL_ACC = {
    ("A", 0.01): 0.95,
    ("A", 0.1): 0.80,
    ("same", 0.01): 0.9,
    ("same", 0.1): 0.5,
    ("bad", 0.01): 0.7,
    ("bad", 0.1): 0.6,
    ("unstable", 0.01): 0.7,
    ("unstable", 0.1): 0.7,
}
LOSS = {
    "A": "binary_cross_entropy_with_logits",
    "same": "mse_loss",
    "bad": "hinge_loss",
    "unstable": "sigmoid_focal_loss",
}


def _history(seed: int, val_final: float) -> dict[str, list[float]]:
    train = [1.0 / (e + 1) + 0.01 * seed for e in range(EPOCHS)]
    val = [t + 0.1 for t in train]
    acc = [val_final - 0.1 * (EPOCHS - 1 - e) for e in range(EPOCHS)]
    return {
        "train_loss": train,
        "val_loss": val,
        "val_accuracy": acc,
        "grad_norm": [0.5 + seed + e for e in range(EPOCHS)],
    }


def _run(comp: str, lr: float, seed: int, acc: float | None, val: float | None = None) -> RunResult:
    if acc is None:
        return RunResult(
            "toy",
            comp,
            LOSS[comp],
            seed,
            lr,
            "diverged",
            2,
            1,
            diverged_epoch=2,
            history={
                "train_loss": [1.0, math.nan],
                "val_loss": [1.1, math.nan],
                "val_accuracy": [0.5, math.nan],
                "grad_norm": [1.0, math.nan],
            },
        )
    metrics = {
        "accuracy": acc,
        "recall": acc - 0.05,
        "fpr": 1 - acc,
        "epochs_to_converge": float(2 + seed),
        "generalization_gap": 0.1 * (seed + 1),
        "overfitting": float(seed == 0),
        "grad_norm_median": 1.0 + seed,
        "grad_norm_max": 3.0 + seed,
    }
    return RunResult(
        "toy",
        comp,
        LOSS[comp],
        seed,
        lr,
        "finished",
        EPOCHS,
        EPOCHS,
        history=_history(seed, VAL_ACC[(comp, lr)] if val is None else val),
        metrics=metrics,
    )


def _rmse_run(comp: str, seed: int, rmse: float) -> RunResult:
    return RunResult(
        "reg",
        comp,
        "mse_loss" if comp == "MSE" else "l1_loss",
        seed,
        0.01,
        "finished",
        2,
        2,
        history={"train_loss": [2.0, 1.0], "val_loss": [2.1, 1.1], "val_rmse": [rmse + 1, rmse]},
        metrics={"rmse": rmse, "mae": rmse / 2},
    )


TOY_INFO = {
    "kind": "binary",
    "description": "a toy task",
    "metrics": ["accuracy", "recall", "fpr"],
    "primary": "accuracy",
    "higher_is_better": True,
    "epochs": EPOCHS,
    "convergence_rule": "converged when close",
    "overfit_rule": "overfit when diverging",
    "competitors": [{"label": c, "loss": LOSS[c], "kwargs": {}, "note": ""} for c in LOSS],
}
REG_INFO = {
    "kind": "regression",
    "description": "lower is better",
    "metrics": ["rmse", "mae"],
    "primary": "rmse",
    "higher_is_better": False,
    "epochs": 2,
    "competitors": [
        {"label": "MSE", "loss": "mse_loss", "kwargs": {}, "note": ""},
        {"label": "MAE", "loss": "l1_loss", "kwargs": {}, "note": ""},
    ],
}


@pytest.fixture()
def store(tmp_path):
    with Store(tmp_path / "results.sqlite") as st:
        st.set_meta("config", {"lrs": [0.01, 0.1], "optimizer": "adam", "early_stopping": None})
        st.set_meta("tasks", ["reg", "toy"])  # stored order, not the order the runs came in
        st.set_meta("task_info", {"toy": TOY_INFO, "reg": REG_INFO})
        st.set_meta("skipped", {"huge": "data set not downloaded"})
        for (comp, lr), accs in TEST_ACC.items():
            for seed, acc in enumerate(accs):
                st.add_run(_run(comp, lr, seed, acc))
        for seed, (a, b) in enumerate([(50.0, 40.0), (55.0, 41.0), (52.0, 45.0)]):
            st.add_run(_rmse_run("MSE", seed, a))
            st.add_run(_rmse_run("MAE", seed, b))
        yield st


def _ids(store: Store, comp: str, lr: float, *, status: str = "finished") -> tuple[int, ...]:
    return tuple(
        r["run_id"]
        for r in store.runs()
        if r["competitor"] == comp and r["lr"] == lr and r["status"] == status
    )


def _ci(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n)


def _task(report, name):
    return next(t for t in report.tasks if t.name == name)


def _row(rows, label):
    return next(r for r in rows if r.label == label)


def test_tasks_in_stored_order_and_skipped_listed(store):
    report = build_report(store)
    assert [t.name for t in report.tasks] == ["reg", "toy"]
    assert [(s.name, s.reason) for s in report.skipped] == [("huge", "data set not downloaded")]
    assert report.runs == len(store.runs())
    assert report.diverged == 4


def test_main_table_means_and_intervals_match_scipy(store):
    toy = _task(build_report(store), "toy")
    assert [r.label for r in toy.main] == ["A", "same", "bad", "unstable"]
    bad = _row(toy.main, "bad")
    mean, half = _ci(TEST_ACC[("bad", 0.01)])
    cell = bad.cells["accuracy"]
    assert cell.summary.mean == pytest.approx(mean)
    assert cell.summary.half_width == pytest.approx(half)
    assert cell.summary.n == 3
    assert cell.text(3) == f"{mean:.3f} ± {half:.3f}"
    assert cell.run_ids == _ids(store, "bad", 0.01)  # traceable to the store
    assert cell.values == pytest.approx(TEST_ACC[("bad", 0.01)])
    fpr_mean, fpr_half = _ci([1 - a for a in TEST_ACC[("bad", 0.01)]])
    assert bad.cells["fpr"].summary.mean == pytest.approx(fpr_mean)
    assert bad.cells["fpr"].summary.half_width == pytest.approx(fpr_half)


def test_best_learning_rate_is_chosen_on_validation_not_test(store):
    toy = _task(build_report(store), "toy")
    a = _row(toy.main, "A")
    assert a.lr == 0.01  # lr 0.1 has better TEST accuracy but worse validation accuracy
    assert a.cells["accuracy"].summary.mean == pytest.approx(0.92)
    assert "validation" in toy.selection_rule
    assert _row(toy.by_lr.rows, "A").chosen == 0.01
    on_test = _task(build_report(store, select_on="test"), "toy")
    assert _row(on_test.main, "A").lr == 0.1
    assert _row(on_test.main, "A").cells["accuracy"].summary.mean == pytest.approx(0.98)


def test_select_on_is_validated(store):
    with pytest.raises(
        ValueError, match="build_report: 'select_on' must be 'val' or 'test', got 'train'"
    ):
        build_report(store, select_on="train")


def test_verdicts_against_the_best_by_paired_test(store):
    toy = _task(build_report(store), "toy")
    assert toy.best == "A"
    a, same, bad = (_row(toy.main, c) for c in ("A", "same", "bad"))
    assert a.is_best and a.verdict == "best" and a.verdict_kind == "best"
    assert same.verdict == "tie with the best (p (Holm) = 1)"
    assert same.verdict_kind == "same" and same.verdict_code == "tie"
    p = sps.ttest_rel(TEST_ACC[("bad", 0.01)], TEST_ACC[("A", 0.01)]).pvalue
    p_unstable = sps.ttest_rel([0.70, 0.74], [0.90, 0.92]).pvalue
    assert bad.p_value == pytest.approx(p)
    # Holm over the three comparisons with A, by hand: sorted p-values times 3, 2, 1, monotone
    first, second = sorted([p, p_unstable])
    holm_bad = 3 * first if p == first else max(3 * first, 2 * second)
    assert holm_bad < 0.05
    assert bad.p_holm == pytest.approx(holm_bad)
    assert same.p_holm == pytest.approx(1.0)
    assert bad.verdict == f"worse than the best (p (Holm) = {holm_bad:.3g})"
    assert bad.verdict_kind == "worse"
    # the effect: mean paired difference bad - A with its t interval
    d = [x - y for x, y in zip(TEST_ACC[("bad", 0.01)], TEST_ACC[("A", 0.01)], strict=True)]
    mean, half = _ci(d)
    assert bad.effect.mean == pytest.approx(mean)
    assert (bad.effect.low, bad.effect.high) == pytest.approx((mean - half, mean + half))
    assert bad.effect.d_z == pytest.approx(mean / statistics.stdev(d))


def test_lower_is_better_picks_the_smallest_mean(store):
    reg = _task(build_report(store), "reg")
    assert reg.best == "MAE"
    assert reg.by_lr is None  # one learning rate: no lr table
    mse = _row(reg.main, "MSE")
    p = sps.ttest_rel([50.0, 55.0, 52.0], [40.0, 41.0, 45.0]).pvalue
    assert mse.verdict == f"worse than the best (p (Holm) = {p:.3g})"  # one comparison: Holm = p
    assert reg.rates is None  # not a binary task


def test_diverged_runs_are_counted_not_averaged(store):
    toy = _task(build_report(store), "toy")
    u = _row(toy.main, "unstable")
    assert u.lr == 0.01  # the only lr where anything finished
    assert (u.runs, u.diverged, u.diverged_other_lrs) == (3, 1, 3)
    cell = u.cells["accuracy"]
    assert cell.summary.n == 2
    assert cell.summary.mean == pytest.approx(0.72)
    assert cell.diverged_ids == _ids(store, "unstable", 0.01, status="diverged")
    assert "diverged (excluded)" in cell.source()
    # pairs with a diverged seed are dropped: 2 pairs left
    p = sps.ttest_rel([0.70, 0.74], [0.90, 0.92]).pvalue
    assert u.p_value == pytest.approx(p)
    lr_row = _row(toy.by_lr.rows, "unstable")
    assert lr_row.cells[0.1].text() == "diverged (3 of 3)"
    assert lr_row.cells[0.01].text(mark_diverged=True).endswith("(1 of 3 diverged)")


def test_an_lr_with_fewer_divergences_wins_over_a_better_score(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        st.set_meta("task_info", {"toy": TOY_INFO})
        for seed in range(3):
            st.add_run(_run("A", 0.01, seed, 0.8, val=0.8))
            st.add_run(_run("A", 0.1, seed, 0.9 if seed else None, val=0.9))  # one diverged
        toy = build_report(st).tasks[0]
    assert toy.main[0].lr == 0.01
    assert (
        toy.by_lr.rows[0].selection[0.1].summary.mean
        > toy.by_lr.rows[0].selection[0.01].summary.mean
    )


def test_convergence_table(store):
    toy = _task(build_report(store), "toy")
    a = _row(toy.convergence, "A")
    mean, half = _ci([2.0, 3.0, 4.0])
    assert a.epochs.summary.mean == pytest.approx(mean)
    assert a.epochs.summary.half_width == pytest.approx(half)
    assert a.overfit_text == "1 of 3 runs"
    assert a.gap.summary.mean == pytest.approx(0.2)
    assert a.grad_norm_median == pytest.approx(2.0)  # median of 1, 2, 3
    assert a.grad_norm_max == pytest.approx(5.0)
    assert toy.convergence_rule == "converged when close"
    assert toy.overfit_rule == "overfit when diverging"
    assert _row(toy.convergence, "unstable").overfit_text == "1 of 2 runs"


def test_tpr_fpr_table_for_binary_tasks(store):
    toy = _task(build_report(store), "toy")
    assert toy.tpr_metric == "recall"
    a = _row(toy.rates, "A")
    assert a.tpr.summary.mean == pytest.approx(0.87)
    assert a.fpr is not None and a.fpr.summary.mean == pytest.approx(0.08)


def test_curves_band_over_seeds(store):
    toy = _task(build_report(store), "toy")
    a = _row(toy.curves, "A")
    assert a.lr == 0.01
    assert a.run_ids == _ids(store, "A", 0.01)
    train = [_history(s, 0.95)["train_loss"] for s in range(3)]
    assert a.train_loss.epochs == tuple(range(1, EPOCHS + 1))
    for e in range(EPOCHS):
        col = [t[e] for t in train]
        assert a.train_loss.mean[e] == pytest.approx(statistics.fmean(col))
        assert a.train_loss.low[e] == pytest.approx(min(col))
        assert a.train_loss.high[e] == pytest.approx(max(col))
    assert a.val_metric.mean[-1] == pytest.approx(0.95)
    u = _row(toy.curves, "unstable")
    assert u.val_loss.n == (3, 2, 2, 2)  # the diverged run's NaN epochs are left out


def test_store_without_task_info_still_reports(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        for seed in range(2):
            st.add_run(_rmse_run("MSE", seed, 10.0 + seed))
        report = build_report(st)
    (task,) = report.tasks
    assert task.primary == "rmse" and not task.higher_is_better
    assert task.main[0].cells["rmse"].summary.mean == pytest.approx(10.5)


def test_a_loss_whose_seeds_mostly_diverged_is_not_the_best(tmp_path):
    # "lucky" has one surviving seed with the best score; "steady" finished every seed
    info = dict(
        TOY_INFO,
        competitors=[
            {"label": c, "loss": LOSS[c], "kwargs": {}, "note": ""} for c in ("A", "unstable")
        ],
    )
    with Store(tmp_path / "r.sqlite") as st:
        st.set_meta("task_info", {"toy": info})
        st.set_meta("tasks", ["toy"])
        for seed, acc in enumerate([0.90, 0.91, 0.92]):
            st.add_run(_run("A", 0.01, seed, acc))
        for seed, acc in enumerate([0.99, None, None]):
            st.add_run(_run("unstable", 0.01, seed, acc))
        report = build_report(st)
    (toy,) = report.tasks
    assert toy.best == "A"


def test_constant_paired_difference_uses_the_exact_sign_test():
    from losslab.lab.stats import paired_p_value

    a = [0.90, 0.80, 0.70, 0.60, 0.50]
    assert paired_p_value(a, [x + 0.01 for x in a]) == pytest.approx(0.0625)  # 2 * 0.5**5
    assert paired_p_value(a[:2], [x + 0.01 for x in a[:2]]) == pytest.approx(0.5)
    assert paired_p_value(a, a) == 1.0


# -- model selection: best checkpoint vs final epoch --------------------------------------------


def _reg_store(path, *, select: str | None, with_last: bool) -> Store:
    st = Store(path)
    st.set_meta(
        "config", {"lrs": [0.01], "early_stopping": None, **({"select": select} if select else {})}
    )
    st.set_meta("task_info", {"reg": REG_INFO})
    st.set_meta("tasks", ["reg"])
    for comp, best, last in (
        ("MSE", [1.0, 1.2, 1.4], [1.5, 1.3, 2.0]),
        ("MAE", [2.0, 2.1, 2.2], [2.0, 2.1, 2.2]),
    ):
        for seed in range(3):
            r = _rmse_run(comp, seed, best[seed])
            if with_last:
                r.final_metrics = {"rmse": last[seed], "mae": last[seed] / 2}
            st.add_run(r)
    return st


def test_best_checkpoint_vs_final_epoch_table(tmp_path):
    with _reg_store(tmp_path / "s.sqlite", select="best", with_last=True) as st:
        (t,) = build_report(st).tasks
    assert t.selection == "best"
    assert t.selection_rule.startswith(
        "test metrics of each run's best validation RMSE epoch (--select best)"
    )
    rows = {r.label: r for r in t.checkpoints}
    assert rows["MSE"].best.values == pytest.approx((1.0, 1.2, 1.4))
    assert rows["MSE"].final.values == pytest.approx((1.5, 1.3, 2.0))
    assert rows["MSE"].difference.values == pytest.approx((-0.5, -0.1, -0.6))
    assert rows["MSE"].difference.summary.mean == pytest.approx(-0.4)
    assert rows["MAE"].difference.summary.mean == pytest.approx(0.0)
    # the main table reports the selected (best-checkpoint) numbers
    main = {r.label: r for r in t.main}
    assert main["MSE"].cells["rmse"].summary.mean == pytest.approx(1.2)


def test_final_selection_and_older_stores_have_no_checkpoint_table(tmp_path):
    with _reg_store(tmp_path / "final.sqlite", select="final", with_last=True) as st:
        (t,) = build_report(st).tasks
    assert t.selection == "final" and t.checkpoints is None
    assert t.selection_rule.startswith("test metrics of each run's last epoch (--select final)")
    # a store from before --select (no 'select', no last-epoch rows, no early stopping): the last epoch
    with _reg_store(tmp_path / "old.sqlite", select=None, with_last=False) as st:
        (t,) = build_report(st).tasks
    assert t.selection == "final" and t.checkpoints is None


def test_rendered_report_shows_the_checkpoint_table(tmp_path):
    from losslab.report.render import render_html, render_markdown

    with _reg_store(tmp_path / "s.sqlite", select="best", with_last=True) as st:
        report = build_report(st)
    figs = [{k: "<svg></svg>" for k in ("metric", "lr", "curves", "val_metric")}]
    md = render_markdown(report, figs)
    assert "### Best checkpoint vs final epoch (test RMSE)" in md
    line = next(x for x in md.splitlines() if x.startswith("| MSE | 0.01 |"))
    cells = line.split(" | ")
    assert (
        cells[2].startswith("1.200 ±")
        and cells[3].startswith("1.600 ±")
        and cells[4].startswith("-0.400 ±")
    )
    html = render_html(report, figs)
    assert 'class="checkpoints"' in html and "best checkpoint (reported)" in html


def test_store_keeps_final_epoch_metrics_apart_and_refuses_newer_schemas(tmp_path):
    import sqlite3

    from losslab.lab.store import SCHEMA_VERSION

    with _reg_store(tmp_path / "s.sqlite", select="best", with_last=True) as st:
        assert st.meta("schema_version") == SCHEMA_VERSION
        # the selected metrics and the last epoch's never mix
        sel = {
            (r["competitor"], r["seed"]): r["value"]
            for r in st.final_metrics()
            if r["name"] == "rmse"
        }
        last = {
            (r["competitor"], r["seed"]): r["value"]
            for r in st.last_epoch_metrics()
            if r["name"] == "rmse"
        }
    assert sel[("MSE", 2)] == pytest.approx(1.4) and last[("MSE", 2)] == pytest.approx(2.0)
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    conn.execute(
        "UPDATE study SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    conn.commit()
    conn.close()
    with pytest.raises(
        ValueError,
        match=f"has schema version {SCHEMA_VERSION + 1}, newer than this losslab's {SCHEMA_VERSION}",
    ):
        Store(tmp_path / "s.sqlite")
