"""The noisy-labels lab tasks: the noise injected (rate, mapping, splits, seeds) and a tiny
study end to end producing the loss x noise-rate table and figure."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from losslab.lab import tasks_noisy as N
from losslab.lab.data import digits
from losslab.lab.store import Store
from losslab.lab.study import StudyConfig, start_study
from losslab.lab.tasks import get_task
from losslab.report.noisy_labels import noise_markdown, noise_svg, noise_table_from_store
from losslab.report.render import write_report


def _binomial_ok(k: int, n: int, p: float) -> bool:
    """k within 4 binomial standard deviations of n p (a loose check of a stated rate)."""
    return abs(k - n * p) <= 4 * math.sqrt(n * p * (1 - p)) + 1


# -- inject_noise ----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.2, 0.4])
def test_symmetric_noise_makes_the_stated_fraction_wrong(rate):
    y = np.repeat(np.arange(10), 100)
    noisy = N.inject_noise(
        y, kind="symmetric", rate=rate, num_classes=10, rng=np.random.default_rng(0)
    )
    wrong = noisy != y
    assert wrong.sum() == round(rate * len(y))  # exactly the stated fraction
    assert noisy.min() >= 0 and noisy.max() <= 9
    # each wrong label is another class, drawn uniformly: each of the 9 others about 1/9
    shift = (noisy[wrong] - y[wrong]) % 10
    counts = np.bincount(shift, minlength=10)
    assert counts[0] == 0
    for k in counts[1:]:
        assert _binomial_ok(int(k), int(wrong.sum()), 1 / 9)
    # and every class is hit about equally often
    for c in range(10):
        assert _binomial_ok(int(wrong[y == c].sum()), 100, rate)


def test_asymmetric_noise_applies_the_mapping_only():
    y = np.repeat(np.arange(10), 50)
    noisy = N.inject_noise(
        y,
        kind="asymmetric",
        rate=0.4,
        num_classes=10,
        rng=np.random.default_rng(1),
        flips=N.DIGITS_FLIPS,
    )
    assert N.DIGITS_FLIPS == {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}
    for c in range(10):
        got = noisy[y == c]
        if c in N.DIGITS_FLIPS:
            assert (got != c).sum() == 20  # 40% of 50
            assert set(got[got != c]) == {N.DIGITS_FLIPS[c]}
        else:
            assert (got == c).all()


def test_inject_noise_rejects_bad_settings():
    y, rng = np.zeros(5, dtype=np.int64), np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^inject_noise: 'kind' must be one of"):
        N.inject_noise(y, kind="pairflip", rate=0.2, num_classes=3, rng=rng)
    with pytest.raises(ValueError, match=r"^inject_noise: 'rate' must be in \[0, 1\), got 1.0"):
        N.inject_noise(y, kind="symmetric", rate=1.0, num_classes=3, rng=rng)
    with pytest.raises(ValueError, match=r"^inject_noise: 'flips' must map"):
        N.inject_noise(y, kind="asymmetric", rate=0.2, num_classes=3, rng=rng)


# -- the tasks' data -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "rate"), [("noisy-labels", 0.2), ("noisy-labels-sym40", 0.4)])
def test_task_noise_in_train_and_val_only(name, rate):
    ds, clean = get_task(name).load(3), digits(3)
    assert N.NOISE_SETTINGS[name].rate == rate
    # the same split and features; only the training and validation labels differ
    assert (ds.x_train == clean.x_train).all() and (ds.x_test == clean.x_test).all()
    assert (ds.y_test == clean.y_test).all()
    for noisy, truth in ((ds.y_train, clean.y_train), (ds.y_val, clean.y_val)):
        wrong = int((noisy != truth).sum())
        assert wrong == round(rate * len(truth))
    assert ds.meta["noisy_train_fraction"] == pytest.approx(rate, abs=1 / len(clean.y_train))


def test_asymmetric_task_flips_the_digit_pairs():
    ds, clean = get_task("noisy-labels-asym40").load(0), digits(0)
    assert (ds.y_test == clean.y_test).all()
    truth, noisy = clean.y_train.numpy(), ds.y_train.numpy()
    changed = noisy != truth
    pairs = set(zip(truth[changed].tolist(), noisy[changed].tolist(), strict=True))
    assert pairs == set(N.DIGITS_FLIPS.items())
    for c in N.DIGITS_FLIPS:
        assert changed[truth == c].sum() == round(0.4 * (truth == c).sum())


def test_noise_is_reproducible_per_seed_and_differs_between_seeds():
    task = get_task("noisy-labels")
    a, b, other = task.load(0), task.load(0), task.load(1)
    assert (a.y_train == b.y_train).all() and (a.y_val == b.y_val).all()
    # another seed: another split and another draw of the noise
    wrong_a = (a.y_train != digits(0).y_train).numpy()
    wrong_other = (other.y_train != digits(1).y_train).numpy()
    assert wrong_a.sum() == wrong_other.sum()
    assert not np.array_equal(np.flatnonzero(wrong_a), np.flatnonzero(wrong_other))


def test_report_without_noisy_tasks_has_no_noise_section(tmp_path):
    folder = start_study(
        StudyConfig(tasks=("multiclass",), losses=("cross_entropy",), seeds=1, epochs=1),
        tmp_path / "s",
    )
    store = Store(folder / "results.sqlite")
    try:
        assert noise_table_from_store(store) is None
        html = write_report(store, tmp_path / "report")["html"].read_text(encoding="utf-8")
    finally:
        store.close()
    assert 'id="noisy-labels"' not in html
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "label noise" not in markdown


def test_clean_task_has_no_noise_and_competitors_are_shared():
    ds, clean = get_task("noisy-labels-clean").load(2), digits(2)
    assert (ds.y_train == clean.y_train).all() and (ds.y_val == clean.y_val).all()
    losses = [c.loss for c in get_task("noisy-labels").competitors]
    assert losses == [
        "cross_entropy",
        "generalized_cross_entropy",
        "symmetric_cross_entropy",
        "soft_bootstrapped_cross_entropy",
        "hard_bootstrapped_cross_entropy",
        "nce_rce_loss",
        "nce_mae_loss",
    ]
    for name in N.NOISE_SETTINGS:
        assert get_task(name).competitors == get_task("noisy-labels").competitors


# -- a tiny study end to end -----------------------------------------------------------------


def test_tiny_study_produces_the_noise_table_and_figure(tmp_path):
    tasks = ("noisy-labels-clean", "noisy-labels", "noisy-labels-asym40")
    cfg = StudyConfig(tasks=tasks, losses=("cross_entropy", "nce_rce_loss"), seeds=2, epochs=2)
    folder = start_study(cfg, tmp_path / "s")
    store = Store(folder / "results.sqlite")
    try:
        table = noise_table_from_store(store)
        paths = write_report(store, tmp_path / "report")
        html = paths["html"].read_text(encoding="utf-8")
        markdown = paths["markdown"].read_text(encoding="utf-8")
    finally:
        store.close()
    # report.md carries the table too
    assert "## Clean-test accuracy by label noise" in markdown
    assert "| loss | clean | symm 20% | asym 40% |" in markdown
    # the HTML report carries the table and the figure
    section = html[html.index('<section id="noisy-labels">') :]
    section = section[: section.index("</section>")]
    assert "Clean-test accuracy by label noise" in section and "<svg" in section
    assert re.findall(r'<th class="num" title="task [^"]+">([^<]+)</th>', section) == [
        "clean",
        "symm 20%",
        "asym 40%",
    ]
    assert table is not None and table.metric == "top1"
    assert [c.task for c in table.columns] == list(tasks)  # clean first, then by kind and rate
    assert [c.header for c in table.columns] == ["clean", "symm 20%", "asym 40%"]
    assert [r.loss for r in table.rows] == ["cross_entropy", "nce_rce_loss"]
    for row in table.rows:
        for c in table.columns:
            cell = row.cells[c.task]
            assert cell.summary.n == 2 and 0.0 <= cell.summary.mean <= 1.0
    md = noise_markdown(table)
    assert md.splitlines()[0] == "| loss | clean | symm 20% | asym 40% |"
    assert len(md.splitlines()) == 2 + 2
    svg = noise_svg(table)
    assert svg.startswith("<svg") and "clean test top-1" in svg
    assert "label noise rate" in svg and "symmetric noise" in svg and "asymmetric noise" in svg
    # Okabe-Ito colours, not matplotlib's default cycle
    colours = set(re.findall(r"stroke: (#[0-9a-f]{6})", svg))
    assert {"#0072b2", "#e69f00"} <= colours and "#1f77b4" not in colours
