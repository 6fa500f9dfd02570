"""Cross entropy on (N, V) logits, forward + backward: torch's F.cross_entropy vs losslab's.

Grid over N and V shows how time and memory grow; the (8192, 50257) case carries the goals.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losslab.functional as LF

TORCH = "torch F.cross_entropy"
FAST = "losslab fast_cross_entropy"
REF_OPTS = "reference composition (smoothing, z-loss, soft-cap)"
FAST_OPTS = "losslab fast_cross_entropy (same options)"
OPTIONS = {"label_smoothing": 0.1, "lse_square_scale": 1e-4, "softcap": 30.0}


def cases(quick: bool) -> list[dict]:
    if quick:
        grid, opt_size, reps, rounds = [(64, 1000)], (64, 1000), 2, 1
    else:
        grid, opt_size, reps, rounds = (
            [(2048, 50257), (8192, 16384), (8192, 50257)],
            (4096, 50257),
            3,
            2,
        )
    out = []
    for n, v in grid:
        variants = [TORCH, FAST]
        out.append(
            {
                "id": f"ce_logits/N{n}_V{v}",
                "group": "ce_logits",
                "params": {"n": n, "v": v},
                "variants": variants,
                "rounds": rounds,
                "reps": reps,
                "warmup": 1,
                "goals": [
                    [
                        FAST,
                        TORCH,
                        "time",
                        1 / 2.2,
                        "time <= 1/2.2 of F.cross_entropy (>= 2.2x faster)",
                    ],
                    [FAST, TORCH, "memory", 1 / 3, "extra peak <= 1/3 of F.cross_entropy's"],
                ]
                if (n, v) == (8192, 50257)
                else [],
            }
        )
    n, v = opt_size
    out.append(
        {
            "id": f"ce_logits_options/N{n}_V{v}",
            "group": "ce_logits",
            "params": {"n": n, "v": v, "options": True},
            "variants": [REF_OPTS, FAST_OPTS],
            "rounds": rounds,
            "reps": reps,
            "warmup": 1,
            "note": "options "
            + ", ".join(f"{k}={val}" for k, val in OPTIONS.items())
            + "; the reference is tanh soft-cap + F.cross_entropy + logsumexp z-loss",
        }
    )
    return out


def _reference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    cap = OPTIONS["softcap"]
    z = cap * torch.tanh(x / cap)
    ce = F.cross_entropy(z, y, label_smoothing=OPTIONS["label_smoothing"])
    return ce + OPTIONS["lse_square_scale"] * (torch.logsumexp(z, 1) ** 2).mean()


def setup(params: dict, variant: str):
    torch.manual_seed(0)
    x = torch.randn(params["n"], params["v"], requires_grad=True)
    y = torch.randint(0, params["v"], (params["n"],))
    if variant == REF_OPTS:

        def loss():
            return _reference(x, y)
    elif variant == FAST_OPTS:

        def loss():
            return LF.fast_cross_entropy(x, y, **OPTIONS)
    elif variant.startswith("torch"):

        def loss():
            return F.cross_entropy(x, y)
    else:

        def loss():
            return LF.fast_cross_entropy(x, y)

    def step() -> None:
        loss().backward()
        x.grad = None

    return step
