"""The entry beside each loss function (losslab.losses._entry): docs, derivative defaults,
generated modules, catalog registration and import order."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import torch

import losslab.functional as LF
import losslab.nn as LN
from losslab import catalog
from losslab.catalog._samplers import REGRESSION
from losslab.catalog._spec import When
from losslab.losses import FAMILY_MODULES, _entry, entries, entry

ENTRIES = [e for m in FAMILY_MODULES for e in entries(m)]
IDS = [e.spec.name for e in ENTRIES]

#: the fields a minimal entry needs besides module/formula/derivative/references
MINIMAL = dict(
    family="regression",
    tasks=("regression",),
    input_kind="real",
    heads={},
    properties={},
    summary="s",
    when_to_use="w",
    sampler=REGRESSION,
)


@pytest.fixture
def scratch():
    """Entries declared in this test module are dropped afterwards (they never reach the catalog)."""
    yield
    _entry._ENTRIES.pop(__name__, None)


def test_every_family_module_declares_entries():
    assert FAMILY_MODULES
    for m in FAMILY_MODULES:
        assert entries(m), f"{m}: no @entry in the family module"


@pytest.mark.parametrize("e", ENTRIES, ids=IDS)
def test_docstring_renders_the_entry_once(e):
    doc = e.spec.function.__doc__
    flat = " ".join(doc.split())
    assert doc.count("\nReferences:\n") == 1
    assert flat.count(f":math:`{e.spec.formula}`") == 1
    assert flat.count(f":math:`{e.spec.derivative}`") == 1
    for ref in e.spec.references:
        assert " ".join(ref.split()) in flat, f"{e.spec.name}: reference not rendered: {ref}"
    assert doc.index("Example:") < doc.index("Formula:") < doc.index("References:")


@pytest.mark.parametrize("e", ENTRIES, ids=IDS)
def test_public_faces_read_the_entry(e):
    spec = catalog.get(e.spec.name)
    fn = spec.function
    assert fn is e.spec.function
    assert getattr(LF, fn.__name__) is fn and fn.__name__ in LF.__all__
    cls = getattr(LN, e.module)
    assert spec.module is cls and e.module in LN.__all__
    assert cls.function is fn and cls.__name__ == e.module
    # generated classes live in losslab.nn itself, hand-written ones in its private modules
    assert cls.__module__ == "losslab.nn" or (
        e.hand_written and cls.__module__.startswith("losslab.nn._")
    )
    for alias in e.module_aliases:
        assert getattr(LN, alias) is cls and alias in LN.__all__
    if e.drop_in is not None:
        assert spec.drop_in_for == f"torch.nn.functional.{fn.__name__}"
        torch_positional = [
            p.name
            for p in list(inspect.signature(e.drop_in.__init__).parameters.values())[1:]
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        ours = list(inspect.signature(cls.__init__).parameters)[1 : 1 + len(torch_positional)]
        assert ours == torch_positional
    else:
        assert spec.drop_in_for is None


def test_mae_aliases():
    assert LN.MAELoss is LN.L1Loss
    assert LF.mae_loss is LF.l1_loss
    assert catalog.get("mae_loss") is catalog.get("l1_loss")


def _toy(input, target, *, reduction="mean", k: float = 3.0):
    """Toy loss.

    Example:
        >>> 1
        1
    """
    return (k * (input - target) ** 2).sum()


def test_derivative_helper_takes_the_function_defaults(scratch):
    fn = entry(
        module="ToyLoss",
        formula="f",
        derivative="d",
        references=("R, T, 2000",),
        derivative_fn=lambda x, y, *, k: 2 * k * (x - y),
        **MINIMAL,
    )(_toy)
    spec = _entry._ENTRIES[__name__][-1].spec
    assert spec.function is fn
    x, y = torch.tensor([1.0, 2.0]), torch.zeros(2)
    assert torch.equal(spec.derivative_fn(x, y), torch.tensor([6.0, 12.0]))
    assert torch.equal(spec.derivative_fn(x, y, k=0.5), torch.tensor([1.0, 2.0]))


def test_a_docstring_with_its_own_references_is_refused(scratch):
    def own(input, target, *, reduction="mean"):
        """Own.

        References:
            Somebody, 1999.
        """

    with pytest.raises(
        ValueError, match=r"^entry for own: the docstring must not have its own 'References:'"
    ):
        entry(module="OwnLoss", formula="f", derivative="d", references=("R",), **MINIMAL)(own)


def test_a_drop_in_keeps_torchs_class_name(scratch):
    with pytest.raises(
        ValueError,
        match=r"^entry for _toy: a drop-in's module is torch's name 'HuberLoss', got 'Toy'$",
    ):
        entry(
            module="Toy",
            drop_in=torch.nn.HuberLoss,
            formula="f",
            derivative="d",
            references=("R",),
            **MINIMAL,
        )(_toy)


def test_a_hand_written_module_is_not_generated(scratch, monkeypatch):
    def toy(input, target, *, reduction="mean"):
        """Toy."""

    entry(
        module="ToyLoss",
        hand_written=True,
        formula="f",
        derivative="d",
        references=("R",),
        **MINIMAL,
    )(toy)
    (e,) = _entry._ENTRIES[__name__]
    assert e.hand_written and e.module == "ToyLoss"
    monkeypatch.setattr(_entry, "entries", lambda family_module: [e])
    assert _entry.module_classes("toy") == {}
    with pytest.raises(ValueError, match=r"^entry for toy: a hand-written module takes neither"):
        entry(
            module="HuberLoss",
            hand_written=True,
            drop_in=torch.nn.HuberLoss,
            formula="f",
            derivative="d",
            references=("R",),
            **MINIMAL,
        )(toy)


def test_the_angular_modules_are_the_hand_written_stateful_classes():
    for name, fn in (("ArcFaceLoss", LF.arcface_loss), ("CosFaceLoss", LF.cosface_loss)):
        cls = getattr(LN, name)
        assert cls.__module__ == "losslab.nn._angular" and cls.function is fn
        assert catalog.get(fn.__name__).module is cls
        assert isinstance(cls(3, 2).weight, torch.nn.Parameter)


def test_a_bad_entry_fails_when_declared(scratch):
    with pytest.raises(ValueError, match=r"rule convex='alpha >= 1' must read hyperparameters"):
        entry(
            module="ToyLoss",
            formula="f",
            derivative="d",
            references=("R",),
            **{**MINIMAL, "properties": {"convex": When("alpha >= 1")}},
        )(_toy)
    assert _entry._ENTRIES.get(__name__, []) == []


@pytest.mark.parametrize(
    "first", ["losslab.losses.regression_robust", "losslab.losses", "losslab.nn", "losslab.catalog"]
)
def test_any_import_order_gives_whole_modules(first):
    code = (
        f"import {first}\n"
        "import losslab.functional as LF, losslab.nn as LN\n"
        "from losslab import catalog\n"
        "from losslab.losses import regression_robust as m\n"
        "assert LF.log_cosh_loss is m.log_cosh_loss is catalog.get('log_cosh_loss').function\n"
        "assert catalog.get('huber_loss').module is LN.HuberLoss\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
