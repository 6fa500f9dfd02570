"""Every torch drop-in (module and function) has torch's signature, up to the differences listed here.

The list of drop-ins comes from the catalog (``drop_in_for``), so a new drop-in is compared
without being added to this file; a difference that is not documented below fails.
"""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch

import losslab.nn as LN
from losslab import catalog

LEGACY = ("size_average", "reduce")  # torch's pre-0.4 reduction arguments

#: losslab's extra keyword-only module hyperparameters (documented in README "Conventions"):
#: torch 2.13's functions take an elementwise ``weight`` that its modules do not expose.
MODULE_EXTRAS = {"MSELoss": {"weight"}, "L1Loss": {"weight"}, "HuberLoss": {"weight"}}

#: documented differences of the functions, beyond the one rule stated in README "Conventions"
#: (hyperparameters are keyword-only; the legacy size_average/reduce are not taken)
FUNCTION_EXTRAS: dict[str, set[str]] = {}

DROP_INS = [catalog.get(n) for n in catalog.names() if catalog.get(n).drop_in_for]


def _torch_function(spec):
    module_path, _, name = spec.drop_in_for.rpartition(".")
    assert module_path == "torch.nn.functional", spec.drop_in_for
    return getattr(torch.nn.functional, name)


def _params(obj) -> list[inspect.Parameter]:
    params = list(inspect.signature(obj).parameters.values())
    return params[1:] if params and params[0].name == "self" else params


def test_the_catalog_lists_the_drop_ins():
    assert len(DROP_INS) >= 20
    assert {s.module.__name__ for s in DROP_INS} >= {
        "CrossEntropyLoss",
        "BCEWithLogitsLoss",
        "MSELoss",
    }


@pytest.mark.parametrize("spec", DROP_INS, ids=lambda s: s.module.__name__)
def test_module_constructor_matches_torch(spec):
    ours = spec.module
    theirs = getattr(torch.nn, ours.__name__)
    extras = MODULE_EXTRAS.get(ours.__name__, set())
    mine = _params(ours.__init__)
    torch_params = _params(theirs.__init__)
    # torch's parameters first, same names, order, kinds and defaults
    assert [(p.name, p.kind) for p in mine[: len(torch_params)]] == [
        (p.name, p.kind) for p in torch_params
    ]
    for a, b in zip(mine, torch_params):
        assert a.default == b.default, (ours.__name__, a.name, a.default, b.default)
    # then only documented, keyword-only extras
    rest = mine[len(torch_params) :]
    assert {p.name for p in rest} == extras
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest)


@pytest.mark.parametrize("spec", DROP_INS, ids=lambda s: s.name)
def test_function_signature_matches_torch_up_to_keyword_only_hyperparameters(spec):
    theirs = [p for p in _params(_torch_function(spec)) if p.name not in LEGACY]
    mine = _params(spec.function)
    extras = FUNCTION_EXTRAS.get(spec.name, set())
    assert {p.name for p in mine} - extras == {p.name for p in theirs}, spec.name
    # tensors (no default) come first, in torch's order
    assert [p.name for p in mine if p.default is inspect.Parameter.empty] == [
        p.name for p in theirs if p.default is inspect.Parameter.empty
    ]
    by_name = {p.name: p for p in theirs}
    for p in mine:
        if p.name in extras:
            assert p.kind is inspect.Parameter.KEYWORD_ONLY
            continue
        t = by_name[p.name]
        assert p.default == t.default, (spec.name, p.name, p.default, t.default)
        if t.default is inspect.Parameter.empty:  # tensors: positional as in torch
            assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, (spec.name, p.name)
        else:  # hyperparameters: keyword-only (the documented rule)
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, (spec.name, p.name)


def _same(ours, theirs, *inputs):
    a, b = ours(*inputs), theirs(*inputs)
    torch.testing.assert_close(a, b)


