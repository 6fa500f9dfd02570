"""Distributed (multi-process) tests of losslab.distributed: 2 gloo processes on CPU.

Each spawned rank holds a shard of one global batch, gathers it with ``all_gather_with_grad``
and computes the loss; the loss and the gradient of its shard must equal the single-process
computation on the concatenated batch. Equal and unequal shard sizes are covered. Skipped when
torch.distributed or its gloo backend is unavailable. One spawn of 2 processes (a few seconds).
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import losslab.functional as LF
from losslab.distributed import all_gather_with_grad, is_initialized, world_size

GLOO = dist.is_available() and dist.is_gloo_available()
distributed = pytest.mark.skipif(not GLOO, reason="torch.distributed with gloo is not available")

WORLD = 2
SPLITS = {"equal": (4, 4), "unequal": (3, 5)}
D = 3


def _batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, D, generator=g, dtype=torch.float64)
    v = x + 0.3 * torch.randn(8, D, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 3])
    return x, v, y


def _losses(x: torch.Tensor, v: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each loss as a function of (possibly gathered) embeddings x, second views v, labels y."""
    return {
        "contrastive": LF.contrastive_loss(x, y),
        "triplet_all": LF.batch_triplet_loss(x, y, margin=0.5),
        "triplet_hard": LF.batch_triplet_loss(x, y, margin=0.5, mining="hard", reduction="sum"),
        "triplet_semihard": LF.batch_triplet_loss(x, y, margin=0.5, mining="semihard"),
        "nt_xent": LF.nt_xent_loss(x, v, temperature=0.5),
        "info_nce": LF.info_nce_loss(x, v, temperature=0.5),
        "supcon": LF.supcon_loss(x, y, temperature=0.5),
    }


def _reference() -> dict[str, tuple[float, torch.Tensor]]:
    x, v, y = _batch()
    out = {}
    for name in _losses(x, v, y):
        xg = x.clone().requires_grad_(True)
        loss = _losses(xg, v, y)[name]
        (g,) = torch.autograd.grad(loss, xg)
        out[name] = (loss.item(), g)
    return out


def _worker(rank: int, init_file: str, results: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    out = {}
    try:
        x, v, y = _batch()
        for split, sizes in SPLITS.items():
            lo = sum(sizes[:rank])
            sl = slice(lo, lo + sizes[rank])
            for name in _losses(x, v, y):
                xl = x[sl].clone().requires_grad_(True)
                vl = v[sl].clone().requires_grad_(True)
                xg, vg = all_gather_with_grad(xl), all_gather_with_grad(vl)
                yg = all_gather_with_grad(y[sl])
                loss = _losses(xg, vg, yg)[name]
                loss.backward()
                out[(split, name)] = (loss.item(), xl.grad, (lo, lo + sizes[rank]))
        # DDP-style: a shared linear map, loss * world_size, gradients averaged over ranks
        w = torch.nn.Parameter(torch.eye(D, dtype=torch.float64) + 0.1)
        sl = slice(4 * rank, 4 * rank + 4)
        e = all_gather_with_grad(x[sl] @ w)
        (LF.supcon_loss(e, all_gather_with_grad(y[sl]), temperature=0.5) * world_size()).backward()
        dist.all_reduce(w.grad)
        out["ddp"] = w.grad / WORLD
        out["world"] = (is_initialized(), world_size())
    finally:
        dist.destroy_process_group()
    torch.save(out, f"{results}/rank{rank}.pt")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    mp.spawn(_worker, args=(str(tmp / "init"), str(tmp)), nprocs=WORLD, join=True)
    return [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@distributed
@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize("name", list(_reference()))
def test_distributed_loss_and_gradient_equal_single_process(ranks, split, name):
    value, grad = _reference()[name]
    for out in ranks:
        loss, g, (lo, hi) = out[(split, name)]
        assert loss == pytest.approx(value, rel=1e-12, abs=1e-12), (
            "every rank computes the global loss"
        )
        torch.testing.assert_close(g, grad[lo:hi], rtol=1e-10, atol=1e-12)


@distributed
def test_distributed_ddp_average_times_world_size_matches_single_process(ranks):
    x, _, y = _batch()
    w = torch.nn.Parameter(torch.eye(D, dtype=torch.float64) + 0.1)
    LF.supcon_loss(x @ w, y, temperature=0.5).backward()
    for out in ranks:
        assert out["world"] == (True, WORLD)
        torch.testing.assert_close(out["ddp"], w.grad, rtol=1e-10, atol=1e-12)


def test_not_initialised_is_a_no_op():
    x = torch.randn(3, 2, requires_grad=True)
    assert not is_initialized() and world_size() == 1
    assert all_gather_with_grad(x) is x
