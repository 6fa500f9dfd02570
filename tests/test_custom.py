"""User losses: registration (decorator and call), validation messages, load_loss, CLI and lab.

Every test leaves the catalog as it found it (the ``clean_catalog`` fixture unregisters what a test
registered), so the catalog-driven contract tests never see these losses.
"""

from __future__ import annotations

import sqlite3
import sys

import pytest
import torch
import torch.nn.functional as TF
from typer.testing import CliRunner

import losslab
from losslab import catalog
from losslab.cli import app
from losslab.custom import LossLoadError
from losslab.lab.tasks import get_task

EXAMPLE = "_custom_loss_example"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture(autouse=True)
def clean_catalog():
    before = set(catalog.names())
    yield
    for name in set(catalog.names()) - before:
        losslab.unregister_loss(name)
    assert set(catalog.names()) == before


#: a user's loss module, as it would live in the user's own package. It is written to a temporary
#: folder by the ``example`` fixture rather than kept under tests/: pytest's --doctest-modules
#: imports every .py file under tests/, and importing this one registers a loss, which would leak
#: into the catalog-driven contract tests collected after it.
EXAMPLE_SOURCE = '''\
"""A user's loss module, as it would live in the user's own package (used by tests/test_custom.py).

Importing it registers ``asymmetric_bce`` (decorated); ``plain_squared_error`` is undecorated
and is registered by ``losslab.load_loss`` on demand.
"""

import torch.nn.functional as F

import losslab


@losslab.register_loss(
    tasks=("binary", "imbalanced"),
    input_kind="logits",
    formula=r"\\ell = -w\\, t \\log\\sigma(x) - (1 - t)\\log(1 - \\sigma(x))",
    summary="BCE whose positive term is weighted by w (missing a positive costs more).",
    references=("Elkan, The Foundations of Cost-Sensitive Learning, IJCAI 2001",),
    properties={"nonnegative": True, "convex": True},
)
def asymmetric_bce(input, target, *, w: float = 3.0):
    """Per-element BCE with the positive term weighted by ``w``."""
    return -(w * target * F.logsigmoid(input) + (1 - target) * F.logsigmoid(-input))


def plain_squared_error(input, target, reduction="mean"):
    """A loss with its own reduction argument."""
    per = (input - target) ** 2
    if reduction == "none":
        return per
    return per.sum() if reduction == "sum" else per.mean()


NOT_A_LOSS = 42
'''


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("userpkg")
    (folder / f"{EXAMPLE}.py").write_text(EXAMPLE_SOURCE)
    return folder


@pytest.fixture
def example(monkeypatch, example_dir):
    monkeypatch.syspath_prepend(str(example_dir))
    yield EXAMPLE
    sys.modules.pop(EXAMPLE, None)  # the next test imports (and registers) it afresh


def _x_t(n=6):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, generator=g, dtype=torch.float64), torch.randint(
        0, 2, (n,), generator=g
    ).double()


# -- registration ---------------------------------------------------------------------------


def test_bare_decorator_registers_with_defaults_and_returns_the_function():
    def squared_gap(input, target):
        return (input - target) ** 2

    assert losslab.register_loss(squared_gap) is squared_gap
    spec = catalog.get("squared_gap")
    assert spec.builtin is False and spec.family == "custom"
    assert spec.tasks == ("regression",) and spec.input_kind == "real"
    assert spec.head_for("regression").units == "1"
    assert set(spec.properties) == set(catalog.PROPERTIES) and set(spec.properties.values()) == {
        None
    }
    assert spec.derivative_fn is None and catalog.derivative_error(spec) is None
    x, t = torch.randn(5, 2), torch.randn(5, 2)
    torch.testing.assert_close(spec.function(x, t), TF.mse_loss(x, t))
    torch.testing.assert_close(
        spec.function(x, t, reduction="sum"), TF.mse_loss(x, t, reduction="sum")
    )
    torch.testing.assert_close(spec.function(x, t, reduction="none"), (x - t) ** 2)


