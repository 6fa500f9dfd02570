"""Per-element weights mean one thing: they broadcast to the loss, and "mean" is the documented
normaliser (see ``losslab._reduction``).

The weighted losses are found by looping over the catalog (every entry whose function declares
a parameter with ``WEIGHT_PER_ELEMENT``), so a new weighted loss is covered without editing this
file; any other tensor parameter whose name says "weight" must be classified below, so a new kind
of weight cannot slip past. References are computed in float64 from the loss's own unweighted
``reduction="none"`` values and the weight, never through the weighted code path.
"""

from __future__ import annotations

import inspect
import re

import pytest
import torch
import torch.nn.functional as TF

from losslab import catalog
from losslab._validation import POS_WEIGHT, WEIGHT_PER_CLASS, WEIGHT_PER_ELEMENT
from losslab.catalog import Case, LossSpec

#: Losses whose "mean" with a per-element weight divides by the sum of the (broadcast) weights:
#: the torch drop-ins whose torch 2.13 kernels do so. Every other weighted loss divides by the
#: number of elements (the one rule of losslab's own losses).
WEIGHT_SUM_MEAN = {"mse_loss", "l1_loss"}

#: Tensor parameters named like a weight that are not per-element loss weights, and why.
OTHER_WEIGHTS = {
    ("wasserstein_1d", "u_weights"): "masses of the empirical distribution u",
    ("wasserstein_1d", "v_weights"): "masses of the empirical distribution v",
    ("sinkhorn_loss", "x_weights"): "masses of the point cloud x",
    ("sinkhorn_loss", "y_weights"): "masses of the point cloud y",
}

SPECS = [catalog.get(n) for n in catalog.names()]


def element_weight_params(spec: LossSpec) -> list[str]:
    return [k for k, p in spec.params.items() if p is WEIGHT_PER_ELEMENT]


WEIGHTED = [(s.name, arg) for s in SPECS for arg in element_weight_params(s)]


def test_the_weighted_losses_are_found():
    names = {n for n, _ in WEIGHTED}
    # a floor, so that a broken enumeration cannot make every test below vacuous
    assert {
        "mse_loss",
        "l1_loss",
        "huber_loss",
        "binary_cross_entropy_with_logits",
        "sigmoid_focal_loss",
        "log_cosh_loss",
        "hinge_loss",
    } <= names
    assert WEIGHT_SUM_MEAN <= names


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_weight_parameter_is_classified(spec):
    """A weight-like argument must be declared, and as a known kind of weight."""
    sig = inspect.signature(spec.function)
    known = (WEIGHT_PER_ELEMENT, WEIGHT_PER_CLASS, POS_WEIGHT)
    for arg, par in sig.parameters.items():
        # positional weights are inputs (arcface's class centres, linear CE's projection);
        # hyperparameters are keyword-only
        if "weight" not in arg or par.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        p = spec.params.get(arg)
        assert p is not None, f"{spec.name}: '{arg}' is not declared with loss_function"
        if p.kind not in ("tensor", "float_or_tensor"):
            continue  # a scalar (e.g. the weight of an added term), not a weight per element
        assert p in known or (spec.name, arg) in OTHER_WEIGHTS, (
            f"{spec.name}: classify '{arg}' (per-element weights use WEIGHT_PER_ELEMENT and are "
            "tested here; anything else goes into OTHER_WEIGHTS with a reason)"
        )


# -- cases ------------------------------------------------------------------------------------


def two_d_case(spec: LossSpec) -> Case:
    """A float64 case whose input has >= 2 dimensions (1-D elementwise cases are stacked)."""
    a = spec.sampler.make(torch.Generator().manual_seed(0), torch.float64, 1.0)
    if a.args[0].dim() >= 2:
        return a
    b = spec.sampler.make(torch.Generator().manual_seed(1), torch.float64, 1.0)
    return Case(tuple(torch.stack([u, v]) for u, v in zip(a.args, b.args)), a.kwargs)


def call(spec: LossSpec, case: Case, **kw) -> torch.Tensor:
    return spec.function(*case.args, **{**spec.test_kwargs, **case.kwargs, **kw})


def broadcast_weights(shape: torch.Size) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)

    def rand(*s: int) -> torch.Tensor:
        return torch.rand(tuple(s), generator=g, dtype=torch.float64) * 1.5 + 0.25

    rows = [shape[0]] + [1] * (len(shape) - 1)
    return {
        "full": rand(*shape),
        "rows": rand(*rows),  # (N, 1, ...): one weight per sample
        "last": rand(shape[-1]),  # (D,): one weight per output / label
        "scalar": rand(),
    }


