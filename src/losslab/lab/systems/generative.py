"""The generative system: a generator per run, and for the GANs its own critic, on the lab's engine.

The task (data, metrics, protocol constants) is :mod:`losslab.lab.tasks_generative`; this module
is how the engine trains it. Per model ``i`` of the stack, exactly as if it were trained alone:

* **Models**: the generator (a :class:`~losslab.lab.models.StackedMLP` from ``LATENT``-D noise
  to 2-D points) is initialised from ``seeds[i]``, the critic (same shape, one output) from
  ``stream_seed(seeds[i], EXTRA)`` (:mod:`losslab.lab.seeds`); each has its own stacked optimiser (Adam with betas (0.5, 0.9),
  the usual GAN setting, at the run's learning rate).
* **Noise**: one ``torch.Generator`` per model seeded with ``stream_seed(seeds[i], NOISE)`` draws,
  in this order, the fixed validation noise, the fixed test noise, then every training draw:
  latent noise, the critic's resampled real batches and the gradient penalty's interpolation
  points (one :func:`~losslab.functional.gradient_penalty` call per model, with that model's
  generator). The engine's batch order uses ``torch.Generator(seeds[i])``.
* **Step** (one generator step per batch; the engine drops a short last batch): the GAN (BCE)
  takes 1 discriminator step first, the WGAN-GP ``N_CRITIC`` critic steps (the first on the
  batch, the others on real batches drawn with replacement); a direct competitor (Sinkhorn,
  MMD, ...) has no critic and compares each generated batch with the real batch.
* **Penalties** (``--l1``/``--l2``): :meth:`GenerativeSystem.penalized_weights` are the
  generator's and the critic's weight matrices; the engine's ``penalty()`` (the sum over both)
  is added to the critic's loss and to the generator's loss, so each optimiser follows the
  penalty's gradient on its own weights (the reported training loss includes the whole penalty).
* **Divergence**: a model whose critic loss or gradient is non-finite is not updated (neither
  critic nor generator) and its step reports a NaN loss, so the engine marks it diverged.

``train_loss`` is the epoch's mean generator loss, ``val_loss`` and the primary metric the W1 of
the validation noise's points to the validation split; the test metrics (and the system's own
``generalization_gap``) come from the fixed test and validation noise.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ... import catalog
from ... import functional as LF
from ..data import Dataset
from ..engine import EpochStats, Evaluation, StepOutput, masked_update
from ..models import StackedAdam, StackedMLP, make_optimizer
from ..seeds import EXTRA, NOISE, stream_seed
from ..tasks_generative import GP_WEIGHT, LATENT, N_CRITIC, mode_metrics, w1_exact
from .base import call_per_model, loss_kwargs

if TYPE_CHECKING:
    from ..tasks import Competitor, Task
    from ..train import RunKey, TrainConfig

__all__ = ["GenerativeSystem", "adversary_of", "ADVERSARIES"]

#: the losses that train a GAN, and its adversary: "gan" (a BCE discriminator, 1 step per generator
#: step) or "wgan" (a critic with a gradient penalty, N_CRITIC steps); any other loss taking two
#: point clouds (x, y) trains the generator directly
ADVERSARIES = {
    "gan_generator_loss": "gan",
    "gan_discriminator_loss": "gan",
    "wgan_generator_loss": "wgan",
    "wgan_critic_loss": "wgan",
}


def adversary_of(loss: str) -> str | None:
    """The competitor's adversary ("gan", "wgan"), or None for a point-cloud loss trained directly."""
    if loss in ADVERSARIES:
        return ADVERSARIES[loss]
    first = list(inspect.signature(catalog.get(loss).function).parameters)[:2]
    if first != ["x", "y"]:
        raise ValueError(
            f"compare: loss {loss!r} takes ({', '.join(first)}), not two point clouds (x, y); "
            "the generative task trains GANs (gan_/wgan_ losses) or point-cloud losses "
            "such as sinkhorn_loss and mmd_loss"
        )
    return None


