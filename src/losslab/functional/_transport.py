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
"""

from __future__ import annotations

import math

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

__all__ = [
    "wasserstein_1d",
    "sinkhorn_loss",
    "mmd_loss",
]

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


# -- 1-D Wasserstein ---------------------------------------------------------------------------


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

    Returns :math:`W_p^p` (as POT's ``ot.wasserstein_1d``), computed from the quantile
    functions :math:`F_u^{-1}, F_v^{-1}` of the weighted samples:

    .. math::
        W_p^p(u, v) = \int_0^1 \bigl|F_u^{-1}(t) - F_v^{-1}(t)\bigr|^p \,dt
        = \sum_k (q_k - q_{k-1})\, \bigl|u_{(i_k)} - v_{(j_k)}\bigr|^p,

    where :math:`q_k` runs over the merged cumulative weights of both sorted samples. With equal
    sizes and uniform weights this is :math:`\tfrac1n \sum_i |u_{(i)} - v_{(i)}|^p`. ``root=True``
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

    References:
        Villani, "Optimal Transport: Old and New", Springer 2009 (Remark 2.19, the quantile form);
        Flamary et al., "POT: Python Optimal Transport", JMLR 2021.
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


# -- Sinkhorn divergence -----------------------------------------------------------------------


def _ot_cost(x: torch.Tensor, y: torch.Tensor, p: float) -> torch.Tensor:
    """C(x, y) = |x - y|^p / p, shape (..., N, M); p=2 is half the squared distance."""
    sq = _pair_sq_dist(x, y)
    if p == 2:
        return sq / 2
    return _safe_sqrt(sq).pow(p) / p


def _softmin(
    eps: torch.Tensor, cost: torch.Tensor, log_w: torch.Tensor, pot: torch.Tensor
) -> torch.Tensor:
    """-eps * log sum_j w_j exp((pot_j - C_ij) / eps), the c-transform in the log domain; eps (..., 1)."""
    inner = (log_w + pot / eps).unsqueeze(-2) - cost / eps.unsqueeze(-1)
    return -eps * torch.logsumexp(inner, dim=-1)


def _eps_schedule(
    x: torch.Tensor, y: torch.Tensor, p: float, blur: float, scaling: float
) -> list[torch.Tensor]:
    """Temperatures (..., 1) from diameter^p down to blur^p by factors scaling^p (eps-scaling)."""
    pts = torch.cat([x, y], dim=-2)
    if pts.numel() == 0:
        return [torch.full(x.shape[:-2] + (1,), blur**p, dtype=x.dtype, device=x.device)]
    extent = pts.amax(dim=-2) - pts.amin(dim=-2)
    diam = extent.norm(dim=-1, keepdim=True)
    target = blur**p
    start = torch.clamp(diam**p, min=target)
    # problems with NaN/inf points get NaN anyway; they must not change the others' schedule
    ratio = float((start / target).nan_to_num(nan=1.0, posinf=1.0).max())
    if ratio <= 1:
        return [start]
    steps = math.ceil(math.log(ratio) / (p * math.log(1.0 / scaling)))
    return [torch.clamp(start * scaling ** (p * k), min=target) for k in range(steps + 1)]


def _sinkhorn_potentials(
    x: torch.Tensor,
    y: torch.Tensor,
    a_log: torch.Tensor,
    b_log: torch.Tensor,
    p: float,
    blur: float,
    scaling: float,
    max_iter: int,
    tol: float,
) -> tuple[torch.Tensor, ...]:
    """Dual potentials (f, g) of (x, y), f_aa of (x, x), g_bb of (y, y), and the final eps.

    Computed without autograd, all three problems in lockstep, with eps-scaling from the clouds'
    diameter down to blur, then iterations at blur until the largest potential change divided by
    eps is <= tol (or ``max_iter`` iterations in all). The cross problem alternates
    f <- c-transform(g), g <- c-transform(f); the symmetric self problems move their single
    potential half way to its c-transform (plain alternation oscillates slowly there).
    """
    with torch.no_grad():
        c_xy, c_yx = _ot_cost(x, y, p), _ot_cost(y, x, p)
        c_xx, c_yy = _ot_cost(x, x, p), _ot_cost(y, y, p)
        schedule = _eps_schedule(x, y, p, blur, scaling)
        eps = schedule[0]
        f, f_aa = torch.zeros_like(a_log), torch.zeros_like(a_log)
        g, g_bb = torch.zeros_like(b_log), torch.zeros_like(b_log)
        for it in range(max_iter):
            eps = schedule[min(it, len(schedule) - 1)]
            f_new = _softmin(eps, c_xy, b_log, g)
            g_new = _softmin(eps, c_yx, a_log, f_new)
            f_aa_new = 0.5 * (f_aa + _softmin(eps, c_xx, a_log, f_aa))
            g_bb_new = 0.5 * (g_bb + _softmin(eps, c_yy, b_log, g_bb))
            change = [
                (u - v).abs().amax(-1)
                for u, v in ((f_new, f), (g_new, g), (f_aa_new, f_aa), (g_bb_new, g_bb))
            ]
            f, g, f_aa, g_bb = f_new, g_new, f_aa_new, g_bb_new
            if it >= len(schedule) - 1 and _converged(change, eps, tol):
                break
    return f, g, f_aa, g_bb, eps


def _converged(change: list[torch.Tensor], eps: torch.Tensor, tol: float) -> bool:
    if eps.numel() == 0:
        return True
    # a problem with NaN/inf points stays NaN; it must not keep the others iterating
    return float((torch.stack(change, -1) / eps).nan_to_num(nan=0.0, posinf=0.0).max()) <= tol


@loss_function(
    blur=Param("float", "entropic blur; the temperature is eps = blur ** p", gt=0),
    p=Param("float", "exponent of the cost |x - y|^p / p", ge=1),
    debias=Param("bool", "subtract the self terms (the Sinkhorn divergence)"),
    scaling=Param("float", "ratio between successive blurs of the eps-scaling", gt=0, lt=1),
    max_iter=Param("int", "most Sinkhorn iterations (annealing included)", ge=1),
    tol=Param("float", "stop when the largest potential change / eps is <= tol", gt=0),
    x_weights=Param(
        "tensor", "non-negative weight of each point of x, shape (..., N)", ge=0, optional=True
    ),
    y_weights=Param(
        "tensor", "non-negative weight of each point of y, shape (..., M)", ge=0, optional=True
    ),
    reduction=REDUCTION,
)
def sinkhorn_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    blur: float = 0.05,
    p: float = 2.0,
    debias: bool = True,
    scaling: float = 0.5,
    max_iter: int = 500,
    tol: float = 1e-6,
    x_weights: torch.Tensor | None = None,
    y_weights: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Debiased Sinkhorn divergence between two point clouds (log-domain, eps-scaling).

    With the cost :math:`C(x, y) = \lVert x - y\rVert^p / p` (p=2: half the squared distance,
    geomloss' convention; POT's ``ot.dist`` is the full squared distance) and
    :math:`\varepsilon = \text{blur}^p`, the entropic transport cost is

    .. math::
        \mathrm{OT}_\varepsilon(\alpha, \beta) = \min_{\pi \in \Pi(a, b)}
        \langle \pi, C \rangle + \varepsilon \,\mathrm{KL}(\pi \,\|\, a \otimes b)
        = \langle a, f \rangle + \langle b, g \rangle

    at the optimal dual potentials :math:`(f, g)`, and the loss (``debias=True``) is the
    Sinkhorn divergence

    .. math::
        S_\varepsilon(\alpha, \beta) = \mathrm{OT}_\varepsilon(\alpha, \beta)
        - \tfrac12 \mathrm{OT}_\varepsilon(\alpha, \alpha) - \tfrac12 \mathrm{OT}_\varepsilon(\beta, \beta),

    which is >= 0, 0 iff :math:`\alpha = \beta`, smooth, and interpolates between
    :math:`W_p^p / p` (blur -> 0) and an MMD (blur -> infinity). ``debias=False`` returns
    :math:`\mathrm{OT}_\varepsilon(\alpha, \beta)` itself (>= 0 but not 0 at
    :math:`\alpha = \beta`).

    The potentials are computed without autograd: log-domain Sinkhorn iterations (alternating
    c-transforms) with eps-scaling from the clouds' diameter down to blur, then iterations at
    blur until the largest potential change divided by eps is <= ``tol`` (the problems of a
    batch stop together; a ``tol`` below 64 machine epsilons of the working dtype is raised to
    that). One last c-transform is taken with autograd, so the gradient w.r.t.
    the points is the envelope-theorem gradient
    :math:`\nabla_{x_i} S = \sum_j \pi^{xy}_{ij} \nabla_1 C(x_i, y_j) - \sum_j \pi^{xx}_{ij} \nabla_1 C(x_i, x_j)`
    (exact at convergence) and the gradient w.r.t. the weights is the potential difference
    :math:`f_{ba} - f_{aa}`. The returned value is the dual objective at the final potentials
    (error second order in theirs), so it is accurate well before the potentials are. Identical clouds and swapping x and y agree with 0 and with each
    other to the tolerance (not bit for bit: the cross and self problems are iterated
    differently, and the cross problem updates f first). Memory is O(N M) per problem.

    Args:
        x: points of shape ``(..., N, D)``; leading dimensions index independent problems.
        y: points of shape ``(..., M, D)`` with the same leading dimensions and D.
        blur: the entropic blur (a length); eps = blur ** p.
        p: cost exponent (>= 1); p=1 uses a subgradient 0 at coinciding points.
        debias: return the Sinkhorn divergence (True) or the entropic OT cost (False).
        scaling: eps-scaling ratio of successive blurs (closer to 1: more, finer steps).
        max_iter: most iterations in all; tol: the stopping tolerance (see above).
        x_weights, y_weights: optional non-negative point weights (uniform when None).
        reduction: ``"none"`` (one value per problem, shape ``(...)``) | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
        >>> float(LF.sinkhorn_loss(x, x)) < 1e-6  # identical clouds: 0 to the tolerance
        True
        >>> float(LF.sinkhorn_loss(x, x + 3.0, blur=0.01)) / 9.0  # ~ W_2^2 / 2 = 9 for a shift by (3, 3)
        1.0...

    References:
        Cuturi, "Sinkhorn Distances: Lightspeed Computation of Optimal Transport", NeurIPS 2013;
        Genevay, Peyré, Cuturi, "Learning Generative Models with Sinkhorn Divergences",
        AISTATS 2018; Feydy et al., "Interpolating between Optimal Transport and MMD using
        Sinkhorn Divergences", AISTATS 2019.
    """
    name = "sinkhorn_loss"
    _check_clouds(name, x, y, ("x", "y"))
    dtype = torch.promote_types(upcast(x).dtype, upcast(y).dtype)
    x, y = x.to(dtype), y.to(dtype)
    a = _weights(name, "x_weights", x_weights, x, 2)
    b = _weights(name, "y_weights", y_weights, y, 2)
    a_log, b_log = a.detach().log(), b.detach().log()
    xd, yd = x.detach(), y.detach()
    tol = max(tol, 64 * torch.finfo(dtype).eps)  # a change below the dtype's resolution never comes
    f, g, f_aa, g_bb, eps = _sinkhorn_potentials(
        xd, yd, a_log, b_log, p, blur, scaling, max_iter, tol
    )
    # One last c-transform of each potential with autograd. Each cost sees the gradient of its
    # first argument only, so `carrier` has the envelope gradient sum_j pi_ij grad_1 C(x_i, y_j)
    # (exact at convergence; the weights get the potentials). The value is the dual objective
    # <a, T(g)> + <b, g> (averaged with its mirror image), whose error is second order in the
    # potentials' error, where the carrier's own value is only first order.
    f_x = _softmin(eps, _ot_cost(x, yd, p), b_log, g)
    g_y = _softmin(eps, _ot_cost(y, xd, p), a_log, f)
    carrier = (a * f_x).sum(-1) + (b * g_y).sum(-1)
    value = 0.5 * ((a * (f_x + f)).sum(-1) + (b * (g_y + g)).sum(-1))
    if debias:
        # the symmetric optimum has f = g, so OT(a, a) / 2 = <a, f_aa>
        f_aa_x = _softmin(eps, _ot_cost(x, xd, p), a_log, f_aa)
        g_bb_y = _softmin(eps, _ot_cost(y, yd, p), b_log, g_bb)
        carrier = carrier - (a * f_aa_x).sum(-1) - (b * g_bb_y).sum(-1)
        value = value - 0.5 * (a * (f_aa_x + f_aa)).sum(-1) - 0.5 * (b * (g_bb_y + g_bb)).sum(-1)
    per = carrier + (value - carrier).detach()
    return reduce_loss(per, reduction, name=name)


