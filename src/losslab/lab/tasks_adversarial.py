"""Lab task "adversarial": what adversarial-training losses cost and what they buy.

Digits (scikit-learn, 8x8) with pixels scaled to [0, 1] (not standardised, so the attack radius
is in pixel units and the data range is [0, 1]); an MLP (``--model cnn``: the small CNN). Plain
cross-entropy vs PGD-AT (Madry et al. 2018) vs TRADES at beta 1 and 6 (Zhang et al. 2019) vs
MART (Wang et al. 2020) vs fast FGSM training (Wong et al. 2020), all at the same L-infinity
radius :data:`~losslab.lab.systems.adversarial.EPS` = 0.1 with 5-step PGD training attacks.

Reported per run: clean accuracy, robust accuracy under PGD-20 with 3 random restarts (a
stronger attack than any training one) at the same radius, the accuracy-vs-epsilon curve (the
run's ``robust_vs_eps`` test curve), the forward-backward passes per training step (the cost:
steps + 1 for the PGD recipes, 2 for fast FGSM, 1 for plain CE; the wall time of every run is in
the store's ``seconds``), and ``collapsed``, the catastrophic-overfitting flag
(:data:`losslab.adversarial.COLLAPSE_RULE`, read from the per-epoch PGD accuracy on the
validation rows). Models are selected on that validation PGD accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..adversarial import COLLAPSE_RULE, collapse_epoch
from . import data as D
from .engine import train_system
from .systems.adversarial import (
    CURVE_ATTACK,
    EPS,
    EPS_GRID,
    MONITOR,
    TEST_ATTACK,
    TRAIN_STEPS,
    AdversarialSystem,
)
from .tasks import Competitor, Task, register_task
from .train import RunKey, RunResult, TrainConfig

__all__ = ["AdversarialTrainer", "COMPETITORS", "CURVE", "digits_pixels", "fashion_pixels"]

#: the name of each run's accuracy-vs-epsilon test curve
CURVE = "robust_vs_eps"


def _pixels(parts: tuple[np.ndarray, ...], meta: dict) -> D.Dataset:
    """A split with pixels already in [0, 1], kept as they are (not standardised)."""

    def fx(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32))

    def fy(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    x_train, y_train, x_val, y_val, x_test, y_test = parts
    return D.Dataset(
        fx(x_train),
        fy(y_train),
        fx(x_val),
        fy(y_val),
        fx(x_test),
        fy(y_test),
        num_classes=10,
        meta={**meta, "data_range": (0.0, 1.0)},
    )


def digits_pixels(seed: int) -> D.Dataset:
    """scikit-learn digits with pixels in [0, 1] (grey level / 16), the lab's stratified split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _pixels(
        D.split(d.data / 16.0, d.target, seed, stratify=True),
        {"source": "scikit-learn digits (8x8), pixels in [0, 1]", "image_shape": (1, 8, 8)},
    )


#: Fashion-MNIST images per seed's subsample (train + validation, test)
FASHION_SIZES = (2400, 600)


def fashion_pixels(seed: int) -> D.Dataset:
    """A stratified Fashion-MNIST subsample (Debian's dataset-fashion-mnist), pixels in [0, 1]:
    1,800 training, 600 validation and 600 test images drawn by ``seed``."""
    x, y = D._fashion_mnist_arrays("train")
    rng = np.random.default_rng(seed)
    n_fit, n_test = FASHION_SIZES
    keep = rng.choice(len(y), size=n_fit + n_test, replace=False)
    parts = D.split(x[keep], y[keep], seed, stratify=True, test=n_test / (n_fit + n_test))
    return _pixels(
        parts,
        {"source": "Fashion-MNIST (Debian package), pixels in [0, 1]", "image_shape": (1, 28, 28)},
    )


#: the recipe a loss given with ``--loss`` trains with (any other loss: clean training)
_RECIPE_OF_LOSS = {"trades_loss": "trades", "mart_loss": "mart"}


@dataclass(frozen=True)
class AdversarialTrainer:
    """Trainer of the task (picklable): ``method`` is the adversarial-training recipe
    (:data:`losslab.adversarial.METHODS`), ``None`` for the loss's own (TRADES/MART losses given
    with ``--loss``) or clean training."""

    method: str | None = None

    def __call__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, D.Dataset],
        config: TrainConfig,
    ) -> list[RunResult]:
        method = self.method or _RECIPE_OF_LOSS.get(competitor.loss)
        system = AdversarialSystem(task, competitor, runs, datasets, config, method=method)
        results = train_system(system, task, competitor, runs, config)
        for i, res in enumerate(results):
            if res.status != "finished":
                continue
            monitor = res.history[f"val_{task.primary}"]
            res.metrics["collapsed"] = float(collapse_epoch(monitor) is not None)
            # the selected model's curve: test_metrics ran last on the selected parameters
            res.curves[CURVE] = list(system.eps_curve[i])
        return results


