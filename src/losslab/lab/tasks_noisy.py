"""Lab tasks on label noise: "noisy-labels" and its variants, one task per noise setting.

Digits (scikit-learn, 10 classes) with a stated fraction of the **training and validation**
labels made wrong; the test labels stay clean, so test top-1 is the accuracy on the truth.
Early stopping and the best-epoch selection see only the noisy validation labels, as a
practitioner would. Competitors: CE vs GCE vs SCE vs soft and hard bootstrapping vs NCE+RCE
vs NCE+MAE, each at its paper's setting.

Noise models (:func:`inject_noise`):

* **symmetric** at rate r: exactly ``round(r * n)`` samples of a split, chosen uniformly
  without replacement, get a label drawn uniformly from the *other* C - 1 classes (so r is
  the fraction of wrong labels, not the flip probability of the "any class" convention);
* **asymmetric** (class-dependent) at rate r: in each source class of :data:`DIGITS_FLIPS`
  (2 -> 7, 3 -> 8, 5 <-> 6, 7 -> 1: confusions that look plausible, the MNIST mapping of
  Patrini et al. 2017 and Ma et al. 2020), exactly ``round(r * n_c)`` of its samples get the
  mapped label; the other classes are untouched, so about half of r of all labels are wrong.

The noise is drawn from the run seed's noise stream (``stream_seed(seed, NOISE)``), training
split first, then validation: it depends on the seed (each seed its own draw) and never on the
competitor, so the losses of one seed are compared on the same noisy labels (paired).

Tasks (:data:`NOISE_SETTINGS`): ``noisy-labels-clean`` (no noise, the reference),
``noisy-labels`` (symmetric 20%), ``noisy-labels-sym40``, ``noisy-labels-asym40`` and the
optional ``noisy-labels-fashion-mnist`` (Fashion-MNIST sample, symmetric 40%). Run several
with ``losslab compare --task noisy-labels-clean,noisy-labels,noisy-labels-sym40,...``; the
report's "clean-test accuracy by noise rate" table and plot
(:mod:`losslab.report.noisy_labels`) gather them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from . import data as D
from .seeds import NOISE, stream_seed
from .tasks import Competitor, Task, register_task

__all__ = [
    "DIGITS_FLIPS",
    "NOISE_KINDS",
    "NOISE_SETTINGS",
    "NoiseSetting",
    "NoisyData",
    "inject_noise",
]

NOISE_KINDS = ("symmetric", "asymmetric")

#: asymmetric noise on digits: source class -> the class its flipped labels get
DIGITS_FLIPS: Mapping[int, int] = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}


def inject_noise(
    y: np.ndarray,
    *,
    kind: str,
    rate: float,
    num_classes: int,
    rng: np.random.Generator,
    flips: Mapping[int, int] | None = None,
) -> np.ndarray:
    """A copy of class labels ``y`` with ``rate`` of them made wrong (see the module docstring).

    ``kind="symmetric"``: ``round(rate * len(y))`` labels, each replaced by a uniformly drawn
    different class. ``kind="asymmetric"``: in each source class ``c`` of ``flips``,
    ``round(rate * n_c)`` labels set to ``flips[c]`` (chosen among the clean labels, so a sample
    flipped 5 -> 6 is never flipped back).
    """
    name = "inject_noise"
    if kind not in NOISE_KINDS:
        raise ValueError(f"{name}: 'kind' must be one of {NOISE_KINDS}, got {kind!r}")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name}: 'rate' must be in [0, 1), got {rate!r}")
    if kind == "asymmetric" and not flips:
        raise ValueError(f"{name}: 'flips' must map source classes to classes, got {flips!r}")
    clean = np.asarray(y)
    out = clean.copy()
    if kind == "symmetric":
        idx = rng.choice(len(clean), size=int(round(rate * len(clean))), replace=False)
        shift = rng.integers(1, num_classes, size=len(idx))  # 1..C-1: never the same class
        out[idx] = (clean[idx] + shift) % num_classes
        return out
    for source, dest in sorted((flips or {}).items()):
        members = np.flatnonzero(clean == source)
        idx = rng.choice(members, size=int(round(rate * len(members))), replace=False)
        out[idx] = dest
    return out


@dataclass(frozen=True)
class NoiseSetting:
    """What a task of this module corrupts: the noise model, its rate and the data's name."""

    kind: str
    rate: float
    data: str = "digits"

    @property
    def label(self) -> str:
        return "clean" if self.rate == 0 else f"{self.kind} {self.rate:.0%}"