# -- maximum mean discrepancy ------------------------------------------------------------------


def _kernel(sq: torch.Tensor, kernel: str, bandwidth: float) -> torch.Tensor:
    if kernel == "rbf":
        return torch.exp(-sq / (2 * bandwidth**2))
    if kernel == "laplacian":
        return torch.exp(-_safe_sqrt(sq) / bandwidth)
    return torch.rsqrt(1 + sq / bandwidth**2)  # inverse multiquadric


@loss_function(
    kernel=Param("choice", "the kernel k", choices=("rbf", "laplacian", "imq")),
    bandwidth=Param("float", "kernel bandwidth sigma (a length)", gt=0),
    unbiased=Param("bool", "unbiased U-statistic (True) or biased V-statistic (False)"),
    reduction=REDUCTION,
)
def mmd_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    kernel: str = "rbf",
    bandwidth: float = 1.0,
    unbiased: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Squared maximum mean discrepancy between two samples.

    .. math::
        \mathrm{MMD}^2_u = \frac{1}{N(N-1)} \sum_{i \ne i'} k(x_i, x_{i'})
        + \frac{1}{M(M-1)} \sum_{j \ne j'} k(y_j, y_{j'}) - \frac{2}{NM} \sum_{i,j} k(x_i, y_j)

    (the unbiased U-statistic, the default: it can be slightly negative, and its expectation is
    the population MMD^2; it needs N, M >= 2). ``unbiased=False`` keeps the diagonal terms and
    divides by :math:`N^2, M^2`: the biased V-statistic, always >= 0 and exactly 0 when the two
    samples are equal. Kernels, with :math:`r = \lVert x - y \rVert` and :math:`\sigma` =
    ``bandwidth``: ``"rbf"`` :math:`e^{-r^2 / 2\sigma^2}`, ``"laplacian"`` :math:`e^{-r/\sigma}`
    (subgradient 0 at r = 0), ``"imq"`` :math:`(1 + r^2/\sigma^2)^{-1/2}`; all are
    characteristic, so MMD = 0 only for equal distributions.

    Args:
        x: samples of shape ``(..., N, D)``; leading dimensions index independent problems.
        y: samples of shape ``(..., M, D)`` with the same leading dimensions and D.
        kernel: ``"rbf"`` | ``"laplacian"`` | ``"imq"``.
        bandwidth: the kernel's length scale.
        unbiased: U-statistic (True) or V-statistic (False).
        reduction: ``"none"`` (one value per problem) | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> x = torch.tensor([[0.0], [1.0]])
        >>> LF.mmd_loss(x, x, unbiased=False)
        tensor(0.)
        >>> LF.mmd_loss(x, x)  # the U-statistic at equal samples: -(2/N)(1 - e^{-1/2})
        tensor(-0.3935)

    References:
        Gretton et al., "A Kernel Two-Sample Test", JMLR 2012;
        Li, Swersky, Zemel, "Generative Moment Matching Networks", ICML 2015.
    """
    name = "mmd_loss"
    _check_clouds(name, x, y, ("x", "y"))
    dtype = torch.promote_types(upcast(x).dtype, upcast(y).dtype)
    x, y = x.to(dtype), y.to(dtype)
    n, m = x.shape[-2], y.shape[-2]
    if unbiased and min(n, m) < 2:
        fail(
            name,
            "x" if n < 2 else "y",
            "a sample of at least 2 points for the unbiased statistic",
            Raw(f"{min(n, m)} point(s)"),
        )
    kxx = _kernel(_pair_sq_dist(x, x), kernel, bandwidth)
    kyy = _kernel(_pair_sq_dist(y, y), kernel, bandwidth)
    kxy = _kernel(_pair_sq_dist(x, y), kernel, bandwidth)
    if unbiased:
        off_x = ~torch.eye(n, dtype=torch.bool, device=x.device)
        off_y = ~torch.eye(m, dtype=torch.bool, device=y.device)
        sxx = torch.where(off_x, kxx, torch.zeros_like(kxx)).sum((-2, -1)) / (n * (n - 1))
        syy = torch.where(off_y, kyy, torch.zeros_like(kyy)).sum((-2, -1)) / (m * (m - 1))
    else:
        sxx, syy = kxx.mean((-2, -1)), kyy.mean((-2, -1))
    per = sxx + syy - 2 * kxy.mean((-2, -1))
    return reduce_loss(per, reduction, name=name)
