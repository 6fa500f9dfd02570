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
    perfect=lambda gen, dtype: (lambda c: Case((_logp(c.args[0]), c.args[1])))(
        _cls_perfect(gen, dtype)
    ),
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


# == samplers of the torch drop-ins (functional/_torch_*.py) =================================


def _signs(gen: torch.Generator, n: int, dtype: torch.dtype) -> torch.Tensor:
    """n values in {-1, 1}, the first two fixed to (1, -1) so both labels always occur."""
    y = 2 * _bits(gen, n, dtype=torch.float64) - 1
    y[:2] = torch.tensor([1.0, -1.0], dtype=torch.float64)
    return y.to(dtype)


# -- Poisson counts >= 1 with log-rate inputs; the rate error grows like log(1 + scale) so that
#    exp(input) stays finite at scale 1e6 while the rate itself is off by a factor ~ scale
def _poisson_target(gen, dtype):
    return (1 + torch.poisson(torch.full((N, D), 3.0, dtype=torch.float64), generator=gen)).to(
        dtype
    )


def _poisson_make(gen, dtype, scale):
    y = _poisson_target(gen, torch.float64)
    n = _randn(gen, N, D, dtype=torch.float64)
    x = y.log() + torch.sign(n) * torch.log1p(scale * n.abs())
    return Case((x.to(dtype), y.to(dtype)))


POISSON_LOG_RATE = Sampler(
    "poisson_log_rate",
    make=_poisson_make,
    perfect=lambda gen, dtype: (lambda y: Case((y.log(), y)))(_poisson_target(gen, dtype)),
    mirror=lambda c: Case((2 * c.args[1].log() - c.args[0], *c.args[1:]), c.kwargs),
    empty=lambda dtype: Case((torch.zeros(0, D, dtype=dtype), torch.zeros(0, D, dtype=dtype))),
)


# -- Gaussian NLL: regression pairs plus a per-element variance (args: mean, target, var) --------
def _with_var(case: Case, gen: torch.Generator, dtype: torch.dtype) -> Case:
    var = torch.exp(_randn(gen, *case.args[0].shape, dtype=torch.float64)).to(dtype)
    return Case((*case.args, var), case.kwargs)


GAUSSIAN_MEAN_VAR = Sampler(
    "gaussian_mean_var",
    make=lambda gen, dtype, scale: _with_var(_reg_make(gen, dtype, scale), gen, dtype),
    perfect=lambda gen, dtype: _with_var(_reg_perfect(gen, dtype), gen, dtype),
    mirror=_reg_mirror,
    empty=lambda dtype: Case(tuple(torch.zeros(0, D, dtype=dtype) for _ in range(3))),
)


# -- probabilities whose wrong-side mass shrinks like (1 + scale)^-|z|: the log loss keeps
#    growing with scale (no saturation at a clamp), while p stays representable in (0, 1)
def _wide_probs_make(gen, dtype, scale):
    z = (
        _randn(gen, N, dtype=torch.float64).clamp(-1.5, 1.5)
        * torch.tensor(float(scale)).log1p().item()
    )
    return Case((torch.sigmoid(z).to(dtype), _bits(gen, N, dtype=dtype)))


BINARY_PROBS_WIDE = Sampler(
    "binary_probs_wide",
    make=_wide_probs_make,
    perfect=lambda gen, dtype: (lambda t: Case((t.clone(), t)))(_bits(gen, N, dtype=dtype)),
    mirror=lambda c: Case((1 - c.args[0], 1 - c.args[1], *c.args[2:]), c.kwargs),
    empty=lambda dtype: Case((torch.zeros(0, dtype=dtype), torch.zeros(0, dtype=dtype))),
)


# -- divergences: like DISTRIBUTION_LOG_PROBS, the mirror swaps the two distributions ----------
DISTRIBUTION_SWAP = Sampler(
    "distribution_swap",
    make=_dist_make,
    perfect=_dist_perfect,
    mirror=lambda c: Case((c.args[1].log(), c.args[0].exp(), *c.args[2:]), c.kwargs),
    empty=lambda dtype: Case((torch.zeros(0, C, dtype=dtype), torch.zeros(0, C, dtype=dtype))),
)


# -- pair distances (>= 0) with {-1, 1} similarity labels (hinge embedding, margin 1) -----------
def _dist_pairs_perfect(gen, dtype):
    y = _signs(gen, N, dtype)
    return Case((torch.where(y > 0, 0.0, 2.0).to(dtype), y))


