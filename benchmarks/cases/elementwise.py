"""Elementwise / per-pixel losses, forward + backward: losslab vs the composition users write.

The naive compositions are the textbook ones (torchvision's sigmoid focal loss; the one-hot
soft Dice/Tversky of smp/MONAI-style code; ``log(cosh(d))``; Barron's formula written directly,
alpha = 1), plus MONAI's own classes where MONAI has the loss (a benchmark-only dependency).
losslab's versions stay exact where those overflow or cancel (log-cosh at |d| > 89 and at tiny
d, focal with gamma < 1) and support soft labels / ignore_index; their fast paths (the chunked
analytic gradient of ``_fused``, the hard-label counts of the overlap losses) are tested equal
to the plain formulas. ``tests/test_bench.py`` checks that every variant computes the same value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losslab.functional as LF

NAIVE = "naive composition"
LOSSLAB = "losslab"
MONAI = "MONAI"

try:  # a benchmark-only baseline (the dev extra installs it)
    import monai.losses as monai_losses
except ImportError:  # pragma: no cover - without MONAI its rows are skipped
    monai_losses = None


def cases(quick: bool) -> list[dict]:
    n = 20_000 if quick else 4_000_000  # elements of the elementwise losses
    hw = 16 if quick else 256  # images (8, 4, hw, hw) for Dice / Tversky
    reps, rounds = (2, 1) if quick else (5, 2)
    specs = [
        ("sigmoid_focal_loss", {"n": n}),
        ("log_cosh_loss", {"n": n}),
        ("general_robust_loss", {"n": n}),
    ]
    if hasattr(LF, "dice_loss"):
        specs.append(("dice_loss", {"hw": hw}))
    if hasattr(LF, "tversky_loss"):
        specs.append(("tversky_loss", {"hw": hw}))
    return [
        {
            "id": f"elementwise/{name}",
            "group": "elementwise",
            "params": {"loss": name, **p},
            "variants": [NAIVE, LOSSLAB]
            + ([MONAI] if monai_losses is not None and name in MONAI_FNS else []),
            "rounds": rounds,
            "reps": reps,
            "warmup": 1,
        }
        for name, p in specs
    ]


def _focal(x, t, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    return ((alpha * t + (1 - alpha) * (1 - t)) * loss).mean()


def _overlap(x, y, alpha, beta, smooth=1e-5):
    p = torch.softmax(x, 1)
    onehot = F.one_hot(y, x.shape[1]).permute(0, 3, 1, 2).to(p.dtype)
    tp = (p * onehot).sum((2, 3))
    fp = (p * (1 - onehot)).sum((2, 3))
    fn = ((1 - p) * onehot).sum((2, 3))
    return (1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)).mean()


def _barron(x, y, alpha=1.0, c=1.0):
    z = (x - y) / c
    b = abs(alpha - 2)
    return (b / alpha * ((z * z / b + 1) ** (alpha / 2) - 1)).mean()


NAIVE_FNS = {
    "sigmoid_focal_loss": _focal,
    "log_cosh_loss": lambda x, y: torch.log(torch.cosh(x - y)).mean(),
    "general_robust_loss": _barron,
    "dice_loss": lambda x, y: _overlap(x, y, 0.5, 0.5),
    "tversky_loss": lambda x, y: _overlap(x, y, 0.3, 0.7),
}
LOSSLAB_FNS = {
    "sigmoid_focal_loss": lambda x, y: LF.sigmoid_focal_loss(x, y),
    "log_cosh_loss": lambda x, y: LF.log_cosh_loss(x, y),
    "general_robust_loss": lambda x, y: LF.general_robust_loss(x, y, alpha=1.0),
    "dice_loss": lambda x, y: LF.dice_loss(x, y, smooth_nr=1e-5, smooth_dr=1e-5),
    "tversky_loss": lambda x, y: LF.tversky_loss(x, y, alpha=0.3, beta=0.7),
}

# MONAI's classes, configured to the same loss (checked equal in tests/test_benchmarks.py)
MONAI_FNS = {
    "sigmoid_focal_loss": lambda: monai_losses.FocalLoss(gamma=2.0, alpha=0.25),
    "dice_loss": lambda: monai_losses.DiceLoss(
        softmax=True, to_onehot_y=True, smooth_nr=1e-5, smooth_dr=1e-5
    ),
    "tversky_loss": lambda: monai_losses.TverskyLoss(
        softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7
    ),
}


def loss_fn(name: str, variant: str):
    """The (input, target) -> loss callable of one variant."""
    if variant == MONAI:
        m = MONAI_FNS[name]()
        if name == "sigmoid_focal_loss":  # MONAI wants (B, C, ...): one channel
            return lambda x, y: m(x.unsqueeze(0), y.unsqueeze(0))
        return lambda x, y: m(x, y.unsqueeze(1))  # class indices as (N, 1, H, W)
    return (NAIVE_FNS if variant == NAIVE else LOSSLAB_FNS)[name]


def setup(params: dict, variant: str):
    torch.manual_seed(0)
    name = params["loss"]
    if "hw" in params:
        x = torch.randn(8, 4, params["hw"], params["hw"], requires_grad=True)
        y = torch.randint(0, 4, (8, params["hw"], params["hw"]))
    else:
        x = torch.randn(params["n"], requires_grad=True)
        y = (
            torch.randint(0, 2, (params["n"],)).float()
            if name == "sigmoid_focal_loss"
            else torch.randn(params["n"])
        )
    fn = loss_fn(name, variant)

    def step() -> None:
        fn(x, y).backward()
        x.grad = None

    return step
