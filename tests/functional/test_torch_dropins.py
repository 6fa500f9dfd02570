"""The torch.nn.functional drop-ins: equal to torch (the reference), stricter validation,
float32 results for half inputs, and a connected 0 for a 'mean' over nothing."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as TF

import losslab.functional as LF
import losslab.nn as LN

N, C, D = 5, 4, 3


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=g(seed))


def signs(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=g(seed)).float() * 2 - 1


def probs(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=g(seed)).clamp(0.01, 0.99)


def idx(*shape: int, high: int = C, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=g(seed))


def ml_target() -> torch.Tensor:
    t = torch.full((N, C), -1)
    t[0, :2] = torch.tensor([3, 0])
    t[1, :1] = 2
    t[2, :3] = torch.tensor([1, 2, 3])
    t[3, 0], t[3, 2] = 0, 1  # entries after the first -1 are ignored
    return t


def ctc_args(seed: int = 0):
    T = 8
    lp = randn(T, N, C, seed=seed).log_softmax(2)
    targets = torch.randint(1, C, (N, 3), generator=g(seed + 1))
    return lp, targets, torch.full((N,), T), torch.tensor([3, 2, 1, 3, 2])


# name -> (args factory, list of option dicts to try)
CASES = {
    "huber_loss": (
        lambda: (randn(N, D), randn(N, D, seed=1) * 3),
        [{}, {"delta": 0.5}, {"weight": probs(N, D)}],
    ),
    "smooth_l1_loss": (
        lambda: (randn(N, D), randn(N, D, seed=1) * 3),
        [{}, {"beta": 0.5}, {"beta": 0.0}],
    ),
    "poisson_nll_loss": (
        lambda: (randn(N, D).abs(), torch.poisson(torch.full((N, D), 3.0), generator=g(1))),
        [{}, {"full": True}, {"log_input": False, "eps": 1e-4}],
    ),
    "gaussian_nll_loss": (
        lambda: (randn(N, D), randn(N, D, seed=1), probs(N, D, seed=2)),
        [{}, {"full": True}, {"eps": 0.1}],
    ),
    "binary_cross_entropy": (
        lambda: (probs(N, C), probs(N, C, seed=1).round()),
        [{}, {"weight": probs(N, C, seed=2)}],
    ),
    "nll_loss": (
        lambda: (randn(N, C).log_softmax(1), idx(N)),
        [{}, {"weight": probs(C)}, {"ignore_index": 1}, {"weight": probs(C), "ignore_index": 2}],
    ),
    "kl_div": (
        lambda: (randn(N, C).log_softmax(1), randn(N, C, seed=1).softmax(1)),
        [{}],
    ),
    "hinge_embedding_loss": (lambda: (randn(N).abs(), signs(N)), [{}, {"margin": 2.0}]),
    "margin_ranking_loss": (lambda: (randn(N), randn(N, seed=1), signs(N)), [{}, {"margin": 0.5}]),
    "soft_margin_loss": (lambda: (randn(N, C) * 3, signs(N * C).reshape(N, C)), [{}]),
    "multi_margin_loss": (
        lambda: (randn(N, C), idx(N)),
        [{}, {"p": 2}, {"margin": 0.5, "weight": probs(C)}],
    ),
    "multilabel_margin_loss": (lambda: (randn(N, C), ml_target()), [{}]),
    "multilabel_soft_margin_loss": (
        lambda: (randn(N, C), probs(N, C).round()),
        [{}, {"weight": probs(C)}],
    ),
    "cosine_embedding_loss": (
        lambda: (randn(N, D), randn(N, D, seed=1), signs(N)),
        [{}, {"margin": 0.3}],
    ),
    "triplet_margin_loss": (
        lambda: (randn(N, D), randn(N, D, seed=1), randn(N, D, seed=2)),
        [{}, {"margin": 2.0, "p": 1.0}, {"swap": True, "eps": 1e-3}],
    ),
    "ctc_loss": (ctc_args, [{}, {"blank": 0, "zero_infinity": True}]),
}
NAMES = sorted(CASES)


def _variants():
    for name in NAMES:
        for i, opts in enumerate(CASES[name][1]):
            for reduction in ("none", "mean", "sum"):
                yield pytest.param(name, opts, reduction, id=f"{name}-{i}-{reduction}")


def test_all_drop_ins_exported():
    for name in NAMES:
        assert name in LF.__all__ and callable(getattr(LF, name))


TORCH_KL_MEAN_WARNING = "ignore:reduction. 'mean' divides the total loss:UserWarning"


@pytest.mark.filterwarnings(TORCH_KL_MEAN_WARNING)
@pytest.mark.parametrize(("name", "opts", "reduction"), _variants())
def test_equals_torch(name, opts, reduction):
    args = CASES[name][0]()
    ours = getattr(LF, name)(*args, **opts, reduction=reduction)
    ref = getattr(TF, name)(*args, **opts, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_equals_torch(reduction, log_target):
    x, p = CASES["kl_div"][0]()
    t = p.log() if log_target else p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = TF.kl_div(x, t, reduction=reduction, log_target=log_target)
    torch.testing.assert_close(
        LF.kl_div(x, t, reduction=reduction, log_target=log_target), ref, rtol=0, atol=0
    )


def test_kl_div_mean_does_not_warn_and_batchmean_is_the_divergence():
    x, p = CASES["kl_div"][0]()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean = LF.kl_div(x, p)
    kl = (p * (p.log() - x)).sum(1).mean()  # KL(p || q) averaged over the batch
    torch.testing.assert_close(LF.kl_div(x, p, reduction="batchmean"), kl)
    torch.testing.assert_close(mean, kl / C)


@pytest.mark.parametrize("var_shape", [(N, D), (N,), (N, 1)])
def test_gaussian_nll_var_shapes_equal_torch(var_shape):
    x, y = randn(N, D), randn(N, D, seed=1)
    var = probs(*var_shape, seed=2)
    for reduction in ("none", "mean", "sum"):
        torch.testing.assert_close(
            LF.gaussian_nll_loss(x, y, var, reduction=reduction),
            TF.gaussian_nll_loss(x, y, var, reduction=reduction),
            rtol=0,
            atol=0,
        )
    torch.testing.assert_close(
        LF.gaussian_nll_loss(x, y, 0.5), TF.gaussian_nll_loss(x, y, 0.5), rtol=0, atol=0
    )


def test_nll_loss_spatial_equals_torch():
    x, t = randn(N, C, 2, 3).log_softmax(1), idx(N, 2, 3)
    torch.testing.assert_close(LF.nll_loss(x, t), TF.nll_loss(x, t), rtol=0, atol=0)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_ctc_loss_forms_equal_torch(reduction):
    lp, targets, il, tl = ctc_args()
    flat = torch.cat([targets[i, : int(tl[i])] for i in range(N)])
    ours = LF.ctc_loss(lp, flat, il, tl, reduction=reduction)
    torch.testing.assert_close(
        ours, TF.ctc_loss(lp, flat, il, tl, reduction=reduction), rtol=0, atol=0
    )
    # unbatched (T, C) input, lengths as Python sequences
    one = LF.ctc_loss(lp[:, 0], targets[0], [8], [3], reduction=reduction)
    ref = TF.ctc_loss(lp[:, 0], targets[0], torch.tensor(8), torch.tensor(3), reduction=reduction)
    torch.testing.assert_close(one, ref, rtol=0, atol=0)


def test_ctc_zero_infinity_equals_torch():
    lp, targets, _, tl = ctc_args()
    il = torch.tensor([8, 8, 8, 2, 1])  # the last two samples cannot be aligned
    z = randn(*lp.shape).requires_grad_(True)
    for reduction in ("none", "mean", "sum"):
        ours = LF.ctc_loss(
            z.log_softmax(2), targets, il, tl, reduction=reduction, zero_infinity=True
        )
        ref = TF.ctc_loss(
            z.log_softmax(2), targets, il, tl, reduction=reduction, zero_infinity=True
        )
        torch.testing.assert_close(ours, ref, rtol=0, atol=0)
        (g1,) = torch.autograd.grad(ours.sum(), z)
        (g2,) = torch.autograd.grad(ref.sum(), z)
        torch.testing.assert_close(g1, g2)


# -- traps in torch that losslab avoids -------------------------------------------------------


def test_soft_margin_stays_finite_where_torch_overflows():
    x = torch.tensor([-1e4, -100.0, 0.0, 100.0], requires_grad=True)
    y = torch.ones(4)
    assert torch.isinf(TF.soft_margin_loss(x, y, reduction="none")).any()  # the trap
    out = LF.soft_margin_loss(x, y, reduction="none")
    torch.testing.assert_close(out.detach(), torch.tensor([1e4, 100.0, 0.6931472, 0.0]))
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-1.0, -1.0, -0.5, 0.0]))


def test_ctc_gradient_is_the_true_gradient_of_log_probs():
    lp, targets, il, tl = ctc_args()
    lp = lp.double().requires_grad_(True)
    f = lambda t: TF.ctc_loss(t, targets, il, tl, reduction="sum")  # noqa: E731
    assert not torch.autograd.gradcheck(
        f, (lp,), raise_exception=False
    )  # the trap (pytorch #52241)
    assert torch.autograd.gradcheck(
        lambda t: LF.ctc_loss(t, targets, il, tl, reduction="sum"), (lp,)
    )


def test_ctc_gradient_through_log_softmax_is_torchs():
    lp, targets, il, tl = ctc_args()
    z = lp.detach().clone().requires_grad_(True)
    (g1,) = torch.autograd.grad(LF.ctc_loss(z.log_softmax(2), targets, il, tl), z)
    (g2,) = torch.autograd.grad(TF.ctc_loss(z.log_softmax(2), targets, il, tl), z)
    torch.testing.assert_close(g1, g2)


# -- validation ---------------------------------------------------------------------------------


BAD_CALLS = [
    # shape mismatches -> ValueError
    (
        "huber_loss",
        lambda: LF.huber_loss(randn(N, D), randn(N, 2)),
        ValueError,
        r"huber_loss: 'target' must be of the same shape as 'input'",
    ),
    (
        "smooth_l1_loss",
        lambda: LF.smooth_l1_loss(randn(N), randn(N + 1)),
        ValueError,
        r"smooth_l1_loss: 'target' must be of the same shape",
    ),
    (
        "poisson_nll_loss",
        lambda: LF.poisson_nll_loss(randn(N), randn(3).abs()),
        ValueError,
        r"poisson_nll_loss: 'target' must be of the same shape",
    ),
    (
        "gaussian_nll_loss",
        lambda: LF.gaussian_nll_loss(randn(N, D), randn(N, D), probs(N, 2)),
        ValueError,
        r"gaussian_nll_loss: 'var' must be of shape",
    ),
    (
        "binary_cross_entropy",
        lambda: LF.binary_cross_entropy(probs(N), probs(2)),
        ValueError,
        r"binary_cross_entropy: 'target' must be of the same shape",
    ),
    (
        "nll_loss",
        lambda: LF.nll_loss(randn(N, C), idx(N - 1)),
        ValueError,
        r"nll_loss: 'target' must be of shape \(N, d1, ...\)",
    ),
    (
        "nll_loss",
        lambda: LF.nll_loss(randn(N, C), idx(N), weight=probs(C + 1)),
        ValueError,
        r"nll_loss: 'weight' must be of shape \(C,\)",
    ),
    (
        "kl_div",
        lambda: LF.kl_div(randn(N, C), probs(N, 2)),
        ValueError,
        r"kl_div: 'target' must be of the same shape",
    ),
    (
        "hinge_embedding_loss",
        lambda: LF.hinge_embedding_loss(randn(N), signs(2)),
        ValueError,
        r"hinge_embedding_loss: 'target' must be of shape",
    ),
    (
        "margin_ranking_loss",
        lambda: LF.margin_ranking_loss(randn(N), randn(2), signs(N)),
        ValueError,
        r"margin_ranking_loss: 'input2' must be of the same shape",
    ),
    (
        "soft_margin_loss",
        lambda: LF.soft_margin_loss(randn(N), signs(2)),
        ValueError,
        r"soft_margin_loss: 'target' must be of shape",
    ),
    (
        "multi_margin_loss",
        lambda: LF.multi_margin_loss(randn(N, C), idx(2)),
        ValueError,
        r"multi_margin_loss: 'target' must be of shape",
    ),
    (
        "multi_margin_loss",
        lambda: LF.multi_margin_loss(randn(N, C, 2), idx(N, 2)),
        ValueError,
        r"multi_margin_loss: 'input' must be of shape \(N, C\)",
    ),
    (
        "multilabel_margin_loss",
        lambda: LF.multilabel_margin_loss(randn(N, C), idx(N, 2)),
        ValueError,
        r"multilabel_margin_loss: 'target' must be of the same shape",
    ),
    (
        "multilabel_soft_margin_loss",
        lambda: LF.multilabel_soft_margin_loss(randn(N, C), probs(N, 2)),
        ValueError,
        r"multilabel_soft_margin_loss: 'target' must be of the same shape",
    ),
    (
        "multilabel_soft_margin_loss",
        lambda: LF.multilabel_soft_margin_loss(randn(N, C), probs(N, C), weight=probs(2)),
        ValueError,
        r"'weight' must be of shape \(C,\)",
    ),
    (
        "cosine_embedding_loss",
        lambda: LF.cosine_embedding_loss(randn(N, D), randn(N, 2), signs(N)),
        ValueError,
        r"cosine_embedding_loss: 'input2' must be of the same shape",
    ),
    (
        "cosine_embedding_loss",
        lambda: LF.cosine_embedding_loss(randn(N, D), randn(N, D), signs(2)),
        ValueError,
        r"cosine_embedding_loss: 'target' must be of shape",
    ),
    (
        "triplet_margin_loss",
        lambda: LF.triplet_margin_loss(randn(N, D), randn(N, D), randn(2, D)),
        ValueError,
        r"triplet_margin_loss: 'negative' must be of the same shape",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(ctc_args()[0], idx(2, 3, high=C), *ctc_args()[2:]),
        ValueError,
        r"ctc_loss: 'targets' must be of shape \(N, S\)",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(*ctc_args()[:2], torch.full((2,), 8), ctc_args()[3]),
        ValueError,
        r"ctc_loss: 'input_lengths' must be of shape \(5,\)",
    ),
    # dtypes -> TypeError
    (
        "huber_loss",
        lambda: LF.huber_loss(idx(N), randn(N)),
        TypeError,
        r"huber_loss: 'input' must be a floating-point tensor",
    ),
    (
        "gaussian_nll_loss",
        lambda: LF.gaussian_nll_loss(randn(N), randn(N), idx(N)),
        TypeError,
        r"gaussian_nll_loss: 'var' must be a floating-point tensor",
    ),
    (
        "gaussian_nll_loss",
        lambda: LF.gaussian_nll_loss(randn(N), randn(N), "1"),
        TypeError,
        r"gaussian_nll_loss: 'var' must be a floating-point tensor or a real number",
    ),
    (
        "nll_loss",
        lambda: LF.nll_loss(randn(N, C), idx(N).float()),
        TypeError,
        r"^nll_loss: 'target' must be integer class indices, got float32$",
    ),
    (
        "multi_margin_loss",
        lambda: LF.multi_margin_loss(randn(N, C), randn(N)),
        TypeError,
        r"^multi_margin_loss: 'target' must be integer class indices, got float32$",
    ),
    (
        "multilabel_margin_loss",
        lambda: LF.multilabel_margin_loss(randn(N, C), randn(N, C)),
        TypeError,
        r"^multilabel_margin_loss: 'target' must be integer class indices, got float32$",
    ),
    (
        "cosine_embedding_loss",
        lambda: LF.cosine_embedding_loss(randn(N, D), idx(N, D), signs(N)),
        TypeError,
        r"cosine_embedding_loss: 'input2' must be a floating-point tensor",
    ),
    (
        "triplet_margin_loss",
        lambda: LF.triplet_margin_loss(idx(N, D), randn(N, D), randn(N, D)),
        TypeError,
        r"triplet_margin_loss: 'anchor' must be a floating-point tensor",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(ctc_args()[0], ctc_args()[1].float(), *ctc_args()[2:]),
        TypeError,
        r"^ctc_loss: 'targets' must be integer class indices, got float32$",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(*ctc_args()[:2], torch.full((N,), 8.0), ctc_args()[3]),
        TypeError,
        r"^ctc_loss: 'input_lengths' must be integer lengths, got float32$",
    ),
    # class indices out of range -> ValueError
    (
        "nll_loss",
        lambda: LF.nll_loss(randn(N, C), torch.tensor([0, 1, 2, 3, C])),
        ValueError,
        r"nll_loss: 'target' must be class indices in \[0, 3\] or ignore_index=-100, got 4",
    ),
    (
        "multi_margin_loss",
        lambda: LF.multi_margin_loss(randn(N, C), torch.tensor([0, -1, 2, 3, 1])),
        ValueError,
        r"multi_margin_loss: 'target' must be class indices in \[0, 3\], got -1",
    ),
    (
        "multilabel_margin_loss",
        lambda: LF.multilabel_margin_loss(randn(N, C), ml_target().clamp_max(C - 1) + 1),
        ValueError,
        r"multilabel_margin_loss: 'target' must be label indices in \[0, 3\] or -1",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(ctc_args()[0], ctc_args()[1] * 0 + C, *ctc_args()[2:]),
        ValueError,
        r"ctc_loss: 'targets' must be class indices in \[0, 3\], got 4",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(ctc_args()[0], ctc_args()[1] * 0, *ctc_args()[2:]),
        ValueError,
        r"ctc_loss: 'targets' must be free of the blank index 0",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(*ctc_args(), blank=C),
        ValueError,
        r"ctc_loss: 'blank' must be a class index < C = 4, got 4",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(*ctc_args()[:2], torch.full((N,), 9), ctc_args()[3]),
        ValueError,
        r"ctc_loss: 'input_lengths' must be in \[0, T = 8\], got 9",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(*ctc_args()[:3], torch.full((N,), 4)),
        ValueError,
        r"ctc_loss: 'target_lengths' must be in \[0, S = 3\], got 4",
    ),
    # probabilities / counts / variances out of range -> ValueError
    (
        "binary_cross_entropy",
        lambda: LF.binary_cross_entropy(probs(N) + 1, probs(N)),
        ValueError,
        r"binary_cross_entropy: 'input' must be probabilities in \[0, 1\]",
    ),
    (
        "binary_cross_entropy",
        lambda: LF.binary_cross_entropy(probs(N), probs(N) - 1),
        ValueError,
        r"binary_cross_entropy: 'target' must be probabilities in \[0, 1\]",
    ),
    (
        "kl_div",
        lambda: LF.kl_div(randn(N, C), probs(N, C) * 2),
        ValueError,
        r"kl_div: 'target' must be probabilities in \[0, 1\]",
    ),
    (
        "kl_div",
        lambda: LF.kl_div(randn(N, C), probs(N, C), log_target=True),
        ValueError,
        r"kl_div: 'target' must be log-probabilities <= 0",
    ),
    (
        "multilabel_soft_margin_loss",
        lambda: LF.multilabel_soft_margin_loss(randn(N, C), probs(N, C) + 1),
        ValueError,
        r"'target' must be probabilities in \[0, 1\]",
    ),
    (
        "poisson_nll_loss",
        lambda: LF.poisson_nll_loss(randn(N), -probs(N)),
        ValueError,
        r"poisson_nll_loss: 'target' must be counts >= 0",
    ),
    (
        "poisson_nll_loss",
        lambda: LF.poisson_nll_loss(-probs(N), probs(N), log_input=False),
        ValueError,
        r"poisson_nll_loss: 'input' must be rates >= 0",
    ),
    (
        "gaussian_nll_loss",
        lambda: LF.gaussian_nll_loss(randn(N), randn(N), -probs(N)),
        ValueError,
        r"gaussian_nll_loss: 'var' must be variances >= 0",
    ),
    (
        "gaussian_nll_loss",
        lambda: LF.gaussian_nll_loss(randn(N), randn(N), -1.0),
        ValueError,
        r"gaussian_nll_loss: 'var' must be variances >= 0, got -1.0",
    ),
    # targets not in {-1, 1} -> ValueError
    (
        "hinge_embedding_loss",
        lambda: LF.hinge_embedding_loss(randn(N), (signs(N) + 1) / 2),
        ValueError,
        r"hinge_embedding_loss: 'target' must be values in \{-1, 1\}, got 0.0",
    ),
    (
        "margin_ranking_loss",
        lambda: LF.margin_ranking_loss(randn(N), randn(N), signs(N) * 2),
        ValueError,
        r"margin_ranking_loss: 'target' must be values in \{-1, 1\}",
    ),
    (
        "soft_margin_loss",
        lambda: LF.soft_margin_loss(randn(N), torch.zeros(N)),
        ValueError,
        r"soft_margin_loss: 'target' must be values in \{-1, 1\}, got 0.0",
    ),
    (
        "cosine_embedding_loss",
        lambda: LF.cosine_embedding_loss(randn(N, D), randn(N, D), torch.zeros(N)),
        ValueError,
        r"cosine_embedding_loss: 'target' must be values in \{-1, 1\}",
    ),
    # bad hyperparameters
    (
        "huber_loss",
        lambda: LF.huber_loss(randn(N), randn(N), delta=0.0),
        ValueError,
        r"huber_loss: 'delta' must be a finite real number > 0, got 0.0",
    ),
    (
        "smooth_l1_loss",
        lambda: LF.smooth_l1_loss(randn(N), randn(N), beta=-1.0),
        ValueError,
        r"smooth_l1_loss: 'beta' must be a finite real number >= 0, got -1.0",
    ),
    (
        "poisson_nll_loss",
        lambda: LF.poisson_nll_loss(randn(N), probs(N), eps=0.0),
        ValueError,
        r"poisson_nll_loss: 'eps' must be a finite real number > 0",
    ),
    (
        "poisson_nll_loss",
        lambda: LF.poisson_nll_loss(randn(N), probs(N), full=1),
        TypeError,
        r"poisson_nll_loss: 'full' must be a bool",
    ),
    (
        "gaussian_nll_loss",
        lambda: LF.gaussian_nll_loss(randn(N), randn(N), probs(N), eps=-1.0),
        ValueError,
        r"gaussian_nll_loss: 'eps' must be a finite real number > 0",
    ),
    (
        "nll_loss",
        lambda: LF.nll_loss(randn(N, C), idx(N), ignore_index=1.5),
        TypeError,
        r"nll_loss: 'ignore_index' must be an integer",
    ),
    (
        "nll_loss",
        lambda: LF.nll_loss(randn(N, C), idx(N), weight=-probs(C)),
        ValueError,
        r"nll_loss: 'weight' must be a floating-point tensor with 1 dimension\(s\) >= 0",
    ),
    (
        "kl_div",
        lambda: LF.kl_div(randn(N, C), probs(N, C), reduction="avg"),
        ValueError,
        r"kl_div: 'reduction' must be one of 'none', 'mean', 'sum', 'batchmean'",
    ),
    (
        "hinge_embedding_loss",
        lambda: LF.hinge_embedding_loss(randn(N), signs(N), margin=float("nan")),
        ValueError,
        r"hinge_embedding_loss: 'margin' must be a finite real number, got nan",
    ),
    (
        "margin_ranking_loss",
        lambda: LF.margin_ranking_loss(randn(N), randn(N), signs(N), margin=float("inf")),
        ValueError,
        r"margin_ranking_loss: 'margin' must be a finite real number",
    ),
    (
        "multi_margin_loss",
        lambda: LF.multi_margin_loss(randn(N, C), idx(N), p=3),
        ValueError,
        r"multi_margin_loss: 'p' must be one of 1, 2, got 3",
    ),
    (
        "cosine_embedding_loss",
        lambda: LF.cosine_embedding_loss(randn(N, D), randn(N, D), signs(N), margin=2.0),
        ValueError,
        r"cosine_embedding_loss: 'margin' must be a finite real number >= -1 and <= 1",
    ),
    (
        "triplet_margin_loss",
        lambda: LF.triplet_margin_loss(randn(N, D), randn(N, D), randn(N, D), margin=0.0),
        ValueError,
        r"triplet_margin_loss: 'margin' must be a finite real number > 0, got 0.0",
    ),
    (
        "triplet_margin_loss",
        lambda: LF.triplet_margin_loss(randn(N, D), randn(N, D), randn(N, D), p=0.0),
        ValueError,
        r"triplet_margin_loss: 'p' must be a finite real number > 0",
    ),
    (
        "triplet_margin_loss",
        lambda: LF.triplet_margin_loss(randn(N, D), randn(N, D), randn(N, D), swap="no"),
        TypeError,
        r"triplet_margin_loss: 'swap' must be a bool",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(*ctc_args(), blank=-1),
        ValueError,
        r"ctc_loss: 'blank' must be an integer >= 0, got -1",
    ),
    (
        "ctc_loss",
        lambda: LF.ctc_loss(*ctc_args(), zero_infinity=None),
        TypeError,
        r"ctc_loss: 'zero_infinity' must be a bool",
    ),
]


@pytest.mark.parametrize(
    ("name", "bad", "exc", "pattern"),
    BAD_CALLS,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CALLS)],
)
def test_validation_errors(name, bad, exc, pattern):
    with pytest.raises(exc, match=pattern):
        bad()


def test_every_drop_in_has_validation_tests():
    assert {c[0] for c in BAD_CALLS} == set(NAMES)


def test_size_average_and_reduce_are_not_accepted():
    with pytest.raises(TypeError):
        LF.huber_loss(randn(N), randn(N), size_average=True)
    with pytest.raises(TypeError):
        LF.nll_loss(randn(N, C), idx(N), "mean")  # options are keyword-only


# -- empty batches, half precision, modules -----------------------------------------------------


def _empty_args(name):
    z = lambda *s: torch.zeros(*s)  # noqa: E731
    return {
        "huber_loss": (z(0, D), z(0, D)),
        "smooth_l1_loss": (z(0, D), z(0, D)),
        "poisson_nll_loss": (z(0, D), z(0, D)),
        "gaussian_nll_loss": (z(0, D), z(0, D), z(0, D)),
        "binary_cross_entropy": (z(0), z(0)),
        "nll_loss": (z(0, C), torch.zeros(0, dtype=torch.long)),
        "kl_div": (z(0, C), z(0, C)),
        "hinge_embedding_loss": (z(0), z(0)),
        "margin_ranking_loss": (z(0), z(0), z(0)),
        "soft_margin_loss": (z(0), z(0)),
        "multi_margin_loss": (z(0, C), torch.zeros(0, dtype=torch.long)),
        "multilabel_margin_loss": (z(0, C), torch.zeros(0, C, dtype=torch.long)),
        "multilabel_soft_margin_loss": (z(0, C), z(0, C)),
        "cosine_embedding_loss": (z(0, D), z(0, D), z(0)),
        "triplet_margin_loss": (z(0, D), z(0, D), z(0, D)),
        "ctc_loss": (
            z(8, 0, C),
            torch.zeros(0, 3, dtype=torch.long),
            torch.zeros(0, dtype=torch.long),
            torch.zeros(0, dtype=torch.long),
        ),
    }[name]


@pytest.mark.parametrize("reduction", ["mean", "batchmean"])
@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_mean_is_connected_zero(name, reduction):
    if reduction == "batchmean" and name != "kl_div":
        pytest.skip("batchmean is kl_div's")
    args = list(_empty_args(name))
    x = args[0].requires_grad_(True)
    out = getattr(LF, name)(x, *args[1:], reduction=reduction)
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert x.grad is not None and x.grad.shape == x.shape


def test_all_targets_ignored_gives_connected_zero():
    x = randn(N, C).log_softmax(1).requires_grad_(True)
    out = LF.nll_loss(x, torch.full((N,), -100))
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", NAMES)
def test_half_inputs_give_float32(name, dtype):
    args = CASES[name][0]()
    half = tuple(a.to(dtype) if a.is_floating_point() else a for a in args)
    up = tuple(a.float() if a.is_floating_point() else a for a in half)
    out = getattr(LF, name)(*half)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, getattr(LF, name)(*up))


MODULES = {
    "huber_loss": "HuberLoss",
    "smooth_l1_loss": "SmoothL1Loss",
    "poisson_nll_loss": "PoissonNLLLoss",
    "gaussian_nll_loss": "GaussianNLLLoss",
    "binary_cross_entropy": "BCELoss",
    "nll_loss": "NLLLoss",
    "kl_div": "KLDivLoss",
    "hinge_embedding_loss": "HingeEmbeddingLoss",
    "margin_ranking_loss": "MarginRankingLoss",
    "soft_margin_loss": "SoftMarginLoss",
    "multi_margin_loss": "MultiMarginLoss",
    "multilabel_margin_loss": "MultiLabelMarginLoss",
    "multilabel_soft_margin_loss": "MultiLabelSoftMarginLoss",
    "cosine_embedding_loss": "CosineEmbeddingLoss",
    "triplet_margin_loss": "TripletMarginLoss",
    "ctc_loss": "CTCLoss",
}


@pytest.mark.filterwarnings(TORCH_KL_MEAN_WARNING)
@pytest.mark.parametrize("name", NAMES)
def test_module_matches_torch_module(name):
    args = CASES[name][0]()
    opts = (
        {"delta": 0.5} if name == "huber_loss" else CASES[name][1][-1]
    )  # nn.HuberLoss has no weight
    ours = getattr(LN, MODULES[name])(**opts)
    ref = getattr(torch.nn, MODULES[name])(**opts)
    torch.testing.assert_close(ours(*args), ref(*args), rtol=0, atol=0)
