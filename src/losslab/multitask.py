r"""Weighting several task losses of one multi-task model.

Every helper takes the list of per-task scalar losses of one step (a sequence of 0-d tensors or a
1-d tensor) and gives a total to backpropagate, or does the backward pass itself where the method
works on gradients:

* :class:`EqualWeighting` — the baseline: :math:`\sum_i L_i`.
* :class:`UncertaintyWeighting` — Kendall, Gal & Cipolla (2018): a learned log-variance per task.
* :class:`GradNorm` — Chen et al. (2018): weights adapted so that the weighted tasks' gradient
  norms on the shared parameters follow their relative training rates.
* :class:`DynamicWeightAveraging` — Liu, Johns & Davison (2019): weights from how fast each loss
  fell over the last two epochs.
* :func:`pcgrad_backward` — Yu et al. (2020): per-task gradients with conflicting components
  projected away, then summed (default) or averaged.

All weightings expose ``weights()`` (the current per-task multipliers, a detached 1-d tensor) so a
training loop can log them. None of them changes its state while computing a total: state moves
only in the explicitly named update methods (``GradNorm.backward``, ``DynamicWeightAveraging.end_epoch``)
or through the caller's optimiser (``UncertaintyWeighting``'s parameters).

Example:
    >>> import torch
    >>> from losslab.multitask import UncertaintyWeighting
    >>> uw = UncertaintyWeighting(2, task_types=("regression", "classification"))
    >>> float(uw([torch.tensor(2.0), torch.tensor(1.0)]).detach())  # 0.5 * 2 + 1 * 1 at s = 0
    2.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._validation import Param, Raw, fail

__all__ = [
    "EqualWeighting",
    "UncertaintyWeighting",
    "GradNorm",
    "DynamicWeightAveraging",
    "pcgrad_backward",
    "project_conflicting",
]

_NUM_TASKS = Param("int", "number of tasks", ge=1)
TASK_TYPES = ("regression", "classification")


def _check_num_tasks(name: str, num_tasks: int) -> None:
    _NUM_TASKS.check(name, "num_tasks", num_tasks)


def _stack_losses(
    name: str, task_losses: Sequence[torch.Tensor] | torch.Tensor, num_tasks: int
) -> torch.Tensor:
    """The task losses as one 1-d tensor of length ``num_tasks`` (the graph kept)."""
    if isinstance(task_losses, torch.Tensor):
        losses = task_losses
        if losses.dim() != 1:
            fail(
                name,
                "task_losses",
                f"a 1-d tensor or a sequence of {num_tasks} scalar losses",
                Raw(f"a tensor of shape {tuple(losses.shape)}"),
            )
    else:
        items = list(task_losses)
        for i, t in enumerate(items):
            if not isinstance(t, torch.Tensor) or t.numel() != 1 or not t.is_floating_point():
                fail(
                    name,
                    f"task_losses[{i}]",
                    "a scalar floating-point tensor",
                    Raw(
                        type(t).__name__
                        if not isinstance(t, torch.Tensor)
                        else f"shape {tuple(t.shape)}, {t.dtype}"
                    ),
                )
        if not items:
            fail(
                name,
                "task_losses",
                f"a sequence of {num_tasks} scalar losses",
                Raw("an empty sequence"),
            )
        losses = torch.stack([t.reshape(()) for t in items])
    if losses.numel() != num_tasks:
        fail(name, "task_losses", f"{num_tasks} losses (one per task)", Raw(f"{losses.numel()}"))
    return losses


# -- equal weights ---------------------------------------------------------------------------


class EqualWeighting:
    r"""The baseline: every task has weight 1, total :math:`\sum_i L_i`."""

    def __init__(self, num_tasks: int) -> None:
        _check_num_tasks("EqualWeighting", num_tasks)
        self.num_tasks = num_tasks

    def weights(self) -> torch.Tensor:
        return torch.ones(self.num_tasks)

    def __call__(self, task_losses: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        return _stack_losses("EqualWeighting", task_losses, self.num_tasks).sum()


# -- uncertainty weighting ---------------------------------------------------------------------


class UncertaintyWeighting(torch.nn.Module):
    r"""Homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla 2018).

    Each task has a learned :math:`s_i = \log \sigma_i^2` (parameter ``log_vars``, initialised at
    0) and contributes

    * regression (Gaussian likelihood): :math:`\tfrac12 e^{-s_i} L_i + \tfrac12 s_i`
      (= :math:`L_i / (2\sigma_i^2) + \log\sigma_i`);
    * classification (softmax with temperature :math:`\sigma^2`):
      :math:`e^{-s_i} L_i + \tfrac12 s_i` (= :math:`L_i / \sigma_i^2 + \log\sigma_i`).

    Put the module's parameters in the optimiser with the model's. Direction of movement: for a
    fixed loss the total is minimised at :math:`\sigma_i^2 = L_i` (regression) or
    :math:`\sigma_i^2 = 2 L_i` (classification), so a task with a larger (noisier) loss gets a
    larger :math:`\sigma_i` and a smaller weight. The log-variance form keeps :math:`\sigma > 0`
    without constraints and the total finite for any :math:`s`.

    Args:
        num_tasks: number of tasks.
        task_types: ``"regression"`` or ``"classification"`` per task (default: all regression).

    References:
        Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for
        Scene Geometry and Semantics", CVPR 2018.
    """

    def __init__(self, num_tasks: int, task_types: Sequence[str] | None = None) -> None:
        super().__init__()
        name = "UncertaintyWeighting"
        _check_num_tasks(name, num_tasks)
        types = tuple(task_types) if task_types is not None else ("regression",) * num_tasks
        if len(types) != num_tasks:
            fail(name, "task_types", f"{num_tasks} entries (one per task)", list(types))
        for i, t in enumerate(types):
            if t not in TASK_TYPES:
                fail(
                    name, f"task_types[{i}]", "one of " + ", ".join(repr(c) for c in TASK_TYPES), t
                )
        self.num_tasks = num_tasks
        self.task_types = types
        self.log_vars = torch.nn.Parameter(torch.zeros(num_tasks))
        self.register_buffer(
            "factors", torch.tensor([0.5 if t == "regression" else 1.0 for t in types])
        )

    def weights(self) -> torch.Tensor:
        """The multipliers of the task losses: ``factor * exp(-s)``."""
        return (self.factors * torch.exp(-self.log_vars)).detach()

    def sigmas(self) -> torch.Tensor:
        r""":math:`\sigma_i = e^{s_i / 2}` per task."""
        return torch.exp(0.5 * self.log_vars).detach()

    def forward(self, task_losses: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        losses = _stack_losses("UncertaintyWeighting", task_losses, self.num_tasks)
        s = self.log_vars.to(losses.dtype)
        return (self.factors.to(losses.dtype) * torch.exp(-s) * losses + 0.5 * s).sum()


# -- GradNorm --------------------------------------------------------------------------------


class GradNorm:
    r"""GradNorm (Chen, Badrinarayanan, Lee & Rabinovich 2018): balance gradient norms.

    Keeps positive task weights :math:`w_i` summing to ``num_tasks`` (all 1 at the start). Each
    :meth:`backward` call

    1. backpropagates :math:`\sum_i w_i L_i` into every parameter (the model's optimiser then
       steps as usual);
    2. measures :math:`G_i = \lVert \nabla_W\, w_i L_i \rVert` on the shared parameters :math:`W`
       (usually the last shared layer), the inverse training rates
       :math:`r_i = \tilde L_i / \operatorname{mean}_j \tilde L_j` with
       :math:`\tilde L_i = L_i / L_i(0)` (losses of the first call), and the targets
       :math:`\bar G\, r_i^{\alpha}` (held constant);
    3. takes one Adam step (learning rate ``lr``) on
       :math:`L_{grad} = \sum_i |G_i - \bar G\, r_i^{\alpha}|` w.r.t. the weights, then renormalises
       them to sum to ``num_tasks``.

    Direction: a task whose loss has fallen less (larger :math:`r_i`) or whose weighted gradient
    is smaller than its target gets a larger weight. ``alpha`` sets how strongly training rates
    are equalised (0: equal gradient norms). The weights are stored as logarithms, so steps keep
    them positive; the step direction equals the paper's (the gradient w.r.t. ``log w`` is
    ``w`` times the gradient w.r.t. ``w``).

    Args:
        num_tasks: number of tasks (>= 2 for anything to balance).
        alpha: restoring-force strength, ``>= 0`` (the paper uses 0.12 to 3; 1.5 by default).
        lr: learning rate of the weights' Adam, ``> 0``.

    Example:
        >>> import torch
        >>> from losslab.multitask import GradNorm
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> gn = GradNorm(2, alpha=1.5)
        >>> total = gn.backward([(w * 2).sum(), (w * w).sum()], [w])
        >>> gn.weights().sum().item()
        2.0

    References:
        Chen et al., "GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep
        Multitask Networks", ICML 2018.
    """

    def __init__(self, num_tasks: int, *, alpha: float = 1.5, lr: float = 0.025) -> None:
        name = "GradNorm"
        _check_num_tasks(name, num_tasks)
        Param("float", "restoring-force strength", ge=0).check(name, "alpha", alpha)
        Param("float", "learning rate of the weights", gt=0).check(name, "lr", lr)
        self.num_tasks = num_tasks
        self.alpha = float(alpha)
        self.lr = float(lr)
        self.log_w = torch.zeros(num_tasks)
        # Adam state of the weights, written out: constructing torch.optim.Adam imports
        # torch._dynamo (about 5 s the first time in a process), too much for a T-vector
        self._m = torch.zeros(num_tasks)
        self._v = torch.zeros(num_tasks)
        self._t = 0
        self.initial_losses: torch.Tensor | None = None

    def weights(self) -> torch.Tensor:
        return torch.exp(self.log_w).detach()

    def __call__(self, task_losses: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """The weighted total with the current weights (no update; see :meth:`backward`)."""
        losses = _stack_losses("GradNorm", task_losses, self.num_tasks)
        return (self.weights().to(losses.dtype) * losses).sum()

    def backward(
        self,
        task_losses: Sequence[torch.Tensor] | torch.Tensor,
        shared_params: Sequence[torch.Tensor],
    ) -> torch.Tensor:
        """Backpropagate the weighted total, update the weights; returns the total (detached)."""
        name = "GradNorm"
        losses = _stack_losses(name, task_losses, self.num_tasks)
        params = [p for p in shared_params if p.requires_grad]
        if not params:
            fail(
                name, "shared_params", "a non-empty sequence of tensors requiring grad", Raw("none")
            )
        w = self.weights().to(losses.dtype)
        # gradient norms of each unweighted task loss on the shared parameters
        norms = []
        for i in range(self.num_tasks):
            grads = torch.autograd.grad(losses[i], params, retain_graph=True, allow_unused=True)
            sq = sum(
                (g.detach().double().pow(2).sum() for g in grads if g is not None),
                torch.zeros((), dtype=torch.float64),
            )
            norms.append(sq.sqrt())
        g = torch.stack(norms).to(w.dtype)
        total = (w * losses).sum()
        total.backward()
        detached = losses.detach()
        if self.initial_losses is None:
            self.initial_losses = detached.clone()
        self._update(w, g, detached)
        return total.detach()

    def _update(self, w: torch.Tensor, g: torch.Tensor, losses: torch.Tensor) -> None:
        ratio = losses / self.initial_losses.to(losses.dtype)
        mean_ratio = ratio.mean()
        if not bool(torch.isfinite(ratio).all()) or float(mean_ratio) <= 0:
            return  # a zero initial loss or a task already solved: no training rate to balance
        rel = ratio / mean_ratio
        weighted = w * g
        target = weighted.mean() * rel.pow(self.alpha)
        # d|w_i g_i - t_i| / d log w_i = sign(w_i g_i - t_i) * g_i * w_i (targets held constant)
        grad = (torch.sign(weighted - target) * g * w).to(self.log_w.dtype)
        b1, b2, eps = 0.9, 0.999, 1e-8  # Adam (Kingma & Ba 2015) with torch's defaults
        self._t += 1
        self._m.lerp_(grad, 1 - b1)
        self._v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        m_hat = self._m / (1 - b1**self._t)
        v_hat = self._v / (1 - b2**self._t)
        log_w = self.log_w - self.lr * m_hat / (v_hat.sqrt() + eps)
        # renormalise: sum of weights = num_tasks
        self.log_w = log_w - (torch.logsumexp(log_w, 0) - math.log(self.num_tasks))


# -- Dynamic Weight Averaging ------------------------------------------------------------------


class DynamicWeightAveraging:
    r"""Dynamic Weight Averaging (Liu, Johns & Davison 2019).

    With :math:`L_i(t)` the average loss of task :math:`i` over epoch :math:`t`, the weights in
    epoch :math:`t` are

    .. math::
        w_i(t) = K \frac{\exp(r_i / T)}{\sum_j \exp(r_j / T)}, \qquad
        r_i = \frac{L_i(t-1)}{L_i(t-2)},

    (:math:`K` tasks, temperature :math:`T`); equal weights (all 1) until two epochs have been
    recorded. A task whose loss falls more slowly (larger :math:`r_i`) gets more weight; a larger
    temperature makes the weights more even. Call :meth:`end_epoch` with each epoch's average
    task losses.

    References:
        Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019.
    """

    def __init__(self, num_tasks: int, *, temperature: float = 2.0) -> None:
        name = "DynamicWeightAveraging"
        _check_num_tasks(name, num_tasks)
        Param("float", "softmax temperature", gt=0).check(name, "temperature", temperature)
        self.num_tasks = num_tasks
        self.temperature = float(temperature)
        self.history: list[torch.Tensor] = []

    def end_epoch(
        self, epoch_losses: Sequence[float] | Sequence[torch.Tensor] | torch.Tensor
    ) -> None:
        """Record one epoch's average loss per task (these set the next epoch's weights)."""
        name = "DynamicWeightAveraging"
        v = torch.as_tensor([float(x) for x in epoch_losses], dtype=torch.float64)
        if v.numel() != self.num_tasks:
            fail(
                name, "epoch_losses", f"{self.num_tasks} values (one per task)", Raw(f"{v.numel()}")
            )
        if not bool((torch.isfinite(v) & (v > 0)).all()):
            fail(name, "epoch_losses", "finite and > 0", v.tolist())
        self.history = [*self.history[-1:], v]

    def weights(self) -> torch.Tensor:
        if len(self.history) < 2:
            return torch.ones(self.num_tasks)
        prev2, prev1 = self.history
        r = prev1 / prev2
        return (self.num_tasks * torch.softmax(r / self.temperature, dim=0)).float()

    def __call__(self, task_losses: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        losses = _stack_losses("DynamicWeightAveraging", task_losses, self.num_tasks)
        return (self.weights().to(losses.dtype) * losses).sum()


# -- PCGrad ----------------------------------------------------------------------------------


def project_conflicting(
    grads: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""PCGrad's projection of per-task gradients ``grads`` (T, P); returns the projected (T, P).

    For each task :math:`i`, visiting the other tasks :math:`j` in a random order, whenever
    :math:`g_i^{PC} \cdot g_j < 0` the component along :math:`g_j` is removed:
    :math:`g_i^{PC} \leftarrow g_i^{PC} - \frac{g_i^{PC} \cdot g_j}{\lVert g_j \rVert^2} g_j`
    (projections against the *original* :math:`g_j`). Non-conflicting gradients are returned
    unchanged. With two tasks every projected gradient has a nonnegative dot product with the
    other task's gradient; with more, a later projection can reintroduce a small conflict with an
    earlier one (as in the paper).
    """
    if grads.dim() != 2:
        fail(
            "project_conflicting",
            "grads",
            "a 2-d tensor (tasks, parameters)",
            Raw(f"shape {tuple(grads.shape)}"),
        )
    t = grads.shape[0]
    out = grads.clone()
    sq = (grads * grads).sum(dim=1)
    for i in range(t):
        others = [j for j in range(t) if j != i]
        order = torch.randperm(len(others), generator=generator).tolist()
        for k in order:
            j = others[k]
            dot = torch.dot(out[i], grads[j])
            if dot < 0 and sq[j] > 0:
                out[i] = out[i] - (dot / sq[j]) * grads[j]
    return out