def documented_mean(name: str, per: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The documented weighted "mean", from unweighted per-element values, in float64."""
    wf = w.expand(per.shape)
    total = (per * wf).sum()
    if name in WEIGHT_SUM_MEAN:
        return total / wf.sum()
    return total / per.numel()


CASES = [(n, arg, kind) for n, arg in WEIGHTED for kind in ("full", "rows", "last", "scalar")]


@pytest.mark.parametrize(("name", "arg", "kind"), CASES)
def test_weighted_mean_is_the_documented_formula(name, arg, kind):
    spec = catalog.get(name)
    case = two_d_case(spec)
    per = call(spec, case, reduction="none").detach()
    assert per.shape == case.args[0].shape, "per-element losses have the input's shape"
    w = broadcast_weights(per.shape)[kind]
    torch.testing.assert_close(call(spec, case, reduction="none", **{arg: w}), per * w)
    torch.testing.assert_close(call(spec, case, reduction="sum", **{arg: w}), (per * w).sum())
    torch.testing.assert_close(
        call(spec, case, reduction="mean", **{arg: w}), documented_mean(name, per, w)
    )


@pytest.mark.parametrize(("name", "arg"), WEIGHTED)
def test_weighted_mean_gradient_matches_the_formula(name, arg):
    """The gradient of the weighted "mean" (fast paths included) is that of the formula."""
    spec = catalog.get(name)
    case = two_d_case(spec)
    w = broadcast_weights(case.args[0].shape)["rows"]
    x = case.args[0].detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(call(spec, case.with_input(x), reduction="mean", **{arg: w}), x)
    x2 = case.args[0].detach().clone().requires_grad_(True)
    per = call(spec, case.with_input(x2), reduction="none")
    (g_ref,) = torch.autograd.grad(documented_mean(name, per, w), x2)
    torch.testing.assert_close(g, g_ref)


@pytest.mark.parametrize(("name", "arg"), WEIGHTED)
def test_weights_sum_mean_to_zero_is_zero_not_nan(name, arg):
    spec = catalog.get(name)
    case = two_d_case(spec)
    x = case.args[0].detach().clone().requires_grad_(True)
    out = call(spec, case.with_input(x), reduction="mean", **{arg: torch.zeros(()).double()})
    assert out.item() == 0.0
    (g,) = torch.autograd.grad(out, x)
    assert torch.equal(g, torch.zeros_like(x)), "connected, zero gradient"


@pytest.mark.parametrize(("name", "arg"), WEIGHTED)
def test_weight_that_does_not_broadcast_is_refused_with_losslab_message(name, arg):
    spec = catalog.get(name)
    case = two_d_case(spec)
    shape = tuple(case.args[0].shape)
    pattern = rf"^{name}: '{arg}' must be broadcastable to the loss shape {re.escape(str(shape))}"
    bad_shapes = [(2, *shape), (shape[-1] + 1,), (shape[0], shape[-1] + 2)]
    for bad in bad_shapes:
        with pytest.raises(ValueError, match=pattern + rf", got shape {re.escape(str(bad))}$"):
            call(spec, case, reduction="mean", **{arg: torch.ones(bad, dtype=torch.float64)})


@pytest.mark.parametrize(("name", "arg"), WEIGHTED)
def test_docstring_states_the_weighted_mean(name, arg):
    doc = " ".join((catalog.get(name).function.__doc__ or "").split())
    if name in WEIGHT_SUM_MEAN:
        assert r"\sum_i w_i \ell_i / \sum_i w_i" in doc, f"{name}: state the weight-sum mean"
    else:
        assert "number of elements" in doc or "element count" in doc, (
            f"{name}: state that 'mean' divides by the number of elements"
        )


# -- the drop-ins keep torch's arithmetic ------------------------------------------------------


def torch_function(spec: LossSpec):
    assert spec.drop_in_for and spec.drop_in_for.startswith("torch.nn.functional.")
    return getattr(TF, spec.drop_in_for.rsplit(".", 1)[1])


DROP_INS = [(n, a) for n, a in WEIGHTED if catalog.get(n).drop_in_for]


def test_drop_ins_with_weights_are_found():
    assert {n for n, _ in DROP_INS} == {
        "mse_loss",
        "l1_loss",
        "huber_loss",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
    }


@pytest.mark.parametrize(("name", "arg"), DROP_INS)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_drop_in_weighted_equals_torch_for_a_full_shape_weight(name, arg, reduction):
    """Where torch accepts the weight (its full shape), losslab gives torch's own number."""
    spec = catalog.get(name)
    case = two_d_case(spec)
    w = broadcast_weights(case.args[0].shape)["full"]
    ours = call(spec, case, reduction=reduction, **{arg: w})
    theirs = torch_function(spec)(
        *case.args, **{**spec.test_kwargs, "reduction": reduction, arg: w}
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_pos_weight_broadcasts_and_never_enlarges():
    x = torch.randn(4, 3, dtype=torch.float64)
    t = torch.rand(4, 3, dtype=torch.float64)
    pw = torch.tensor([[0.5], [1.0], [2.0], [3.0]], dtype=torch.float64)
    torch.testing.assert_close(
        catalog.get("binary_cross_entropy_with_logits").function(x, t, pos_weight=pw),
        TF.binary_cross_entropy_with_logits(x, t, pos_weight=pw.expand(4, 3)),
    )
    for name in ("binary_cross_entropy_with_logits", "sigmoid_focal_loss"):
        with pytest.raises(
            ValueError,
            match=rf"^{name}: 'pos_weight' must be broadcastable to the loss shape \(4, 3\), "
            r"got shape \(2, 4, 3\)$",
        ):
            catalog.get(name).function(x, t, pos_weight=torch.ones(2, 4, 3, dtype=torch.float64))
