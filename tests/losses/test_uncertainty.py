"""Uncertainty-aware losses against independent float64 references (numpy/scipy, torch's own
Gaussian NLL, numerical integration), their invariants, and the multi-output heads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from scipy import integrate, special, stats

import losslab.functional as LF
import losslab.nn as LN
from losslab import catalog
from losslab.catalog import Head
from losslab.losses.uncertainty import evidential_uncertainty


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def t64(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


# -- beta-NLL -----------------------------------------------------------------------------------


def test_beta_nll_at_beta_0_is_torchs_gaussian_nll_without_the_constant():
    g = rng(0)
    mean, target = t64(g.normal(size=(7, 3))), t64(g.normal(size=(7, 3)))
    var = t64(np.exp(g.normal(size=(7, 3))))
    var[0, 0] = 1e-9  # below eps: both clamp it
    for reduction in ("none", "mean", "sum"):
        ours = LF.beta_nll_loss(mean, var, target, beta=0.0, reduction=reduction)
        ref = TF.gaussian_nll_loss(mean, target, var, full=False, reduction=reduction)
        torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    # full=True differs by the dropped constant 0.5 * log(2 pi) per element
    full = TF.gaussian_nll_loss(mean, target, var, full=True, reduction="mean")
    ours = LF.beta_nll_loss(mean, var, target, beta=0.0)
    assert float(full - ours) == pytest.approx(0.5 * math.log(2 * math.pi), abs=1e-8)


def test_beta_nll_at_beta_1_gives_the_mean_the_mse_gradient():
    g = rng(1)
    mean = t64(g.normal(size=(5, 4))).requires_grad_(True)
    target = t64(g.normal(size=(5, 4)))
    var = t64(np.exp(2 * g.normal(size=(5, 4))))
    LF.beta_nll_loss(mean, var, target, beta=1.0).backward()
    # d/dmu of 0.5 * mean((mu - y)^2): MSE's gradient 2 (mu - y) / N up to the constant 1/2
    np.testing.assert_allclose(
        mean.grad.numpy(), (mean.detach() - target).numpy() / mean.numel(), rtol=1e-12
    )


def test_beta_nll_matches_a_float64_reference_and_detaches_the_weight():
    g = rng(2)
    m, y = g.normal(size=20), g.normal(size=20)
    v = np.exp(g.normal(size=20))
    beta = 0.5
    ref = (0.5 * (np.log(v) + (y - m) ** 2 / v) * v**beta).mean()
    mean, var = t64(m).requires_grad_(True), t64(v).requires_grad_(True)
    loss = LF.beta_nll_loss(mean, var, t64(y), beta=beta)
    assert float(loss.detach()) == pytest.approx(ref, rel=1e-12)
    loss.backward()
    # the weight v**beta is a constant: d/dv = 0.5 (1/v - e^2/v^2) v^beta / N, no d(v^beta)/dv
    np.testing.assert_allclose(
        var.grad.numpy(), 0.5 * (1 / v - (y - m) ** 2 / v**2) * v**beta / 20, rtol=1e-10
    )
    np.testing.assert_allclose(mean.grad.numpy(), (m - y) / v * v**beta / 20, rtol=1e-10)


@pytest.mark.parametrize("v", [1e-12, 1e-6, 1e6])
def test_beta_nll_gradients_finite_at_extreme_variances(v):
    mean = torch.tensor([0.3, -2.0], requires_grad=True)
    var = torch.full((2,), v, requires_grad=True)
    LF.beta_nll_loss(mean, var, torch.tensor([0.0, 1.0])).backward()
    assert torch.isfinite(mean.grad).all() and torch.isfinite(var.grad).all()


def test_beta_nll_rejects_negative_variances_and_mismatched_shapes():
    with pytest.raises(ValueError, match=r"^beta_nll_loss: 'var' must be variances >= 0"):
        LF.beta_nll_loss(torch.zeros(2), torch.tensor([1.0, -1.0]), torch.zeros(2))
    with pytest.raises(ValueError, match=r"^beta_nll_loss: 'target' must be of the same shape"):
        LF.beta_nll_loss(torch.zeros(2), torch.ones(2), torch.zeros(3))


# -- evidential regression ----------------------------------------------------------------------


def _nig(seed: int, n: int = 12):
    g = rng(seed)
    return (
        g.normal(size=n),
        np.exp(g.normal(size=n)),
        1.0 + np.exp(g.normal(size=n)),
        np.exp(g.normal(size=n)),
        g.normal(size=n) * 2,
    )


def test_nig_nll_is_the_negative_student_t_log_density():
    gamma, nu, alpha, beta, y = _nig(3)
    ours = LF.evidential_regression_loss(
        *(t64(a) for a in (gamma, nu, alpha, beta, y)), coeff=0.0, reduction="none"
    )
    scale = np.sqrt(beta * (1 + nu) / (nu * alpha))
    ref = -stats.t.logpdf(y, df=2 * alpha, loc=gamma, scale=scale)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-12)
    assert (ours < 0).any() or (ref >= 0).all()  # a negative NLL is normal when the density > 1


def test_evidential_regulariser_is_coeff_times_error_times_evidence():
    gamma, nu, alpha, beta, y = _nig(4)
    args = [t64(a) for a in (gamma, nu, alpha, beta, y)]
    with_reg = LF.evidential_regression_loss(*args, coeff=0.3, reduction="none")
    without = LF.evidential_regression_loss(*args, coeff=0.0, reduction="none")
    np.testing.assert_allclose(
        (with_reg - without).numpy(), 0.3 * np.abs(y - gamma) * (2 * nu + alpha), rtol=1e-10
    )


def test_evidential_uncertainty_reads_aleatoric_and_epistemic_variance():
    _, nu, alpha, beta, _ = _nig(5)
    alea, epi = evidential_uncertainty(torch.zeros(12), t64(nu), t64(alpha), t64(beta))
    np.testing.assert_allclose(alea.numpy(), beta / (alpha - 1), rtol=1e-12)
    np.testing.assert_allclose(epi.numpy(), beta / (nu * (alpha - 1)), rtol=1e-12)
    with pytest.raises(ValueError, match=r"^evidential_uncertainty: 'alpha' must be values > 1"):
        evidential_uncertainty(torch.zeros(1), torch.ones(1), torch.ones(1), torch.ones(1))


@pytest.mark.parametrize("small", [1e-6, 1e-3])
def test_evidential_regression_gradients_finite_as_evidence_vanishes(small):
    ps = [
        torch.tensor([0.5, -1.0], requires_grad=True),
        torch.full((2,), small, requires_grad=True),
        torch.full((2,), 1.0 + small, requires_grad=True),
        torch.full((2,), small, requires_grad=True),
    ]
    LF.evidential_regression_loss(*ps, torch.tensor([0.0, 3.0])).backward()
    for p in ps:
        assert torch.isfinite(p.grad).all()


def test_evidential_regression_rejects_non_positive_parameters():
    one = torch.ones(2)
    with pytest.raises(ValueError, match=r"^evidential_regression_loss: 'nu' must be values > 0"):
        LF.evidential_regression_loss(one, torch.tensor([1.0, 0.0]), one, one, one)


# -- evidential classification ------------------------------------------------------------------


def _kl_dirichlet_uniform(a: np.ndarray) -> np.ndarray:
    """KL(Dir(a) || Dir(1)) by the textbook formula, float64 (scipy gammaln/digamma)."""
    k, s = a.shape[-1], a.sum(-1)
    log_b_a = special.gammaln(a).sum(-1) - special.gammaln(s)
    log_b_1 = -special.gammaln(k)  # B(1, ..., 1) = Gamma(1)^K / Gamma(K)
    return (
        log_b_1 - log_b_a + ((a - 1) * (special.digamma(a) - special.digamma(s)[:, None])).sum(-1)
    )


def _cls_case(seed: int, n: int = 9, c: int = 5):
    g = rng(seed)
    return np.exp(2 * g.normal(size=(n, c))), g.integers(0, c, size=n)


@pytest.mark.parametrize("form", ["mse", "digamma"])
def test_evidential_classification_kl_term_by_hand(form):
    e, y = _cls_case(6)
    ev, tgt = t64(e), torch.as_tensor(y)
    kl = LF.evidential_classification_loss(
        ev, tgt, annealing=0.7, form=form, reduction="none"
    ) - LF.evidential_classification_loss(ev, tgt, annealing=0.0, form=form, reduction="none")
    onehot = np.eye(e.shape[1])[y]
    a_tilde = onehot + (1 - onehot) * (e + 1)
    np.testing.assert_allclose(kl.numpy(), 0.7 * _kl_dirichlet_uniform(a_tilde), rtol=1e-9)


def test_evidential_classification_kl_is_zero_without_wrong_evidence():
    y = torch.tensor([0, 2, 1])
    e = 5.0 * TF.one_hot(y, 3).double()  # evidence on the true class only: alpha_tilde = 1
    on = LF.evidential_classification_loss(e, y, annealing=1.0, reduction="none")
    off = LF.evidential_classification_loss(e, y, annealing=0.0, reduction="none")
    torch.testing.assert_close(on, off, rtol=0, atol=1e-12)
    assert float(_kl_dirichlet_uniform(np.ones((1, 3)))[0]) == pytest.approx(0.0, abs=1e-12)


def test_evidential_classification_data_terms_by_hand():
    e, y = _cls_case(7)
    a = e + 1
    s = a.sum(1, keepdims=True)
    p = a / s
    onehot = np.eye(e.shape[1])[y]
    # expected squared error under Dir(a): E[(y - p)^2] = (y - E p)^2 + Var p, Var p = p(1-p)/(S+1)
    mse = ((onehot - p) ** 2 + p * (1 - p) / (s + 1)).sum(1)
    dig = special.digamma(s[:, 0]) - special.digamma(a[np.arange(len(y)), y])
    for form, ref in (("mse", mse), ("digamma", dig)):
        ours = LF.evidential_classification_loss(
            t64(e), torch.as_tensor(y), annealing=0.0, form=form, reduction="none"
        )
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10)


def test_evidential_classification_expected_error_by_monte_carlo():
    # the mse form is E_{p ~ Dir(alpha)} ||y - p||^2: check against Dirichlet samples
    a = np.array([3.0, 1.5, 2.0])
    samples = rng(8).dirichlet(a, size=400_000)
    mc = ((np.array([1.0, 0.0, 0.0]) - samples) ** 2).sum(1).mean()
    ours = LF.evidential_classification_loss(t64(a[None] - 1), torch.tensor([0]), annealing=0.0)
    assert float(ours) == pytest.approx(mc, rel=5e-3)


@pytest.mark.parametrize("form", ["mse", "digamma"])
def test_evidential_classification_gradients_finite_at_zero_evidence(form):
    e = torch.zeros(3, 4, requires_grad=True)
    LF.evidential_classification_loss(e, torch.tensor([0, 1, 3]), form=form).backward()
    assert torch.isfinite(e.grad).all()


def test_evidential_classification_rejects_negative_evidence():
    with pytest.raises(
        ValueError, match=r"^evidential_classification_loss: 'evidence' must be evidence >= 0"
    ):
        LF.evidential_classification_loss(torch.tensor([[1.0, -1.0]]), torch.tensor([0]))


# -- CRPS ---------------------------------------------------------------------------------------


def _crps_by_quadrature(mu: float, sd: float, y: float) -> float:
    cdf = stats.norm(mu, sd).cdf
    left, _ = integrate.quad(lambda x: cdf(x) ** 2, -np.inf, y)
    right, _ = integrate.quad(lambda x: (cdf(x) - 1) ** 2, y, np.inf)
    return left + right


def test_crps_gaussian_matches_numerical_integration():
    g = rng(9)
    mu, sd, y = g.normal(size=6), np.exp(g.normal(size=6)), 2 * g.normal(size=6)
    ours = LF.crps_gaussian_loss(t64(mu), t64(sd), t64(y), reduction="none")
    ref = [_crps_by_quadrature(*args) for args in zip(mu, sd, y, strict=True)]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-7, atol=1e-9)


def test_crps_gaussian_at_the_mean_and_its_std_gradient():
    # at y = mu the score is sigma (sqrt(2) - 1) / sqrt(pi); it is linear in sigma there
    sd = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    out = LF.crps_gaussian_loss(
        torch.zeros(2, dtype=torch.float64),
        sd,
        torch.zeros(2, dtype=torch.float64),
        reduction="sum",
    )
    assert float(out) == pytest.approx(2.5 * (math.sqrt(2) - 1) / math.sqrt(math.pi), rel=1e-12)
    out.backward()
    np.testing.assert_allclose(sd.grad.numpy(), (math.sqrt(2) - 1) / math.sqrt(math.pi), rtol=1e-12)


def test_crps_gaussian_rejects_a_zero_std():
    with pytest.raises(ValueError, match=r"^crps_gaussian_loss: 'std' must be values > 0"):
        LF.crps_gaussian_loss(torch.zeros(2), torch.tensor([1.0, 0.0]), torch.zeros(2))


# -- quantile sets and interval score ------------------------------------------------------------

TAU = torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64)


def _pinball_np(x: np.ndarray, y: np.ndarray, tau: np.ndarray) -> np.ndarray:
    u = y[:, None] - x
    return np.where(u >= 0, tau * u, (tau - 1) * u)


def test_quantile_set_unsorted_equals_quantile_loss_with_repeated_target():
    g = rng(10)
    x, y = t64(g.normal(size=(8, 3))), t64(g.normal(size=8))
    ours = LF.quantile_set_loss(x, y, quantiles=TAU, noncrossing=None, reduction="none")
    ref = LF.quantile_loss(x, y.unsqueeze(-1).expand(-1, 3), quantile=TAU, reduction="none")
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_quantile_set_sorts_before_scoring_and_never_scores_worse():
    g = rng(11)
    x, y = g.normal(size=(50, 3)), g.normal(size=50)
    ref = _pinball_np(np.sort(x, axis=1), y, TAU.numpy())
    ours = LF.quantile_set_loss(t64(x), t64(y), quantiles=TAU, reduction="none")
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12)
    unsorted = _pinball_np(x, y, TAU.numpy()).sum(1)
    assert (ref.sum(1) <= unsorted + 1e-12).all() and (ref.sum(1) < unsorted - 1e-6).any()


def test_quantile_set_gradient_goes_to_the_output_sorted_into_each_level():
    x = torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64, requires_grad=True)
    LF.quantile_set_loss(
        x, torch.tensor([0.0], dtype=torch.float64), quantiles=TAU, reduction="sum"
    ).backward()
    # sorted: -1.0 (tau 0.05, under y: -0.05), 0.5 (tau 0.5, over: 0.5), 2.0 (tau 0.95, over: 0.05)
    torch.testing.assert_close(x.grad, torch.tensor([[0.05, -0.05, 0.5]], dtype=torch.float64))


def test_quantile_set_validation():
    with pytest.raises(
        ValueError, match=r"^quantile_set_loss: 'quantiles' must be strictly increasing"
    ):
        LF.quantile_set_loss(torch.zeros(2, 2), torch.zeros(2), quantiles=torch.tensor([0.9, 0.1]))
    with pytest.raises(
        ValueError, match=r"^quantile_set_loss: 'preds' must be of shape \(\.\.\., Q\)"
    ):
        LF.quantile_set_loss(torch.zeros(2, 2), torch.zeros(2), quantiles=TAU)
    with pytest.raises(ValueError, match=r"^quantile_set_loss: 'target' must be of shape \(2,\)"):
        LF.quantile_set_loss(torch.zeros(2, 3), torch.zeros(2, 3), quantiles=TAU)


def test_interval_score_by_hand_and_minimised_near_the_true_quantiles():
    g = rng(12)
    lo, hi, y = g.normal(size=30) - 1, g.normal(size=30) + 1, 2 * g.normal(size=30)
    alpha = 0.2
    ref = (hi - lo) + 2 / alpha * ((lo - y) * (y < lo) + (y - hi) * (y > hi))
    ours = LF.interval_score_loss(t64(lo), t64(hi), t64(y), alpha=alpha, reduction="none")
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12)
    # on N(0, 1) data the expected score is smallest at the alpha/2 and 1 - alpha/2 quantiles
    ys = t64(g.normal(size=200_000))
    q = stats.norm.ppf(1 - alpha / 2)

    def score(a, b):
        return float(
            LF.interval_score_loss(torch.full_like(ys, a), torch.full_like(ys, b), ys, alpha=alpha)
        )

    best = score(-q, q)
    for a, b in ((-q * 0.8, q * 0.8), (-q * 1.2, q * 1.2), (-q + 0.3, q + 0.3)):
        assert score(a, b) > best


# -- heads ----------------------------------------------------------------------------------------

#: loss -> (task, number of named outputs = the number of predicted tensors it takes)
HEAD_OUTPUTS = {
    "beta_nll_loss": ("regression", ("mean", "var")),
    "evidential_regression_loss": ("regression", ("gamma", "nu", "alpha", "beta")),
    "crps_gaussian_loss": ("regression", ("mean", "std")),
    "interval_score_loss": ("regression", ("lower", "upper")),
    "quantile_set_loss": ("regression", ("quantiles",)),
    "evidential_classification_loss": ("multiclass", ("evidence",)),
}


@pytest.mark.parametrize("name", sorted(HEAD_OUTPUTS))
def test_heads_name_each_predicted_tensor(name):
    task, outputs = HEAD_OUTPUTS[name]
    head = catalog.get(name).head_for(task)
    assert tuple(n for n, _ in head.outputs) == outputs
    if head.units.isdigit():
        assert int(head.units) == len(outputs)


def test_head_split_builds_the_activated_outputs():
    head = catalog.get("evidential_regression_loss").head_for("regression")
    z = torch.tensor([[0.3, -50.0, 0.0, 2.0], [1.0, 0.0, -3.0, 0.5]])
    gamma, nu, alpha, beta = head.split(z)
    assert gamma.shape == (2,)
    torch.testing.assert_close(gamma, z[:, 0])
    torch.testing.assert_close(nu, torch.log1p(torch.exp(z[:, 1])))
    torch.testing.assert_close(alpha, 1 + torch.log1p(torch.exp(z[:, 2])))
    assert (nu > 0).all() and (alpha > 1).all() and (beta > 0).all()
    (ev,) = catalog.get("evidential_classification_loss").head_for("multiclass").split(z)
    assert ev.shape == (2, 4) and (ev >= 0).all()
    with pytest.raises(
        ValueError, match=r"^Head.split: 'z' must have a last dimension divisible by 4"
    ):
        head.split(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"^Head: 'outputs' activations must be among"):
        Head("identity", "2", outputs=(("mean", "identity"), ("var", "cube")))


def test_modules_equal_functions():
    g = rng(13)
    m, v, y = (t64(g.normal(size=5)) for _ in range(3))
    torch.testing.assert_close(
        LN.BetaNLLLoss(beta=0.25)(m, v.exp(), y), LF.beta_nll_loss(m, v.exp(), y, beta=0.25)
    )
    torch.testing.assert_close(
        LN.QuantileSetLoss(quantiles=TAU)(torch.stack([m, v, y], 1), y),
        LF.quantile_set_loss(torch.stack([m, v, y], 1), y, quantiles=TAU),
    )


@pytest.mark.parametrize("sd", [1e-6, 1e6])
def test_crps_gaussian_gradients_finite_at_extreme_spreads(sd):
    mean = torch.tensor([0.3, -2.0], requires_grad=True)
    std = torch.full((2,), sd, requires_grad=True)
    out = LF.crps_gaussian_loss(mean, std, torch.tensor([0.0, 1.0]))
    out.backward()
    assert (
        torch.isfinite(out) and torch.isfinite(mean.grad).all() and torch.isfinite(std.grad).all()
    )