@dataclass(frozen=True)
class NoisyData:
    """A task loader: ``base(seed)`` with noisy training and validation labels (picklable)."""

    base: Callable[[int], D.Dataset]
    setting: NoiseSetting
    #: the asymmetric mapping as (source, destination) pairs (hashable: studies cache by loader)
    flips: tuple[tuple[int, int], ...] | None = None

    def __call__(self, seed: int) -> D.Dataset:
        ds = self.base(seed)
        s = self.setting
        c = int(ds.num_classes or 0)
        rng = np.random.default_rng(stream_seed(seed, NOISE))
        flips = dict(self.flips) if self.flips else None
        noisy = {}
        for part in ("y_train", "y_val"):
            clean = getattr(ds, part).numpy()
            y = clean
            if s.rate > 0:
                y = inject_noise(
                    clean, kind=s.kind, rate=s.rate, num_classes=c, rng=rng, flips=flips
                )
            noisy[part] = (torch.from_numpy(y.astype(np.int64)), float(np.mean(y != clean)))
        meta = dict(ds.meta)
        meta.update(
            noise=s.label,
            noise_kind=s.kind,
            noise_rate=s.rate,
            noisy_train_fraction=noisy["y_train"][1],
            noisy_val_fraction=noisy["y_val"][1],
        )
        if self.flips and s.kind == "asymmetric":
            meta["noise_flips"] = ", ".join(f"{a}->{b}" for a, b in self.flips)
        return dataclasses.replace(
            ds, y_train=noisy["y_train"][0], y_val=noisy["y_val"][0], meta=meta
        )


COMPETITORS = (
    Competitor("CE", "cross_entropy"),
    Competitor("GCE (q=0.7)", "generalized_cross_entropy", {"q": 0.7}),
    Competitor("SCE (alpha=0.1, beta=1)", "symmetric_cross_entropy", {"alpha": 0.1, "beta": 1.0}),
    Competitor("bootstrap soft (beta=0.95)", "soft_bootstrapped_cross_entropy", {"beta": 0.95}),
    Competitor("bootstrap hard (beta=0.8)", "hard_bootstrapped_cross_entropy", {"beta": 0.8}),
    Competitor("NCE+RCE (alpha=1, beta=1)", "nce_rce_loss", {"alpha": 1.0, "beta": 1.0}),
    Competitor("NCE+MAE (alpha=1, beta=1)", "nce_mae_loss", {"alpha": 1.0, "beta": 1.0}),
)

#: task name -> its noise setting (what the report's loss x noise-rate table reads)
NOISE_SETTINGS: dict[str, NoiseSetting] = {}

_NOTES = (
    "Noise in the training and validation labels only (test labels clean); early stopping and "
    "best-epoch selection use the noisy validation labels. Symmetric: exactly the stated "
    "fraction of labels replaced by a uniformly drawn other class. Asymmetric: the stated "
    "fraction of each of the classes 2, 3, 5, 6, 7 flipped 2->7, 3->8, 5<->6, 7->1 (about half "
    "the rate overall). Drawn from each seed's noise stream: the same noisy labels for every "
    "loss of a seed."
)


def _register(
    name: str,
    setting: NoiseSetting,
    base: Callable[[int], D.Dataset],
    what: str,
    **task: object,
) -> None:
    flips = tuple(sorted(DIGITS_FLIPS.items())) if setting.kind == "asymmetric" else None
    noise = "no label noise (the reference)" if setting.rate == 0 else f"{setting.label} noise"
    if flips:
        noise += " (2->7, 3->8, 5<->6, 7->1)"
    NOISE_SETTINGS[name] = setting
    register_task(
        Task(
            name=name,
            kind="multiclass",
            description=f"{what} with {noise} in the training and validation labels; "
            "top-1 on clean test labels.",
            load=NoisyData(base, setting, flips),
            competitors=COMPETITORS,
            metrics=("top1", "top5", "macro_f1"),
            primary="top1",
            notes=_NOTES,
            **task,  # type: ignore[arg-type]
        )
    )


_DIGITS = dict(hidden=(64,), epochs=30, image_shape=(1, 8, 8))
_register("noisy-labels-clean", NoiseSetting("symmetric", 0.0), D.digits, "Digits", **_DIGITS)
_register("noisy-labels", NoiseSetting("symmetric", 0.2), D.digits, "Digits", **_DIGITS)
_register("noisy-labels-sym40", NoiseSetting("symmetric", 0.4), D.digits, "Digits", **_DIGITS)
_register("noisy-labels-asym40", NoiseSetting("asymmetric", 0.4), D.digits, "Digits", **_DIGITS)
_register(
    "noisy-labels-fashion-mnist",
    NoiseSetting("symmetric", 0.4, "fashion-mnist"),
    D.fashion_mnist,
    "Fashion-MNIST (a stratified 8,000-image sample)",
    hidden=(128,),
    epochs=15,
    batch_size=128,
    optional=True,
    source="fashion-mnist",
    image_shape=(1, 28, 28),
)
