"""Input-domain guards (content checks): probabilities given to a loss on logits or on
log-probabilities warn once per call site, losslab's log-probability losses refuse positive
values, and float class-index targets get a dtype message.

Catalog-driven: every loss whose ``input_kind`` is ``"logits"`` must be listed below as taking a
softmax over classes, independent sigmoid scores, or as exempt with a reason, so a new loss on
logits cannot skip the check unnoticed.
"""

from __future__ import annotations

import inspect
import re
import warnings

import pytest
import torch

import losslab.functional as LF
import losslab.nn as LN
from losslab import catalog
from losslab._validation import (
    PROBABILITY_MIN_ELEMENTS,
    InputDomainWarning,
    LosslabWarning,
    content_checks,
    warn_if_probabilities,
)
from losslab.catalog import Case, LossSpec

#: Losses on logits that apply a softmax over dim 1 (class-indexed).
SOFTMAX = {
    "cross_entropy",
    "fast_cross_entropy",
    "softmax_focal_loss",
    "poly1_cross_entropy",
    "logit_adjusted_cross_entropy",
    "generalized_cross_entropy",
    "symmetric_cross_entropy",
    "soft_bootstrapped_cross_entropy",
    "hard_bootstrapped_cross_entropy",
    "normalized_cross_entropy",
    "reverse_cross_entropy",
    "nce_rce_loss",
    "nce_mae_loss",
    "cost_sensitive_cross_entropy",
    "dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "dice_ce_loss",
    "lovasz_softmax_loss",
    "trades_loss",
    "mart_loss",
}
#: Losses on logits with one independent (sigmoid) score per element.
SIGMOID = {
    "binary_cross_entropy_with_logits",
    "sigmoid_focal_loss",
    "binary_cost_sensitive_loss",
    "binary_expected_cost_loss",
    "multilabel_soft_margin_loss",
    "soft_margin_loss",
    "lovasz_hinge_loss",
    "gan_discriminator_loss",
    "gan_generator_loss",
}
#: Losses on logits that are not checked, and why.
EXEMPT = {
    "multi_margin_loss": "a hinge on raw scores: probabilities are unusual scores, not wrong ones",
    "multilabel_margin_loss": "a hinge on raw scores: probabilities are unusual scores, not wrong ones",
}
#: torch drop-ins on log-probabilities that warn on probabilities (their class dim).
LOG_PROB_WARN = {"nll_loss": 1, "kl_div": -1}

SPECS = {n: catalog.get(n) for n in catalog.names()}
LOGIT_LOSSES = sorted(n for n, s in SPECS.items() if s.input_kind == "logits")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def call(spec: LossSpec, case: Case, **kw) -> torch.Tensor:
    return spec.function(*case.args, **{**spec.test_kwargs, **case.kwargs, **kw})


def first_arg(spec: LossSpec) -> str:
    return next(iter(inspect.signature(spec.function).parameters))


def test_every_logit_loss_is_classified():
    assert set(LOGIT_LOSSES) == SOFTMAX | SIGMOID | set(EXEMPT), (
        "classify each loss on logits: SOFTMAX, SIGMOID or EXEMPT (with a reason)"
    )
    assert not (SOFTMAX & SIGMOID)


def probability_case(spec: LossSpec) -> Case:
    """The loss's own valid case with its first input replaced by probabilities."""
    case = spec.sampler.make(gen(0), torch.float64, 1.0)
    if spec.name in SOFTMAX:
        return case.with_input(torch.softmax(2.0 * case.args[0], dim=1))
    seed = 1
    while case.args[0].numel() < PROBABILITY_MIN_ELEMENTS:  # stack more samples along dim 0
        more = spec.sampler.make(gen(seed), torch.float64, 1.0)
        case = Case(tuple(torch.cat([a, b]) for a, b in zip(case.args, more.args)), case.kwargs)
        seed += 1
    p = torch.sigmoid(3.0 * case.args[0])
    flat = p.view(-1)
    flat[0], flat[1] = 0.03, 0.97  # a sigmoid's outputs of a few confident predictions
    return case.with_input(p)


def message(name: str, arg: str, takes: str = "logits") -> str:
    return rf"^{name}: '{arg}' looks like probabilities \(every value in \[0, 1\].*\); this loss takes {re.escape(takes)}"


