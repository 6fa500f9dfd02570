"""Shared input samplers used by the catalog's contract tests and by ``losslab derivatives``.

Each sampler makes valid arguments for a whole kind of loss; a loss spec names one and may bring
its own. ``scale`` sets the size of the error or the magnitude of the logits.
"""

from __future__ import annotations

import torch

from ._spec import Case, Sampler

__all__ = [
    "REGRESSION",
    "BINARY_LOGITS",
    "BINARY_PROBS",
    "SIGNED_BINARY",
    "CLASS_LOGITS",
    "CLASS_LOG_PROBS",
    "MULTILABEL_LOGITS",
    "DISTRIBUTION_LOG_PROBS",
    "N",
    "C",
    "D",
]

N, C, D = 6, 4, 3
BIG = 1e4


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def _bits(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=gen).to(dtype)


# -- regression: input and target are real values of the same shape -------------------------
def _reg_make(gen, dtype, scale):
    t = _randn(gen, N, D, dtype=dtype)
    x = (t.double() + scale * _randn(gen, N, D, dtype=torch.float64)).to(dtype)
    return Case((x, t))


def _reg_perfect(gen, dtype):
    t = _randn(gen, N, D, dtype=dtype)
    return Case((t.clone(), t))


def _reg_mirror(case):
    x, t = case.args[:2]
    return Case((2 * t - x, t, *case.args[2:]), case.kwargs)


REGRESSION = Sampler(
    "regression",
    make=_reg_make,
    perfect=_reg_perfect,
    mirror=_reg_mirror,
    kink=lambda dtype: Case((torch.zeros(N, D, dtype=dtype), torch.zeros(N, D, dtype=dtype))),
    empty=lambda dtype: Case((torch.zeros(0, D, dtype=dtype), torch.zeros(0, D, dtype=dtype))),
)


# -- binary: logits or probabilities with {0, 1} targets --------------------------------------
def _bin_make(gen, dtype, scale):
    return Case((scale * _randn(gen, N, dtype=dtype), _bits(gen, N, dtype=dtype)))


def _bin_perfect(gen, dtype):
    t = _bits(gen, N, dtype=dtype)
    return Case((BIG * (2 * t - 1), t))


BINARY_LOGITS = Sampler(
    "binary_logits",
    make=_bin_make,
    perfect=_bin_perfect,
    mirror=lambda c: Case((-c.args[0], 1 - c.args[1], *c.args[2:]), c.kwargs),
    empty=lambda dtype: Case((torch.zeros(0, dtype=dtype), torch.zeros(0, dtype=dtype))),
)


def _probs_make(gen, dtype, scale):
    # keep probabilities strictly inside (0, 1) in the working dtype
    z = (scale * _randn(gen, N, dtype=torch.float64)).clamp(-8, 8)
    return Case((torch.sigmoid(z).to(dtype), _bits(gen, N, dtype=dtype)))


BINARY_PROBS = Sampler(
    "binary_probs",
    make=_probs_make,
    perfect=lambda gen, dtype: (lambda t: Case((t.clone(), t)))(_bits(gen, N, dtype=dtype)),
    mirror=lambda c: Case((1 - c.args[0], 1 - c.args[1], *c.args[2:]), c.kwargs),
    empty=lambda dtype: Case((torch.zeros(0, dtype=dtype), torch.zeros(0, dtype=dtype))),
)


# -- signed binary (margin losses): real scores with {-1, +1} targets --------------------------
def _signed_make(gen, dtype, scale):
    return Case((scale * _randn(gen, N, dtype=dtype), 2 * _bits(gen, N, dtype=dtype) - 1))


SIGNED_BINARY = Sampler(
    "signed_binary",
    make=_signed_make,
    perfect=lambda gen, dtype: (lambda y: Case((2 * y, y)))(2 * _bits(gen, N, dtype=dtype) - 1),
    mirror=lambda c: Case((-c.args[0], -c.args[1], *c.args[2:]), c.kwargs),
    kink=lambda dtype: Case((torch.ones(N, dtype=dtype), torch.ones(N, dtype=dtype))),
    empty=lambda dtype: Case((torch.zeros(0, dtype=dtype), torch.zeros(0, dtype=dtype))),
)


# -- multiclass: (N, C) scores with integer targets --------------------------------------------
def _cls_target(gen):
    return torch.randint(0, C, (N,), generator=gen)


def _cls_make(gen, dtype, scale):
    return Case((scale * _randn(gen, N, C, dtype=dtype), _cls_target(gen)))


def _cls_perfect(gen, dtype):
    y = _cls_target(gen)
    return Case((BIG * torch.nn.functional.one_hot(y, C).to(dtype), y))


def _cls_empty(dtype):
    return Case((torch.zeros(0, C, dtype=dtype), torch.zeros(0, dtype=torch.long)))


CLASS_LOGITS = Sampler("class_logits", make=_cls_make, perfect=_cls_perfect, empty=_cls_empty)


def _logp(x: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(x.double(), dim=1).to(x.dtype)


CLASS_LOG_PROBS = Sampler(
    "class_log_probs",
    make=lambda gen, dtype, scale: (lambda c: Case((_logp(c.args[0]), c.args[1])))(
        _cls_make(gen, dtype, scale)
    ),
    perfect=lambda gen, dtype: (lambda c: Case((_logp(c.args[0]), c.args[1])))(_cls_perfect(gen, dtype)),
    empty=_cls_empty,
)


# -- multilabel: (N, C) logits with {0, 1} targets ---------------------------------------------
def _ml_make(gen, dtype, scale):
    return Case((scale * _randn(gen, N, C, dtype=dtype), _bits(gen, N, C, dtype=dtype)))


def _ml_perfect(gen, dtype):
    t = _bits(gen, N, C, dtype=dtype)
    return Case((BIG * (2 * t - 1), t))


MULTILABEL_LOGITS = Sampler(
    "multilabel_logits",
    make=_ml_make,
    perfect=_ml_perfect,
    mirror=lambda c: Case((-c.args[0], 1 - c.args[1], *c.args[2:]), c.kwargs),
    empty=lambda dtype: Case((torch.zeros(0, C, dtype=dtype), torch.zeros(0, C, dtype=dtype))),
)


# -- distributions: (N, C) log-probabilities against (N, C) probabilities ----------------------
def _dist_make(gen, dtype, scale):
    q = torch.log_softmax(scale * _randn(gen, N, C, dtype=torch.float64), dim=1)
    p = torch.softmax(_randn(gen, N, C, dtype=torch.float64), dim=1)
    return Case((q.to(dtype), p.to(dtype)))


def _dist_perfect(gen, dtype):
    p = torch.softmax(_randn(gen, N, C, dtype=torch.float64), dim=1)
    return Case((p.log().to(dtype), p.to(dtype)))


DISTRIBUTION_LOG_PROBS = Sampler(
    "distribution_log_probs",
    make=_dist_make,
    perfect=_dist_perfect,
    empty=lambda dtype: Case((torch.zeros(0, C, dtype=dtype), torch.zeros(0, C, dtype=dtype))),
)
