"""PGD on K = 16 small stacked models: one batched attack vs attacking the models one by one.

``losslab.adversarial.pgd_stacked`` runs each PGD step as one forward/backward of the stacked
model on (K, B, ...) inputs; the baseline calls ``losslab.adversarial.pgd`` on each model in
turn (the same MLPs, each held alone, the same attack and random starts).
``tests/test_adversarial_attacks.py`` checks that the two give the same adversarial examples.
The lab's adversarial task relies on it: every training step attacks the whole stack at once.
"""

from __future__ import annotations

import torch

from losslab.adversarial import pgd, pgd_stacked
from losslab.lab.models import StackedMLP

ONE_BY_ONE = "pgd, one model at a time"
STACKED = "pgd_stacked, K models in one pass"


def cases(quick: bool) -> list[dict]:
    return [
        {
            "id": "adversarial_stacked/K16_MLP64_B64",
            "group": "lab",
            "params": {"k": 16, "batch": 64, "hidden": 64, "steps": 2 if quick else 10},
            "variants": [ONE_BY_ONE, STACKED],
            "rounds": 1 if quick else 2,
            "reps": 1 if quick else 7,
            "warmup": 1,
            "threads": 1,
            "note": "PGD-10 (L-inf, eps 0.1, random start) on 16 MLPs 64-64-10, 64 inputs (the lab batch) of "
            "64 pixels each; 1 torch thread (the lab's stacked test setting; on a shared 2-core "
            "machine 2 threads mostly measure the other processes)",
            "goals": []
            if quick
            else [[STACKED, ONE_BY_ONE, "time", 1 / 3, "stacked attack >= 3x faster (K = 16)"]],
        }
    ]


def setup(params: dict, variant: str):
    k, b, h, steps = params["k"], params["batch"], params["hidden"], params["steps"]
    seeds = list(range(k))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(k, b, 64, generator=g)
    y = torch.randint(0, 10, (k, b), generator=g)
    kw = {"eps": 0.1, "alpha": 0.025, "steps": steps}
    if variant == STACKED:
        model = StackedMLP(seeds, 64, (h,), 10)

        def step() -> None:
            gens = [torch.Generator().manual_seed(s) for s in seeds]
            pgd_stacked(model, x, y, generator=gens, **kw)

        return step
    models = [StackedMLP([s], 64, (h,), 10) for s in seeds]
    alone = [lambda t, m=m: m(t.unsqueeze(0))[0] for m in models]

    def step() -> None:
        for i, (f, s) in enumerate(zip(alone, seeds)):
            pgd(f, x[i], y[i], mode="as_is", generator=torch.Generator().manual_seed(s), **kw)

    return step