DISTANCE_PAIRS = Sampler(
    "distance_pairs",
    make=lambda gen, dtype, scale: Case(
        ((scale * _randn(gen, N, dtype=torch.float64).abs()).to(dtype), _signs(gen, N, dtype))
    ),
    perfect=_dist_pairs_perfect,
    kink=lambda dtype: Case((torch.ones(N, dtype=dtype), -torch.ones(N, dtype=dtype))),
    empty=lambda dtype: Case((torch.zeros(0, dtype=dtype), torch.zeros(0, dtype=dtype))),
)


# -- ranking pairs (input1, input2, target in {-1, 1}) for a margin-0 ranking hinge -------------
def _rank_make(gen, dtype, scale):
    x2 = _randn(gen, N, dtype=torch.float64)
    x1 = x2 + scale * _randn(gen, N, dtype=torch.float64)
    return Case((x1.to(dtype), x2.to(dtype), _signs(gen, N, dtype)))


def _rank_perfect(gen, dtype):
    x2 = _randn(gen, N, dtype=dtype)
    y = _signs(gen, N, dtype)
    return Case((x2 + y, x2, y))


RANKING_PAIRS = Sampler(
    "ranking_pairs",
    make=_rank_make,
    perfect=_rank_perfect,
    mirror=lambda c: Case((-c.args[0], -c.args[1], -c.args[2], *c.args[3:]), c.kwargs),
    kink=lambda dtype: Case(
        (torch.zeros(N, dtype=dtype), torch.zeros(N, dtype=dtype), torch.ones(N, dtype=dtype))
    ),
    empty=lambda dtype: Case(tuple(torch.zeros(0, dtype=dtype) for _ in range(3))),
)


# -- real scores with {-1, 1} targets whose perfect prediction is a confident logit -------------
SIGNED_LOGITS = Sampler(
    "signed_logits",
    make=lambda gen, dtype, scale: Case(
        (scale * _randn(gen, N, dtype=dtype), _signs(gen, N, dtype))
    ),
    perfect=lambda gen, dtype: (lambda y: Case((BIG * y, y)))(_signs(gen, N, dtype)),
    mirror=lambda c: Case((-c.args[0], -c.args[1], *c.args[2:]), c.kwargs),
    empty=lambda dtype: Case((torch.zeros(0, dtype=dtype), torch.zeros(0, dtype=dtype))),
)


# -- multiclass scores for hinge losses (margin 1): the kink puts every margin exactly at 0 -----
def _cls_margin_kink(dtype):
    y = torch.arange(N) % C
    return Case((torch.nn.functional.one_hot(y, C).to(dtype), y))


CLASS_MARGIN = Sampler(
    "class_margin", make=_cls_make, perfect=_cls_perfect, kink=_cls_margin_kink, empty=_cls_empty
)


# -- multilabel scores with torch's index targets: positive labels first, then -1 padding -------
def _ml_index_target(gen):
    k = torch.randint(1, C, (N,), generator=gen)  # 1..C-1 positives: both kinds always occur
    perm = torch.stack([torch.randperm(C, generator=gen) for _ in range(N)])
    target = torch.where(
        torch.arange(C).unsqueeze(0) < k.unsqueeze(1), perm, torch.full_like(perm, -1)
    )
    positive = torch.zeros(N, C, dtype=torch.bool)
    for i in range(N):
        positive[i, perm[i, : int(k[i])]] = True
    return target, positive


def _ml_index_make(gen, dtype, scale):
    target, _ = _ml_index_target(gen)
    return Case((scale * _randn(gen, N, C, dtype=dtype), target))


def _ml_index_perfect(gen, dtype):
    target, positive = _ml_index_target(gen)
    return Case((BIG * positive.to(dtype), target))


def _ml_index_kink(dtype):
    target, positive = _ml_index_target(torch.Generator().manual_seed(0))
    return Case((positive.to(dtype), target))


MULTILABEL_INDICES = Sampler(
    "multilabel_indices",
    make=_ml_index_make,
    perfect=_ml_index_perfect,
    kink=_ml_index_kink,
    empty=lambda dtype: Case((torch.zeros(0, C, dtype=dtype), torch.zeros(0, C, dtype=torch.long))),
)


# -- embedding pairs (input1, input2, target in {-1, 1}) for cosine losses (margin 0) -----------
def _emb_pairs_perfect(gen, dtype):
    x2 = _randn(gen, N, D, dtype=torch.float64)
    y = _signs(gen, N, torch.float64)
    x1 = torch.where(y.unsqueeze(1) > 0, 2 * x2, -x2)
    return Case((x1.to(dtype), x2.to(dtype), y.to(dtype)))


