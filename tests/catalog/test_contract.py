"""The contract every loss in the catalog meets; a new loss gets these tests for free.

Each test loops over ``catalog.names()``: derivative == autograd, gradcheck in float64, every
declared property checked (True claims hold on random inputs, False claims have a counterexample),
extreme inputs, half precision, empty batches, every declared parameter rejecting bad values with
the one message template, module == function, drop-ins equal to torch.
"""

from __future__ import annotations

import itertools
import math
import re

import pytest
import torch
import torch.nn.functional as TF

from losslab import catalog
from losslab.catalog import PROPERTIES, Case, LossSpec

NAMES = catalog.names()
SCALES = (0.1, 1.0, 3.0, 10.0, 100.0)
SEEDS = range(6)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def call(spec: LossSpec, case: Case, **kw) -> torch.Tensor:
    return spec.function(*case.args, **{**spec.test_kwargs, **case.kwargs, **kw})


def per_element(spec: LossSpec, case: Case, **hp) -> torch.Tensor:
    return call(spec, case, reduction="none", **hp)


def input_grad(spec: LossSpec, case: Case, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    x = case.args[0].detach().clone().requires_grad_(True)
    loss = call(spec, case.with_input(x), **{"reduction": "sum", **kw})
    (g,) = torch.autograd.grad(loss, x, allow_unused=True)
    return loss.detach(), (torch.zeros_like(x) if g is None else g)


def make(spec: LossSpec, seed: int, dtype=torch.float64, scale: float = 1.0) -> Case:
    return spec.sampler.make(gen(seed), dtype, scale)


@pytest.fixture(params=NAMES)
def spec(request) -> LossSpec:
    return catalog.get(request.param)


# -- metadata ---------------------------------------------------------------------------------


def test_catalog_is_not_empty():
    assert len(NAMES) >= 4


def test_metadata_complete(spec):
    assert spec.formula and spec.derivative and spec.summary and spec.when_to_use
    assert spec.references, "every loss names its references"
    assert spec.tasks and spec.heads
    for task in spec.tasks:
        spec.head_for(task)  # raises when a task has no head
    doc = spec.function.__doc__ or ""
    assert "Example" in doc and ">>>" in doc, f"{spec.name}: docstring needs a runnable example"
    assert "References" in doc, f"{spec.name}: docstring needs references"


LEFTOVER_LATEX = ("\\", "begin", "tfrac", "frac", "{", "}", "operatorname", "mathbb")


def test_formula_and_derivative_render_without_latex(spec):
    for latex in (spec.formula, spec.derivative):
        text = catalog.render_formula(latex)
        assert text.strip(), f"{spec.name}: empty rendering of {latex!r}"
        # a literal set brace (\{-1, +1\}) is text, not leftover LaTeX
        leftover = [
            t for t in LEFTOVER_LATEX if text.count(t) > latex.count("\\" + t) * (t in "{}")
        ]
        assert not leftover, f"{spec.name}: {latex!r} rendered as {text!r} keeps {leftover}"


def test_every_property_declared(spec):
    assert set(spec.properties) == set(PROPERTIES), (
        f"{spec.name}: declare or disclaim each property"
    )
    for value in spec.properties.values():
        assert value in (True, False, None)
    if spec.properties["symmetric"] is None:
        assert spec.sampler.mirror is None, "symmetric may be None only when mirroring is undefined"
    if spec.properties["zero_at_perfect"] is None:
        assert spec.sampler.perfect is None
    for prop in ("nonnegative", "convex", "smooth", "bounded", "robust_to_outliers"):
        assert spec.properties[prop] is not None, f"{spec.name}: {prop} must be True or False"


def test_hyperparameters_are_keyword_only(spec):
    import inspect

    sig = inspect.signature(spec.function)
    for name in spec.params:
        assert sig.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name


# -- derivatives ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_analytic_derivative_matches_autograd(spec, seed):
    if spec.derivative_fn is None:
        pytest.skip(f"{spec.name}: no analytic derivative ({spec.notes})")
    case = make(spec, seed)
    _, g = input_grad(spec, case)
    analytic = spec.derivative_fn(*case.args, **{**spec.test_kwargs, **case.kwargs})
    torch.testing.assert_close(analytic, g, rtol=1e-7, atol=1e-9)


def test_gradcheck_float64(spec):
    case = make(spec, 11)
    rest = case.args[1:]
    kw = {**spec.test_kwargs, **case.kwargs}

    def f(x):
        return spec.function(x, *rest, reduction="sum", **kw)

    x = case.args[0].detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5)


