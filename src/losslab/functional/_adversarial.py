r"""Adversarial (GAN) losses: WGAN critic and generator losses, the WGAN-GP gradient penalty,
and the standard (non-saturating) GAN discriminator and generator losses.

GAN losses take raw critic scores / discriminator logits; the non-saturating losses are written
with ``softplus`` (stable for logits of any size). A loss of a real and a fake batch pairs the
i-th real and fake score, so the two batches must have the same shape.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as TF

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    Param,
    Raw,
    check_tensor,
    fail,
    loss_function,
    warn_if_probabilities,
)
from ..losses.transport import _safe_sqrt
from ._common import SIGMOID_ADVICE

__all__ = [
    "wgan_critic_loss",
    "wgan_generator_loss",
    "gradient_penalty",
    "gan_discriminator_loss",
    "gan_generator_loss",
]


def _scores(loss: str, names: tuple[str, ...], *tensors: torch.Tensor) -> list[torch.Tensor]:
    for arg, t in zip(names, tensors):
        check_tensor(loss, arg, t)
    for arg, t in zip(names[1:], tensors[1:]):
        if t.shape != tensors[0].shape:
            fail(
                loss,
                arg,
                f"of the same shape as '{names[0]}' {tuple(tensors[0].shape)} (paired samples)",
                Raw(f"shape {tuple(t.shape)}"),
            )
    return [upcast(t) for t in tensors]


@loss_function(reduction=REDUCTION)
def wgan_critic_loss(
    real_scores: torch.Tensor, fake_scores: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    r"""WGAN critic loss :math:`D(\tilde x) - D(x)` (minimised by the critic).

    The per-element loss pairs the i-th real and fake score: :math:`l_i = D(\tilde x_i) - D(x_i)`,
    so ``"mean"`` is :math:`\mathbb{E}[D(\tilde x)] - \mathbb{E}[D(x)]`, the negated
    Kantorovich–Rubinstein estimate of :math:`W_1` (given a 1-Lipschitz critic: add
    :func:`gradient_penalty`). Scores are raw critic outputs (no sigmoid); the critic should use no
    batch normalisation (the penalty assumes samples are scored independently).

    Args:
        real_scores: critic scores of real samples, any shape.
        fake_scores: critic scores of generated samples, same shape.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.wgan_critic_loss(torch.tensor([2.0, 4.0]), torch.tensor([-1.0, 1.0]))
        tensor(-3.)

    References:
        Arjovsky, Chintala, Bottou, "Wasserstein Generative Adversarial Networks", ICML 2017.
    """
    real, fake = _scores(
        "wgan_critic_loss", ("real_scores", "fake_scores"), real_scores, fake_scores
    )
    return reduce_loss(fake - real, reduction, name="wgan_critic_loss")


@loss_function(reduction=REDUCTION)
def wgan_generator_loss(fake_scores: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    r"""WGAN generator loss :math:`-D(G(z))` on the critic's scores of generated samples.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.wgan_generator_loss(torch.tensor([-1.0, 3.0]))
        tensor(-1.)

    References:
        Arjovsky, Chintala, Bottou, "Wasserstein Generative Adversarial Networks", ICML 2017.
    """
    (fake,) = _scores("wgan_generator_loss", ("fake_scores",), fake_scores)
    return reduce_loss(-fake, reduction, name="wgan_generator_loss")


@loss_function(reduction=REDUCTION)
def gan_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    r"""GAN discriminator loss: BCE with logits, real labelled 1 and fake 0.

    :math:`l_i = -\log \sigma(r_i) - \log(1 - \sigma(f_i)) = \operatorname{softplus}(-r_i) +
    \operatorname{softplus}(f_i)`, pairing the i-th real and fake logit; ``"mean"`` is the sum of
    the BCE on the real half and the BCE on the fake half (Goodfellow et al.'s discriminator,
    whose optimum relates the generator's objective to the Jensen–Shannon divergence). Finite
    with finite gradients for logits of any size.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.gan_discriminator_loss(torch.zeros(3), torch.zeros(3))  # 2 log 2
        tensor(1.3863)

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
    """
    name = "gan_discriminator_loss"
    real, fake = _scores(name, ("real_logits", "fake_logits"), real_logits, fake_logits)
    warn_if_probabilities(name, "real_logits", real, dim=None, advice=SIGMOID_ADVICE)
    warn_if_probabilities(name, "fake_logits", fake, dim=None, advice=SIGMOID_ADVICE)
    return reduce_loss(
        TF.softplus(-real) + TF.softplus(fake), reduction, name="gan_discriminator_loss"
    )


@loss_function(reduction=REDUCTION)
def gan_generator_loss(fake_logits: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    r"""Non-saturating GAN generator loss :math:`-\log \sigma(D(G(z))) = \operatorname{softplus}(-f)`.

    The "-log D" trick of Goodfellow et al.: the same fixed point as the minimax
    :math:`\log(1 - \sigma(f))`, but strong gradients while the discriminator rejects the samples
    (:math:`\partial l / \partial f = -\sigma(-f) \to -1` as :math:`f \to -\infty`).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.gan_generator_loss(torch.tensor([0.0]))  # log 2
        tensor(0.6931)

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
    """
    (fake,) = _scores("gan_generator_loss", ("fake_logits",), fake_logits)
    warn_if_probabilities(
        "gan_generator_loss", "fake_logits", fake, dim=None, advice=SIGMOID_ADVICE
    )
    return reduce_loss(TF.softplus(-fake), reduction, name="gan_generator_loss")


@loss_function(
    weight=Param("float", "the penalty weight lambda (10 in WGAN-GP)", ge=0),
    one_sided=Param("bool", "penalise only gradient norms above 1"),
    sample_dims=Param("int", "number of leading dimensions that index samples", ge=1),
    reduction=REDUCTION,
)
def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    weight: float = 10.0,
    one_sided: bool = False,
    sample_dims: int = 1,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""WGAN-GP gradient penalty :math:`\lambda (\lVert \nabla_{\hat x} D(\hat x) \rVert_2 - 1)^2`.

    :math:`\hat x = \alpha x + (1 - \alpha) \tilde x` with one :math:`\alpha \sim U[0, 1]` per
    sample, drawn from ``generator`` (pass a seeded ``torch.Generator`` for reproducible runs).
    ``real`` and ``fake`` are detached (the penalty trains the critic only); the gradient is taken
    with ``create_graph=True`` so the penalty is differentiable w.r.t. the critic's parameters.
    ``one_sided=True`` penalises only :math:`\max(0, \lVert\nabla\rVert - 1)^2` (Petzka et al.
    2018). The norm runs over every dimension after the first ``sample_dims`` (use
    ``sample_dims=2`` for stacked models with inputs ``(models, batch, ...)``); its gradient is
    taken as 0 where the critic's gradient is exactly 0. The critic must score samples
    independently (no batch normalisation). ``"none"`` returns one penalty per sample.

    Not in the catalog: its first argument is a callable, not an (input, target) pair.

    Example:
        >>> import torch, losslab.functional as LF
        >>> w = torch.tensor([3.0, 4.0])  # a linear critic: gradient norm |w| = 5 everywhere
        >>> LF.gradient_penalty(lambda x: x @ w, torch.zeros(4, 2), torch.ones(4, 2))
        tensor(160.)

    References:
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017;
        Petzka, Fischer, Lukovnikov, "On the regularization of Wasserstein GANs", ICLR 2018.
    """
    name = "gradient_penalty"
    if not callable(critic):
        fail(
            name,
            "critic",
            "a callable mapping samples to scores",
            Raw(type(critic).__name__),
            kind=TypeError,
        )
    real, fake = _scores(name, ("real", "fake"), real, fake)
    if generator is not None and not isinstance(generator, torch.Generator):
        fail(
            name,
            "generator",
            "a torch.Generator (or None)",
            Raw(type(generator).__name__),
            kind=TypeError,
        )
    if real.dim() < sample_dims:
        fail(
            name,
            "sample_dims",
            f"at most the number of dimensions of 'real' ({real.dim()})",
            sample_dims,
        )
    shape = real.shape[:sample_dims] + (1,) * (real.dim() - sample_dims)
    alpha = torch.rand(shape, generator=generator, dtype=real.dtype, device=real.device)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    sq = upcast(grad).pow(2)
    norm = _safe_sqrt(
        sq.sum(dim=tuple(range(sample_dims, sq.dim()))) if sq.dim() > sample_dims else sq
    )
    excess = norm - 1
    if one_sided:
        excess = torch.clamp(excess, min=0)
    return reduce_loss(weight * excess.pow(2), reduction, name=name)
