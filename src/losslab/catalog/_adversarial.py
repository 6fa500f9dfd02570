"""Catalog entries of the GAN losses (WGAN critic and generator, GAN discriminator and generator).

Every entry is batched: one paired real/fake term per index is the "per-element" loss of the
contract. ``gradient_penalty`` is not registered: its first argument is a callable (the critic),
not an input the derivative could be taken with respect to, so the contract (derivative w.r.t.
``args[0]``, samplers, properties in the input) does not apply; it has its own tests (a linear
critic's penalty by hand, double-backward into the critic).
"""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._registry import register
from ._samplers import BIG
from ._spec import Case, Head, LossSpec, Sampler

# -- samplers ----------------------------------------------------------------------------------


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


# -- analytic derivatives (written from the math, never with autograd) ---------------------------


def _constant(value: float):
    def grad(x, *_, **__):
        return torch.full_like(x, value)

    return grad


# -- entries -----------------------------------------------------------------------------------

SCORE_HEAD = Head("identity", "1", "critic score: no sigmoid, no batch normalisation in the critic")
GAN_LOGIT_HEAD = Head("identity", "1", "discriminator logit (the loss applies the sigmoid)")
GEN_NOTE = "; the generator itself ends in D identity units"

register(
    LossSpec(
        name="wgan_critic_loss",
        function=LF.wgan_critic_loss,
        module=LN.WGANCriticLoss,
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
)

register(
    LossSpec(
        name="wgan_generator_loss",
        function=LF.wgan_generator_loss,
        module=LN.WGANGeneratorLoss,
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
)

register(
    LossSpec(
        name="gan_discriminator_loss",
        function=LF.gan_discriminator_loss,
        module=LN.GANDiscriminatorLoss,
        family="generative",
        tasks=("generative",),
        input_kind="logits",
        heads={"*": GAN_LOGIT_HEAD},
        formula=r"\ell_i = -\log \sigma(r_i) - \log(1 - \sigma(f_i)) = \operatorname{softplus}(-r_i)"
        r" + \operatorname{softplus}(f_i)",
        derivative=r"\frac{\partial \ell_i}{\partial r_i} = -\sigma(-r_i)",
        derivative_fn=lambda real, fake, **_: -torch.sigmoid(-real),
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
)

register(
    LossSpec(
        name="gan_generator_loss",
        function=LF.gan_generator_loss,
        module=LN.GANGeneratorLoss,
        family="generative",
        tasks=("generative",),
        input_kind="logits",
        heads={
            "*": Head("identity", "1", "the discriminator's logit of a generated sample" + GEN_NOTE)
        },
        formula=r"\ell_i = -\log \sigma(f_i) = \operatorname{softplus}(-f_i)",
        derivative=r"\frac{\partial \ell_i}{\partial f_i} = -\sigma(-f_i)",
        derivative_fn=lambda fake, **_: -torch.sigmoid(-fake),
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
)
