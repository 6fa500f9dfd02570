"""The one reduction implementation."""

from __future__ import annotations

import pytest
import torch

from losslab._reduction import reduce_loss, upcast


def test_reductions():
    x = torch.tensor([1.0, 2.0, 3.0, 6.0])
    assert reduce_loss(x, "none") is x
    assert reduce_loss(x, "sum").item() == 12.0
    assert reduce_loss(x, "mean").item() == 3.0
    assert reduce_loss(x.view(2, 2), "batchmean").item() == 6.0
    assert reduce_loss(x, "mean", denominator=torch.tensor(6.0)).item() == 2.0


@pytest.mark.parametrize("reduction", ["mean", "batchmean"])
def test_empty_gives_connected_zero(reduction):
    x = torch.zeros(0, requires_grad=True)
    out = reduce_loss(x * 2, reduction)
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert x.grad.shape == (0,)


def test_zero_denominator_gives_connected_zero():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    out = reduce_loss(x * 0, "mean", denominator=torch.tensor(0.0))
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(x.grad, torch.zeros(2))


def test_unknown_reduction_message():
    with pytest.raises(
        ValueError, match=r"^focal: 'reduction' must be one of 'none', 'mean', 'sum', got 'avg'"
    ):
        reduce_loss(torch.ones(2), "avg", name="focal")


def test_upcast_only_half():
    assert upcast(torch.ones(1, dtype=torch.float16)).dtype == torch.float32
    assert upcast(torch.ones(1, dtype=torch.bfloat16)).dtype == torch.float32
    assert upcast(torch.ones(1, dtype=torch.float64)).dtype == torch.float64