# -- properties -------------------------------------------------------------------------------
#
# Each property is checked at several hyperparameter settings, not only the catalog's: a rule
# (``When("alpha >= 1")``) at values on both sides of its condition, every other property at a
# few values from each numeric hyperparameter's declared range. The claim checked is always
# ``spec.properties_at(**hp)``.

#: integer / numerical-tolerance hyperparameters that do not change what the loss computes, and
#: smoothing terms whose effect the rules declare (their examples test them)
NOT_SWEPT = {
    "ignore_index",
    "chunk_size",
    "max_iter",
    "tol",
    "blank",
    "dim",
    "smooth_nr",
    "smooth_dr",
}
#: per loss: the iterative Sinkhorn solver's accuracy (not a property) changes with blur and scaling
NOT_SWEPT_FOR = {"sinkhorn_loss": {"blur", "scaling"}}


def _range_values(param, default):
    """A few valid values of a float hyperparameter, spread over its declared range."""
    lo = param.ge if param.ge is not None else (None if param.gt is None else param.gt)
    hi = param.le if param.le is not None else (None if param.lt is None else param.lt)
    if lo is not None and hi is not None and math.isfinite(hi):
        inner = [lo + (hi - lo) * f for f in (0.25, 0.75)]
        return [v for v in (param.ge, *inner, param.le) if v is not None]
    if lo is not None:
        base = default if isinstance(default, (int, float)) and default > lo else lo + 1.0
        values = [param.ge, lo + 0.5 * (base - lo), 2 * base - lo]
        if base - lo < 0.1:  # a small default (a smoothing term): also one of order 1
            values.append(lo + 1.0)
        return [v for v in values if v is not None]
    if hi is not None and math.isfinite(hi):
        return [v for v in (param.le, hi - 1.0, hi - 3.0) if v is not None]
    base = float(default) if isinstance(default, (int, float)) else 0.0
    return [base - 1.0, base + 1.0]


def _valid(spec, name, value) -> bool:
    try:
        spec.setting(**{name: value})
    except (TypeError, ValueError):
        return False
    return True


def hp_settings(spec) -> list[dict]:
    """Hyperparameter overrides the property tests run at ({} = the catalog's setting)."""
    base = spec.setting()
    out: list[dict] = [{}]
    for rule in spec.rules.values():
        for name in rule.names:
            out += [{name: v} for v in rule.candidates(name, base) if _valid(spec, name, v)]
        out += [dict(e) for e in rule.examples_extra]
    for name, param in spec.params.items():
        if (
            param.kind != "float"
            or name in NOT_SWEPT | NOT_SWEPT_FOR.get(spec.name, set())
            or param.optional
        ):
            continue
        out += [{name: v} for v in _range_values(param, base.get(name)) if _valid(spec, name, v)]
    unique: list[dict] = []
    for hp in out:
        if hp not in unique and not _same_as_base(hp, base):
            unique.append(hp)
    return unique


def _same_as_base(hp, base) -> bool:
    return bool(hp) and all(
        not isinstance(base.get(k), torch.Tensor) and base.get(k) == v for k, v in hp.items()
    )


SETTINGS = [(name, hp) for name in NAMES for hp in hp_settings(catalog.get(name))]


def _setting_id(item) -> str:
    name, hp = item
    return name + "".join(
        f"[{k}={v:g}]" if isinstance(v, float) else f"[{k}={v}]" for k, v in hp.items()
    )


@pytest.fixture(params=SETTINGS, ids=[_setting_id(s) for s in SETTINGS])
def at(request):
    """(spec, hyperparameter overrides, the properties claimed there)."""
    name, hp = request.param
    spec = catalog.get(name)
    return spec, hp, spec.properties_at(**hp)


def test_every_rule_is_tested_on_both_sides(spec):
    for key, rule in spec.rules.items():
        seen = {catalog.get(spec.name).properties_at(**hp)[key] for hp in hp_settings(spec)}
        assert seen == {True, False}, (
            f"{spec.name}: {key} = When({rule.condition!r}) tested only at {seen}"
        )