def test_decorator_with_metadata_and_hyperparameters():
    @losslab.register_loss(
        name="weighted_bce",
        tasks=("binary",),
        formula=r"\ell = w",
        properties={"convex": True},
        references=["A. Author, A loss, 2024"],
        derivative_fn=lambda x, t, w=2.0: w * (torch.sigmoid(x) - t),
    )
    def my_fn(input, target, *, w: float = 2.0):
        """Weighted BCE (w times torch's)."""
        return w * TF.binary_cross_entropy_with_logits(input, target, reduction="none")

    spec = catalog.get("weighted_bce")
    assert spec.input_kind == "logits" and spec.head_for("binary").activation == "identity"
    assert spec.properties["convex"] is True and spec.properties["bounded"] is None
    assert spec.summary == "Weighted BCE (w times torch's)."
    assert spec.defaults == {"reduction": "mean", "w": 2.0}
    assert catalog.derivative_error(spec) < 1e-12
    x, t = _x_t()
    module = spec.module(w=3.0, reduction="sum")
    torch.testing.assert_close(
        module(x, t), 3.0 * TF.binary_cross_entropy_with_logits(x, t, reduction="sum")
    )
    # the module joins composites like any loss module
    crit = 0.5 * spec.module() + losslab.nn.BCEWithLogitsLoss()
    torch.testing.assert_close(crit(x, t), 2.0 * TF.binary_cross_entropy_with_logits(x, t))


def test_function_with_its_own_reduction_is_called_with_it():
    seen = []

    def mine(input, target, reduction="mean"):
        seen.append(reduction)
        per = (input - target).abs()
        return per if reduction == "none" else (per.sum() if reduction == "sum" else per.mean())

    losslab.register_loss(mine)
    x, t = torch.randn(4, 3), torch.randn(4, 3)
    seen.clear()
    torch.testing.assert_close(
        catalog.get("mine").function(x, t, reduction="sum"), TF.l1_loss(x, t, reduction="sum")
    )
    assert seen == ["sum"]


def test_module_class_and_instance():
    class Scaled(torch.nn.Module):
        def __init__(self, scale: float = 2.0):
            super().__init__()
            self.scale = scale

        def forward(self, x, y):
            return self.scale * (x - y).abs()

    losslab.register_loss(Scaled)
    x, t = torch.randn(5, 2), torch.randn(5, 2)
    torch.testing.assert_close(
        catalog.get("scaled").function(x, t, scale=3.0), 3.0 * TF.l1_loss(x, t)
    )

    instance = torch.nn.SmoothL1Loss(beta=0.5)
    losslab.register_loss(instance, name="my_smooth_l1")
    fn = catalog.get("my_smooth_l1").function
    torch.testing.assert_close(
        fn(x, t, reduction="none"), TF.smooth_l1_loss(x, t, beta=0.5, reduction="none")
    )
    torch.testing.assert_close(fn(x, t), TF.smooth_l1_loss(x, t, beta=0.5))
    assert instance.reduction == "mean"  # the user's instance is never modified


def test_replace_and_reregistering_the_same_object():
    def gap(input, target):
        return (input - target).abs()

    losslab.register_loss(gap)
    losslab.register_loss(gap)  # the same object again (e.g. a re-imported module) is fine

    def gap2(input, target):
        return (input - target) ** 2

    with pytest.raises(
        ValueError, match=r"^register_loss: 'name' must be unused \(pass replace=True"
    ):
        losslab.register_loss(gap2, name="gap")
    losslab.register_loss(gap2, name="gap", replace=True)
    assert catalog.get("gap").function(torch.tensor([2.0]), torch.tensor([0.0])).item() == 4.0


def _one_arg(x):
    return x


def _returns_float(x, y):
    return (x - y).detach().sum().item()


def _detached(x, y):
    return x.detach() - y


def _scalar(x, y):
    return ((x - y) ** 2).mean()


def _integer(x, y):
    return (x > y).long()


def _raises(x, y):
    raise RuntimeError("boom")


def _required_hp(x, y, *, k):
    return (x - y) * k


