"""Penalties match their closed forms (float64 numpy) and skip exactly the excluded parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import losslab
import losslab.functional as LF


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.fc1 = torch.nn.Linear(4, 5).double()
        self.bn = torch.nn.BatchNorm1d(5).double()
        self.fc2 = torch.nn.Linear(5, 3).double()
        self.ln = torch.nn.LayerNorm(3).double()
        self.gn = torch.nn.GroupNorm(1, 3).double()
        self.embed = torch.nn.Embedding(6, 2).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))


def _np(t):
    return t.detach().numpy().astype(np.float64)


def _weights(net):
    return [_np(net.fc1.weight), _np(net.fc2.weight), _np(net.embed.weight)]


def test_default_exclusions_skip_biases_and_every_norm_layer():
    names = [n for n, _ in LF.penalized_parameters(Net())]
    assert names == ["fc1.weight", "fc2.weight", "embed.weight"]


def test_exclusion_switches_and_patterns():
    net = Net()
    with_bias = [n for n, _ in LF.penalized_parameters(net, exclude_bias=False)]
    assert with_bias == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "embed.weight"]
    with_norm = [n for n, _ in LF.penalized_parameters(net, exclude_norm=False)]
    assert with_norm == [
        "fc1.weight",
        "bn.weight",
        "fc2.weight",
        "ln.weight",
        "gn.weight",
        "embed.weight",
    ]
    assert [n for n, _ in LF.penalized_parameters(net, exclude=("embed.*",))] == [
        "fc1.weight",
        "fc2.weight",
    ]
    net.fc2.weight.requires_grad_(False)  # frozen parameters are not penalised
    assert [n for n, _ in LF.penalized_parameters(net)] == ["fc1.weight", "embed.weight"]


def test_l1_l2_elastic_net_match_closed_forms():
    net = Net()
    ws = _weights(net)
    l1 = sum(np.abs(w).sum() for w in ws)
    l2 = sum((w**2).sum() for w in ws)
    assert LF.l1_penalty(net, weight=0.3).item() == pytest.approx(0.3 * l1, rel=1e-12)
    assert LF.l2_penalty(net, weight=0.3).item() == pytest.approx(0.3 * l2, rel=1e-12)
    # scikit-learn's ElasticNet objective: alpha * rho * |w|_1 + 0.5 * alpha * (1 - rho) * |w|_2^2
    alpha, rho = 0.7, 0.25
    expected = alpha * rho * l1 + 0.5 * alpha * (1 - rho) * l2
    assert LF.elastic_net_penalty(net, alpha=alpha, l1_ratio=rho).item() == pytest.approx(
        expected, rel=1e-12
    )
    both = LF.l1_penalty(net, weight=alpha * rho) + LF.l2_penalty(net, weight=alpha * (1 - rho) / 2)
    assert LF.elastic_net_penalty(net, alpha=alpha, l1_ratio=rho).item() == pytest.approx(
        both.item(), rel=1e-12
    )


def test_including_biases_and_norms_adds_exactly_them():
    net = Net()
    base = LF.l1_penalty(net, weight=1.0).item()
    biases = np.abs(_np(net.fc1.bias)).sum() + np.abs(_np(net.fc2.bias)).sum()
    assert LF.l1_penalty(net, weight=1.0, exclude_bias=False).item() == pytest.approx(
        base + biases, rel=1e-12
    )
    norms = sum(np.abs(_np(m.weight)).sum() for m in (net.bn, net.ln, net.gn))
    assert LF.l1_penalty(net, weight=1.0, exclude_norm=False).item() == pytest.approx(
        base + norms, rel=1e-12
    )


def test_gradients_are_sign_and_2w():
    net = Net()
    LF.l1_penalty(net, weight=0.5).backward()
    torch.testing.assert_close(net.fc1.weight.grad, 0.5 * torch.sign(net.fc1.weight))
    assert net.fc1.bias.grad is None and net.bn.weight.grad is None
    net.zero_grad(set_to_none=True)
    LF.l2_penalty(net, weight=0.5).backward()
    torch.testing.assert_close(net.fc2.weight.grad, 2 * 0.5 * net.fc2.weight.detach())


def test_tensor_lists_named_pairs_and_per_model():
    a, b = torch.tensor([[1.0, -2.0], [3.0, 0.5]]), torch.tensor([-4.0, 0.0])
    assert LF.l1_penalty([a, b], weight=1.0).item() == pytest.approx(10.5)
    assert LF.l1_penalty(a, weight=2.0).item() == pytest.approx(13.0)
    assert LF.l2_penalty([("w", a), ("layer.bias", b)], weight=1.0).item() == pytest.approx(14.25)
    # stacked models (leading dimension M): one value per model, the lab's former inline formula
    g = torch.Generator().manual_seed(1)
    stacked = [torch.randn(3, 4, 5, generator=g), torch.randn(3, 5, 2, generator=g)]
    old_l1 = sum(w.reshape(3, -1).abs().sum(1) for w in stacked)
    old_l2 = sum((w.reshape(3, -1) ** 2).sum(1) for w in stacked)
    torch.testing.assert_close(LF.l1_penalty(stacked, weight=0.1, per_model=True), 0.1 * old_l1)
    torch.testing.assert_close(LF.l2_penalty(stacked, weight=0.1, per_model=True), 0.1 * old_l2)


def test_nothing_to_penalise_gives_zero():
    assert LF.l2_penalty(torch.nn.BatchNorm1d(3), weight=1.0).item() == 0.0


def test_half_precision_accumulates_in_float32():
    w = torch.full((1000,), 0.01, dtype=torch.float16)
    out = LF.l2_penalty([w], weight=1.0)
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(
        1000 * float(torch.tensor(0.01, dtype=torch.float16)) ** 2, rel=1e-5
    )


def test_modules_equal_functions_and_own_no_parameters():
    net = Net()
    for module, fn, kw in (
        (losslab.nn.L1Penalty(net, weight=0.1), LF.l1_penalty, {"weight": 0.1}),
        (
            losslab.nn.L2Penalty(net, weight=0.1, exclude_bias=False),
            LF.l2_penalty,
            {"weight": 0.1, "exclude_bias": False},
        ),
        (
            losslab.nn.ElasticNetPenalty(net, alpha=0.1, l1_ratio=0.3),
            LF.elastic_net_penalty,
            {"alpha": 0.1, "l1_ratio": 0.3},
        ),
    ):
        assert module.takes_inputs is False
        torch.testing.assert_close(module(), fn(net, **kw))
        assert list(module.parameters()) == [] and module.state_dict() == {}
    gen_penalty = losslab.nn.L2Penalty((p for p in [torch.ones(3)]), weight=1.0)
    assert gen_penalty().item() == gen_penalty().item() == 3.0  # a generator is not used up


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (
            lambda: LF.l1_penalty(Net(), weight=-1.0),
            ValueError,
            r"^l1_penalty: 'weight' must be a finite real number >= 0, got -1.0",
        ),
        (
            lambda: LF.l2_penalty(Net(), weight="1"),
            TypeError,
            r"^l2_penalty: 'weight' must be a finite real number >= 0, got '1'",
        ),
        (
            lambda: LF.elastic_net_penalty(Net(), alpha=1.0, l1_ratio=1.5),
            ValueError,
            r"^elastic_net_penalty: 'l1_ratio' must be a finite real number >= 0 and <= 1, got 1.5",
        ),
        (
            lambda: LF.l1_penalty(Net(), weight=1.0, exclude="bias"),
            TypeError,
            r"^l1_penalty: 'exclude' must be a sequence of glob patterns",
        ),
        (
            lambda: LF.l1_penalty(3.0, weight=1.0),
            TypeError,
            r"^l1_penalty: 'model_or_params' must be an nn.Module, a tensor or an iterable",
        ),
        (
            lambda: LF.l1_penalty([torch.ones(2, 3), torch.ones(3, 3)], weight=1.0, per_model=True),
            ValueError,
            r"^l1_penalty: 'model_or_params' must be tensors with the same leading model dimension M = 2",
        ),
        (
            lambda: losslab.nn.L1Penalty(Net(), weight=-0.1),
            ValueError,
            r"^l1_penalty: 'weight' must be",
        ),
    ],
)
def test_invalid_arguments_rejected_with_the_message_template(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
