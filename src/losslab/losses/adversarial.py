r"""Adversarial (GAN) losses: WGAN critic and generator losses, the WGAN-GP gradient penalty,
and the standard (non-saturating) GAN discriminator and generator losses.

GAN losses take raw critic scores / discriminator logits; the non-saturating losses are written
with ``softplus`` (stable for logits of any size). A loss of a real and a fake batch pairs the
i-th real and fake score, so the two batches must have the same shape.

Each loss carries its catalog entry (:func:`entry`); every entry is batched: one paired real/fake
term per index is the "per-element" loss of the contract. :func:`gradient_penalty` has no entry
(it is not in the catalog): its first argument is a callable (the critic), not an input the
derivative could be taken with respect to, so the contract (derivative w.r.t. ``args[0]``,
samplers, properties in the input) does not apply; it has its own tests (a linear critic's
penalty by hand, double-backward into the critic), and its module
:class:`losslab.nn.GradientPenalty` is written by hand. Tested in
``tests/functional/test_distribution.py``.
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
from ..catalog._samplers import BIG
from ..catalog._spec import Case, Head, Sampler
from ..functional._common import SIGMOID_ADVICE
from ._entry import entry
from .transport import _safe_sqrt

__all__ = [
    "wgan_critic_loss",
    "wgan_generator_loss",
    "gradient_penalty",
    "gan_discriminator_loss",
    "gan_generator_loss",
]


# -- shared: validation, samplers, heads -------------------------------------------------------


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


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


N_SCORES = 6


def _score_pair(gen, dtype, scale):
    return Case(
        (scale * _randn(gen, N_SCORES, dtype=dtype), scale * _randn(gen, N_SCORES, dtype=dtype))
    )


def _pair_empty(dtype):
    return Case((torch.zeros(0, dtype=dtype), torch.zeros(0, dtype=dtype)))


def _pair_mirror(case: Case) -> Case:
    # relabel real <-> fake together with the sign of the scores
    real, fake = case.args[:2]
    return Case((-fake, -real, *case.args[2:]), case.kwargs)


#: (real, fake) critic scores; WGAN scores have no "perfect" value (the loss is unbounded below)
CRITIC_SCORES = Sampler("critic_scores", make=_score_pair, mirror=_pair_mirror, empty=_pair_empty)

#: (real, fake) discriminator logits; perfect = confidently right on both
DISCRIMINATOR_LOGITS = Sampler(
    "discriminator_logits",
    make=_score_pair,
    perfect=lambda gen, dtype: Case(
        (torch.full((N_SCORES,), BIG, dtype=dtype), torch.full((N_SCORES,), -BIG, dtype=dtype))
    ),
    mirror=_pair_mirror,
    empty=_pair_empty,
)


def _fake_only(gen, dtype, scale):
    return Case((scale * _randn(gen, N_SCORES, dtype=dtype),))


FAKE_SCORES = Sampler(
    "fake_scores", make=_fake_only, empty=lambda dtype: Case((torch.zeros(0, dtype=dtype),))
)
FAKE_LOGITS = Sampler(
    "fake_logits",
    make=_fake_only,
    perfect=lambda gen, dtype: Case((torch.full((N_SCORES,), BIG, dtype=dtype),)),
    empty=lambda dtype: Case((torch.zeros(0, dtype=dtype),)),
)


SCORE_HEAD = Head("identity", "1", "critic score: no sigmoid, no batch normalisation in the critic")
GAN_LOGIT_HEAD = Head("identity", "1", "discriminator logit (the loss applies the sigmoid)")
GEN_NOTE = "; the generator itself ends in D identity units"


def _constant(value: float):
    def grad(x, *_, **__):
        return torch.full_like(x, value)

    return grad


# -- WGAN --------------------------------------------------------------------------------------


@entry(
    module="WGANCriticLoss",
    family="generative",
    tasks=("generative",),
    input_kind="real",
    heads={"*": SCORE_HEAD},
    formula=r"\ell_i = D(G(z_i)) - D(x_i)",
    derivative=r"\frac{\partial \ell_i}{\partial D(x_i)} = -1",
    derivative_fn=_constant(-1.0),
    properties=dict(
        nonnegative=False,
        zero_at_perfect=None,  # unbounded below: no perfect critic value
        convex=True,  # linear
        smooth=True,
        bounded=False,
        robust_to_outliers=True,  # constant gradient
        symmetric=True,  # swapping real and fake together with the sign of the scores
    ),
    references=(
        "Arjovsky, Chintala, Bottou, Wasserstein Generative Adversarial Networks, ICML 2017",
        "Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS 2017",
    ),
    summary="WGAN critic objective E[D(fake)] - E[D(real)]: the negated Kantorovich-Rubinstein "
    "estimate of W_1 for a 1-Lipschitz critic.",
    when_to_use="Training the critic of a WGAN, always with a Lipschitz constraint "
    "(gradient_penalty with weight 10, the WGAN-GP recipe; no batch norm in the critic).",
    sampler=CRITIC_SCORES,
)
@loss_function(reduction=REDUCTION)
def wgan_critic_loss(
    real_scores: torch.Tensor, fake_scores: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    r"""WGAN critic loss :math:`D(\tilde x) - D(x)` (minimised by the critic).

    The per-element loss pairs the i-th real and fake score, so ``"mean"`` is :math:`\mathbb{E}[D(\tilde x)] - \mathbb{E}[D(x)]`, the negated
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
    """
    real, fake = _scores(
        "wgan_critic_loss", ("real_scores", "fake_scores"), real_scores, fake_scores
    )
    return reduce_loss(fake - real, reduction, name="wgan_critic_loss")


@entry(
    module="WGANGeneratorLoss",
    family="generative",
    tasks=("generative",),
    input_kind="real",
    heads={"*": Head("identity", "1", "the critic's score of a generated sample" + GEN_NOTE)},
    formula=r"\ell_i = -D(G(z_i))",
    derivative=r"\frac{\partial \ell_i}{\partial D(G(z_i))} = -1",
    derivative_fn=_constant(-1.0),
    properties=dict(
        nonnegative=False,
        zero_at_perfect=None,
        convex=True,
        smooth=True,
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,  # a single input: nothing to mirror
    ),
    references=(
        "Arjovsky, Chintala, Bottou, Wasserstein Generative Adversarial Networks, ICML 2017",
    ),
    summary="WGAN generator objective -E[D(G(z))]: move generated samples up the critic.",
    when_to_use="The generator step of a WGAN / WGAN-GP (pair with wgan_critic_loss and "
    "gradient_penalty).",
    sampler=FAKE_SCORES,
)
@loss_function(reduction=REDUCTION)
def wgan_generator_loss(fake_scores: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    r"""WGAN generator loss :math:`-D(G(z))` on the critic's scores of generated samples.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.wgan_generator_loss(torch.tensor([-1.0, 3.0]))
        tensor(-1.)
    """
    (fake,) = _scores("wgan_generator_loss", ("fake_scores",), fake_scores)
    return reduce_loss(-fake, reduction, name="wgan_generator_loss")


# -- standard (non-saturating) GAN -------------------------------------------------------------


def _gan_discriminator_grad(real, fake, **_):
    return -torch.sigmoid(-real)


@entry(
    module="GANDiscriminatorLoss",
    family="generative",
    tasks=("generative",),
    input_kind="logits",
    heads={"*": GAN_LOGIT_HEAD},
    formula=r"\ell_i = -\log \sigma(r_i) - \log(1 - \sigma(f_i)) = \operatorname{softplus}(-r_i)"
    r" + \operatorname{softplus}(f_i)",
    derivative=r"\frac{\partial \ell_i}{\partial r_i} = -\sigma(-r_i)",
    derivative_fn=_gan_discriminator_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=True,
        smooth=True,
        bounded=False,
        robust_to_outliers=True,  # |gradient| <= 1
        symmetric=True,  # swapping real and fake together with the sign of the logits
    ),
    references=("Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014",),
    summary="GAN discriminator: BCE with logits, real labelled 1 and fake 0 (stable softplus form).",
    when_to_use="The discriminator step of a standard (JS) GAN, with gan_generator_loss for the "
    "generator.",
    sampler=DISCRIMINATOR_LOGITS,
)
@loss_function(reduction=REDUCTION)
def gan_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    r"""GAN discriminator loss: BCE with logits, real labelled 1 and fake 0.

    The per-element loss pairs the i-th real and fake logit; ``"mean"`` is the sum of
    the BCE on the real half and the BCE on the fake half (Goodfellow et al.'s discriminator,
    whose optimum relates the generator's objective to the Jensen–Shannon divergence). Finite
    with finite gradients for logits of any size.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.gan_discriminator_loss(torch.zeros(3), torch.zeros(3))  # 2 log 2
        tensor(1.3863)
    """
    name = "gan_discriminator_loss"
    real, fake = _scores(name, ("real_logits", "fake_logits"), real_logits, fake_logits)
    warn_if_probabilities(name, "real_logits", real, dim=None, advice=SIGMOID_ADVICE)
    warn_if_probabilities(name, "fake_logits", fake, dim=None, advice=SIGMOID_ADVICE)
    return reduce_loss(
        TF.softplus(-real) + TF.softplus(fake), reduction, name="gan_discriminator_loss"
    )


def _gan_generator_grad(fake, **_):
    return -torch.sigmoid(-fake)


@entry(
    module="GANGeneratorLoss",
    family="generative",
    tasks=("generative",),
    input_kind="logits",
    heads={
        "*": Head("identity", "1", "the discriminator's logit of a generated sample" + GEN_NOTE)
    },
    formula=r"\ell_i = -\log \sigma(f_i) = \operatorname{softplus}(-f_i)",
    derivative=r"\frac{\partial \ell_i}{\partial f_i} = -\sigma(-f_i)",
    derivative_fn=_gan_generator_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,  # the discriminator is fooled with confidence
        convex=True,
        smooth=True,
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=("Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014",),
    summary="Non-saturating generator loss -log D(G(z)): the same fixed point as the minimax "
    "loss with strong gradients while the discriminator wins.",
    when_to_use="The generator step of a standard GAN (the 'JS' GAN of the comparisons).",
    sampler=FAKE_LOGITS,
)
@loss_function(reduction=REDUCTION)
def gan_generator_loss(fake_logits: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    r"""Non-saturating GAN generator loss :math:`-\log \sigma(D(G(z))) = \operatorname{softplus}(-f)`.

    The "-log D" trick of Goodfellow et al.: the same fixed point as the minimax
    :math:`\log(1 - \sigma(f))`, but strong gradients while the discriminator rejects the samples
    (the gradient tends to -1 as :math:`f \to -\infty`).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.gan_generator_loss(torch.tensor([0.0]))  # log 2
        tensor(0.6931)
    """
    (fake,) = _scores("gan_generator_loss", ("fake_logits",), fake_logits)
    warn_if_probabilities(
        "gan_generator_loss", "fake_logits", fake, dim=None, advice=SIGMOID_ADVICE
    )
    return reduce_loss(TF.softplus(-fake), reduction, name="gan_generator_loss")


# -- WGAN-GP gradient penalty (no entry: not in the catalog) -----------------------------------


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