@pytest.mark.parametrize("name", sorted(SOFTMAX | SIGMOID))
def test_probabilities_given_to_a_logit_loss_warn(name):
    spec = SPECS[name]
    case = probability_case(spec)
    with pytest.warns(InputDomainWarning, match=message(name, first_arg(spec))) as rec:
        call(spec, case)
    assert issubclass(rec[0].category, LosslabWarning) and issubclass(rec[0].category, UserWarning)
    assert rec[0].filename == __file__, "the warning points at the caller's line"
    text = str(rec[0].message)
    assert "pass the scores before" in text
    if name in SOFTMAX:
        assert "rows sum to 1" in text


@pytest.mark.parametrize("name", sorted(SOFTMAX | SIGMOID | set(EXEMPT)))
def test_no_warning_with_content_checks_off(name):
    spec = SPECS[name]
    case = (
        probability_case(spec)
        if name not in EXEMPT
        else spec.sampler.make(gen(0), torch.float64, 1.0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputDomainWarning)
        with content_checks(False):
            call(spec, case)


@pytest.mark.parametrize("name", sorted(SOFTMAX | SIGMOID | set(LOG_PROB_WARN)))
@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_no_warning_on_the_losses_own_valid_inputs(name, scale):
    """False positives: the sampler's logits (or log-probabilities) never look like probabilities."""
    spec = SPECS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputDomainWarning)
        for seed in range(6):
            call(spec, spec.sampler.make(gen(seed), torch.float64, scale))


@pytest.mark.parametrize("name", sorted(EXEMPT))
def test_exempt_losses_do_not_warn(name):
    spec = SPECS[name]
    case = spec.sampler.make(gen(0), torch.float64, 1.0)
    case = case.with_input(torch.softmax(case.args[0], dim=-1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputDomainWarning)
        call(spec, case)


# -- once per call site ----------------------------------------------------------------------


def test_warns_once_per_call_site_and_points_at_the_caller():
    p = torch.softmax(torch.randn(8, 5, generator=gen()), dim=1)
    y = torch.arange(8) % 5
    module = LN.CrossEntropyLoss()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("default")
        first = inspect.currentframe().f_lineno + 2
        for _ in range(3):
            LF.cross_entropy(p, y)  # one call site, three calls
        LF.cross_entropy(p, y)  # a second call site
        module(p, y)  # through nn.Module: the user's line, not torch's or losslab's
        module(p, y)
    got = [(r.category, r.filename, r.lineno) for r in rec]
    assert got == [
        (InputDomainWarning, __file__, first),
        (InputDomainWarning, __file__, first + 1),
        (InputDomainWarning, __file__, first + 2),
        (InputDomainWarning, __file__, first + 3),
    ]


def test_warning_can_be_filtered_by_category():
    p = torch.softmax(torch.randn(4, 3, generator=gen()), dim=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=InputDomainWarning)
        LF.cross_entropy(p, torch.tensor([0, 1, 2, 0]))


# -- the heuristic -----------------------------------------------------------------------------


def warned(x: torch.Tensor, dim: int | None) -> bool:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        warn_if_probabilities("some_loss", "input", x, dim=dim, advice="do something else")
    return any(issubclass(r.category, InputDomainWarning) for r in rec)


def test_class_rule():
    g = gen(3)
    p = torch.softmax(torch.randn(5, 4, 2, generator=g), dim=1)
    assert warned(p, dim=1)
    assert warned(p.to(torch.bfloat16), dim=1), "half precision sums are off by more than 1e-3"
    assert not warned(p, dim=2), "rows along another dim do not sum to 1"
    assert not warned(p * 0.9, dim=1), "in [0, 1] but rows sum to 0.9"
    assert not warned(torch.randn(5, 4, generator=g), dim=1), "logits have negative values"
    assert not warned(torch.eye(4), dim=1), "exact one-hot rows are not flagged"
    assert not warned(torch.full((3, 1), 1.0), dim=1), "one class: nothing to judge"
    assert not warned(torch.empty(0, 4), dim=1)


def test_binary_rule():
    n = PROBABILITY_MIN_ELEMENTS
    p = torch.linspace(0.05, 0.95, n)
    assert warned(p, dim=None)
    assert not warned(p[: n - 1], dim=None), f"fewer than {n} values are never flagged"
    assert not warned(torch.linspace(0.2, 0.8, 4 * n), dim=None), "bunched inside (0.1, 0.9)"
    assert not warned(torch.linspace(0.05, 0.85, 4 * n), dim=None), "never reaches 0.9"
    assert not warned((torch.arange(n) % 2).double(), dim=None), "hard 0/1 values"
    assert not warned(torch.linspace(-0.05, 0.95, n), dim=None), "a negative logit"
    assert not warned(torch.linspace(0.05, 1.05, n), dim=None), "a logit above 1"


def test_log_probability_drop_ins_warn_on_probabilities():
    p = torch.softmax(torch.randn(6, 4, generator=gen()), dim=1)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    with pytest.warns(InputDomainWarning, match=message("nll_loss", "input", "log-probabilities")):
        LF.nll_loss(p, y)
    with pytest.warns(InputDomainWarning, match=message("kl_div", "input", "log-probabilities")):
        LF.kl_div(p, p, reduction="batchmean")
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputDomainWarning)
        LF.nll_loss(p.log(), y)
        LF.kl_div(p.log(), p, reduction="batchmean")
        LF.nll_loss(torch.randn(6, 4, generator=gen(1)), y)  # torch accepts any real input