def _cases(spec, scales=SCALES, seeds=SEEDS):
    for scale in scales:
        for seed in seeds:
            yield make(spec, seed, scale=scale)


def test_property_nonnegative(at):
    spec, hp, claims = at
    cases = list(_cases(spec))
    if spec.sampler.perfect is not None:  # smoothing terms can push a perfect prediction below 0
        cases += [spec.sampler.perfect(gen(s), torch.float64) for s in SEEDS]
    mins = [per_element(spec, c, **hp).min().item() for c in cases if c.args[0].numel()]
    if claims["nonnegative"]:
        assert min(mins) >= -1e-10
    else:
        assert min(mins) < -1e-10, (
            f"{spec.name} {hp} claims it can be negative; no negative value found"
        )


def test_property_zero_at_perfect(at):
    spec, hp, claims = at
    claim = claims["zero_at_perfect"]
    if claim is None:
        pytest.skip("no notion of a perfect prediction")
    worst = max(
        per_element(spec, spec.sampler.perfect(gen(s), torch.float64), **hp).abs().max().item()
        for s in SEEDS
    )
    if claim:
        assert worst <= 1e-6, (hp, worst)
    else:  # not exactly 0 (contrastive losses come within 1e-8 of it at a small temperature)
        assert worst > 1e-12, (hp, worst)


def test_property_convex(at):
    spec, hp, claims = at
    violation = 0.0
    # logits also shifted down (every one very negative), where a z-loss bends the loss down
    shifts = (0.0, -3.0) if spec.input_kind == "logits" else (0.0,)
    for seed, scale, shift in itertools.product(SEEDS, SCALES, shifts):
        a = make(spec, seed, scale=scale)
        a = a.with_input(a.args[0] + shift * scale)
        b = make(spec, seed + 100, scale=scale).args[0] + shift * scale
        if a.args[0].shape == b.shape:
            la, lb = per_element(spec, a, **hp), per_element(spec, a.with_input(b), **hp)
            for t in (0.25, 0.5, 0.75):
                lm = per_element(spec, a.with_input(t * a.args[0] + (1 - t) * b), **hp)
                gap = (lm - (t * la + (1 - t) * lb)).max().item()
                violation = max(violation, gap)
    if claims["convex"]:
        assert violation <= 1e-9, f"{spec.name} {hp}: midpoint convexity violated by {violation}"
    else:
        assert violation > 1e-9, f"{spec.name} {hp} claims non-convex; no violation found"


def test_property_smooth(at):
    spec, hp, claims = at
    rule = spec.rules.get("smooth")
    if hp and not claims["smooth"] and not (rule and set(hp) & set(rule.names)):
        pytest.skip("the sampler's kink sits where the catalog's hyperparameters put it")
    kink = spec.sampler.kink
    cases = [kink(torch.float64)] if kink is not None else []
    cases += [make(spec, s) for s in range(3)]
    h = 1e-7
    jumps = []
    for case in cases:
        d = torch.randn(case.args[0].shape, generator=gen(5), dtype=torch.float64)
        _, gp = input_grad(spec, case.with_input(case.args[0] + h * d), **hp)
        _, gm = input_grad(spec, case.with_input(case.args[0] - h * d), **hp)
        jumps.append((gp - gm).abs().max().item())
    if claims["smooth"]:
        assert max(jumps) < 1e-3, f"{spec.name} {hp}: gradient jumps by {max(jumps)}"
    else:
        assert kink is not None, f"{spec.name}: smooth=False needs a sampler kink"
        if hp:  # a ruled kink (smooth_l1 at beta = 0) may sit at the perfect prediction instead
            perfect = (
                spec.sampler.perfect(gen(0), torch.float64)
                if spec.sampler.perfect
                else kink(torch.float64)
            )
            d = torch.randn(perfect.args[0].shape, generator=gen(5), dtype=torch.float64)
            _, gp = input_grad(spec, perfect.with_input(perfect.args[0] + h * d), **hp)
            _, gm = input_grad(spec, perfect.with_input(perfect.args[0] - h * d), **hp)
            jumps[0] = max(jumps[0], (gp - gm).abs().max().item())
        assert jumps[0] > 1e-2, f"{spec.name} {hp}: no gradient jump at the declared kink"


