"""Multi-task weightings: forms, documented directions of movement, PCGrad's projection."""

from __future__ import annotations

import math

import pytest
import torch

from losslab.multitask import (
    DynamicWeightAveraging,
    EqualWeighting,
    GradNorm,
    UncertaintyWeighting,
    pcgrad_backward,
    project_conflicting,
)

# -- equal / uncertainty -----------------------------------------------------------------------


def test_equal_weighting_is_the_sum():
    losses = [torch.tensor(1.5), torch.tensor(0.25)]
    assert float(EqualWeighting(2)(losses)) == 1.75
    assert EqualWeighting(2).weights().tolist() == [1.0, 1.0]


def test_uncertainty_forms():
    uw = UncertaintyWeighting(2, task_types=("regression", "classification"))
    with torch.no_grad():
        uw.log_vars.copy_(torch.tensor([0.4, -0.3]))
    l1, l2 = 2.0, 0.7
    expected = 0.5 * math.exp(-0.4) * l1 + 0.2 + math.exp(0.3) * l2 - 0.15
    assert float(uw([torch.tensor(l1), torch.tensor(l2)]).detach()) == pytest.approx(
        expected, rel=1e-6
    )
    torch.testing.assert_close(uw.weights(), torch.tensor([0.5 * math.exp(-0.4), math.exp(0.3)]))


def test_uncertainty_noisier_task_gets_larger_sigma():
    # fixed task losses 4.0 and 0.25: the optimum is sigma^2 = L (regression) / 2L (classification)
    uw = UncertaintyWeighting(2, task_types=("regression", "classification"))
    opt = torch.optim.Adam(uw.parameters(), lr=0.05)
    losses = torch.tensor([4.0, 0.25])
    for _ in range(400):
        opt.zero_grad()
        uw(losses).backward()
        opt.step()
    sig2 = uw.sigmas() ** 2
    assert sig2[0] > 1.0 > sig2[1]  # sigma of the larger loss rose, of the smaller fell
    torch.testing.assert_close(sig2, torch.tensor([4.0, 0.5]), rtol=0.05, atol=0)
    assert uw.weights()[0] < uw.weights()[1]


def test_uncertainty_validation():
    with pytest.raises(
        ValueError,
        match=r"UncertaintyWeighting: 'task_types\[1\]' must be one of 'regression', 'classification', got 'ranking'",
    ):
        UncertaintyWeighting(2, task_types=("regression", "ranking"))
    with pytest.raises(
        ValueError,
        match=r"UncertaintyWeighting: 'task_losses' must be 2 losses \(one per task\), got 3",
    ):
        UncertaintyWeighting(2)([torch.tensor(1.0)] * 3)


# -- GradNorm ----------------------------------------------------------------------------------


def _two_task_losses(
    w: torch.nn.Parameter, scale1: float, scale2: float, g1: float = 1.0, g2: float = 1.0
):
    # L_i = scale_i * (1 + g_i * sum(w)) at w = 0: value scale_i, gradient norm on w scale_i*g_i*sqrt(n)
    s = w.sum()
    return [scale1 * (1 + g1 * s), scale2 * (1 + g2 * s)]


def test_gradnorm_favours_the_slower_task():
    w = torch.nn.Parameter(torch.zeros(4))
    gn = GradNorm(2, alpha=1.5, lr=0.05)
    gn.backward(_two_task_losses(w, 1.0, 1.0), [w])  # initial losses L(0) = (1, 1)
    for _ in range(30):  # task 1 has not improved, task 2 halved its loss: equal gradients
        w.grad = None
        gn.backward(_two_task_losses(w, 1.0, 0.5, g1=1.0, g2=2.0), [w])
    weights = gn.weights()
    assert weights[0] > 1.0 > weights[1]
    assert float(weights.sum()) == pytest.approx(2.0, abs=1e-5)


def test_gradnorm_alpha0_equalises_gradient_norms():
    w = torch.nn.Parameter(torch.zeros(3))
    gn = GradNorm(2, alpha=0.0, lr=0.05)
    for _ in range(200):  # task 1's gradient is 4x task 2's: its weight must fall toward 0.4
        w.grad = None
        gn.backward(_two_task_losses(w, 1.0, 1.0, g1=4.0, g2=1.0), [w])
    weights = gn.weights()
    assert weights[0] < weights[1]
    assert float(weights[0] * 4.0) == pytest.approx(float(weights[1]), rel=0.1)


def test_gradnorm_backward_fills_gradients_of_weighted_total():
    w = torch.nn.Parameter(torch.zeros(2))
    head = torch.nn.Parameter(torch.ones(1))
    gn = GradNorm(2)
    total = gn.backward([(w.sum() + 1) * head.sum(), 3 * w.sum() + 2], [w])
    assert float(total) == pytest.approx(3.0)
    torch.testing.assert_close(w.grad, torch.tensor([4.0, 4.0]))  # weights were 1 during backward
    torch.testing.assert_close(head.grad, torch.tensor([1.0]))


