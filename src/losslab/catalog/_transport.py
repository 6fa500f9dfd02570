"""Catalog entries of the sample-based distribution distances (1-D Wasserstein, Sinkhorn, MMD).

Every entry is batched: one distance per leading index is the "per-element" loss of the contract.
"""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._registry import register
from ._spec import Case, Head, LossSpec, Sampler, When

# -- samplers ----------------------------------------------------------------------------------

B, N_U, N_V, DIM = 3, 5, 4, 2


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def _swap(case: Case) -> Case:
    return Case((case.args[1], case.args[0], *case.args[2:]), case.kwargs)


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


def _blur_for(scale: float) -> float:
    return 1.0 + float(scale)


#: POINT_CLOUDS whose cases carry ``blur = 1 + scale``: the blur is a length, so it grows with
#: the clouds (a change of units, S(s x, s y; s blur) = s^p S(x, y; blur)) and every case
#: converges in tens of iterations; the loss still grows like scale^2.
SINKHORN_CLOUDS = Sampler(
    "sinkhorn_clouds",
    make=lambda gen, dtype, scale: Case(_clouds(gen, dtype, scale), {"blur": _blur_for(scale)}),
    perfect=lambda gen, dtype: Case(_clouds_perfect(gen, dtype).args, {"blur": _blur_for(1.0)}),
    mirror=_swap,
    empty=lambda dtype: Case(_clouds_empty(dtype).args, {"blur": 1.0}),
)


# -- analytic derivatives (written from the math, never with autograd) ---------------------------


def _normalised(w, shape, dtype):
    if w is None:
        return torch.full(shape, 1.0 / shape[-1], dtype=dtype)
    w = w.to(dtype).expand(shape)
    return w / w.sum(-1, keepdim=True)


def _w1d_grad(u, v, *, u_weights=None, v_weights=None, p=1.0, root=False, **_):
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


def _grad_cost(diff: torch.Tensor, p: float) -> torch.Tensor:
    """grad_1 of |x - y|^p / p: |d|^(p-2) d (0 at d = 0)."""
    if p == 2:
        return diff
    r = diff.norm(dim=-1, keepdim=True)
    return torch.where(
        r > 0, diff * torch.where(r > 0, r, torch.ones_like(r)) ** (p - 2), torch.zeros_like(diff)
    )


def _plan(x, y, a, b, eps, p):
    """Optimal entropic plan by plain alternating Sinkhorn (float64, to machine precision)."""
    diff = x.unsqueeze(-2) - y.unsqueeze(-3)
    cost = diff.norm(dim=-1) ** p / p
    la, lb = a.log(), b.log()
    f, g = torch.zeros_like(la), torch.zeros_like(lb)
    for _ in range(100_000):
        f_new = -eps * torch.logsumexp(lb.unsqueeze(-2) + (g.unsqueeze(-2) - cost) / eps, dim=-1)
        g_new = -eps * torch.logsumexp(
            la.unsqueeze(-1) + (f_new.unsqueeze(-1) - cost) / eps, dim=-2
        )
        change = max(float((f_new - f).abs().max()), float((g_new - g).abs().max()))
        f, g = f_new, g_new
        if change <= 1e-15 * (1.0 + float(f.abs().max())):
            break
    plan = torch.exp(
        la.unsqueeze(-1) + lb.unsqueeze(-2) + (f.unsqueeze(-1) + g.unsqueeze(-2) - cost) / eps
    )
    return plan, diff