def _max_loss(spec, scale, hp):
    return max(per_element(spec, make(spec, s, scale=scale), **hp).max().item() for s in SEEDS)


def _max_grad(spec, scale, hp):
    return max(
        input_grad(spec, make(spec, s, scale=scale), **hp)[1].abs().max().item() for s in SEEDS
    )


def test_property_bounded(at):
    spec, hp, claims = at
    if claims["bounded"]:  # far out: some bounded losses saturate slowly (Barron's at alpha = -0.5)
        far, farther = _max_loss(spec, 1e6, hp), _max_loss(spec, 1e9, hp)
        assert farther <= far * (1 + 1e-3) + 1e-3, (hp, far, farther)
    else:
        moderate, huge = _max_loss(spec, 1e3, hp), _max_loss(spec, 1e6, hp)
        assert huge > moderate + 1.0, (hp, moderate, huge)


def test_property_robust_to_outliers(at):
    spec, hp, claims = at
    moderate, huge = _max_grad(spec, 1e2, hp), _max_grad(spec, 1e6, hp)
    if claims["robust_to_outliers"]:
        assert huge <= 2 * max(moderate, 1.0), (hp, moderate, huge)
    else:
        assert huge > 100 * moderate, (hp, moderate, huge)


def test_property_symmetric(at):
    spec, hp, claims = at
    claim = claims["symmetric"]
    if claim is None:
        pytest.skip("mirroring is undefined for this loss")
    diffs = []
    for case in _cases(spec, scales=(0.5, 2.0)):
        mirrored = spec.sampler.mirror(case)
        diffs.append(
            (per_element(spec, case, **hp) - per_element(spec, mirrored, **hp)).abs().max().item()
        )
    if claim:
        assert max(diffs) <= 1e-9, (hp, max(diffs))
    else:
        assert max(diffs) > 1e-6, (hp, max(diffs))


# -- numerical contract -----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_extreme_inputs_finite_float32(spec, reduction):
    for seed in range(3):
        case = make(spec, seed, dtype=torch.float32, scale=1e4)
        x = case.args[0].clone().requires_grad_(True)
        loss = call(spec, case.with_input(x), reduction=reduction)
        assert torch.isfinite(loss).all(), f"{spec.name}: non-finite loss at extreme inputs"
        (g,) = torch.autograd.grad(loss.sum(), x, allow_unused=True)
        if g is not None:
            assert torch.isfinite(g).all(), f"{spec.name}: non-finite gradient at extreme inputs"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_accumulates_in_float32(spec, dtype):
    case = make(spec, 3, dtype=dtype, scale=1.0)
    up = Case(tuple(a.float() if a.is_floating_point() else a for a in case.args), case.kwargs)
    x = case.args[0].clone().requires_grad_(True)
    out = call(spec, case.with_input(x))
    assert out.dtype == torch.float32, f"{spec.name}: half inputs must give a float32 result"
    torch.testing.assert_close(out, call(spec, up), rtol=1e-5, atol=1e-6)
    out.backward()
    assert x.grad is not None and torch.isfinite(x.grad.float()).all()


def test_empty_batch_mean_is_connected_zero(spec):
    if spec.sampler.empty is None:
        pytest.skip("no empty batch for this input kind")
    case = spec.sampler.empty(torch.float32)
    x = case.args[0].clone().requires_grad_(True)
    out = call(spec, case.with_input(x), reduction="mean")
    assert out.item() == 0.0
    assert out.requires_grad
    out.backward()
    assert x.grad is not None and x.grad.shape == x.shape


# -- validation -------------------------------------------------------------------------------


def _invalid(spec):
    for pname, param in spec.params.items():
        for value, exc in param.invalid_values():
            yield pname, value, exc


def test_every_parameter_rejects_invalid_values(spec):
    case = make(spec, 0)
    n = 0
    for pname, value, exc in _invalid(spec):
        pattern = rf"^{re.escape(spec.function.__losslab_name__)}: '{pname}' must be"
        with pytest.raises(exc, match=pattern):
            call(spec, case, **{pname: value})
        n += 1
    assert n == 0 or n >= len(spec.params)


