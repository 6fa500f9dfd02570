"""The adversarial-robustness system: a stacked MLP/CNN classifier trained on attacked inputs.

One training step computes each model's adversarial-training objective with
:func:`losslab.adversarial.adversarial_training_loss` on its own batch, for all M stacked models
in one batched pass (the attack's forward/backward passes included), then one masked update;
``method=None`` trains on clean inputs with the competitor's loss (the task's plain baseline).

Every epoch, :meth:`evaluate` measures each model's accuracy under a PGD attack on its held-out
validation rows (:data:`MONITOR`): it is the validation primary metric (model selection, early
stopping) and the series the catastrophic-overfitting flag reads
(:func:`losslab.adversarial.collapse_epoch`). The train and validation losses of the history are
the clean cross-entropy (the same quantity for every competitor); the training objective's mean
is the extra series ``adv_step_loss``.

Test metrics at the current parameters: ``clean_accuracy``; ``robust_accuracy`` under
:data:`TEST_ATTACK` (PGD-20 with 3 restarts: stronger than any training attack); the accuracy
under PGD at each of :data:`EPS_GRID` (``robust_vs_eps``, kept in :attr:`eps_curve` for the
run's curves); ``passes_per_step`` (forward-backward passes per training step).

Randomness: the training attack of model ``i`` draws from a generator seeded
``stream_seed(seed_i, NOISE)`` (advanced by training only); every evaluation attack draws from a
fresh generator seeded ``stream_seed(seed_i, EXTRA)``, so evaluating depends only on the current
parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ...adversarial import (
    adversarial_training_loss,
    attack_passes,
    per_sample_cross_entropy,
    pgd_stacked,
)
from ..data import Dataset
from ..engine import EpochStats, Evaluation, StepOutput, masked_update
from ..seeds import EXTRA, NOISE, stream_seed
from .mlp import MLPSystem

if TYPE_CHECKING:
    from ..tasks import Competitor, Task
    from ..train import RunKey, TrainConfig

__all__ = [
    "AdversarialSystem",
    "Attack",
    "EPS",
    "EPS_GRID",
    "MONITOR",
    "TEST_ATTACK",
    "TRAIN_STEPS",
]

#: the attack radius, L-infinity, in pixel units (pixels in [0, 1]): 0.1 = 1.6 of digits' 16 grey levels
EPS = 0.1
#: PGD steps of the training attacks (step size 2.5 eps / steps, Madry et al.'s rule)
TRAIN_STEPS = 5
#: the radii of the accuracy-vs-epsilon curve
EPS_GRID = (0.0, 0.05, 0.1, 0.15, 0.2)


@dataclass(frozen=True)
class Attack:
    """A PGD (L-infinity) evaluation attack: ``steps`` steps of ``alpha_per_eps * eps``."""

    steps: int
    alpha_per_eps: float
    restarts: int

    def describe(self) -> str:
        r = f", {self.restarts} random restarts" if self.restarts > 1 else ", 1 random start"
        return f"PGD-{self.steps} (step {self.alpha_per_eps:g} eps{r})"


#: the per-epoch monitor on the validation rows (model selection and the collapse flag)
MONITOR = Attack(steps=10, alpha_per_eps=0.25, restarts=1)
#: the test attack: stronger than every training attack (more steps, restarts)
TEST_ATTACK = Attack(steps=20, alpha_per_eps=0.25, restarts=3)
#: the curve's attack at each radius of EPS_GRID
CURVE_ATTACK = Attack(steps=10, alpha_per_eps=0.25, restarts=1)


class AdversarialSystem(MLPSystem):
    """M stacked classifiers trained with one adversarial-training recipe (or clean, ``None``).

    Full batches only (``drop_last``): a short last batch makes the stacked and the lone batched
    matmuls round differently in the last bit, and sign-gradient attacks (TRADES' inner steps
    start where the KL gradient is tiny) amplify such bits into visible differences.
    """

    drop_last = True

    def __init__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, Dataset],
        config: TrainConfig,
        *,
        method: str | None,
        eps: float = EPS,
        steps: int = TRAIN_STEPS,
    ):
        super().__init__(task, competitor, runs, datasets, config)
        self.method, self.eps, self.steps = method, eps, steps
        self.beta = float(competitor.kwargs.get("beta", 6.0))
        self.gens = [torch.Generator().manual_seed(stream_seed(s, NOISE)) for s in self.seeds]
        self.passes = 1 if method is None else attack_passes(method, steps)
        self.eps_curve: list[list[tuple[float, float]]] = []

    def _objective(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.method is None:
            return self.loss_of(self.model(x), y)
        per = adversarial_training_loss(
            self.model,
            x,
            y,
            method=self.method,
            eps=self.eps,
            steps=self.steps,
            beta=self.beta,
            generator=self.gens,
            stacked=True,
        )
        return per.mean(dim=1)

    def check_inputs(self) -> None:
        d = self.data
        self._clean_loss(d.x_train[:, :2], d.y_train[:, :2])

    def step(
        self, idx: torch.Tensor, active: torch.Tensor, penalty: Callable[[], torch.Tensor]
    ) -> StepOutput:
        rows = self._rows
        x, y = self.data.x_train[rows, idx], self.data.y_train[rows, idx]
        losses = self._objective(x, y) + penalty()
        norms = masked_update(losses, active, self.parameters(), self.optimizers)
        return StepOutput(losses, norms)

    def _clean_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return per_sample_cross_entropy(self.model(x), y).mean(dim=1)

    def _accuracy(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return (self.model(x).argmax(-1) == y).double().mean(dim=1)

    def robust_accuracy(
        self, x: torch.Tensor, y: torch.Tensor, attack: Attack, eps: float
    ) -> torch.Tensor:
        """(M,) accuracy under ``attack`` at radius ``eps`` (fresh evaluation generators)."""
        if eps == 0:
            return self._accuracy(x, y)
        gens = [torch.Generator().manual_seed(stream_seed(s, EXTRA)) for s in self.seeds]
        with torch.enable_grad():
            x_adv = pgd_stacked(
                self.model,
                x,
                y,
                eps=eps,
                alpha=attack.alpha_per_eps * eps,
                steps=attack.steps,
                restarts=attack.restarts,
                generator=gens,
            )
        return self._accuracy(x_adv, y)

    def evaluate(self, stats: EpochStats) -> Evaluation:
        d = self.data
        with torch.no_grad():
            tr_loss = self._clean_loss(d.x_train, d.y_train)
            val_loss = self._clean_loss(d.x_val, d.y_val)
        robust = self.robust_accuracy(d.x_val, d.y_val, MONITOR, self.eps)
        return Evaluation(
            tr_loss,
            val_loss,
            robust,
            extra={
                "adv_step_loss": stats.step_loss,
                "val_clean_accuracy": self._accuracy(d.x_val, d.y_val),
            },
        )

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        d = self.data
        clean = self._accuracy(d.x_test, d.y_test)
        robust = self.robust_accuracy(d.x_test, d.y_test, TEST_ATTACK, self.eps)
        curve = [
            self.robust_accuracy(d.x_test, d.y_test, CURVE_ATTACK, e).tolist() for e in EPS_GRID
        ]
        self.eps_curve = [
            [(e, curve[j][i]) for j, e in enumerate(EPS_GRID)] for i in range(self.num_models)
        ]
        out: list[dict[str, float]] = []
        for i in range(self.num_models):
            if not ok[i]:
                out.append({})
                continue
            out.append(
                {
                    "robust_accuracy": float(robust[i]),
                    "clean_accuracy": float(clean[i]),
                    "passes_per_step": float(self.passes),
                }
            )
        return out