@pytest.mark.parametrize(
    "fn, kwargs, exc, message",
    [
        (
            42,
            {"name": "n"},
            TypeError,
            r"^register_loss: 'fn' must be a function, an nn.Module subclass or an nn.Module instance, got int",
        ),
        (
            _one_arg,
            {},
            TypeError,
            r"^register_loss: 'fn' must be a callable taking two positional inputs \(input, target\), got a callable with signature \(x\)",
        ),
        (
            _returns_float,
            {},
            TypeError,
            r"^register_loss: '_returns_float' must be a callable returning a torch.Tensor, got float",
        ),
        (
            _integer,
            {},
            TypeError,
            r"^register_loss: '_integer' must be a callable returning a floating-point tensor, got torch.int64",
        ),
        (
            _detached,
            {},
            ValueError,
            r"^register_loss: '_detached' must be differentiable with respect to its input",
        ),
        (
            _scalar,
            {},
            ValueError,
            r"^register_loss: '_scalar' must be a callable returning per-element losses for reduction='none' .*got shape \(\)",
        ),
        (
            _raises,
            {},
            ValueError,
            r"^register_loss: '_raises' must run on a sample from sampler 'regression' .*got RuntimeError: boom",
        ),
        (
            _required_hp,
            {},
            TypeError,
            r"^register_loss: 'fn' must be a callable whose keyword hyperparameters all have defaults, got 'k'",
        ),
        (
            _scalar,
            {"name": "mse_loss"},
            ValueError,
            r"^register_loss: 'name' must be a name no built-in loss uses, got 'mse_loss'",
        ),
        (
            _scalar,
            {"name": "has space"},
            ValueError,
            r"^register_loss: 'name' must be a Python identifier, got 'has space'",
        ),
        (
            _scalar,
            {"input_kind": "logits"},
            ValueError,
            r"^register_loss: 'tasks' must be given for input_kind 'logits'",
        ),
        (
            _scalar,
            {"tasks": ("regresion",)},
            ValueError,
            r"^register_loss: 'tasks' must be a non-empty tuple of",
        ),
        (
            _scalar,
            {"tasks": "binary"},
            TypeError,
            r"^register_loss: 'tasks' must be a tuple of task names",
        ),
        (
            _scalar,
            {"input_kind": "logit", "tasks": ("binary",)},
            ValueError,
            r"^register_loss: 'input_kind' must be one of",
        ),
        (
            _scalar,
            {"tasks": ("metric_learning",), "input_kind": "embeddings"},
            ValueError,
            r"^register_loss: 'heads' must be given for task 'metric_learning' \(no default head for input_kind 'embeddings'\)",
        ),
        (
            _scalar,
            {"properties": {"fast": True}},
            ValueError,
            r"^register_loss: 'properties' must be keyed by nonnegative",
        ),
        (
            _scalar,
            {"properties": {"convex": "yes"}},
            TypeError,
            r"^register_loss: 'properties' must be True, False or None",
        ),
    ],
)
def test_registration_errors(fn, kwargs, exc, message):
    before = catalog.names()
    with pytest.raises(exc, match=message):
        losslab.register_loss(fn, **kwargs)
    assert catalog.names() == before


def test_builtins_cannot_be_unregistered():
    with pytest.raises(
        ValueError, match=r"^catalog.unregister: 'name' must be a user-registered loss"
    ):
        catalog.unregister("mse_loss")
    with pytest.raises(catalog.UnknownLossError):
        catalog.unregister("no_such_loss")


# -- load_loss --------------------------------------------------------------------------------


def test_load_loss_imports_registers_and_reregisters(example):
    spec = losslab.load_loss(f"{example}:asymmetric_bce")
    assert spec is catalog.get("asymmetric_bce") and spec.builtin is False
    assert losslab.load_loss(f"{example}:asymmetric_bce") is spec  # idempotent
    losslab.unregister_loss("asymmetric_bce")
    assert "asymmetric_bce" not in catalog.names()
    assert losslab.load_loss(f"{example}:asymmetric_bce") is spec  # module cached: registered again
    plain = losslab.load_loss(f"{example}:plain_squared_error")  # undecorated: default metadata
    assert plain.name == "plain_squared_error" and plain.tasks == ("regression",)


@pytest.mark.parametrize(
    "path, message",
    [
        ("no_colon", r"^load_loss: 'path' must be 'package.module:attribute', got 'no_colon'"),
        ("a.b:c:d", r"^load_loss: 'path' must be 'package.module:attribute'"),
        (
            "surely_missing_pkg.mod:fn",
            r"^load_loss: 'path' must name an importable module, got 'surely_missing_pkg.mod:fn' \(No module named",
        ),
        (
            f"{EXAMPLE}:missing",
            rf"^load_loss: 'path' must name an attribute of module '{EXAMPLE}', got 'missing' \(not found\)",
        ),
        (
            f"{EXAMPLE}:NOT_A_LOSS",
            rf"^load_loss: '{EXAMPLE}:NOT_A_LOSS' could not be registered: register_loss: 'fn' must be",
        ),
    ],
)
def test_load_loss_errors(example, path, message):
    with pytest.raises(LossLoadError, match=message):
        losslab.load_loss(path)


