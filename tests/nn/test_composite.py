"""Composite losses: total == weighted sum (values and gradients), terms, schedules, algebra."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as TF

import losslab
from losslab import catalog
from losslab.nn import CompositeLoss, LossModule, constant, cosine_ramp, linear_ramp


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, generator=g, dtype=torch.float64)
    t = torch.randint(0, 2, (8,), generator=g).double()
    return x, t


def test_every_factory_module_is_a_loss_module():
    for name in catalog.names():
        spec = catalog.get(name)
        if (
            spec.module is not None
            and spec.module.__module__ == "losslab.nn"
            and hasattr(spec.module, "function")
        ):
            assert issubclass(spec.module, LossModule), name


def test_issue_example_total_equals_weighted_sum_and_its_gradient():
    crit = 0.7 * losslab.nn.MSELoss() + 0.3 * losslab.nn.BCEWithLogitsLoss()
    x, t = _data()
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    total = crit(xa, t)
    reference = 0.7 * TF.mse_loss(xb, t) + 0.3 * TF.binary_cross_entropy_with_logits(xb, t)
    torch.testing.assert_close(total, reference, rtol=1e-12, atol=0)
    total.backward()
    reference.backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-12, atol=0)
    assert total.dim() == 0


def test_terms_are_the_weighted_terms_and_sum_to_the_total():
    crit = 0.7 * losslab.nn.MSELoss() + 0.3 * losslab.nn.L1Loss()
    x, t = _data(1)
    parts = crit.terms(x, t)
    assert list(parts) == ["MSELoss", "L1Loss"]
    torch.testing.assert_close(parts["MSELoss"], 0.7 * TF.mse_loss(x, t))
    torch.testing.assert_close(parts["L1Loss"], 0.3 * TF.l1_loss(x, t))
    torch.testing.assert_close(sum(parts.values()), crit(x, t))
    assert crit.current_weights() == {"MSELoss": 0.7, "L1Loss": 0.3}


def test_algebra_nesting_scaling_sum_and_names():
    mse, l1 = losslab.nn.MSELoss(), losslab.nn.L1Loss()
    x, t = _data(2)
    nested = 2 * (0.5 * mse + l1) + mse  # 1*mse + 2*l1 + 1*mse
    assert list(nested.current_weights().items()) == [
        ("MSELoss", 1.0),
        ("L1Loss", 2.0),
        ("MSELoss_2", 1.0),
    ]
    torch.testing.assert_close(nested(x, t), 2 * TF.mse_loss(x, t) + 2 * TF.l1_loss(x, t))
    summed = sum([mse, l1])
    assert isinstance(summed, CompositeLoss)
    torch.testing.assert_close(summed(x, t), TF.mse_loss(x, t) + TF.l1_loss(x, t))
    # any nn.Module can join with +; names can be given explicitly
    mixed = mse + torch.nn.SmoothL1Loss()
    torch.testing.assert_close(mixed(x, t), TF.mse_loss(x, t) + TF.smooth_l1_loss(x, t))
    named = CompositeLoss({"recon": mse, "sparse": l1}, weights={"sparse": 0.1})
    assert named.current_weights() == {"recon": 1.0, "sparse": 0.1}
    # reduction='none' terms broadcast into a per-element total
    per = 0.5 * losslab.nn.MSELoss(reduction="none") + losslab.nn.L1Loss(reduction="none")
    torch.testing.assert_close(per(x, t), 0.5 * (x - t) ** 2 + (x - t).abs())


def test_operators_share_modules_and_leave_operands_unchanged():
    a = 0.5 * losslab.nn.MSELoss()
    b = 3 * a
    assert a.current_weights() == {"MSELoss": 0.5}
    assert b.current_weights() == {"MSELoss": 1.5}
    assert b.losses["MSELoss"] is a.losses["MSELoss"]


@pytest.mark.parametrize("ramp", [linear_ramp, cosine_ramp])
def test_schedules_hit_their_endpoints(ramp):
    s = ramp(0.2, 1.4, steps=10)
    assert s(0) == pytest.approx(0.2, abs=1e-15)
    assert s(10) == pytest.approx(1.4, abs=1e-15)
    assert s(1000) == pytest.approx(1.4, abs=1e-15)
    assert s(5) == pytest.approx(0.8, abs=1e-12)  # both are symmetric about the midpoint
    values = [s(k) for k in range(11)]
    assert values == sorted(values)  # monotone from start to end


def test_linear_and_cosine_shapes():
    lin, cos = linear_ramp(0.0, 1.0, steps=4), cosine_ramp(0.0, 1.0, steps=4)
    assert [lin(k) for k in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    expected = [0.5 * (1 - math.cos(math.pi * k / 4)) for k in range(5)]
    assert [cos(k) for k in range(5)] == pytest.approx(expected, abs=1e-15)
    assert constant(0.3)(123) == 0.3
    assert (2 * lin)(2) == 1.0
    assert (lin * cos)(4) == 1.0


def test_composite_steps_its_schedules_and_forward_never_steps():
    crit = losslab.nn.MSELoss() + linear_ramp(0.0, 1.0, steps=4) * losslab.nn.L1Loss()
    x, t = _data(3)
    for _ in range(3):
        torch.testing.assert_close(crit(x, t), TF.mse_loss(x, t))  # weight stays 0 without step()
    assert crit.steps_taken == 0
    crit.step(2)
    torch.testing.assert_close(crit(x, t), TF.mse_loss(x, t) + 0.5 * TF.l1_loss(x, t))
    crit.step(10)
    assert crit.current_weights()["L1Loss"] == 1.0


def test_step_counter_is_saved_in_the_state_dict():
    crit = losslab.nn.MSELoss() + cosine_ramp(1.0, 0.0, steps=10) * losslab.nn.L1Loss()
    crit.step(7)
    fresh = losslab.nn.MSELoss() + cosine_ramp(1.0, 0.0, steps=10) * losslab.nn.L1Loss()
    fresh.load_state_dict(crit.state_dict())
    assert fresh.steps_taken == 7
    assert fresh.current_weights() == crit.current_weights()


def test_penalty_terms_are_called_without_inputs():
    net = torch.nn.Linear(3, 1)
    crit = losslab.nn.MSELoss() + losslab.nn.L2Penalty(net, weight=0.01)
    x, y = torch.randn(5, 3), torch.randn(5)
    out = net(x).squeeze(1)
    expected = TF.mse_loss(out, y) + 0.01 * net.weight.square().sum()
    torch.testing.assert_close(crit(out, y), expected)
    assert sorted(crit.terms(out, y)) == ["L2Penalty", "MSELoss"]


@pytest.mark.parametrize(
    "make, exc, message",
    [
        (
            lambda: linear_ramp(0.0, 1.0, steps=0),
            ValueError,
            r"^linear_ramp: 'steps' must be an integer >= 1, got 0",
        ),
        (
            lambda: cosine_ramp(0.0, 1.0, steps=2.5),
            TypeError,
            r"^cosine_ramp: 'steps' must be an integer >= 1, got 2.5",
        ),
        (
            lambda: constant(float("nan")),
            ValueError,
            r"^constant: 'weight' must be a finite real number, got nan",
        ),
        (
            lambda: CompositeLoss([]),
            ValueError,
            r"^CompositeLoss: 'losses' must be at least one loss module",
        ),
        (
            lambda: CompositeLoss([losslab.nn.MSELoss()], weights=[1.0, 2.0]),
            ValueError,
            r"^CompositeLoss: 'weights' must be one weight per loss \(1\), got 2",
        ),
        (
            lambda: CompositeLoss([losslab.nn.MSELoss()], weights=["a"]),
            TypeError,
            r"^CompositeLoss: 'weight' must be a finite real number, got 'a'",
        ),
    ],
)
def test_invalid_weights_and_schedules_rejected(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


def test_multiplying_by_a_tensor_or_string_is_a_type_error():
    with pytest.raises(TypeError):
        torch.tensor(2.0) * losslab.nn.MSELoss()  # noqa: B018
    with pytest.raises(TypeError):
        "x" * losslab.nn.MSELoss()  # noqa: B018
