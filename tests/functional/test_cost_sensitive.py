"""Cost-sensitive losses against independent references (scipy/numpy float64, torch's BCE)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from scipy.special import expit, softmax

import losslab.functional as LF


def _class_case(seed=0, n=7, c=4):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(n, c, generator=g, dtype=torch.float64), torch.randint(
        0, c, (n,), generator=g
    )


def test_zero_one_cost_gives_the_expected_zero_one_error():
    x, y = _class_case()
    zero_one = 1.0 - torch.eye(4, dtype=torch.float64)
    out = LF.cost_sensitive_cross_entropy(x, y, cost_matrix=zero_one, reduction="none")
    p = softmax(x.numpy(), axis=1)
    expected = 1.0 - p[np.arange(len(y)), y.numpy()]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-15)


def test_general_cost_matrix_equals_a_naive_loop():
    x, y = _class_case(1)
    g = torch.Generator().manual_seed(2)
    cost = 5 * torch.rand(4, 4, generator=g, dtype=torch.float64)
    out = LF.cost_sensitive_cross_entropy(x, y, cost_matrix=cost, reduction="none")
    p = softmax(x.numpy(), axis=1)
    expected = [sum(p[i, j] * cost[y[i], j].item() for j in range(4)) for i in range(len(y))]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert LF.cost_sensitive_cross_entropy(x, y, cost_matrix=cost).item() == pytest.approx(
        np.mean(expected), rel=1e-12
    )


def test_ce_weight_adds_cross_entropy():
    x, y = _class_case(3)
    cost = 1.0 - torch.eye(4, dtype=torch.float64)
    plain = LF.cost_sensitive_cross_entropy(x, y, cost_matrix=cost, reduction="none")
    mixed = LF.cost_sensitive_cross_entropy(x, y, cost_matrix=cost, ce_weight=0.2, reduction="none")
    torch.testing.assert_close(mixed, plain + 0.2 * TF.cross_entropy(x, y, reduction="none"))


def test_spatial_inputs():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 5), generator=g)
    cost = 1.0 - torch.eye(3, dtype=torch.float64)
    out = LF.cost_sensitive_cross_entropy(x, y, cost_matrix=cost, reduction="none")
    assert out.shape == (2, 5)
    p = torch.softmax(x, dim=1)
    torch.testing.assert_close(out, 1 - p.gather(1, y.unsqueeze(1)).squeeze(1))


def test_binary_cost_sensitive_equals_torch_bce_with_pos_weight():
    g = torch.Generator().manual_seed(5)
    x = 4 * torch.randn(20, generator=g, dtype=torch.float64)
    t = torch.randint(0, 2, (20,), generator=g).double()
    out = LF.binary_cost_sensitive_loss(x, t, fn_cost=10.0, fp_cost=2.0, reduction="none")
    reference = 2.0 * TF.binary_cross_entropy_with_logits(
        x, t, pos_weight=torch.tensor(5.0, dtype=torch.float64), reduction="none"
    )
    torch.testing.assert_close(out, reference, rtol=1e-12, atol=1e-14)
    same = LF.binary_cost_sensitive_loss(x, t, fn_cost=3.0, fp_cost=3.0)
    torch.testing.assert_close(same, 3.0 * TF.binary_cross_entropy_with_logits(x, t))


def test_binary_cost_sensitive_is_finite_for_huge_logits():
    x = torch.tensor([-1e4, 1e4], requires_grad=True)
    out = LF.binary_cost_sensitive_loss(x, torch.tensor([1.0, 0.0]), fn_cost=10.0, reduction="none")
    torch.testing.assert_close(out, torch.tensor([1e5, 1e4]))
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-10.0, 1.0]))


def test_binary_expected_cost_matches_numpy():
    x = np.linspace(-6, 6, 13)
    t = (np.arange(13) % 2).astype(np.float64)
    out = LF.binary_expected_cost_loss(
        torch.tensor(x), torch.tensor(t), fn_cost=10.0, fp_cost=1.0, reduction="none"
    )
    expected = 10.0 * t * (1 - expit(x)) + 1.0 * (1 - t) * expit(x)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_cost_sensitive_bce_puts_half_at_the_bayes_threshold():
    # Elkan 2001: with true probability q = c_FP / (c_FP + c_FN) both decisions cost the same; the
    # minimiser of the expected cost-weighted log loss is sigma(x) = 1/2 exactly there.
    fn_cost, fp_cost = 10.0, 1.0
    q = fp_cost / (fp_cost + fn_cost)
    x = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=100, tolerance_grad=1e-14)

    def closure():
        opt.zero_grad()
        risk = q * LF.binary_cost_sensitive_loss(
            x, torch.ones((), dtype=torch.float64), fn_cost=fn_cost, fp_cost=fp_cost
        ) + (1 - q) * LF.binary_cost_sensitive_loss(
            x, torch.zeros((), dtype=torch.float64), fn_cost=fn_cost, fp_cost=fp_cost
        )
        risk.backward()
        return risk

    opt.step(closure)
    assert torch.sigmoid(x).item() == pytest.approx(0.5, abs=1e-8)


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (
            lambda: LF.cost_sensitive_cross_entropy(
                torch.zeros(2, 3), torch.tensor([0, 1]), cost_matrix=torch.ones(2, 2)
            ),
            ValueError,
            r"^cost_sensitive_cross_entropy: 'cost_matrix' must be of shape \(C, C\) = \(3, 3\), got shape \(2, 2\)",
        ),
        (
            lambda: LF.cost_sensitive_cross_entropy(
                torch.zeros(2, 3), torch.tensor([0, 3]), cost_matrix=torch.ones(3, 3)
            ),
            ValueError,
            r"^cost_sensitive_cross_entropy: 'target' must be class indices in \[0, 2\], got 3",
        ),
        (
            lambda: LF.cost_sensitive_cross_entropy(
                torch.zeros(2, 3), torch.tensor([0, 1]), cost_matrix=-torch.ones(3, 3)
            ),
            ValueError,
            r"^cost_sensitive_cross_entropy: 'cost_matrix' must be a floating-point tensor with 2 dimension",
        ),
        (
            lambda: LF.binary_cost_sensitive_loss(
                torch.zeros(2), torch.tensor([0.0, 1.0]), fn_cost=-1.0
            ),
            ValueError,
            r"^binary_cost_sensitive_loss: 'fn_cost' must be a finite real number >= 0, got -1.0",
        ),
        (
            lambda: LF.binary_expected_cost_loss(torch.zeros(2), torch.tensor([0.0, 2.0])),
            ValueError,
            r"^binary_expected_cost_loss: 'target' must be probabilities in \[0, 1\], got 2.0",
        ),
    ],
)
def test_invalid_inputs_rejected_with_the_message_template(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