def _emb_pairs_kink(dtype):
    eye = torch.eye(D, dtype=dtype)
    return Case((eye[1].repeat(N, 1), eye[0].repeat(N, 1), -torch.ones(N, dtype=dtype)))


EMBEDDING_PAIRS = Sampler(
    "embedding_pairs",
    make=lambda gen, dtype, scale: Case(
        (
            scale * _randn(gen, N, D, dtype=dtype),
            _randn(gen, N, D, dtype=dtype),
            _signs(gen, N, dtype),
        )
    ),
    perfect=_emb_pairs_perfect,
    kink=_emb_pairs_kink,
    empty=lambda dtype: Case(
        (
            torch.zeros(0, D, dtype=dtype),
            torch.zeros(0, D, dtype=dtype),
            torch.zeros(0, dtype=dtype),
        )
    ),
)


# -- triplets (anchor, positive, negative): everything scales; negatives sit near the anchors ---
#    (the loss is a difference of distances, so it is not convex in the anchor near a negative)
def _triplet_make(gen, dtype, scale):
    a = scale * _randn(gen, N, D, dtype=torch.float64)
    p = a + scale * _randn(gen, N, D, dtype=torch.float64)
    n = a + 0.3 * scale * _randn(gen, N, D, dtype=torch.float64)
    return Case((a.to(dtype), p.to(dtype), n.to(dtype)))


def _triplet_perfect(gen, dtype):
    p = _randn(gen, N, D, dtype=torch.float64)
    n = p + 10.0
    return Case((p.to(dtype), p.to(dtype), n.to(dtype)))


def _triplet_kink(dtype, eps=1e-6):
    # d(a, p) = ||a - p + eps|| = 1 and d(a, n) = 2 (to 1e-12): margin 1 puts the hinge at 0
    a = torch.zeros(N, D, dtype=torch.float64)
    p = torch.zeros(N, D, dtype=torch.float64)
    p[:, 0] = 1 + eps
    n = torch.zeros(N, D, dtype=torch.float64)
    n[:, 0] = -2 + eps
    return Case((a.to(dtype), p.to(dtype), n.to(dtype)))


TRIPLETS = Sampler(
    "triplets",
    make=_triplet_make,
    perfect=_triplet_perfect,
    kink=_triplet_kink,
    empty=lambda dtype: Case(tuple(torch.zeros(0, D, dtype=dtype) for _ in range(3))),
)


# -- CTC: (T, N, C) log-probabilities, padded targets without blanks or adjacent repeats --------
CTC_T, CTC_N, CTC_S = 6, 4, 3


def _ctc_targets(gen):
    first = torch.randint(1, C, (CTC_N, 1), generator=gen)
    steps = torch.randint(1, C - 1, (CTC_N, CTC_S - 1), generator=gen)
    labels = (first - 1 + torch.cat([torch.zeros_like(first), steps], 1).cumsum(1)) % (C - 1) + 1
    lengths = torch.randint(1, CTC_S + 1, (CTC_N,), generator=gen)
    return labels, lengths


def _ctc_case(lp, labels, lengths):
    return Case((lp, labels, torch.full((lp.shape[1],), lp.shape[0], dtype=torch.long), lengths))


def _ctc_make(gen, dtype, scale):
    labels, lengths = _ctc_targets(gen)
    z = scale * _randn(gen, CTC_T, CTC_N, C, dtype=torch.float64)
    return _ctc_case(torch.log_softmax(z, dim=2).to(dtype), labels, lengths)


def _ctc_perfect(gen, dtype):
    # one path: the labels on the first frames, blanks (class 0) after; all else at -BIG
    labels, lengths = _ctc_targets(gen)
    path = torch.zeros(CTC_T, CTC_N, dtype=torch.long)
    for i in range(CTC_N):
        path[: int(lengths[i]), i] = labels[i, : int(lengths[i])]
    z = BIG * torch.nn.functional.one_hot(path, C).to(torch.float64)
    return _ctc_case(torch.log_softmax(z, dim=2).to(dtype), labels, lengths)


CTC_SEQUENCES = Sampler(
    "ctc_sequences",
    make=_ctc_make,
    perfect=_ctc_perfect,
    empty=lambda dtype: Case(
        (
            torch.zeros(CTC_T, 0, C, dtype=dtype),
            torch.zeros(0, CTC_S, dtype=torch.long),
            torch.zeros(0, dtype=torch.long),
            torch.zeros(0, dtype=torch.long),
        )
    ),
)
