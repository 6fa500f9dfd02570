r"""Distances between distributions given by samples: 1-D Wasserstein, Sinkhorn divergence and
maximum mean discrepancy (MMD).

Conventions, one per question (the field disagrees; see ``shared/LOSS-CONVENTIONS.md``):

* **Batches.** Sample-based distances take point clouds with any leading batch dimensions:
  ``(..., n)`` for 1-D samples, ``(..., N, D)`` for points in :math:`\mathbb{R}^D`. One
  distance per leading index is the "per-element" loss of ``reduction="none"``; ``"mean"``
  averages the distances of the batch. The two clouds may have different numbers of points but
  must share the leading dimensions.
* :func:`wasserstein_1d` returns :math:`W_p^p` (POT's ``wasserstein_1d`` convention);
  ``root=True`` returns the distance :math:`W_p` (scipy's ``wasserstein_distance`` for p=1).
* :func:`sinkhorn_loss` uses the cost :math:`C(x, y) = \lVert x - y\rVert^p / p` (for p=2 the
  half squared distance of geomloss) and the temperature :math:`\varepsilon = \text{blur}^p`;
  it is computed in the log domain and debiased by default.
* :func:`mmd_loss` returns the *squared* MMD; the default is the unbiased U-statistic (which can
  be slightly negative), ``unbiased=False`` gives the biased V-statistic (always >= 0).

The family is split by what its losses compute: this module (the shared conventions, helpers
and samplers, and the closed-form 1-D Wasserstein distance), :mod:`.sinkhorn` (entropic
optimal transport) and :mod:`.mmd` (kernel discrepancy). Each function carries its catalog
entry (:func:`entry`); tested in ``tests/functional/test_distribution.py``.
"""

from __future__ import annotations

import torch

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    Param,
    Raw,
    check_tensor,
    content_checks_enabled,
    fail,
    loss_function,
)
from ..catalog._spec import Case, Head, Sampler, When
from ._entry import entry

__all__ = ["wasserstein_1d"]

_SAMPLE_WEIGHTS = "non-negative weight of each sample, shape (..., n) (normalised to sum 1)"


# -- shared helpers ----------------------------------------------------------------------------


def _weights(
    loss: str, arg: str, w: torch.Tensor | None, values: torch.Tensor, n_dims: int
) -> torch.Tensor:
    """Normalised sample weights of shape ``values.shape[:values.dim() - n_dims + 1]``.

    ``n_dims`` is 1 for 1-D samples ``(..., n)`` and 2 for points ``(..., N, D)``.
    """
    shape = values.shape[: values.dim() - n_dims + 1]
    if w is None:
        n = shape[-1]
        return torch.full(shape, 1.0 / n, dtype=values.dtype, device=values.device)
    w = upcast(w).to(values.dtype)
    try:
        w = w.expand(shape)
    except RuntimeError:
        fail(loss, arg, f"broadcastable to {tuple(shape)}", Raw(f"shape {tuple(w.shape)}"))
    total = w.sum(dim=-1, keepdim=True)
    if content_checks_enabled() and w.numel() and not bool((total > 0).all()):
        fail(
            loss,
            arg,
            "weights with a positive sum over each sample set",
            Raw("a set of zero weights"),
        )
    return w / total


