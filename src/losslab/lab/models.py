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

__all__ = ["StackedMLP", "StackedCNN", "StackedAdam", "StackedSGD", "make_optimizer", "make_model"]


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


class StackedCNN(torch.nn.Module):
    """M independent small CNNs (conv3x3-ReLU-maxpool twice, then a linear layer), run together.

    The M models are the groups of grouped convolutions: model m only ever sees channels of
    group m, so the models stay independent. Inputs are flat features reshaped to
    ``image_shape`` (C, H, W).
    """

    def __init__(
        self,
        seeds: Sequence[int],
        image_shape: Sequence[int],
        out_dim: int,
        channels: tuple[int, int] = (8, 16),
    ):
        super().__init__()
        self.num_models = m = len(seeds)
        self.image_shape = tuple(int(v) for v in image_shape)
        c, h, w = self.image_shape
        c1, c2 = channels
        flat = c2 * (h // 4) * (w // 4)
        conv1, conv2, fc = [], [], []
        for seed in seeds:
            g = torch.Generator().manual_seed(int(seed))
            conv1.append(self._uniform(g, (c1, c, 3, 3), c * 9))
            conv2.append(self._uniform(g, (c2, c1, 3, 3), c1 * 9))
            fc.append(self._uniform(g, (flat, out_dim), flat))
        # every parameter leads with the model dimension M (the optimiser relies on it)
        self.w1 = torch.nn.Parameter(torch.stack([t[0] for t in conv1]))  # (M, c1, c, 3, 3)
        self.b1 = torch.nn.Parameter(torch.stack([t[1] for t in conv1]))
        self.w2 = torch.nn.Parameter(torch.stack([t[0] for t in conv2]))  # (M, c2, c1, 3, 3)
        self.b2 = torch.nn.Parameter(torch.stack([t[1] for t in conv2]))
        self.w3 = torch.nn.Parameter(torch.stack([t[0] for t in fc]))  # (M, flat, out)
        self.b3 = torch.nn.Parameter(torch.stack([t[1] for t in fc]))
        self._m = m

    @staticmethod
    def _uniform(
        g: torch.Generator, shape: tuple[int, ...], fan_in: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        bound = 1.0 / math.sqrt(fan_in)
        w = (torch.rand(*shape, generator=g) * 2 - 1) * bound
        b = (torch.rand(shape[0] if len(shape) == 4 else shape[-1], generator=g) * 2 - 1) * bound
        return w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self._m
        c, h, w = self.image_shape
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(m, *x.shape)
        b = x.shape[1]
        img = x.reshape(m, b, c, h, w).transpose(0, 1).reshape(b, m * c, h, w)
        f = torch.nn.functional
        z = f.conv2d(img, self.w1.flatten(0, 1), self.b1.flatten(), padding=1, groups=m)
        z = f.max_pool2d(torch.relu(z), 2)
        z = f.conv2d(z, self.w2.flatten(0, 1), self.b2.flatten(), padding=1, groups=m)
        z = f.max_pool2d(torch.relu(z), 2)
        z = z.reshape(b, m, -1).transpose(0, 1)  # (M, B, flat)
        return torch.matmul(z, self.w3) + self.b3.unsqueeze(1)

    def weight_tensors(self) -> list[torch.Tensor]:
        return [self.w1, self.w2, self.w3]


def make_model(
    architecture: str,
    seeds: Sequence[int],
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    image_shape: Sequence[int] | None = None,
) -> torch.nn.Module:
    if architecture == "mlp":
        return StackedMLP(seeds, in_dim, hidden, out_dim)
    if architecture == "cnn":
        if image_shape is None:
            raise ValueError(
                "compare: '--model cnn' needs an image task (digits, fashion-mnist), "
                "got a task without an image shape"
            )
        return StackedCNN(seeds, image_shape, out_dim)
    raise ValueError(f"compare: '--model' must be one of 'mlp', 'cnn', got {architecture!r}")


def _shape_for(lr: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return lr.view(-1, *([1] * (p.dim() - 1)))


class StackedAdam:
    """Adam (Kingma & Ba 2015) with one learning rate per stacked model and an active mask."""

    def __init__(
        self,
        params: Sequence[torch.nn.Parameter],
        lr: torch.Tensor,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
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
        step_size = (self.lr / (1 - self.b1**t)).float()
        bc2_sqrt = (1 - self.b2**t).sqrt().float()
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

    def __init__(
        self, params: Sequence[torch.nn.Parameter], lr: torch.Tensor, momentum: float = 0.9
    ):
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
