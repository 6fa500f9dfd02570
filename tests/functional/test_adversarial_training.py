"""Adversarial-training losses: TRADES and MART (catalog family "adversarial") and the
model-level recipes of losslab.adversarial (PGD-AT, TRADES, MART, fast FGSM), plus the
catastrophic-overfitting rule.

References: float64 loops written from the papers' formulas (numpy), the MART reference code's
own formula (with its 1.0001 / 1e-12 offsets), torch's cross_entropy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import losslab.functional as LF
from losslab import catalog
from losslab.adversarial import (
    COLLAPSE_RULE,
    METHODS,
    adversarial_training_loss,
    attack_passes,
    collapse_epoch,
)
from losslab.lab.models import StackedMLP
from losslab.losses.adversarial_training import kl_clean_adv


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _trades_by_hand(adv, clean, y, beta):
    out = []
    for za, zc, t in zip(adv, clean, y):
        p, q = _softmax(zc), _softmax(za)
        kl = sum(p[k] * math.log(p[k] / q[k]) for k in range(len(p)))
        out.append(-math.log(p[t]) + beta * kl)
    return np.array(out)


def _mart_reference_code(adv, clean, y, beta):
    """The formula of the MART reference implementation, offsets included (float64)."""
    out = []
    for za, zc, t in zip(adv, clean, y):
        pa, pc = _softmax(za), _softmax(zc)
        order = np.argsort(pa)
        j = order[-2] if order[-1] == t else order[-1]
        bce = -math.log(pa[t]) - math.log(1.0001 - pa[j] + 1e-12)
        kl = sum(pc[k] * (math.log(pc[k]) - math.log(pa[k] + 1e-12)) for k in range(len(pc)))
        out.append(bce + beta * kl * (1.0000001 - pc[t]))
    return np.array(out)


def _logits(seed: int, n: int = 8, c: int = 5):
    g = torch.Generator().manual_seed(seed)
    adv = torch.randn(n, c, generator=g, dtype=torch.float64) * 2
    clean = torch.randn(n, c, generator=g, dtype=torch.float64) * 2
    return adv, clean, torch.randint(0, c, (n,), generator=g)


def test_catalog_family_and_entries():
    for name in ("trades_loss", "mart_loss"):
        spec = catalog.get(name)
        assert spec.family == "adversarial" and "multiclass" in spec.tasks
    assert catalog.get("wgan_critic_loss").family == "generative"  # the GAN losses stay apart


@pytest.mark.parametrize("beta", [0.0, 1.0, 6.0])
@pytest.mark.parametrize("seed", range(3))
def test_trades_equals_the_formula_by_hand(seed, beta):
    adv, clean, y = _logits(seed)
    got = LF.trades_loss(adv, clean, y, beta=beta, reduction="none")
    want = _trades_by_hand(adv.numpy(), clean.numpy(), y.numpy(), beta)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    mean = LF.trades_loss(adv, clean, y, beta=beta)
    assert math.isclose(float(mean), want.mean(), rel_tol=1e-10)


def test_trades_beta_zero_is_clean_cross_entropy():
    adv, clean, y = _logits(7)
    torch.testing.assert_close(LF.trades_loss(adv, clean, y, beta=0.0), TF.cross_entropy(clean, y))


@pytest.mark.parametrize("seed", range(3))
def test_mart_matches_the_reference_code_up_to_its_offsets(seed):
    adv, clean, y = _logits(seed)
    got = LF.mart_loss(adv, clean, y, beta=6.0, reduction="none").numpy()
    want = _mart_reference_code(adv.numpy(), clean.numpy(), y.numpy(), 6.0)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-3)


def test_mart_stays_finite_where_the_reference_offsets_matter():
    # the most likely wrong class has p' ~ 1: log(1 - p') is about -1e3, not log(1e-4)
    adv = torch.tensor([[0.0, 1000.0, 0.0]], requires_grad=True)
    clean = torch.tensor([[3.0, 0.0, 0.0]])
    loss = LF.mart_loss(adv, clean, torch.tensor([0]), beta=1.0)
    loss.backward()
    assert math.isfinite(float(loss.detach())) and float(loss.detach()) > 1000
    assert torch.isfinite(adv.grad).all()


@pytest.mark.parametrize("seed", range(4))
def test_kl_term_is_nonnegative_and_zero_when_outputs_agree(seed):
    adv, clean, _ = _logits(seed, n=32)
    kl = kl_clean_adv(clean, adv)
    assert (kl >= 0).all() and (kl > 1e-6).any()
    assert torch.equal(kl_clean_adv(clean, clean), torch.zeros(32, dtype=torch.float64))
    # the direction: KL(p_clean || p_adv), not the reverse
    p, q = clean.softmax(1), adv.softmax(1)
    torch.testing.assert_close(kl, (p * (p.log() - q.log())).sum(1))
    assert not torch.allclose(kl, (q * (q.log() - p.log())).sum(1))


def test_trades_does_not_detach_the_clean_distribution():
    adv, clean, y = _logits(3)
    clean = clean.clone().requires_grad_(True)
    LF.trades_loss(adv, clean, y, beta=6.0).backward()
    with_kl = clean.grad.clone()
    clean.grad = None
    TF.cross_entropy(clean, y).backward()
    assert not torch.allclose(with_kl, clean.grad)  # the KL term reaches the clean logits


# -- model-level recipes ----------------------------------------------------------------------


def _model_and_batch():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    g = torch.Generator().manual_seed(1)
    return model, torch.rand(10, 6, generator=g), torch.randint(0, 4, (10,), generator=g)


@pytest.mark.parametrize("method", METHODS)
def test_eps_zero_gives_the_clean_loss(method):
    model, x, y = _model_and_batch()
    got = adversarial_training_loss(model, x, y, method=method, eps=0.0, steps=3)
    z = model(x)
    want = (
        LF.mart_loss(z, z, y, reduction="none")
        if method == "mart"
        else TF.cross_entropy(z, y, reduction="none")
    )
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("method", METHODS)
def test_adversarial_loss_is_higher_and_deterministic(method):
    model, x, y = _model_and_batch()

    def run(seed):
        return adversarial_training_loss(
            model,
            x,
            y,
            method=method,
            eps=0.2,
            steps=5,
            generator=torch.Generator().manual_seed(seed),
        )

    a, b = run(0), run(0)
    assert torch.equal(a, b)
    clean = adversarial_training_loss(model, x, y, method=method, eps=0.0)
    assert float(a.detach().mean()) > float(clean.detach().mean())
    a.mean().backward()  # the loss trains the model
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("method", METHODS)
def test_stacked_recipe_equals_one_by_one(method):
    torch.set_num_threads(1)
    seeds = [0, 1, 2]
    stacked = StackedMLP(seeds, 6, (8,), 4)
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 10, 6, generator=g)
    y = torch.randint(0, 4, (3, 10), generator=g)
    kw = dict(method=method, eps=0.2, steps=3, beta=1.0)
    together = adversarial_training_loss(
        stacked,
        x,
        y,
        stacked=True,
        generator=[torch.Generator().manual_seed(s) for s in seeds],
        **kw,
    )
    for i, s in enumerate(seeds):
        alone = adversarial_training_loss(
            StackedMLP([s], 6, (8,), 4),
            x[i : i + 1],
            y[i : i + 1],
            stacked=True,
            generator=[torch.Generator().manual_seed(s)],
            **kw,
        )
        torch.testing.assert_close(together[i], alone[0], rtol=1e-5, atol=1e-6)


def test_attack_passes():
    assert attack_passes("pgd_at", 5) == 6 and attack_passes("trades", 5) == 6
    assert attack_passes("fast_fgsm", 5) == 2
    with pytest.raises(ValueError, match="attack_passes: 'method' must be one of"):
        attack_passes("free", 5)


def test_unknown_method_rejected():
    model, x, y = _model_and_batch()
    with pytest.raises(ValueError, match="adversarial_training_loss: 'method' must be one of"):
        adversarial_training_loss(model, x, y, method="free", eps=0.1)


# -- catastrophic overfitting -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "epoch"),
    [
        ([0.30, 0.42, 0.45, 0.05, 0.01], 4),  # Wong et al.'s sudden drop to ~0
        ([0.30, 0.42, 0.40, 0.38], None),  # small wobble
        ([0.30, 0.42, 0.21], None),  # exactly half the best is not below it
        ([0.30, 0.42, 0.2099], 3),
        ([0.05, 0.08, 0.01], None),  # never robust: nothing to collapse from
        ([0.40, float("nan"), 0.10], 3),  # a diverged epoch is skipped
    ],
)
def test_collapse_rule(history, epoch):
    assert collapse_epoch(history) == epoch
    assert "0.5 x its best" in COLLAPSE_RULE