def test_unknown_reduction_rejected(spec):
    with pytest.raises(
        ValueError, match=rf"^{spec.function.__losslab_name__}: 'reduction' must be one of"
    ):
        call(spec, make(spec, 0), reduction="avg")


def test_non_tensor_input_rejected(spec):
    case = make(spec, 0)
    bad = Case((case.args[0].tolist(), *case.args[1:]), case.kwargs)
    with pytest.raises(TypeError, match=rf"^{spec.function.__losslab_name__}: '\w+' must be"):
        call(spec, bad)


def test_integer_input_rejected(spec):
    case = make(spec, 0)
    bad = case.with_input(case.args[0].round().long())
    with pytest.raises(
        TypeError, match=rf"^{spec.function.__losslab_name__}: '\w+' must be .*floating"
    ):
        call(spec, bad)


def test_batch_size_mismatch_rejected(spec):
    case = make(spec, 0)
    if len(case.args) < 2 or case.args[1].dim() == 0 or case.args[1].shape[0] < 2:
        pytest.skip("no batched target")
    bad = Case((case.args[0], case.args[1][:-1], *case.args[2:]), case.kwargs)
    with pytest.raises(ValueError, match=rf"^{spec.function.__losslab_name__}: '\w+' must be"):
        call(spec, bad)


# -- module == function, drop-ins == torch ----------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_module_equals_function(spec, reduction):
    assert spec.module is not None
    case = make(spec, 4)
    module = spec.module(**{**spec.test_kwargs, "reduction": reduction})
    before = {
        k: (v.clone() if isinstance(v, torch.Tensor) else v)
        for k, v in module.hyperparameters().items()
    }
    torch.testing.assert_close(
        module(*case.args, **case.kwargs), call(spec, case, reduction=reduction), rtol=0, atol=0
    )
    after = module.hyperparameters()
    for k, v in before.items():
        assert torch.equal(v, after[k]) if isinstance(v, torch.Tensor) else v == after[k], (
            "forward mutated state"
        )


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_drop_in_equals_torch(spec, reduction):
    if spec.drop_in_for is None:
        pytest.skip("not a torch drop-in")
    torch_fn = getattr(TF, spec.drop_in_for.rsplit(".", 1)[1])
    for seed in range(3):
        case = make(spec, seed, dtype=torch.float32)
        kw = {**spec.test_kwargs, **case.kwargs, "reduction": reduction}
        torch.testing.assert_close(
            spec.function(*case.args, **kw), torch_fn(*case.args, **kw), rtol=0, atol=0
        )


# -- property-based: values and shapes ---------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3))
def test_reductions_are_consistent(spec, seed, scale):
    case = make(spec, seed, scale=scale)
    none = call(spec, case, reduction="none")
    assert torch.isfinite(none).all()
    torch.testing.assert_close(
        call(spec, case, reduction="sum"), none.sum(), rtol=1e-10, atol=1e-10
    )
    if spec.name == "ctc_loss":
        return  # torch's CTC 'mean' divides each sequence's loss by its target length first
    torch.testing.assert_close(
        call(spec, case, reduction="mean"), none.mean(), rtol=1e-10, atol=1e-10
    )


def _is_elementwise(name: str) -> bool:
    spec = catalog.get(name)
    if spec.sampler.name not in ("regression", "binary_logits", "multilabel_logits"):
        return False
    case = make(spec, 0)
    return per_element(spec, case).shape == case.args[0].shape


ELEMENTWISE = [n for n in NAMES if _is_elementwise(n)]


@pytest.mark.parametrize("name", ELEMENTWISE)
@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=3), seed=st.integers(0, 10_000))
def test_elementwise_losses_accept_any_shape(name, shape, seed):
    spec = catalog.get(name)
    g = gen(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    if spec.sampler.name == "regression":
        t = torch.randn(*shape, generator=g, dtype=torch.float64)
    else:
        t = torch.randint(0, 2, shape, generator=g).double()
    kw = dict(spec.test_kwargs)
    if isinstance(kw.get("quantile"), torch.Tensor):
        kw["quantile"] = 0.3  # a per-column quantile tensor needs a matching trailing size
    out = spec.function(x, t, reduction="none", **kw)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    mean = spec.function(x, t, reduction="mean", **kw)
    assert mean.dim() == 0 and torch.isfinite(mean)