def _optimizer(config: TrainConfig, params: list[torch.nn.Parameter], lr: torch.Tensor):
    if config.optimizer == "adam":
        return StackedAdam(params, lr, betas=(0.5, 0.9))
    return make_optimizer(config.optimizer, params, lr)


def _one_model(net: StackedMLP, i: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Model ``i`` of a stacked one-output MLP as a scorer of (B, in) points -> (B,), on the
    stack's own parameters (its gradients reach row i only)."""

    def score(x: torch.Tensor) -> torch.Tensor:
        h = x
        last = len(net.weights) - 1
        for j, (w, b) in enumerate(zip(net.weights, net.biases)):
            h = torch.matmul(h, w[i]) + b[i]
            if j < last:
                h = torch.relu(h)
        return h[..., 0]

    return score


class GenerativeSystem:
    """A generator per run (and a critic for the GAN competitors); see the module docstring."""

    def __init__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, Dataset],
        config: TrainConfig,
    ):
        self.adversary = adversary_of(competitor.loss)
        self.task = task
        self.seeds = [int(r.seed) for r in runs]
        self.num_models = m = len(self.seeds)
        dss = self.datasets = [datasets[s] for s in self.seeds]
        self.x_train, self.x_val, self.x_test = (
            torch.stack([getattr(d, a) for d in dss]) for a in ("x_train", "x_val", "x_test")
        )
        self.train_size = n = int(self.x_train.shape[1])
        # full batches only; a batch larger than the split trains on the whole split each step
        self.drop_last = config.batch_size <= n
        self._rows = torch.arange(m).unsqueeze(1)
        hidden = competitor.hidden or config.hidden
        lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
        self.generator = StackedMLP(self.seeds, LATENT, hidden, 2)
        self.gen_opt = _optimizer(config, list(self.generator.parameters()), lr)
        self.critic: StackedMLP | None = None
        if self.adversary is not None:
            self.critic = StackedMLP([stream_seed(s, EXTRA) for s in self.seeds], 2, hidden, 1)
            self.critic_opt = _optimizer(config, list(self.critic.parameters()), lr)
            self._critic_one = [_one_model(self.critic, i) for i in range(m)]
        self.noise = [torch.Generator().manual_seed(stream_seed(s, NOISE)) for s in self.seeds]
        self.z_val = self._draw(int(self.x_val.shape[1]))
        self.z_test = self._draw(int(self.x_test.shape[1]))
        self.direct_fn: Callable[..., torch.Tensor] = catalog.get(competitor.loss).function
        self.direct_kwargs = loss_kwargs(competitor, dss)  # each model's from its own split
        self._live = torch.ones(m, dtype=torch.bool)
        self._tested: dict[int, tuple[list[torch.Tensor], dict[str, float]]] = {}

    # -- random draws (each model from its own generator) -------------------------------------

    def _draw(self, b: int) -> torch.Tensor:
        return torch.stack([torch.randn(b, LATENT, generator=g) for g in self.noise])

    def _resample(self, b: int) -> torch.Tensor:
        n = self.train_size
        idx = torch.stack([torch.randint(0, n, (b,), generator=g) for g in self.noise])
        return self.x_train[self._rows, idx]

    # -- losses ---------------------------------------------------------------------------------

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        if self.critic is None:  # only the GAN and WGAN-GP competitors have a critic
            raise TypeError(
                f"GenerativeSystem: adversary {self.adversary!r} trains without a critic"
            )
        return self.critic(x)[..., 0]

    def _adversarial_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """(M,) the critic's loss before the gradient penalty."""
        fn = LF.gan_discriminator_loss if self.adversary == "gan" else LF.wgan_critic_loss
        return fn(self._score(real), self._score(fake), reduction="none").mean(-1)

    def _critic_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        loss = self._adversarial_loss(real, fake)
        if self.adversary == "wgan":
            # one call per model: its interpolation points come from its own generator
            gp = torch.stack(
                [
                    LF.gradient_penalty(
                        self._critic_one[i],
                        real[i],
                        fake[i],
                        weight=GP_WEIGHT,
                        generator=self.noise[i],
                        reduction="none",
                    ).mean()
                    for i in range(self.num_models)
                ]
            )
            loss = loss + gp
        return loss

    def _generator_loss(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if self.adversary == "gan":
            return LF.gan_generator_loss(self._score(fake), reduction="none").mean(-1)
        if self.adversary == "wgan":
            return LF.wgan_generator_loss(self._score(fake), reduction="none").mean(-1)
        return call_per_model(self.direct_fn, fake, real, self.direct_kwargs)

    # -- the System protocol ----------------------------------------------------------------------

    def parameters(self) -> list[torch.Tensor]:
        critic = [] if self.critic is None else list(self.critic.parameters())
        return [*self.generator.parameters(), *critic]

    def penalized_weights(self) -> list[torch.Tensor]:
        critic = [] if self.critic is None else self.critic.weight_tensors()
        return [*self.generator.weight_tensors(), *critic]

    def check_inputs(self) -> None:
        real = self.x_train[:, :4]
        fake = self.generator(self.z_val[:, :4])  # the fixed noise: no training draw is used up
        if self.critic is not None:
            self._adversarial_loss(real, fake)
        self._generator_loss(fake, real)

    def step(
        self, idx: torch.Tensor, active: torch.Tensor, penalty: Callable[[], torch.Tensor]
    ) -> StepOutput:
        b = idx.shape[1]
        real = self.x_train[self._rows, idx]
        ok = active.clone()
        self._live = active.clone()
        if self.critic is not None:
            critic_params = list(self.critic.parameters())
            for k in range(N_CRITIC if self.adversary == "wgan" else 1):
                with torch.no_grad():
                    fake = self.generator(self._draw(b))
                batch = real if k == 0 else self._resample(b)
                losses = self._critic_loss(batch, fake) + penalty()
                norms = masked_update(losses, ok, critic_params, [(self.critic_opt, None)])
                ok &= torch.isfinite(losses.detach()) & torch.isfinite(norms)
        losses = self._generator_loss(self.generator(self._draw(b)), real) + penalty()
        norms = masked_update(losses, ok, list(self.generator.parameters()), [(self.gen_opt, None)])
        # a model whose critic failed was not updated; its NaN tells the engine it diverged
        failed = active & ~ok
        nan = torch.tensor(math.nan)
        return StepOutput(
            torch.where(failed, nan, losses.detach()), torch.where(failed, nan, norms)
        )

    def _w1(self, pts: np.ndarray, ref: torch.Tensor, i: int) -> float:
        return w1_exact(pts[i], ref[i, : len(pts[i])])

    def evaluate(self, stats: EpochStats) -> Evaluation:
        pts = self.generator(self.z_val).numpy()
        # the engine ignores the values of models that no longer train: skip their assignments
        w1 = [
            self._w1(pts, self.x_val, i) if self._live[i] else math.nan
            for i in range(self.num_models)
        ]
        return Evaluation(stats.step_loss, w1, w1)

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        test_pts, val_pts = self.generator(self.z_test).numpy(), self.generator(self.z_val).numpy()
        params = [p.detach() for p in self.generator.parameters()]
        out: list[dict[str, float]] = []
        for i, ds in enumerate(self.datasets):
            if not ok[i]:
                out.append({})
                continue
            # the engine asks twice (final, then selected parameters): the same generator, the same
            # metrics, without solving its three assignment problems again
            seen = self._tested.get(i)
            if seen is not None and all(
                torch.equal(a, p[i]) for a, p in zip(seen[0], params, strict=True)
            ):
                out.append(dict(seen[1]))
                continue
            coverage, hq = mode_metrics(
                test_pts[i], np.asarray(ds.meta["centres"]), ds.meta["mode_std"]
            )
            res = {
                "w1_to_heldout": self._w1(test_pts, self.x_test, i),
                "mode_coverage": coverage,
                "hq_fraction": hq,
                # W1 to the validation points minus W1 to as many training points (the task's rule)
                "generalization_gap": self._w1(val_pts, self.x_val, i)
                - self._w1(val_pts, self.x_train, i),
            }
            self._tested[i] = ([p[i].clone() for p in params], res)
            out.append(dict(res))
        return out