# -- CLI and lab ------------------------------------------------------------------------------


def test_catalog_commands_show_a_user_loss(example):
    losslab.load_loss(f"{example}:asymmetric_bce")
    res = run("losses", "--family", "custom")
    assert res.exit_code == 0 and "asymmetric_bce" in res.output
    res = run("show", "asymmetric_bce")
    assert res.exit_code == 0, res.output
    for text in ("BCE whose positive term", "Elkan", "(autograd)", "binary", "a single logit"):
        assert text in res.output, text
    res = run("derivatives", "asymmetric_bce", "mse_loss")
    assert res.exit_code == 0, res.output
    assert "autograd only" in res.output


def test_compare_runs_a_user_loss_end_to_end(example, tmp_path):
    res = run(
        "compare",
        "--loss",
        f"{example}:asymmetric_bce",
        "--loss",
        "binary_cross_entropy_with_logits",
        "--task",
        "binary",
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        str(tmp_path),
        "--name",
        "s",
    )
    assert res.exit_code == 0, res.output
    db = sqlite3.connect(tmp_path / "s" / "results.sqlite")
    rows = db.execute("select loss, status from runs").fetchall()
    db.close()
    assert (
        sorted(rows)
        == [("asymmetric_bce", "finished")] * 2
        + [("binary_cross_entropy_with_logits", "finished")] * 2
    )
    assert "asymmetric" in (tmp_path / "s" / "report.md").read_text()


def test_resume_never_imports_from_the_store(example, tmp_path):
    res = run(
        "compare",
        "--loss",
        f"{example}:asymmetric_bce",
        "--task",
        "binary",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        str(tmp_path),
        "--name",
        "s",
    )
    assert res.exit_code == 0, res.output
    losslab.unregister_loss("asymmetric_bce")
    res = run("compare", "--resume", str(tmp_path / "s"), "--quiet")
    assert res.exit_code == 2
    assert f"pass '--loss {example}:asymmetric_bce' with '--resume'" in res.output
    res = run(
        "compare", "--resume", str(tmp_path / "s"), "--loss", f"{example}:asymmetric_bce", "--quiet"
    )
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--loss", "surely_missing_pkg:fn"], "load_loss: 'path' must name an importable module"),
        (
            ["--loss", f"{EXAMPLE}:asymmetric_bce", "--jobs", "2"],
            "'--jobs' must be 1 with a loss loaded by import path",
        ),
        (
            ["--loss", f"{EXAMPLE}:plain_squared_error"],
            "declares no output head for task kind 'binary'",
        ),
    ],
)
def test_compare_rejects_bad_user_losses(example, tmp_path, args, message):
    res = run(
        "compare",
        "--task",
        "binary",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        *args,
    )
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())


# -- your loss from the command line: the current directory, --add-loss, labels ----------------

CWD_SOURCE = '''\
def cube_gap(input, target):
    """|x - y|^3, per element."""
    return (input - target).abs() ** 3


def binary_gap(input, target):
    return (input - target).abs()
'''


