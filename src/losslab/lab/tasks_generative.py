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

An epoch is one pass of the generator over the training split in minibatches (the same number of
generator steps for every competitor). Metrics, on samples generated from fixed noise:

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
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .. import catalog
from .. import functional as LF
from .._validation import content_checks
from . import data as D
from .models import StackedAdam, StackedMLP, make_optimizer
from .tasks import Competitor, Task, register_task
from .train import RunKey, RunResult, TrainConfig, run_diagnostics

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
GAN_STYLES = {"gan_generator_loss": "gan", "gan_discriminator_loss": "gan",
              "wgan_generator_loss": "wgan", "wgan_critic_loss": "wgan"}


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
    return D.Dataset(xtr, ytr, xva, yva, xte, yte, num_classes=N_MODES, meta={
        "source": f"{N_MODES} Gaussians (std {MODE_STD:g}) on a ring of radius {RADIUS:g}, drawn from the seed",
        "centres": centres.tolist(), "mode_std": MODE_STD,
    })


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


def mode_metrics(samples: np.ndarray | torch.Tensor, centres: np.ndarray | None = None,
                 std: float = MODE_STD) -> tuple[float, float]:
    """(mode_coverage, hq_fraction) of generated points (see the module docstring)."""
    pts = np.asarray(samples, dtype=np.float64)
    centres = ring_centres() if centres is None else np.asarray(centres, dtype=np.float64)
    dist = np.linalg.norm(pts[:, None, :] - centres[None, :, :], axis=-1)
    close = dist.min(axis=1) <= 3 * std
    counts = np.bincount(dist.argmin(axis=1)[close], minlength=len(centres))
    need = max(1, math.ceil(MIN_SHARE * len(pts) / len(centres)))
    return float((counts >= need).mean()), float(close.mean())


# -- training -------------------------------------------------------------------------------------


def _style(loss: str) -> str:
    if loss in GAN_STYLES:
        return GAN_STYLES[loss]
    import inspect

    fn = catalog.get(loss).function
    first = list(inspect.signature(fn).parameters)[:2]
    if first != ["x", "y"]:
        raise ValueError(f"compare: loss {loss!r} takes ({', '.join(first)}), not two point clouds (x, y); "
                         "the generative task trains GANs (gan_/wgan_ losses) or point-cloud losses "
                         "such as sinkhorn_loss and mmd_loss")
    return "direct"


def _optimizer(config: TrainConfig, params: list[torch.nn.Parameter], lr: torch.Tensor):
    if config.optimizer == "adam":
        return StackedAdam(params, lr, betas=(0.5, 0.9))
    return make_optimizer(config.optimizer, params, lr)