def test_positional_constructor_arguments_work_as_in_torch():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=gen)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    w = torch.rand(5, generator=gen) + 0.1
    _same(LN.CrossEntropyLoss(w), torch.nn.CrossEntropyLoss(w), x, y)
    _same(
        LN.CrossEntropyLoss(w, None, 2, None, "sum", 0.1),
        torch.nn.CrossEntropyLoss(w, None, 2, None, "sum", 0.1),
        x,
        y,
    )
    _same(
        LN.CrossEntropyLoss(w, ignore_index=1, label_smoothing=0.2),
        torch.nn.CrossEntropyLoss(w, ignore_index=1, label_smoothing=0.2),
        x,
        y,
    )
    _same(LN.NLLLoss(w, None, 3), torch.nn.NLLLoss(w, None, 3), x.log_softmax(1), y)
    _same(LN.MultiMarginLoss(2, 0.5, w), torch.nn.MultiMarginLoss(2, 0.5, w), x, y)
    b = torch.rand(6, 1, generator=gen).round()
    pw = torch.tensor([3.0])
    _same(
        LN.BCEWithLogitsLoss(None, pos_weight=pw),
        torch.nn.BCEWithLogitsLoss(None, pos_weight=pw),
        x[:, :1],
        b,
    )
    bw = torch.rand(6, 1, generator=gen)
    _same(
        LN.BCEWithLogitsLoss(bw, None, None, "sum", pw),
        torch.nn.BCEWithLogitsLoss(bw, None, None, "sum", pw),
        x[:, :1],
        b,
    )
    r = torch.randn(6, 5, generator=gen)
    _same(
        LN.SmoothL1Loss(None, None, "sum", 0.5), torch.nn.SmoothL1Loss(None, None, "sum", 0.5), x, r
    )
    _same(LN.HuberLoss("sum", 0.3), torch.nn.HuberLoss("sum", 0.3), x, r)
    _same(
        LN.PoissonNLLLoss(False, True),
        torch.nn.PoissonNLLLoss(False, True),
        x.exp(),
        r.abs().round(),
    )
    _same(LN.TripletMarginLoss(0.5, 1.0), torch.nn.TripletMarginLoss(0.5, 1.0), x, r, r.flip(0))
    _same(
        LN.MarginRankingLoss(0.2),
        torch.nn.MarginRankingLoss(0.2),
        x[:, 0],
        r[:, 0],
        torch.sign(r[:, 1]),
    )


def test_legacy_reduction_arguments_follow_torch():
    x, r = torch.randn(4, 3), torch.randn(4, 3)
    with warnings.catch_warnings(record=True) as ours_w:
        warnings.simplefilter("always")
        ours = LN.MSELoss(False)
    with warnings.catch_warnings(record=True) as torch_w:
        warnings.simplefilter("always")
        theirs = torch.nn.MSELoss(False)
    _same(ours, theirs, x, r)
    assert ours.hyperparameters()["reduction"] == "sum"
    assert [str(w.message) for w in ours_w] == [str(w.message) for w in torch_w] != []
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        unreduced = LN.L1Loss(None, False)
    assert unreduced(x, r).shape == (4, 3)  # reduce=False: no reduction, as in torch


def test_bad_positional_use_names_the_module():
    with pytest.raises(
        TypeError,
        match=r"CrossEntropyLoss: takes at most 6 positional argument\(s\) "
        r"\(weight, size_average, ignore_index, reduce, reduction, "
        r"label_smoothing\), got 7",
    ):
        LN.CrossEntropyLoss(None, None, -100, None, "mean", 0.0, 1)
    with pytest.raises(TypeError, match="CrossEntropyLoss: got two values for 'weight'"):
        LN.CrossEntropyLoss(torch.ones(3), weight=torch.ones(3))
    with pytest.raises(
        TypeError, match=r"GaussianNLLLoss: takes at most 0 positional argument\(s\), got 1"
    ):
        LN.GaussianNLLLoss(True)
    with pytest.raises(ValueError, match="label_smoothing"):
        LN.CrossEntropyLoss(None, None, -100, None, "mean", 2.0)  # validated like a keyword


def test_losslab_modules_keep_keyword_only_hyperparameters():
    with pytest.raises(
        TypeError, match=r"SigmoidFocalLoss: takes at most 0 positional argument\(s\), got 1"
    ):
        LN.SigmoidFocalLoss(2.0)