def _pair_sq_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared distances (..., N, M) from differences (exactly symmetric, never negative)."""
    diff = x.unsqueeze(-2) - y.unsqueeze(-3)
    return (diff * diff).sum(dim=-1)


def _safe_sqrt(sq: torch.Tensor) -> torch.Tensor:
    """sqrt with gradient 0 (a subgradient) at 0 instead of inf/NaN."""
    pos = sq > 0
    return torch.where(pos, torch.where(pos, sq, torch.ones_like(sq)).sqrt(), torch.zeros_like(sq))


def _check_clouds(loss: str, x: torch.Tensor, y: torch.Tensor, names: tuple[str, str]) -> None:
    check_tensor(loss, names[0], x)
    check_tensor(loss, names[1], y)
    for arg, t in zip(names, (x, y)):
        if t.dim() < 2 or t.shape[-2] == 0:
            fail(
                loss, arg, "of shape (..., N, D) with N >= 1 points", Raw(f"shape {tuple(t.shape)}")
            )
    if y.dim() != x.dim() or y.shape[:-2] != x.shape[:-2] or y.shape[-1] != x.shape[-1]:
        fail(
            loss,
            names[1],
            f"of shape (..., M, D) with the leading dimensions and D of '{names[0]}' "
            f"{tuple(x.shape)}",
            Raw(f"shape {tuple(y.shape)}"),
        )


# -- shared samplers: 1-D samples and point clouds, one distance per leading index ---------------

B, N_U, N_V, DIM = 3, 5, 4, 2


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def _swap(case: Case) -> Case:
    return Case((case.args[1], case.args[0], *case.args[2:]), case.kwargs)


# point clouds (B, N, D) against (B, M, D)
def _clouds(gen, dtype, scale):
    y = _randn(gen, 2, N_V, DIM, dtype=torch.float64)
    x = _randn(gen, 2, N_U, DIM, dtype=torch.float64) + scale * _randn(
        gen, 2, N_U, DIM, dtype=torch.float64
    )
    return x.to(dtype), y.to(dtype)


def _clouds_perfect(gen, dtype):
    y = _randn(gen, 2, N_V, DIM, dtype=dtype)
    return Case((y.clone(), y))


def _clouds_empty(dtype):
    return Case((torch.zeros(0, N_U, DIM, dtype=dtype), torch.zeros(0, N_V, DIM, dtype=dtype)))


POINT_CLOUDS = Sampler(
    "point_clouds",
    make=lambda gen, dtype, scale: Case(_clouds(gen, dtype, scale)),
    perfect=_clouds_perfect,
    mirror=_swap,
    empty=_clouds_empty,
)


SAMPLE_HEAD = Head(
    "identity", "D", "generated samples (D = data dimension) compared with data samples"
)


def _normalised(w, shape, dtype):
    if w is None:
        return torch.full(shape, 1.0 / shape[-1], dtype=dtype)
    w = w.to(dtype).expand(shape)
    return w / w.sum(-1, keepdim=True)


# -- 1-D Wasserstein ---------------------------------------------------------------------------


# 1-D samples (B, n) against (B, m): the input's spread grows with scale
def _samples_make(gen, dtype, scale):
    v = _randn(gen, B, N_V, dtype=torch.float64)
    u = _randn(gen, B, N_U, dtype=torch.float64) + scale * _randn(gen, B, N_U, dtype=torch.float64)
    return Case((u.to(dtype), v.to(dtype)))


def _samples_perfect(gen, dtype):
    v = _randn(gen, B, N_U, dtype=dtype)
    return Case((v[:, torch.randperm(N_U, generator=gen)], v))  # the same samples, reordered


SAMPLES_1D = Sampler(
    "samples_1d",
    make=_samples_make,
    perfect=_samples_perfect,
    mirror=_swap,
    # u == v: the quantile gaps are 0, where |u_(i) - v_(i)| has its corner
    kink=lambda dtype: (lambda v: Case((v.clone(), v)))(
        torch.linspace(-1, 1, N_U, dtype=dtype).repeat(B, 1)
    ),
    empty=lambda dtype: Case((torch.zeros(0, N_U, dtype=dtype), torch.zeros(0, N_V, dtype=dtype))),
)


# -- analytic derivative (written from the math, never with autograd)


def _w1d_grad(u, v, *, u_weights, v_weights, p, root, **_):
    """Differentiate the cost of the monotone (north-west corner) coupling of the sorted samples."""
    a_all = _normalised(u_weights, u.shape, torch.float64)
    b_all = _normalised(v_weights, v.shape, torch.float64)
    out = torch.zeros(u.shape, dtype=torch.float64)
    flat_u, flat_v = u.double().reshape(-1, u.shape[-1]), v.double().reshape(-1, v.shape[-1])
    flat_a, flat_b = a_all.reshape(flat_u.shape), b_all.reshape(flat_v.shape)
    flat_out = out.reshape(flat_u.shape)
    for r in range(flat_u.shape[0]):
        iu, iv = torch.argsort(flat_u[r]).tolist(), torch.argsort(flat_v[r]).tolist()
        i = j = 0
        left_a, left_b = float(flat_a[r, iu[0]]), float(flat_b[r, iv[0]])
        total = 0.0
        while i < len(iu) and j < len(iv):
            mass = min(left_a, left_b)
            d = float(flat_u[r, iu[i]] - flat_v[r, iv[j]])
            sign = (d > 0) - (d < 0)
            flat_out[r, iu[i]] += mass * p * abs(d) ** (p - 1) * sign
            total += mass * abs(d) ** p
            left_a, left_b = left_a - mass, left_b - mass
            if left_a <= left_b:
                i += 1
                left_a = float(flat_a[r, iu[i]]) if i < len(iu) else 0.0
            else:
                j += 1
                left_b = float(flat_b[r, iv[j]]) if j < len(iv) else 0.0
        if root and p != 1:
            flat_out[r] *= (total ** (1.0 / p - 1.0) / p) if total > 0 else 0.0
    return out.to(u.dtype)


@entry(
    module="Wasserstein1DLoss",
    family="distribution",
    tasks=("distribution", "generative"),
    input_kind="real",
    heads={"*": Head("identity", "1", "1-D samples, one distribution per row (..., n)")},
    formula=r"W_p^p(u, v) = \sum_k (q_k - q_{k-1})\, |F_u^{-1}(q_k) - F_v^{-1}(q_k)|^p,\quad"
    r" q_k \text{ the merged cumulative weights of the sorted } u, v",
    derivative=r"\frac{\partial W_p^p}{\partial u_i} = \sum_j \pi_{ij}\, p\, |u_i - v_j|^{p-1}"
    r" \operatorname{sign}(u_i - v_j),\quad \pi \text{ the monotone (north-west corner) coupling}",
    derivative_fn=_w1d_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,  # the same samples in any order
        convex=False,  # a minimum over couplings: swapping two samples' roles breaks convexity
        smooth=False,  # p=1: |u_(i) - v_(j)| has a corner where a quantile gap is 0
        bounded=False,
        robust_to_outliers=When(
            "p == 1 or root == True"
        ),  # p=1: each sample's gradient is at most its weight
        symmetric=True,  # W(u, v) = W(v, u)
    ),
    references=(
        "Villani, Optimal Transport: Old and New, Springer 2009",
        "Flamary et al., POT: Python Optimal Transport, JMLR 2021",
    ),
    summary="Closed-form 1-D optimal transport between weighted samples via quantile functions; "
    "returns W_p^p (POT's convention), root=True gives W_p (scipy's for p=1).",
    when_to_use="Comparing or matching 1-D distributions given by samples (a scalar generator's "
    "outputs, predicted score distributions, histograms with weights); exact, O((n + m) log(n + m)), "
    "meaningful even when the supports do not overlap (unlike KL/JS).",
    sampler=SAMPLES_1D,
)
@loss_function(
    u_weights=Param("tensor", _SAMPLE_WEIGHTS, ge=0, optional=True),
    v_weights=Param("tensor", _SAMPLE_WEIGHTS, ge=0, optional=True),
    p=Param("float", "order of the Wasserstein distance", ge=1),
    root=Param("bool", "return W_p (the p-th root) instead of W_p^p"),
    reduction=REDUCTION,
)
def wasserstein_1d(
    u_values: torch.Tensor,
    v_values: torch.Tensor,
    *,
    u_weights: torch.Tensor | None = None,
    v_weights: torch.Tensor | None = None,
    p: float = 1.0,
    root: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Wasserstein distance between two 1-D empirical distributions, in closed form.

    Returns :math:`W_p^p` (as POT's ``ot.wasserstein_1d``), the integral over
    :math:`t \in [0, 1]` of :math:`|F_u^{-1}(t) - F_v^{-1}(t)|^p` for the quantile functions of
    the weighted samples, a finite sum over their merged cumulative weights. With equal sizes
    and uniform weights this is :math:`\tfrac1n \sum_i |u_{(i)} - v_{(i)}|^p`. ``root=True``
    returns :math:`W_p` instead (scipy's ``wasserstein_distance`` for p=1, where the two agree);
    its gradient is set to 0 where :math:`W_p = 0` (the p-th root has an infinite slope there).

    Gradients flow to the values (through the sort, so ties give finite gradients) and to the
    weights; the per-distribution gradient w.r.t. the values is bounded for p=1.

    Args:
        u_values: samples of shape ``(..., n)``; leading dimensions index distributions.
        v_values: samples of shape ``(..., m)`` with the same leading dimensions (m may differ).
        u_weights, v_weights: optional non-negative weights broadcastable to the values' shape,
            normalised to sum 1 (uniform when None).
        p: the order, >= 1.
        root: return :math:`W_p` instead of :math:`W_p^p`.
        reduction: ``"none"`` (one value per distribution, shape ``(...)``) | ``"mean"`` |
            ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.wasserstein_1d(torch.tensor([0.0, 1.0, 3.0]), torch.tensor([5.0, 6.0, 8.0]))
        tensor(5.)
        >>> LF.wasserstein_1d(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 1.0]), p=2)  # W_2^2
        tensor(1.)
    """
    name = "wasserstein_1d"
    for arg, t in (("u_values", u_values), ("v_values", v_values)):
        check_tensor(name, arg, t)
        if t.dim() == 0 or t.shape[-1] == 0:
            fail(name, arg, "of shape (..., n) with n >= 1 samples", Raw(f"shape {tuple(t.shape)}"))
    if v_values.shape[:-1] != u_values.shape[:-1]:
        fail(
            name,
            "v_values",
            f"of shape (..., m) with the leading dimensions of 'u_values' {tuple(u_values.shape)}",
            Raw(f"shape {tuple(v_values.shape)}"),
        )
    dtype = torch.promote_types(upcast(u_values).dtype, upcast(v_values).dtype)
    u, v = u_values.to(dtype), v_values.to(dtype)
    u_sorted, u_order = torch.sort(u, dim=-1)
    v_sorted, v_order = torch.sort(v, dim=-1)
    n, m = u.shape[-1], v.shape[-1]
    if u_weights is None and v_weights is None and n == m:
        gaps = (u_sorted - v_sorted).abs()
        per = gaps.mean(dim=-1) if p == 1 else gaps.pow(p).mean(dim=-1)
    else:
        cu = torch.cumsum(_weights(name, "u_weights", u_weights, u, 1).gather(-1, u_order), dim=-1)
        cv = torch.cumsum(_weights(name, "v_weights", v_weights, v, 1).gather(-1, v_order), dim=-1)
        levels = torch.sort(torch.cat([cu, cv], dim=-1), dim=-1).values
        # quantile at level q: the first sorted sample whose cumulative weight reaches q
        iu = torch.searchsorted(cu.detach().contiguous(), levels.detach().contiguous()).clamp(
            max=n - 1
        )
        iv = torch.searchsorted(cv.detach().contiguous(), levels.detach().contiguous()).clamp(
            max=m - 1
        )
        gaps = (u_sorted.gather(-1, iu) - v_sorted.gather(-1, iv)).abs()
        widths = torch.diff(levels, dim=-1, prepend=torch.zeros_like(levels[..., :1]))
        per = (widths * (gaps if p == 1 else gaps.pow(p))).sum(dim=-1)
    if root and p != 1:
        pos = per > 0
        per = torch.where(
            pos, torch.where(pos, per, torch.ones_like(per)).pow(1.0 / p), torch.zeros_like(per)
        )
    return reduce_loss(per, reduction, name=name)