def _grads(per_model: torch.Tensor, active: torch.Tensor, params: list[torch.nn.Parameter],
           m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Set each parameter's gradient of the active models' summed losses; (ok, grad norm) per model."""
    total = torch.where(active, per_model, torch.zeros_like(per_model)).sum()
    grads = torch.autograd.grad(total, params, allow_unused=True)
    for p, g in zip(params, grads):
        p.grad = torch.zeros_like(p) if g is None else g
    with torch.no_grad():
        sq = sum(p.grad.reshape(m, -1).pow(2).sum(1) for p in params)
        ok = torch.isfinite(per_model.detach()) & torch.isfinite(sq)
    return ok, sq.sqrt()


class _Adversary:
    """The critic / discriminator of the GAN competitors and its update."""

    def __init__(self, style: str, seeds: Sequence[int], hidden: Sequence[int], config: TrainConfig,
                 lr: torch.Tensor):
        self.style = style
        self.net = StackedMLP([s + 7919 for s in seeds], 2, hidden, 1)
        self.params = list(self.net.parameters())
        self.opt = _optimizer(config, self.params, lr)
        # one generator per stack for the penalty's interpolation points (see train_generative)
        key = 0
        for s in seeds:
            key = (key * 1_000_003 + int(s) + 1) % (2**61 - 1)
        self.gp_gen = torch.Generator().manual_seed(key)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[..., 0]

    def loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.style == "gan":
            return LF.gan_discriminator_loss(self.score(real), self.score(fake), reduction="none").mean(-1)
        critic = LF.wgan_critic_loss(self.score(real), self.score(fake), reduction="none").mean(-1)
        penalty = LF.gradient_penalty(self.net, real, fake, weight=GP_WEIGHT, sample_dims=2,
                                      generator=self.gp_gen, reduction="none").mean(-1)
        return critic + penalty

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        fn = LF.gan_generator_loss if self.style == "gan" else LF.wgan_generator_loss
        return fn(self.score(fake), reduction="none").mean(-1)


def train_generative(task: Task, competitor: Competitor, runs: Sequence[RunKey],
                     datasets: dict[int, D.Dataset], config: TrainConfig) -> list[RunResult]:
    """Train one generator (and critic) per run key at once (train_stack's signature and conventions).

    Noise and batch order come from each run's seed, so a run does not depend on the others in its
    stack, except the gradient penalty's interpolation points, drawn from one generator seeded by
    the stack's seeds (reproducible for the same study, not bit-identical in another stack).
    History per epoch: ``train_loss`` (mean generator loss), ``val_loss`` and
    ``val_w1_to_heldout`` (W1 of 256 generated points to the validation split) and ``grad_norm``
    (mean norm of the generator's gradient). A model whose loss, gradient or parameters become
    non-finite stops there and is reported as ``"diverged"``.
    """
    t0 = time.perf_counter()
    style = _style(competitor.loss)
    dss = [datasets[r.seed] for r in runs]
    m, seeds = len(runs), [r.seed for r in runs]
    hidden = competitor.hidden or config.hidden
    lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
    gen_net = StackedMLP(seeds, LATENT, hidden, 2)
    g_params = list(gen_net.parameters())
    opt = _optimizer(config, g_params, lr)
    adversary = _Adversary(style, seeds, hidden, config, lr) if style != "direct" else None
    direct_fn: Callable[..., torch.Tensor] = catalog.get(competitor.loss).function
    kwargs = dict(competitor.kwargs)
    if competitor.data_kwargs is not None:
        kwargs.update(competitor.data_kwargs(dss[0]))

    def stack(attr: str) -> torch.Tensor:
        return torch.stack([getattr(d, attr) for d in dss])

    xtr, xva, xte = stack("x_train"), stack("x_val"), stack("x_test")
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    z_val = torch.stack([torch.randn(xva.shape[1], LATENT, generator=torch.Generator().manual_seed(s + 1))
                         for s in seeds])
    z_test = torch.stack([torch.randn(xte.shape[1], LATENT, generator=torch.Generator().manual_seed(s + 2))
                          for s in seeds])
    rows = torch.arange(m).unsqueeze(1)
    n, batch = xtr.shape[1], min(config.batch_size, xtr.shape[1])

    def noise() -> torch.Tensor:
        return torch.stack([torch.randn(batch, LATENT, generator=g) for g in gens])

    def resample() -> torch.Tensor:
        return xtr[rows, torch.stack([torch.randint(0, n, (batch,), generator=g) for g in gens])]

    def generator_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if adversary is not None:
            return adversary.generator_loss(fake)
        return direct_fn(fake, real, reduction="none", **kwargs)

    primary = f"val_{task.primary}"
    active = torch.ones(m, dtype=torch.bool)
    diverged_at: list[int | None] = [None] * m
    hist: dict[str, list[list[float]]] = {k: [[] for _ in range(m)] for k in ("train_loss", "val_loss", primary, "grad_norm")}
    best, best_epoch, since_best = [math.inf] * m, [0] * m, [0] * m
    best_state = [p.detach().clone() for p in g_params]

    def fail(ok: torch.Tensor, epoch: int) -> None:
        for i in torch.nonzero(active & ~ok).flatten().tolist():
            diverged_at[i] = epoch + 1
        active.logical_and_(ok)

    with content_checks(True):  # validate the real inputs once, then train without syncs
        generator_loss(gen_net(noise()[:, :4]), xtr[:, :4])

    epochs_run = 0
    with content_checks(False):
        for epoch in range(config.epochs):
            if not bool(active.any()):
                break
            epochs_run = epoch + 1
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
            gsum, lsum, steps = torch.zeros(m), torch.zeros(m), 0
            for start in range(0, n - batch + 1, batch):  # full batches only
                real = xtr[rows, perms[:, start:start + batch]]
                if adversary is not None:
                    for k in range(N_CRITIC if style == "wgan" else 1):
                        with torch.no_grad():
                            fake = gen_net(noise())
                        ok, _ = _grads(adversary.loss(real if k == 0 else resample(), fake), active,
                                       adversary.params, m)
                        fail(ok, epoch)
                        adversary.opt.step(active)
                per_model = generator_loss(gen_net(noise()), real)
                ok, norm = _grads(per_model, active, g_params, m)
                fail(ok, epoch)
                opt.step(active)
                gsum += torch.where(ok, norm, 0.0)
                lsum += torch.where(ok, per_model.detach(), 0.0)
                steps += 1
            with torch.no_grad():
                params_ok = torch.stack([torch.isfinite(p.reshape(m, -1)).all(1) for p in g_params]).all(0)
                fail(params_ok, epoch)
                val_pts = gen_net(z_val).numpy()
            for i in range(m):
                if diverged_at[i] is not None:
                    for key in hist:
                        hist[key][i].append(math.nan)
                    continue
                w1 = w1_exact(val_pts[i], xva[i])
                hist["train_loss"][i].append(float(lsum[i]) / max(steps, 1))
                hist["val_loss"][i].append(w1)
                hist[primary][i].append(w1)
                hist["grad_norm"][i].append(float(gsum[i]) / max(steps, 1))
                if w1 < best[i]:
                    best[i], best_epoch[i], since_best[i] = w1, epoch + 1, 0
                    with torch.no_grad():
                        for b, p in zip(best_state, g_params):
                            b[i] = p[i]
                else:
                    since_best[i] += 1
            if config.early_stopping is not None:
                active &= torch.tensor([s < config.early_stopping for s in since_best])

    if config.early_stopping is not None:
        with torch.no_grad():
            for b, p in zip(best_state, g_params):
                p.copy_(b)
    with torch.no_grad():
        test_pts, val_pts = gen_net(z_test).numpy(), gen_net(z_val).numpy()
    seconds = (time.perf_counter() - t0) / m
    results = []
    for i, r in enumerate(runs):
        h = {k: v[i] for k, v in hist.items()}
        res = RunResult(task.name, competitor.label, competitor.loss, r.seed, r.lr,
                        status="diverged" if diverged_at[i] is not None else "finished",
                        epochs_run=epochs_run, best_epoch=best_epoch[i], history=h, seconds=seconds,
                        diverged_epoch=diverged_at[i])
        if diverged_at[i] is None:
            coverage, hq = mode_metrics(test_pts[i], np.asarray(dss[i].meta["centres"]), dss[i].meta["mode_std"])
            res.metrics = {"w1_to_heldout": w1_exact(test_pts[i], xte[i]), "mode_coverage": coverage,
                           "hq_fraction": hq}
            res.metrics.update(run_diagnostics(h, best[i], task.primary, False, config))
            res.metrics["generalization_gap"] = w1_exact(val_pts[i], xva[i]) - w1_exact(val_pts[i], xtr[i, :len(val_pts[i])])
        results.append(res)
    return results


register_task(Task(
    name="generative",
    kind="generative",
    description=f"2-D Gaussian mixture ({N_MODES} modes, std {MODE_STD:g}, on a ring of radius {RADIUS:g}): "
    "a generator from 2-D noise trained as a GAN (BCE), a WGAN-GP, or directly on the Sinkhorn "
    "divergence; exact W1 of generated to held-out points and mode coverage.",
    load=gaussian_ring,
    competitors=(
        Competitor("GAN (BCE, non-saturating)", "gan_generator_loss",
                   note="discriminator: gan_discriminator_loss (BCE with logits), 1 step per generator step"),
        Competitor("WGAN-GP", "wgan_generator_loss",
                   note=f"critic: wgan_critic_loss + gradient_penalty (weight {GP_WEIGHT:g}), "
                   f"{N_CRITIC} critic steps per generator step"),
        Competitor("Sinkhorn (no critic)", "sinkhorn_loss",
                   {"blur": 0.1, "scaling": 0.3, "max_iter": 6, "tol": 1e-3},
                   note="debiased, cost |x-y|^2/2, eps = blur^2; eps-scaling then at most a few "
                   "iterations at the final blur (an approximate, geomloss-style solve)"),
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
))
