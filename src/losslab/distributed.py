r"""Gathering embeddings across ranks without losing their gradients.

``torch.distributed.all_gather`` returns tensors without autograd history, so a loss computed on
the gathered batch silently gives no gradient to the local embeddings through the gathered copy.
:func:`all_gather_with_grad` gathers, then puts the local tensor (with its graph) back into its
own slot. (The autograd-aware gather of ``torch.distributed.nn`` is deprecated in torch 2.13 and
not used.)

**Convention: every rank computes the global loss.** Each metric-learning loss of losslab is
computed on the batch it is given; given the gathered batch it is the loss of the whole global
batch (every pair, triplet or anchor across all ranks: contrastive pairs across ranks, triplets
mined over the global batch, NT-Xent/InfoNCE with all ranks' samples as negatives, SupCon with all
ranks' positives), and its value is the same on every rank. Rank r's backward gives the *exact*
gradient of that global loss w.r.t. its own shard: the other ranks' rows are constants here, but
each of them computes the gradient of its own rows itself.

**World-size factor under DDP.** ``DistributedDataParallel`` averages parameter gradients over
the W ranks. Rank r contributes :math:`\partial L/\partial x_r \cdot \partial x_r/\partial\theta`,
so the average is :math:`\frac{1}{W}\,\partial L/\partial\theta`: multiply the loss by
``world_size`` (:func:`world_size`) before ``backward`` to get the gradients of single-process
training on the concatenated batch (without it, training behaves as with the learning rate
divided by W). This holds for every reduction, since the loss itself is the global one.

ArcFace/CosFace need no gathering: each sample's loss involves only its own embedding and the
class centres (parameters that DDP averages like any other), so with equal local batch sizes the
DDP average of the local ``"mean"`` losses is the global mean.

Cost: each rank computes the O((W N)^2) loss of the global batch (the price of exact gradients
with no collective in the backward pass, which also means a rank that skips ``backward`` cannot
deadlock the others).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["all_gather_with_grad", "is_initialized", "world_size"]


def is_initialized() -> bool:
    """Whether a default process group exists (``torch.distributed`` available and initialised)."""
    return dist.is_available() and dist.is_initialized()


def world_size(group: dist.ProcessGroup | None = None) -> int:
    """The number of ranks in ``group`` (1 when not distributed)."""
    return dist.get_world_size(group) if is_initialized() else 1


def all_gather_with_grad(
    tensor: torch.Tensor, group: dist.ProcessGroup | None = None
) -> torch.Tensor:
    """Concatenate ``tensor`` of every rank along dim 0 (rank order); the local rows keep the graph.

    First dimensions may differ between ranks (each rank's size is gathered first, shards are
    padded to the largest for the collective and trimmed after); the other dimensions and the
    dtype must agree. Integer tensors (labels) are gathered the same way. Without an initialised
    process group, or with one rank, ``tensor`` is returned unchanged (a no-op).

    Example:
        >>> import torch
        >>> from losslab.distributed import all_gather_with_grad
        >>> x = torch.ones(2, 3, requires_grad=True)
        >>> all_gather_with_grad(x) is x  # not distributed: a no-op
        True
    """
    if not is_initialized():
        return tensor
    world = dist.get_world_size(group)
    if world == 1:
        return tensor
    rank = dist.get_rank(group)
    n = torch.tensor([tensor.shape[0]], dtype=torch.long, device=tensor.device)
    counts = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(counts, n, group=group)
    sizes = [int(c.item()) for c in counts]
    largest = max(sizes)
    local = tensor.detach()
    if local.shape[0] < largest:
        pad = local.new_zeros((largest - local.shape[0], *local.shape[1:]))
        local = torch.cat([local, pad])
    parts = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(parts, local.contiguous(), group=group)
    pieces = [p[:s] for p, s in zip(parts, sizes)]
    pieces[rank] = tensor  # the local shard, with its autograd graph
    return torch.cat(pieces)