def test_gradnorm_validation():
    with pytest.raises(
        ValueError, match=r"GradNorm: 'alpha' must be a finite real number >= 0, got -1.0"
    ):
        GradNorm(2, alpha=-1.0)
    with pytest.raises(
        ValueError, match=r"GradNorm: 'lr' must be a finite real number > 0, got 0.0"
    ):
        GradNorm(2, lr=0.0)


# -- DWA -------------------------------------------------------------------------------------


def test_dwa_equal_for_two_epochs_then_favours_slower_task():
    dwa = DynamicWeightAveraging(2, temperature=2.0)
    assert dwa.weights().tolist() == [1.0, 1.0]
    dwa.end_epoch([1.0, 1.0])
    assert dwa.weights().tolist() == [1.0, 1.0]
    dwa.end_epoch([0.9, 0.5])  # task 1 fell by 10%, task 2 by 50%
    w = dwa.weights()
    assert w[0] > 1.0 > w[1]
    r = torch.tensor([0.9, 0.5])
    torch.testing.assert_close(w, 2 * torch.softmax(r / 2.0, 0))
    losses = [torch.tensor(2.0), torch.tensor(3.0)]
    assert float(dwa(losses)) == pytest.approx(float(w[0] * 2 + w[1] * 3))


def test_dwa_temperature_evens_out():
    hot, cold = (
        DynamicWeightAveraging(2, temperature=100.0),
        DynamicWeightAveraging(2, temperature=0.1),
    )
    for d in (hot, cold):
        d.end_epoch([1.0, 1.0])
        d.end_epoch([0.9, 0.5])
    assert float(hot.weights()[0] - hot.weights()[1]) < float(cold.weights()[0] - cold.weights()[1])


def test_dwa_validation():
    with pytest.raises(
        ValueError,
        match=r"DynamicWeightAveraging: 'temperature' must be a finite real number > 0, got 0.0",
    ):
        DynamicWeightAveraging(2, temperature=0.0)
    with pytest.raises(
        ValueError, match=r"DynamicWeightAveraging: 'epoch_losses' must be 2 values"
    ):
        DynamicWeightAveraging(2).end_epoch([1.0])


# -- PCGrad ----------------------------------------------------------------------------------


def test_projection_removes_conflict():
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])  # dot = -1: conflicting
    out = project_conflicting(g, generator=torch.Generator().manual_seed(0))
    # hand-computed: g1 - (-1/2) g2 = (0.5, 0.5); g2 - (-1/1) g1 = (0, 1)
    torch.testing.assert_close(out, torch.tensor([[0.5, 0.5], [0.0, 1.0]]))
    assert float(out[0] @ g[1]) >= -1e-7 and float(out[1] @ g[0]) >= -1e-7


def test_projection_many_tasks_removes_pairwise_conflicts_for_two_and_keeps_agreeing():
    g = torch.tensor([[1.0, 2.0, 0.0], [0.5, 1.0, 1.0]])  # dot > 0: untouched
    torch.testing.assert_close(project_conflicting(g), g)
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        pair = torch.randn(2, 5, generator=gen)
        out = project_conflicting(pair, generator=gen)
        assert float(out[0] @ pair[1]) >= -1e-5 and float(out[1] @ pair[0]) >= -1e-5


def test_pcgrad_backward_sums_projected_and_fills_heads():
    shared = torch.nn.Parameter(torch.zeros(2))
    head = torch.nn.Parameter(torch.ones(1))
    l1 = shared @ torch.tensor([1.0, 0.0]) + head.sum()
    l2 = shared @ torch.tensor([-1.0, 1.0])
    total = pcgrad_backward([l1, l2], [shared])
    assert float(total) == 1.0
    torch.testing.assert_close(shared.grad, torch.tensor([0.5, 1.5]))  # (0.5, 0.5) + (0, 1)
    torch.testing.assert_close(head.grad, torch.tensor([1.0]))
    shared.grad = None
    l1 = shared @ torch.tensor([1.0, 0.0])
    l2 = shared @ torch.tensor([-1.0, 1.0])
    pcgrad_backward([l1, l2], [shared], reduction="mean")
    torch.testing.assert_close(shared.grad, torch.tensor([0.25, 0.75]))


def test_pcgrad_no_conflict_equals_plain_backward():
    torch.manual_seed(0)
    shared = torch.nn.Parameter(torch.randn(3))
    a, b = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([0.5, 0.1, 1.0])
    pcgrad_backward([(shared * a).sum(), (shared * b).sum()], [shared])
    torch.testing.assert_close(shared.grad, a + b)


def test_pcgrad_validation():
    w = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(
        ValueError, match=r"pcgrad_backward: 'reduction' must be one of 'sum', 'mean', got 'none'"
    ):
        pcgrad_backward([w.sum(), w.sum()], [w], reduction="none")
