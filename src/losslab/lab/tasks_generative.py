"""Lab task "generative": a 2-D Gaussian mixture learned by a GAN (BCE), a WGAN-GP and a generator
trained directly on the Sinkhorn divergence (no critic).

Data: 8 Gaussian modes (std 0.1) evenly spaced on a ring of radius 2; each seed draws its own
train (1024), validation (256) and test (512) samples (mode labels are kept in ``y_*``, unused by
training). Every competitor trains the same generator, an MLP from 2-D standard normal noise to
2-D points (``Task.hidden`` layers, ReLU, linear output); the GANs add a critic of the same shape
with one linear output (no batch normalisation). All seeds (and learning rates) of one competitor
train at once as stacked models with per-model Adam (betas 0.5, 0.9, the usual GAN setting), the
critic at the same learning rate as its generator.

* GAN (BCE, "JS"): one discriminator step (``gan_discriminator_loss``) per generator step
  (``gan_generator_loss``, non-saturating).
* WGAN-GP: 5 critic steps (``wgan_critic_loss`` + ``gradient_penalty`` with weight 10; each extra
  critic step draws a fresh real batch with replacement) per generator step
  (``wgan_generator_loss``).
* Sinkhorn: the generator minimises ``sinkhorn_loss`` between each generated batch and a real
  batch of the same size. Any loss taking two point clouds ``(x, y)`` (e.g. ``mmd_loss``) can
  be trained this way with ``--loss``.

An epoch is one pass of the generator over the training split in full minibatches (the same
number of generator steps for every competitor). Training is the lab's engine
(:func:`~losslab.lab.engine.train_system`) with :class:`~losslab.lab.systems.generative.GenerativeSystem`:
every random draw of a run (initialisation, latent noise, resampled batches, the gradient
penalty's interpolation points, batch order) comes from that run's seed, so a stacked run equals
the run trained alone; ``--l1``/``--l2`` penalise the generator's and the critic's weights; the
test metrics are those of the selected checkpoint (``--select``, the best validation W1 by
default) as for every task. Metrics, on samples generated from fixed noise:

* ``w1_to_heldout`` (primary, lower is better): the exact 2-D Wasserstein-1 distance (Euclidean
  ground cost) between as many generated points as held-out points, solved as an assignment
  problem (``scipy.optimize.linear_sum_assignment``; for two uniform samples of equal size the
  optimal plan is a permutation). Two independent data samples of 512 points are themselves
  about 0.1 apart (the floor). Per epoch on 256 validation points (``val_w1_to_heldout``, also
  ``val_loss``), at the end on the 512 test points.
* ``mode_coverage``: the fraction of the 8 modes having at least 10% of their fair share
  (n / 8) of the generated points within 3 std of their centre.
* ``hq_fraction``: the fraction of generated points within 3 std of some mode ("high quality").

``train_loss`` is the generator's loss (not comparable across competitors: each has its own
scale); ``generalization_gap`` is W1 to the validation points minus W1 to as many training
points (positive: the generator is closer to what it saw).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from . import data as D
from .engine import train_system
from .tasks import Competitor, Task, register_task
from .train import RunKey, RunResult, TrainConfig

__all__ = [
    "gaussian_ring",
    "ring_centres",
    "w1_exact",
    "mode_metrics",
    "train_generative",
    "N_MODES",
    "MODE_STD",
    "RADIUS",
    "LATENT",
    "N_CRITIC",
    "GP_WEIGHT",
]

N_MODES, RADIUS, MODE_STD = 8, 2.0, 0.1
N_TRAIN, N_VAL, N_TEST = 1024, 256, 512
LATENT = 2
N_CRITIC = 5
GP_WEIGHT = 10.0
#: a mode is covered when it has at least this fraction of its fair share of generated points
MIN_SHARE = 0.1


# -- data -----------------------------------------------------------------------------------------


def ring_centres() -> np.ndarray:
    angles = 2 * np.pi * np.arange(N_MODES) / N_MODES
    return RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def gaussian_ring(seed: int) -> D.Dataset:
    """The 8-mode ring; each split is drawn from ``seed`` (deterministic), modes uniform."""
    rng = np.random.default_rng(seed)
    centres = ring_centres()

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        modes = rng.integers(0, N_MODES, size=n)
        pts = centres[modes] + MODE_STD * rng.standard_normal((n, 2))
        return torch.from_numpy(pts.astype(np.float32)), torch.from_numpy(modes.astype(np.int64))

    (xtr, ytr), (xva, yva), (xte, yte) = draw(N_TRAIN), draw(N_VAL), draw(N_TEST)
    return D.Dataset(
        xtr,
        ytr,
        xva,
        yva,
        xte,
        yte,
        num_classes=N_MODES,
        meta={
            "source": f"{N_MODES} Gaussians (std {MODE_STD:g}) on a ring of radius {RADIUS:g}, drawn from the seed",
            "centres": centres.tolist(),
            "mode_std": MODE_STD,
        },
    )


# -- metrics --------------------------------------------------------------------------------------


def w1_exact(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """Exact W1 (Euclidean cost) between two uniform samples of equal size, by assignment."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"w1_exact: 'b' must have the shape of 'a' {a.shape}, got {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def mode_metrics(
    samples: np.ndarray | torch.Tensor, centres: np.ndarray | None = None, std: float = MODE_STD
) -> tuple[float, float]:
    """(mode_coverage, hq_fraction) of generated points (see the module docstring)."""
    pts = np.asarray(samples, dtype=np.float64)
    centres = ring_centres() if centres is None else np.asarray(centres, dtype=np.float64)
    dist = np.linalg.norm(pts[:, None, :] - centres[None, :, :], axis=-1)
    close = dist.min(axis=1) <= 3 * std
    counts = np.bincount(dist.argmin(axis=1)[close], minlength=len(centres))
    need = max(1, math.ceil(MIN_SHARE * len(pts) / len(centres)))
    return float((counts >= need).mean()), float(close.mean())


# -- training -------------------------------------------------------------------------------------


def train_generative(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, D.Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Train one generator (and critic) per run key at once with the lab's engine
    (:class:`~losslab.lab.systems.generative.GenerativeSystem`; train_stack's signature)."""
    from .systems.generative import GenerativeSystem  # it builds on this module's metrics

    return train_system(
        GenerativeSystem(task, competitor, runs, datasets, config), task, competitor, runs, config
    )


register_task(
    Task(
        name="generative",
        kind="generative",
        description=f"2-D Gaussian mixture ({N_MODES} modes, std {MODE_STD:g}, on a ring of radius {RADIUS:g}): "
        "a generator from 2-D noise trained as a GAN (BCE), a WGAN-GP, or directly on the Sinkhorn "
        "divergence; exact W1 of generated to held-out points and mode coverage.",
        load=gaussian_ring,
        competitors=(
            Competitor(
                "GAN (BCE, non-saturating)",
                "gan_generator_loss",
                note="discriminator: gan_discriminator_loss (BCE with logits), 1 step per generator step",
            ),
            Competitor(
                "WGAN-GP",
                "wgan_generator_loss",
                note=f"critic: wgan_critic_loss + gradient_penalty (weight {GP_WEIGHT:g}), "
                f"{N_CRITIC} critic steps per generator step",
            ),
            Competitor(
                "Sinkhorn (no critic)",
                "sinkhorn_loss",
                {"blur": 0.1, "scaling": 0.3, "max_iter": 6, "tol": 1e-3},
                note="debiased, cost |x-y|^2/2, eps = blur^2; eps-scaling then at most a few "
                "iterations at the final blur (an approximate, geomloss-style solve)",
            ),
        ),
        metrics=("w1_to_heldout", "mode_coverage", "hq_fraction"),
        primary="w1_to_heldout",
        higher_is_better=False,
        epochs=20,
        full_epochs=100,
        hidden=(64, 64),
        batch_size=128,
        notes="An epoch is one pass of the generator over the 1024 training points (8 generator "
        "steps); W1 is exact (assignment between equal-size samples), with a floor of about 0.1 "
        "between two data samples; mode_coverage and hq_fraction use 3 mode std. The generalization gap is W1 to the "
        "validation points minus W1 to as many training points (not val_loss - train_loss: "
        "train_loss is each generator's own loss). See losslab.lab.tasks_generative for the protocol.",
        trainer=train_generative,
    )
)