_CE = "cross_entropy"

#: the competitors of both adversarial tasks
COMPETITORS = (
    Competitor("CE (no attack)", _CE, note="clean training", trainer=AdversarialTrainer()),
    Competitor(
        "PGD-AT",
        _CE,
        note=f"CE on PGD-{TRAIN_STEPS} examples (Madry et al. 2018)",
        trainer=AdversarialTrainer("pgd_at"),
    ),
    Competitor(
        "TRADES (beta=1)",
        "trades_loss",
        {"beta": 1.0},
        note=f"inner PGD-{TRAIN_STEPS} on KL (Zhang et al. 2019)",
        trainer=AdversarialTrainer("trades"),
    ),
    Competitor(
        "TRADES (beta=6)",
        "trades_loss",
        {"beta": 6.0},
        note=f"inner PGD-{TRAIN_STEPS} on KL (Zhang et al. 2019)",
        trainer=AdversarialTrainer("trades"),
    ),
    Competitor(
        "MART (beta=6)",
        "mart_loss",
        {"beta": 6.0},
        note=f"PGD-{TRAIN_STEPS} on CE (Wang et al. 2020)",
        trainer=AdversarialTrainer("mart"),
    ),
    Competitor(
        "fast FGSM",
        _CE,
        note="FGSM from a random start, step 1.25 eps (Wong et al. 2020)",
        trainer=AdversarialTrainer("fast_fgsm"),
    ),
)

_NOTES = (
    f"Threat model: L-infinity, eps = {EPS:g} in pixel units (pixels in [0, 1]). "
    f"Training attacks: {TRAIN_STEPS}-step PGD, step 2.5 eps / {TRAIN_STEPS} (PGD-AT, MART; "
    "TRADES' inner maximisation of KL(p_clean || p_adv) from x + 0.001 N(0, 1)), or one FGSM "
    "step of 1.25 eps from a uniform random start (fast FGSM); attacks run with the model in "
    f"eval mode. robust_accuracy: {TEST_ATTACK.describe()} on the test split; model "
    f"selection and early stopping read the validation accuracy under {MONITOR.describe()}, "
    f"measured every epoch. collapsed: {COLLAPSE_RULE}. passes_per_step: forward-backward "
    "passes per training step (the attack's plus the update's); wall time per run is the "
    "store's 'seconds'. The accuracy-vs-epsilon curve (test curve 'robust_vs_eps', "
    f"{CURVE_ATTACK.describe()} at eps in {', '.join(f'{e:g}' for e in EPS_GRID)}) is stored per run. "
    "TRADES and MART do not detach the clean distribution (as their reference code)."
)

register_task(
    Task(
        name="adversarial",
        kind="multiclass",
        description="Digits (8x8, pixels in [0, 1]) under L-infinity attacks of radius "
        f"{EPS:g} (pixel units): plain CE vs PGD-AT vs TRADES (beta 1, 6) vs MART vs fast FGSM; "
        f"clean and robust accuracy ({TEST_ATTACK.describe()}), accuracy vs epsilon, training "
        "cost and the catastrophic-overfitting flag.",
        load=digits_pixels,
        competitors=COMPETITORS,
        metrics=("robust_accuracy", "clean_accuracy", "passes_per_step", "collapsed"),
        primary="robust_accuracy",
        hidden=(64,),
        epochs=15,
        batch_size=64,
        image_shape=(1, 8, 8),
        notes=_NOTES,
        trainer=AdversarialTrainer(),
    )
)

register_task(
    Task(
        name="adversarial-fashion",
        kind="multiclass",
        description="Fashion-MNIST (Debian's dataset-fashion-mnist, a 3,000-image sample per seed, "
        f"pixels in [0, 1]) under L-infinity attacks of radius {EPS:g}: the competitors and "
        "metrics of 'adversarial'.",
        load=fashion_pixels,
        competitors=COMPETITORS,
        metrics=("robust_accuracy", "clean_accuracy", "passes_per_step", "collapsed"),
        primary="robust_accuracy",
        hidden=(128,),
        epochs=10,
        batch_size=64,
        optional=True,
        source="fashion-mnist",
        image_shape=(1, 28, 28),
        notes=_NOTES,
        trainer=AdversarialTrainer(),
    )
)