def _sinkhorn_grad(x, y, *, blur=0.05, p=2.0, debias=True, x_weights=None, y_weights=None, **_):
    """Envelope theorem: sum_j pi_xy[i, j] grad_1 C(x_i, y_j) - sum_j pi_xx[i, j] grad_1 C(x_i, x_j)."""
    xd, yd = x.double(), y.double()
    a = _normalised(x_weights, x.shape[:-1], torch.float64)
    b = _normalised(y_weights, y.shape[:-1], torch.float64)
    eps = blur**p
    plan, diff = _plan(xd, yd, a, b, eps, p)
    grad = (plan.unsqueeze(-1) * _grad_cost(diff, p)).sum(-2)
    if debias:
        plan_xx, diff_xx = _plan(xd, xd, a, a, eps, p)
        grad = grad - (plan_xx.unsqueeze(-1) * _grad_cost(diff_xx, p)).sum(-2)
    return grad.to(x.dtype)


def _kernel_grad(diff: torch.Tensor, kernel: str, bandwidth: float) -> torch.Tensor:
    """grad_1 k(x, z) from the difference d = x - z (0 at d = 0 for the Laplacian corner)."""
    sq = (diff * diff).sum(-1, keepdim=True)
    if kernel == "rbf":
        return -torch.exp(-sq / (2 * bandwidth**2)) * diff / bandwidth**2
    if kernel == "imq":
        return -((1 + sq / bandwidth**2) ** -1.5) * diff / bandwidth**2
    r = sq.sqrt()
    safe = torch.where(r > 0, r, torch.ones_like(r))
    return torch.where(
        r > 0, -torch.exp(-r / bandwidth) * diff / (bandwidth * safe), torch.zeros_like(diff)
    )


def _mmd_grad(x, y, *, kernel="rbf", bandwidth=1.0, unbiased=True, **_):
    n, m = x.shape[-2], y.shape[-2]
    within = _kernel_grad(x.unsqueeze(-2) - x.unsqueeze(-3), kernel, bandwidth).sum(
        -2
    )  # j = i adds 0
    cross = _kernel_grad(x.unsqueeze(-2) - y.unsqueeze(-3), kernel, bandwidth).sum(-2)
    scale = 2.0 / (n * (n - 1)) if unbiased else 2.0 / n**2
    return scale * within - 2.0 / (n * m) * cross


# -- entries -----------------------------------------------------------------------------------

SAMPLE_HEAD = Head(
    "identity", "D", "generated samples (D = data dimension) compared with data samples"
)

