"""Output projection + cross entropy, forward + backward (gradients of hidden and weight).

Variants: the naive path (``F.linear`` then ``F.cross_entropy``: N x V logits), torch 2.13's
chunked ``F.linear_cross_entropy(..., options=LinearCrossEntropyOptions())`` (the baseline) and
losslab's ``linear_cross_entropy`` (automatic chunk size). fp32, no bias, all rows counted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losslab.functional as LF

NAIVE = "naive F.linear + F.cross_entropy"
TORCH = "torch F.linear_cross_entropy (chunked)"
FAST = "losslab linear_cross_entropy"


def cases(quick: bool) -> list[dict]:
    if quick:
        grid = [(64, 32, 1000, 1, 2, 1)]
    else:  # (N, D, V, rounds, reps, warmup): the largest costs about 35 s per call; three
        # interleaved rounds (fresh processes) so a burst of load on the shared machine hits one,
        # and one untimed call first in each (steady state, as in a training loop: the first call
        # of a process also pays the BLAS thread pool's start and first-touch page faults)
        grid = [
            (1024, 512, 32000, 3, 2, 1),
            (2048, 1024, 50257, 3, 1, 1),
            (8192, 1024, 50257, 3, 1, 1),
        ]
    out = []
    for n, d, v, rounds, reps, warmup in grid:
        goals = []
        if (n, d, v) == (8192, 1024, 50257):
            goals = [
                [FAST, TORCH, "time", 0.85, "time <= 0.85x torch's chunked F.linear_cross_entropy"],
                [FAST, NAIVE, "time", 1.0, "time <= the naive path's"],
                [FAST, TORCH, "memory", 1.0, "extra peak <= torch's chunked"],
                [FAST, NAIVE, "memory", 1 / 8, "extra peak >= 8x below the naive path"],
            ]
        out.append(
            {
                "id": f"linear_ce/N{n}_D{d}_V{v}",
                "group": "linear_ce",
                "params": {"n": n, "d": d, "v": v},
                "variants": [TORCH, NAIVE, FAST],
                "rounds": rounds,
                "reps": reps,
                "warmup": warmup,
                "goals": goals,
            }
        )
    return out


def setup(params: dict, variant: str):
    torch.manual_seed(0)
    n, d, v = params["n"], params["d"], params["v"]
    h = torch.randn(n, d, requires_grad=True)
    w = (torch.randn(v, d) / d**0.5).requires_grad_()
    y = torch.randint(0, v, (n,))
    options = torch.nn.LinearCrossEntropyOptions()
    if variant == NAIVE:

        def loss():
            return F.cross_entropy(F.linear(h, w), y)
    elif variant == TORCH:

        def loss():
            return F.linear_cross_entropy(h, w, y, options=options)
    else:

        def loss():
            return LF.linear_cross_entropy(h, w, y)

    def step() -> None:
        loss().backward()
        h.grad = None
        w.grad = None

    return step