@pytest.fixture
def in_user_dir(tmp_path, monkeypatch):
    """A user's folder holding ``cwd_losses.py`` (never on sys.path), as the current directory."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "cwd_losses.py").write_text(CWD_SOURCE)
    monkeypatch.chdir(folder)
    yield folder
    sys.modules.pop("cwd_losses", None)


def test_load_loss_finds_the_current_directory_only_when_asked(in_user_dir):
    path_before = list(sys.path)
    with pytest.raises(
        LossLoadError,
        match=r"^load_loss: 'path' must name an importable module, got "
        r"'cwd_losses:cube_gap' \(No module named 'cwd_losses'; is its folder on sys.path",
    ):
        losslab.load_loss("cwd_losses:cube_gap")
    spec = losslab.load_loss("cwd_losses:cube_gap", search_cwd=True)
    assert (
        spec.name == "cube_gap"
        and spec.function(torch.tensor([2.0]), torch.tensor([0.0])).item() == 8.0
    )
    assert sys.path == path_before  # the current directory was on sys.path for that import only
    with pytest.raises(
        LossLoadError, match=r"No module named 'nowhere_mod'; looked in the current directory "
    ):
        losslab.load_loss("nowhere_mod:fn", search_cwd=True)
    assert sys.path == path_before


def _runs(folder):
    with sqlite3.connect(folder / "results.sqlite") as db:
        return sorted(db.execute("select competitor, loss from runs").fetchall())


def test_compare_imports_a_loss_from_the_current_directory_and_labels_it_by_its_path(in_user_dir):
    res = run(
        "compare",
        "--task",
        "regression",
        "--loss",
        "cwd_losses:cube_gap,mse_loss",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        "runs",
        "--name",
        "s",
    )
    assert res.exit_code == 0, res.output
    study = in_user_dir / "runs" / "s"
    assert _runs(study) == [("cwd_losses:cube_gap", "cube_gap"), ("mse_loss", "mse_loss")]
    report = (study / "report.md").read_text()
    assert "| cwd\\_losses:cube\\_gap | `cube_gap` |" in report  # label, then the catalog function
    assert "cwd_losses:cube_gap" in res.output  # the terminal table too


def test_add_loss_keeps_the_default_competitors_and_resume_reimports_it(in_user_dir):
    res = run(
        "compare",
        "--task",
        "binary",
        "--add-loss",
        "cwd_losses:cube_gap",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        "runs",
        "--name",
        "add",
    )
    assert res.exit_code == 2  # cube_gap is a regression loss: no head on a binary task
    text = " ".join(res.output.split())
    assert (
        "compare: loss 'cube_gap' declares no output head for task kind 'binary' (its tasks: regression); "
        "it cannot run on task 'binary': choose tasks of its kind with '--task'"
    ) in text
    res = run(
        "compare",
        "--task",
        "regression",
        "--add-loss",
        "cwd_losses:cube_gap",
        "--add-loss",
        "smooth_l1_loss",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        "runs",
        "--name",
        "add",
    )
    assert res.exit_code == 0, res.output
    study = in_user_dir / "runs" / "add"
    labels = [c for c, _ in _runs(study)]
    defaults = [c.label for c in get_task("regression").competitors]
    assert sorted(labels) == sorted([*defaults, "cwd_losses:cube_gap", "smooth_l1_loss"])
    losslab.unregister_loss("cube_gap")
    sys.modules.pop("cwd_losses")
    res = run("compare", "--resume", str(study), "--quiet")
    assert res.exit_code == 2
    assert "pass '--loss cwd_losses:cube_gap' with '--resume'" in " ".join(res.output.split())
    res = run("compare", "--resume", str(study), "--add-loss", "cwd_losses:cube_gap", "--quiet")
    assert res.exit_code == 0, res.output
    assert len(_runs(study)) == len(labels)  # nothing run twice


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--loss", "mse_loss", "--add-loss", "l1_loss"],
            "compare: '--loss' replaces each task's default competitors and '--add-loss' adds to them; pass one "
            "of them ('--loss A,B' runs exactly A and B), got both",
        ),
        (
            ["--add-loss", "huber_loss,l1_loss"],
            "compare: '--add-loss' must name losses that are not already competing, got 'l1_loss': task "
            "'regression' already runs it as 'MAE'",
        ),
        (["--add-loss", "no_such_loss"], "compare: catalog: unknown loss 'no_such_loss'"),
    ],
)
def test_add_loss_errors(tmp_path, args, message):
    res = run("compare", "--task", "regression", "--seeds", "1", "--out", str(tmp_path), *args)
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())
    assert not list(tmp_path.rglob("results.sqlite"))


def test_readme_states_the_default_head_of_every_user_loss():
    """The README's table of default heads is custom._DEFAULT_HEADS, row for row."""
    from pathlib import Path

    from losslab.custom import _DEFAULT_HEADS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Which output head your loss gets", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in catalog.INPUT_KINDS:
            for task in cells[1].split(", "):
                rows[(cells[0], task.strip("`"))] = cells[2]
    assert rows == {key: head.describe() for key, head in _DEFAULT_HEADS.items()}
