"""Attacks of losslab.adversarial: FGSM and PGD (L-infinity, L2), single and stacked models.

References are independent of the implementation: torchattacks (installed with --no-deps, see
constraints/data-wheels.txt) gives the adversarial accuracy of the same model, eps, step size
and steps; the ball and range constraints are checked directly on the outputs.
"""

from __future__ import annotations

import functools

import pytest
import torch

from losslab.adversarial import (
    fgsm,
    fgsm_stacked,
    per_sample_cross_entropy,
    pgd,
    pgd_stacked,
)
from losslab.lab.models import StackedMLP

EPS = 0.1
TOL = 1e-6


@functools.cache
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data[:600] / 16.0, dtype=torch.float32)  # pixels in [0, 1]
    return x, torch.tensor(d.target[:600])


@functools.cache
def _trained() -> torch.nn.Module:
    """A tiny MLP trained on digit pixels (accuracy well above chance)."""
    torch.manual_seed(0)
    x, y = _digits()
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[:400]), y[:400]).backward()
        opt.step()
    return model.eval()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _digits()
    return x[400:600], y[400:600]


def _mean_ce(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(per_sample_cross_entropy(model(x), y).mean())


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(-1) == y).float().mean())


ATTACKS = {
    "fgsm": lambda m, x, y, **kw: fgsm(m, x, y, eps=EPS, **kw),
    "fgsm-rs": lambda m, x, y, **kw: fgsm(
        m, x, y, eps=EPS, alpha=1.25 * EPS, random_start=True, **kw
    ),
    "pgd-linf": lambda m, x, y, **kw: pgd(m, x, y, eps=EPS, alpha=0.025, steps=7, **kw),
    "pgd-l2": lambda m, x, y, **kw: pgd(
        m, x, y, eps=1.0, alpha=0.25, steps=7, norm="l2", restarts=2, **kw
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_inside_the_ball_and_the_range(name):
    x, y = _batch()
    x_adv = ATTACKS[name](_trained(), x, y, generator=torch.Generator().manual_seed(1))
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    d = (x_adv - x).flatten(1)
    if name == "pgd-l2":
        assert float(d.norm(dim=1).max()) <= 1.0 + 1e-5
    else:
        assert float(d.abs().max()) <= EPS + TOL
    assert float(d.abs().max()) > 0.5 * EPS  # it did move


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_eps_zero_returns_x(norm):
    x, y = _batch()
    out = pgd(_trained(), x, y, eps=0.0, alpha=0.01, steps=3, norm=norm)
    assert torch.equal(out, x)
    assert torch.equal(fgsm(_trained(), x, y, eps=0.0), x)


@pytest.mark.parametrize("name", ["fgsm-rs", "pgd-linf", "pgd-l2"])
def test_deterministic_given_a_generator(name):
    x, y = _batch()
    a = ATTACKS[name](_trained(), x, y, generator=torch.Generator().manual_seed(3))
    b = ATTACKS[name](_trained(), x, y, generator=torch.Generator().manual_seed(3))
    c = ATTACKS[name](_trained(), x, y, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_pgd_beats_fgsm_beats_clean_on_average():
    model = _trained()
    x, y = _batch()
    clean = _mean_ce(model, x, y)
    g = torch.Generator().manual_seed(0)
    f = _mean_ce(model, fgsm(model, x, y, eps=EPS), y)
    p = _mean_ce(model, pgd(model, x, y, eps=EPS, alpha=0.02, steps=20, generator=g), y)
    assert clean < f < p
    assert _accuracy(model, x, y) > 0.75
    assert _accuracy(model, pgd(model, x, y, eps=EPS, alpha=0.02, steps=20, generator=g), y) < 0.5


def test_model_mode_is_explicit_and_restored():
    seen: list[bool] = []

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(64, 10)
            self.drop = torch.nn.Dropout(0.0)

        def forward(self, x):
            seen.append(self.drop.training)
            return self.lin(self.drop(x))

    model = Probe().train()
    model.lin.eval()  # a mixed state must come back as it was
    x, y = _batch()
    pgd(model, x, y, eps=EPS, alpha=0.05, steps=2, generator=torch.Generator().manual_seed(0))
    assert seen == [False, False]
    assert model.training and model.drop.training and not model.lin.training
    seen.clear()
    fgsm(model, x, y, eps=EPS, mode="train")
    assert seen == [True]
    assert not model.lin.training
    model.eval()
    seen.clear()
    fgsm(model, x, y, eps=EPS, mode="as_is")
    assert seen == [False]
    assert model.lin.weight.grad is None  # gradients w.r.t. the input only


def test_errors_name_the_function_and_the_argument():
    x, y = _batch()
    m = _trained()
    with pytest.raises(ValueError, match=r"pgd: 'norm' must be one of 'linf', 'l2', got 'l1'"):
        pgd(m, x, y, eps=0.1, alpha=0.1, steps=1, norm="l1")
    with pytest.raises(ValueError, match=r"fgsm: 'mode' must be one of"):
        fgsm(m, x, y, eps=0.1, mode="test")
    with pytest.raises(ValueError, match=r"fgsm: 'eps' must be a number >= 0, got -0.1"):
        fgsm(m, x, y, eps=-0.1)
    with pytest.raises(ValueError, match=r"pgd: 'x' must be inside the data range"):
        pgd(m, x + 2.0, y, eps=0.1, alpha=0.1, steps=1)
    with pytest.raises(ValueError, match=r"pgd: 'restarts' must be 1 without a random start"):
        pgd(m, x, y, eps=0.1, alpha=0.1, steps=1, random_start=False, restarts=2)
    with pytest.raises(ValueError, match=r"fgsm: 'mode' must be 'as_is' when the model is a plain"):
        fgsm(lambda t: m(t), x, y, eps=0.1)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_stacked_equals_one_by_one(norm):
    torch.set_num_threads(1)
    k, seeds = 4, [0, 1, 2, 3]
    stacked = StackedMLP(seeds, 64, (16,), 10)
    x_all, y_all = _digits()
    # each model its own batch
    xs = torch.stack([x_all[i * 50 : (i + 1) * 50] for i in range(k)])
    ys = torch.stack([y_all[i * 50 : (i + 1) * 50] for i in range(k)])
    eps = 0.1 if norm == "linf" else 1.0
    kw = dict(eps=eps, alpha=eps / 4, steps=5, norm=norm, restarts=2)
    together = pgd_stacked(
        stacked, xs, ys, generator=[torch.Generator().manual_seed(s) for s in seeds], **kw
    )
    f_together = fgsm_stacked(
        stacked,
        xs,
        ys,
        eps=0.1,
        alpha=0.125,
        random_start=True,
        generator=[torch.Generator().manual_seed(s) for s in seeds],
    )
    for i, s in enumerate(seeds):
        alone_model = StackedMLP([s], 64, (16,), 10)

        def one(t, m=alone_model):
            return m(t.unsqueeze(0))[0]

        alone = pgd(
            one, xs[i], ys[i], mode="as_is", generator=torch.Generator().manual_seed(s), **kw
        )
        torch.testing.assert_close(together[i], alone, rtol=0, atol=1e-6)
        f_alone = fgsm(
            one,
            xs[i],
            ys[i],
            eps=0.1,
            alpha=0.125,
            random_start=True,
            mode="as_is",
            generator=torch.Generator().manual_seed(s),
        )
        torch.testing.assert_close(f_together[i], f_alone, rtol=0, atol=1e-6)


def test_stacked_needs_one_generator_per_model():
    stacked = StackedMLP([0, 1], 64, (8,), 10)
    x, y = _digits()
    with pytest.raises(TypeError, match=r"pgd_stacked: 'generator' must be a sequence of 2"):
        pgd_stacked(
            stacked,
            x[:20].view(2, 10, 64),
            y[:20].view(2, 10),
            eps=0.1,
            alpha=0.1,
            steps=1,
            generator=torch.Generator(),
        )


# -- oracle: torchattacks ----------------------------------------------------------------------


def _torchattacks():
    return pytest.importorskip(
        "torchattacks",
        reason="torchattacks is installed by .ci/run from constraints/data-wheels.txt "
        "(--no-deps; it imports without torchvision)",
    )


class _Image(torch.nn.Module):
    """The trained MLP on (B, 1, 8, 8) images (torchattacks' L2 attack expects 4-d images)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.flatten(1))


@pytest.mark.parametrize(
    "attack",
    [
        "fgsm",
        "pgd-linf",
        "pgd-l2",
    ],
)
def test_adversarial_accuracy_equals_torchattacks(attack):
    ta = _torchattacks()
    model = _trained()
    x, y = _batch()
    img = _Image(model).eval()
    if attack == "fgsm":
        ours = fgsm(model, x, y, eps=EPS)
        theirs = ta.FGSM(img, eps=EPS)(x.view(-1, 1, 8, 8), y)
    elif attack == "pgd-linf":
        ours = pgd(model, x, y, eps=EPS, alpha=0.02, steps=10, random_start=False)
        theirs = ta.PGD(img, eps=EPS, alpha=0.02, steps=10, random_start=False)(
            x.view(-1, 1, 8, 8), y
        )
    else:
        ours = pgd(model, x, y, eps=1.0, alpha=0.2, steps=10, norm="l2", random_start=False)
        theirs = ta.PGDL2(img, eps=1.0, alpha=0.2, steps=10, random_start=False)(
            x.view(-1, 1, 8, 8), y
        )
    acc_ours = _accuracy(model, ours, y)
    acc_theirs = _accuracy(model, theirs.flatten(1), y)
    assert abs(acc_ours - acc_theirs) * len(y) <= 1, (acc_ours, acc_theirs)
    assert acc_ours < _accuracy(model, x, y)  # the attack did something
    # the examples themselves agree almost everywhere
    close = ((ours - theirs.flatten(1)).abs() <= 1e-5).float().mean()
    assert float(close) > 0.99
