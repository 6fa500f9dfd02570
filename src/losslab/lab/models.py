"""Many small models trained at once: stacked parameters and a per-model optimiser.

``StackedMLP`` holds M independent MLPs in one set of tensors (weights of shape (M, in, out)), so
a whole study row (every seed and learning rate of one loss) trains with batched matrix
products. Model ``m`` is initialised from its own seed exactly as a lone model with that seed would
be, and nothing couples the models: the training loss of the stack is the sum of the per-model
losses, so each model's gradient is its own.

torch's optimisers take one scalar learning rate per parameter group; the stack needs one per model
(a learning-rate sweep lives in one stack), so Adam and SGD are written here over the stacked
tensors, following torch's update formulas operation for operation (tested against
``torch.optim.Adam``/``SGD`` on a single model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["StackedMLP", "StackedAdam", "StackedSGD", "make_optimizer"]


class StackedMLP(torch.nn.Module):
    """M independent MLPs ``in -> hidden... -> out`` with ReLU, evaluated together."""

    def __init__(self, seeds: Sequence[int], in_dim: int, hidden: Sequence[int], out_dim: int):
        super().__init__()
        self.num_models = len(seeds)
        dims = [in_dim, *hidden, out_dim]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        per_model = [self._init_one(seed, dims) for seed in seeds]
        for layer in range(len(dims) - 1):
            self.weights.append(torch.nn.Parameter(torch.stack([p[layer][0] for p in per_model])))
            self.biases.append(torch.nn.Parameter(torch.stack([p[layer][1] for p in per_model])))

    @staticmethod
    def _init_one(seed: int, dims: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        # the default initialisation of torch.nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        g = torch.Generator().manual_seed(int(seed))
        out = []
        for fan_in, fan_out in zip(dims[:-1], dims[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            w = (torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound
            b = (torch.rand(fan_out, generator=g) * 2 - 1) * bound
            out.append((w, b))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in) shared by all models, or (M, B, in) one batch per model -> (M, B, out)."""
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.matmul(h, w) + b.unsqueeze(1)
            if i < last:
                h = torch.relu(h)
        return h

    def weight_tensors(self) -> list[torch.Tensor]:
        """The weight matrices (not biases): what L1/L2 penalties apply to."""
        return list(self.weights)

    def per_model_state(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.parameters()]


def _shape_for(lr: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return lr.view(-1, *([1] * (p.dim() - 1)))


class StackedAdam:
    """Adam (Kingma & Ba 2015) with one learning rate per stacked model and an active mask."""

    def __init__(self, params: Sequence[torch.nn.Parameter], lr: torch.Tensor,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr = lr.to(torch.float64)
        self.b1, self.b2 = betas
        self.eps = eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = torch.zeros(len(lr), dtype=torch.float64)

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        """One update of the active models; inactive ones (diverged, stopped) never move again."""
        self.t += active.to(torch.float64)
        t = torch.where(self.t > 0, self.t, 1.0)
        step_size = (self.lr / (1 - self.b1 ** t)).float()
        bc2_sqrt = (1 - self.b2 ** t).sqrt().float()
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad
            m.lerp_(g, 1 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            denom = (v.sqrt() / _shape_for(bc2_sqrt, p)).add_(self.eps)
            update = (m / denom).mul_(_shape_for(step_size, p))
            p.sub_(torch.where(_shape_for(active, p), update, 0.0))


class StackedSGD:
    """SGD with momentum (torch's formulation: buf = mu*buf + g; p -= lr*buf) per stacked model."""

    def __init__(self, params: Sequence[torch.nn.Parameter], lr: torch.Tensor, momentum: float = 0.9):
        self.params = list(params)
        self.lr = lr.to(torch.float64)
        self.momentum = momentum
        self.buf = [torch.zeros_like(p) for p in self.params]
        self.started = torch.zeros(len(lr), dtype=torch.bool)

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        for p, buf in zip(self.params, self.buf):
            if p.grad is None:
                continue
            keep = _shape_for(active, p)
            first = _shape_for(~self.started, p)
            new = torch.where(first, p.grad, buf * self.momentum + p.grad)
            buf.copy_(torch.where(keep, new, buf))
            update = _shape_for(self.lr, p).to(p.dtype) * buf
            p.sub_(torch.where(keep, update, torch.zeros_like(update)))
        self.started |= active


def make_optimizer(name: str, params: Sequence[torch.nn.Parameter], lr: torch.Tensor):
    if name == "adam":
        return StackedAdam(params, lr)
    if name == "sgd":
        return StackedSGD(params, lr)
    raise ValueError(f"compare: '--optimizer' must be one of 'adam', 'sgd', got {name!r}")