def pcgrad_backward(
    task_losses: Sequence[torch.Tensor] | torch.Tensor,
    params: Sequence[torch.Tensor],
    *,
    reduction: str = "sum",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""PCGrad (Yu et al. 2020): backward pass with conflicting gradients projected.

    The gradients of each task loss w.r.t. ``params`` (pass the *shared* parameters) are
    projected with :func:`project_conflicting` (random task order from ``generator``) and
    combined by ``reduction``: ``"sum"`` (default, as in the paper's algorithm) or ``"mean"``.
    The result is **added** to ``p.grad`` of ``params``; every other parameter (task-specific
    heads) receives the ordinary gradient of the summed (or averaged) task losses, so one call
    replaces ``total.backward()``. Returns that total, detached.

    References:
        Yu, Kumar, Gupta, Levine, Hausman & Finn, "Gradient Surgery for Multi-Task Learning",
        NeurIPS 2020.
    """
    name = "pcgrad_backward"
    Param("choice", "how projected gradients are combined", choices=("sum", "mean")).check(
        name, "reduction", reduction
    )
    losses = _stack_losses(name, task_losses, len(task_losses))
    plist = [p for p in params if p.requires_grad]
    if not plist:
        fail(name, "params", "a non-empty sequence of tensors requiring grad", Raw("none"))
    per_task = []
    for i in range(losses.numel()):
        grads = torch.autograd.grad(losses[i], plist, retain_graph=True, allow_unused=True)
        per_task.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for g, p in zip(grads, plist)
                ]
            )
        )
    projected = project_conflicting(torch.stack(per_task), generator=generator)
    combined = projected.sum(0) if reduction == "sum" else projected.mean(0)
    before = [None if p.grad is None else p.grad.clone() for p in plist]
    total = losses.sum() if reduction == "sum" else losses.mean()
    total.backward()  # the heads' gradients; the shared ones are overwritten below
    offset = 0
    for p, prev in zip(plist, before):
        n = p.numel()
        g = combined[offset : offset + n].reshape(p.shape).to(p.dtype)
        p.grad = g if prev is None else prev + g
        offset += n
    return total.detach()