register(
    LossSpec(
        name="wasserstein_1d",
        function=LF.wasserstein_1d,
        module=LN.Wasserstein1DLoss,
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
)

register(
    LossSpec(
        name="sinkhorn_loss",
        function=LF.sinkhorn_loss,
        module=LN.SinkhornLoss,
        family="distribution",
        tasks=("distribution", "generative"),
        input_kind="real",
        heads={"*": SAMPLE_HEAD},
        formula=r"S_\varepsilon(\alpha, \beta) = \mathrm{OT}_\varepsilon(\alpha, \beta) - \frac{1}{2}"
        r" \mathrm{OT}_\varepsilon(\alpha, \alpha) - \frac{1}{2} \mathrm{OT}_\varepsilon(\beta, \beta),\quad "
        r"\mathrm{OT}_\varepsilon = \min_{\pi 1 = a,\, \pi^T 1 = b} \sum_{ij} \pi_{ij} C_{ij} + \varepsilon\, "
        r"\mathrm{KL}(\pi \| a b^T),\quad C_{ij} = \frac{1}{p} \lVert x_i - y_j \rVert^p,\ \varepsilon = \mathrm{blur}^p",
        derivative=r"\frac{\partial S_\varepsilon}{\partial x_i} = \sum_j \pi^{xy}_{ij} \lVert x_i - y_j \rVert^{p-2}"
        r" (x_i - y_j) - \sum_j \pi^{xx}_{ij} \lVert x_i - x_j \rVert^{p-2} (x_i - x_j),\quad"
        r" \pi_{ij} = a_i b_j \exp((f_i + g_j - C_{ij})/\varepsilon) \text{ at the optimal potentials}",
        derivative_fn=_sinkhorn_grad,
        properties=dict(
            nonnegative=True,  # Feydy et al. 2019, Thm 1 (positive definite kernel exp(-C/eps))
            zero_at_perfect=True,
            convex=False,  # convex in the weights, not in the point positions
            smooth=True,  # the entropic term smooths the transport cost (p = 2)
            bounded=False,
            robust_to_outliers=When("p == 1"),  # p = 2: the gradient grows like the distance
            symmetric=True,  # S(alpha, beta) = S(beta, alpha), to the solver's tolerance
        ),
        references=(
            "Cuturi, Sinkhorn Distances: Lightspeed Computation of Optimal Transport, NeurIPS 2013",
            "Genevay, Peyre, Cuturi, Learning Generative Models with Sinkhorn Divergences, AISTATS 2018",
            "Feydy et al., Interpolating between Optimal Transport and MMD using Sinkhorn Divergences, "
            "AISTATS 2019",
        ),
        summary="Debiased entropic optimal transport between point clouds (log domain, eps-scaling): "
        ">= 0, 0 iff equal, between W_p^p/p (small blur) and an MMD (large blur).",
        when_to_use="Training a generator directly on samples without a critic (2-D/3-D point clouds, "
        "low-dimensional data, domain adaptation, shape matching); blur sets the resolution: below "
        "blur the loss sees no detail. Memory is O(N M) per problem.",
        sampler=SINKHORN_CLOUDS,
        test_kwargs={"tol": 1e-10, "max_iter": 300},
        notes="The sampler scales blur with the clouds (blur = 1 + scale: a change of units) so every "
        "contract case converges; the analytic derivative is the envelope-theorem gradient from plans "
        "solved independently to machine precision, so it matches autograd only at convergence "
        "(hence tol=1e-10).",
    )
)

register(
    LossSpec(
        name="mmd_loss",
        function=LF.mmd_loss,
        module=LN.MMDLoss,
        family="distribution",
        tasks=("distribution", "generative"),
        input_kind="real",
        heads={"*": SAMPLE_HEAD},
        formula=r"\mathrm{MMD}^2_u = \frac{1}{N(N-1)} \sum_{i \neq i'} k(x_i, x_{i'}) + \frac{1}{M(M-1)}"
        r" \sum_{j \neq j'} k(y_j, y_{j'}) - \frac{2}{NM} \sum_{i, j} k(x_i, y_j)",
        derivative=r"\partial_{x_i} \mathrm{MMD}^2_u = \frac{2}{N(N-1)} \sum_{i' \neq i} \partial_{x_i} k(x_i, x_{i'})"
        r" - \frac{2}{NM} \sum_j \partial_{x_i} k(x_i, y_j),\quad \partial_x k(x, z) = -k(x, z) (x - z) / \sigma^2"
        r" \text{ (rbf)}",
        derivative_fn=_mmd_grad,
        properties=dict(
            nonnegative=False,  # the unbiased U-statistic dips below 0 for close samples
            zero_at_perfect=False,  # U-statistic at x == y: -(2/N)(1 - mean off-diagonal k)
            convex=False,
            smooth=True,  # rbf kernel
            bounded=True,  # kernels in [0, 1]
            robust_to_outliers=True,  # the rbf kernel's gradient vanishes far away
            symmetric=True,
        ),
        references=(
            "Gretton et al., A Kernel Two-Sample Test, JMLR 2012",
            "Li, Swersky, Zemel, Generative Moment Matching Networks, ICML 2015",
        ),
        summary="Squared maximum mean discrepancy with an rbf, Laplacian or inverse multiquadric "
        "kernel; unbiased U-statistic by default (can be < 0), biased V-statistic on request.",
        when_to_use="Matching distributions from samples in moderate dimension without a critic "
        "(moment-matching generators, domain adaptation, two-sample tests); cheap and smooth, but "
        "the bandwidth decides which differences it sees and its gradients vanish far from the data.",
        sampler=POINT_CLOUDS,
    )
)