# -- log-probabilities losslab defines ---------------------------------------------------------


def test_js_div_rejects_positive_log_probabilities():
    p = torch.softmax(torch.randn(3, 4, generator=gen()), dim=1)
    with pytest.raises(
        ValueError, match=r"^js_div: 'input' must be log-probabilities <= 0, got 0\.\d+$"
    ):
        LF.js_div(p, p)
    with pytest.raises(ValueError, match=r"^js_div: 'target' must be log-probabilities <= 0, got "):
        LF.js_div(p.log(), p, log_target=True)
    log_q = p.log().clone()
    log_q[0, 0] = -torch.inf  # log 0 is a log-probability
    assert torch.isfinite(LF.js_div(log_q, p))
    with content_checks(False):
        LF.js_div(p, p)  # not checked


# -- float class-index targets -----------------------------------------------------------------


def class_index_cases() -> list[tuple[str, int, str]]:
    """(loss, position, argument) of every integer tensor argument of a catalog case."""
    out = []
    for name, spec in SPECS.items():
        case = spec.sampler.make(gen(0), torch.float64, 1.0)
        params = list(inspect.signature(spec.function).parameters)
        for i, a in enumerate(case.args):
            if not a.is_floating_point() and a.dtype != torch.bool:
                out.append((name, i, params[i]))
    return out


CLASS_INDEX_CASES = class_index_cases()


def test_class_index_cases_are_found():
    names = {n for n, _, _ in CLASS_INDEX_CASES}
    assert {
        "cross_entropy",
        "nll_loss",
        "softmax_focal_loss",
        "dice_loss",
        "fast_cross_entropy",
        "linear_cross_entropy",
        "poly1_cross_entropy",
    } <= names


@pytest.mark.parametrize(("name", "pos", "arg"), CLASS_INDEX_CASES)
def test_float_class_indices_are_a_dtype_error(name, pos, arg):
    spec = SPECS[name]
    case = spec.sampler.make(gen(0), torch.float64, 1.0)
    args = list(case.args)
    args[pos] = args[pos].float()
    what = "lengths" if arg.endswith("_lengths") else "class indices"
    pattern = rf"^{name}: '{arg}' must be integer {what}( \(.*\))?, got float32$"
    with pytest.raises(TypeError, match=pattern):
        call(spec, Case(tuple(args), case.kwargs))


def test_cross_entropy_float_targets():
    x = torch.randn(4, 3, 5, generator=gen())
    with pytest.raises(
        TypeError,
        match=r"^cross_entropy: 'target' must be integer class indices \(a float target holds class "
        r"probabilities, of the shape of 'input' \(4, 3, 5\)\), got float64$",
    ):
        LF.cross_entropy(x, torch.zeros(4, 5, dtype=torch.float64))
    probs = torch.softmax(torch.randn(4, 3, 5, generator=gen(1)), dim=1)
    torch.testing.assert_close(
        LF.cross_entropy(x, probs), torch.nn.functional.cross_entropy(x, probs)
    )  # probability targets of the input's shape still work
    with pytest.raises(ValueError, match=r"^cross_entropy: 'target' must be of the same shape"):
        LF.cross_entropy(x, torch.zeros(4, 3, dtype=torch.float64))  # neither shape
