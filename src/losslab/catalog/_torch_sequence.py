"""Catalog entry of the torch CTC drop-in, with its alpha-beta reference derivative."""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._registry import register
from ._samplers import CTC_SEQUENCES
from ._spec import Head, LossSpec


def _shift(v: torch.Tensor, k: int) -> torch.Tensor:
    """v moved k places right (k > 0) or left (k < 0), filled with -inf."""
    out = torch.full_like(v, float("-inf"))
    if k > 0:
        out[k:] = v[:-k]
    else:
        out[:k] = v[-k:]
    return out


def _ctc_sample_grad(lp: torch.Tensor, labels: torch.Tensor, blank: int) -> torch.Tensor:
    """-gamma for one sample: lp (T, C), labels (S,); alpha-beta recursion in log space."""
    ext = torch.full((2 * labels.numel() + 1,), blank, dtype=torch.long)
    ext[1::2] = labels
    # a path may skip the blank between two different labels
    skip = torch.zeros(ext.numel(), dtype=torch.bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    emit = lp[:, ext]  # (T, L)
    t_len, n_ext = emit.shape
    ninf = torch.full((n_ext,), float("-inf"), dtype=lp.dtype)
    alpha = [torch.where(torch.arange(n_ext) < 2, emit[0], ninf)]
    for t in range(1, t_len):
        prev = alpha[-1]
        hop = torch.where(skip, _shift(prev, 2), ninf)
        alpha.append(torch.logsumexp(torch.stack([prev, _shift(prev, 1), hop]), 0) + emit[t])
    beta = [torch.where(torch.arange(n_ext) >= n_ext - 2, torch.zeros_like(ninf), ninf)]
    for t in range(t_len - 2, -1, -1):
        nxt = beta[0] + emit[t + 1]
        hop = torch.where(_shift(skip, -2), _shift(nxt, -2), ninf)
        beta.insert(0, torch.logsumexp(torch.stack([nxt, _shift(nxt, -1), hop]), 0))
    post = torch.stack(alpha) + torch.stack(beta)  # log p(path through (t, s)), (T, L)
    post = torch.exp(post - torch.logsumexp(post[-1], 0))
    grad = torch.zeros_like(lp)
    grad.index_add_(1, ext, -post)
    return grad


def _ctc_grad(log_probs, targets, input_lengths, target_lengths, *, blank=0, **_):
    grad = torch.zeros_like(log_probs)
    for n in range(log_probs.shape[1]):
        t_n, s_n = int(input_lengths[n]), int(target_lengths[n])
        grad[:t_n, n] = _ctc_sample_grad(log_probs[:t_n, n], targets[n, :s_n], blank)
    return grad


register(
    LossSpec(
        name="ctc_loss",
        function=LF.ctc_loss,
        module=LN.CTCLoss,
        family="sequence",
        tasks=("sequence",),
        input_kind="log_probabilities",
        heads={
            "sequence": Head(
                "log_softmax", "C", "per frame, C classes including the blank; time first"
            )
        },
        formula=r"\ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_{t} e^{x_{t, \pi_t}}",
        derivative=r"\frac{\partial \ell}{\partial x_{t,c}} = -\gamma_t(c) = "
        r"-\frac{1}{p(y \mid x)}\sum_{s:\,y'_s = c} \alpha_t(s)\,\beta_t(s)",
        derivative_fn=_ctc_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=False,
            smooth=True,
            bounded=False,
            robust_to_outliers=True,
            symmetric=None,
        ),
        references=(
            "Graves, Fernández, Gomez and Schmidhuber, Connectionist Temporal Classification: Labelling "
            "Unsegmented Sequence Data with Recurrent Neural Networks, ICML 2006",
        ),
        summary="Negative log-probability of a label sequence, summed over all frame alignments.",
        when_to_use="Speech and handwriting recognition, and any sequence labelling without "
        "frame-level alignment, where the output is not longer than the input.",
        sampler=CTC_SEQUENCES,
        drop_in_for="torch.nn.functional.ctc_loss",
        notes="derivative_fn runs the alpha-beta (forward-backward) recursion of Graves et al. "
        "in log space for padded (N, S) targets; gamma_t(c) is the posterior probability that "
        "frame t emits c. torch's kernel returns exp(x) - gamma (the gradient through a "
        "log_softmax), which is wrong w.r.t. log_probs themselves; losslab corrects it to -gamma "
        "(identical after a log_softmax). Not convex: minus a log-sum-exp of linear functions "
        "is concave.",
    )
)
