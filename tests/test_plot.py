"""``losslab plot`` and :mod:`losslab.report.loss_curves`."""

from __future__ import annotations

import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
import typer
from typer.testing import CliRunner

from losslab import catalog
from losslab.cli import _plot
from losslab.report.loss_curves import NotPlottableError, loss_curve

app = typer.Typer()


@app.callback()
def _group() -> None:
    """losslab (the plot command alone, as cli/_app.py registers it)."""


_plot.register_commands(app)
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_svg_has_each_label(tmp_path):
    out = tmp_path / "curves.svg"
    res = run("plot", "mse_loss", "huber_loss:delta=0.5", "log_cosh_loss", "--out", str(out))
    assert res.exit_code == 0, res.output
    root = ET.fromstring(out.read_text(encoding="utf-8"))  # well-formed XML
    assert root.tag.endswith("svg")
    text = out.read_text(encoding="utf-8")
    for label in (
        "mse_loss",
        "huber_loss (delta=0.5)",
        "log_cosh_loss",
        "error x - y",
        "derivative",
    ):
        assert label in text, label


def test_png_is_written(tmp_path):
    out = tmp_path / "curves.png"
    res = run("plot", "cross_entropy", "softmax_focal_loss:gamma=2", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 5000


@pytest.mark.parametrize(
    "args, message",
    [
        (("mse_los",), "Did you mean 'mse_loss'"),
        (("huber_loss:delta=-1",), "huber_loss: 'delta' must be a finite real number > 0, got -1"),
        (("huber_loss:gamma=1",), "'hyperparameter' must be one of"),
        (("huber_loss:delta",), "NAME:params must look like NAME=VALUE"),
        (("info_nce_loss",), "'info_nce_loss' reads embeddings"),
        (("mse_loss", "cross_entropy"), "the losses must share one x-axis"),
        (("mse_loss", "--out", "x.pdf"), "--out must end in .svg or .png"),
        (("nosuchmodule_xyz:fn",), "load_loss: 'path' must name an importable module"),
    ],
)
def test_bad_names_and_params_exit_2(tmp_path, args, message):
    if "--out" not in args:
        args = (*args, "--out", str(tmp_path / "c.svg"))
    res = run("plot", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_user_loss_by_module_path(tmp_path, monkeypatch):
    (tmp_path / "plot_user_losses.py").write_text(
        textwrap.dedent('''
        def quartic_loss(input, target, reduction="mean"):
            """Fourth power of the error."""
            out = (input - target) ** 4
            return out.mean() if reduction == "mean" else out.sum() if reduction == "sum" else out
    ''')
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        res = run(
            "plot", "plot_user_losses:quartic_loss", "mse_loss", "--out", str(tmp_path / "u.svg")
        )
        assert res.exit_code == 0, res.output
        assert "quartic_loss" in (tmp_path / "u.svg").read_text(encoding="utf-8")
    finally:
        from losslab.custom import unregister_loss

        if "quartic_loss" in catalog.names():
            unregister_loss("quartic_loss")
        sys.modules.pop("plot_user_losses", None)


def test_curves_follow_the_math():
    huber = loss_curve("huber_loss", delta=1.0, points=81)
    for x, loss, grad in zip(huber.x, huber.loss, huber.derivative, strict=True):
        assert loss == pytest.approx(0.5 * x * x if abs(x) <= 1 else abs(x) - 0.5, abs=1e-12)
        assert grad == pytest.approx(max(-1.0, min(1.0, x)), abs=1e-12)
    bce = loss_curve("binary_cross_entropy_with_logits", points=41)  # positive target: softplus(-x)
    import math

    for x, loss, grad in zip(bce.x, bce.loss, bce.derivative, strict=True):
        assert loss == pytest.approx(math.log1p(math.exp(-x)), rel=1e-9)
        assert grad == pytest.approx(-1 / (1 + math.exp(x)), rel=1e-9)
    ce = loss_curve("cross_entropy", points=11)  # target logit m against three zeros
    assert ce.loss[0] == pytest.approx(math.log(math.exp(-6) + 3) + 6, rel=1e-9)
    with pytest.raises(NotPlottableError, match="'ctc_loss' reads"):
        loss_curve("ctc_loss")


def test_report_shows_the_competing_losses(tmp_path):
    from losslab.lab.store import Store
    from losslab.lab.train import RunResult
    from losslab.report.render import write_report

    competitors = {
        "squared": ("mse_loss", {}),
        "huber 0.5": ("huber_loss", {"delta": "0.5"}),
        "contrastive": ("info_nce_loss", {}),
    }
    with Store(tmp_path / "results.sqlite") as st:
        st.set_meta("config", {"lrs": [0.01], "optimizer": "adam", "early_stopping": None})
        st.set_meta("tasks", ["reg"])
        st.set_meta(
            "task_info",
            {
                "reg": {
                    "kind": "regression",
                    "description": "d",
                    "metrics": ["mae"],
                    "primary": "mae",
                    "higher_is_better": False,
                    "epochs": 2,
                    "convergence_rule": "c",
                    "overfit_rule": "o",
                    "competitors": [
                        {"label": k, "loss": v[0], "kwargs": v[1], "note": ""}
                        for k, v in competitors.items()
                    ],
                }
            },
        )
        for label, (loss, _) in competitors.items():
            for seed in range(2):
                hist = {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "val_mae": [0.6, 0.5]}
                st.add_run(
                    RunResult(
                        "reg",
                        label,
                        loss,
                        seed,
                        0.01,
                        "finished",
                        2,
                        2,
                        history=hist,
                        metrics={"mae": 0.5 + seed / 10},
                    )
                )
        paths = write_report(st, tmp_path / "report")
    html = paths["html"].read_text(encoding="utf-8")
    section = html[html.index("<h3>The competing losses</h3>") :]
    assert "squared" in section and "huber 0.5" in section and "error x - y" in section
    assert "not drawn (no shared x-axis): contrastive" in section
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "### The competing losses" in markdown
    svg = next(
        p for p in (tmp_path / "report" / "plots").iterdir() if p.name.endswith("loss_curves.svg")
    )
    assert "huber 0.5" in svg.read_text(encoding="utf-8")
