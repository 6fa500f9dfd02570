"""Output heads and derivative helpers shared by the catalog's family modules.

Analytic derivatives (``LossSpec.derivative_fn``) are written from the math (w.r.t.
``args[0]``, of the ``reduction="sum"`` loss with the spec's ``test_kwargs`` and the functions'
defaults), never with autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._spec import Head

__all__ = ["REAL_HEAD", "PROB_HEAD", "LOGIT_HEAD", "CLASS_HEAD", "onehot", "softmax_parts"]

REAL_HEAD = Head("identity", "1", "one unit per regression target")
PROB_HEAD = Head("sigmoid", "1")
LOGIT_HEAD = Head("identity", "1", "a single logit")
CLASS_HEAD = Head("identity", "C", "C logits")


def onehot(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One-hot (N, C) encoding of class indices ``y``, with the dtype and C of scores ``x``."""
    return F.one_hot(y, x.shape[1]).to(x.dtype)


def softmax_parts(
    x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """softmax(x), onehot(y) and p_y (shape (N, 1)) for the softmax-based derivatives."""
    p = torch.softmax(x, dim=1)
    e = onehot(y, x)
    p_y = (p * e).sum(dim=1, keepdim=True)
    return p, e, p_y
