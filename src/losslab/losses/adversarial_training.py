r"""Adversarial-training losses (catalog family ``adversarial``): TRADES and MART on logits.

The outer losses of adversarial training are functions of the adversarial logits (the model on
the attacked inputs), the clean logits (the model on the clean inputs) and the labels, so they
live here as pure functions with catalog entries; the attack that makes the adversarial inputs
(the inner maximisation) is in :mod:`losslab.adversarial`, whose
:func:`~losslab.adversarial.adversarial_training_loss` runs attack + outer loss on a model for
the four recipes (PGD-AT, TRADES, MART, fast FGSM). PGD-AT (Madry et al. 2018) and fast FGSM
training (Wong et al. 2020) minimise plain cross-entropy on the adversarial logits
(``cross_entropy``, already in the catalog), so they need no entry of their own.

The first argument (the one the catalog's derivative and properties refer to) is the
adversarial logits. Neither loss detaches the clean distribution: the gradient reaches the model
through the clean logits too, as in both reference implementations. Both per-sample KL terms are
``KL(p_clean || p_adv) = sum_k p_clean,k (log p_clean,k - log p_adv,k)`` (the direction of the
TRADES and MART code: the clean distribution is the reference), computed from log-softmaxes
(``torch.nn.functional.kl_div`` with ``log_target=True``), finite for logits of any size.
``"mean"`` averages the per-sample losses over the batch (the references' ``batchmean`` / ``1 /
batch_size`` sums). Tested in ``tests/functional/test_adversarial_training.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF

from .._reduction import reduce_loss
from .._validation import REDUCTION, Param, check_same_shape, loss_function
from ..catalog._common import CLASS_HEAD, onehot
from ..catalog._samplers import BIG, C, N
from ..catalog._spec import Case, Sampler
from ..functional._common import class_inputs, gather_class, log_one_minus_softmax_target
from ._entry import entry

__all__ = ["trades_loss", "mart_loss"]


# -- samplers: (adversarial logits, clean logits, class indices) ------------------------------


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def _make(gen, dtype, scale):
    adv = scale * _randn(gen, N, C, dtype=dtype)
    clean = scale * _randn(gen, N, C, dtype=dtype)
    return Case((adv, clean, torch.randint(0, C, (N,), generator=gen)))


def _perfect(gen, dtype):
    y = torch.randint(0, C, (N,), generator=gen)
    z = BIG * TF.one_hot(y, C).to(dtype)
    return Case((z, z.clone(), y))


def _empty(dtype):
    z = torch.zeros(0, C, dtype=dtype)
    return Case((z, z.clone(), torch.zeros(0, dtype=torch.long)))


def _mart_kink(dtype):
    # the two wrong classes 1 and 2 tie for the highest adversarial probability: the margin
    # term's "most likely wrong class" switches there
    adv = torch.tensor([[0.5, 1.0, 1.0, -1.0]], dtype=dtype).repeat(N, 1)
    clean = torch.zeros(N, C, dtype=dtype)
    return Case((adv, clean, torch.zeros(N, dtype=torch.long)))


#: (adversarial logits, clean logits, targets); perfect: both confidently right and equal
ADV_CLEAN_LOGITS = Sampler("adv_clean_logits", make=_make, perfect=_perfect, empty=_empty)
MART_LOGITS = Sampler(
    "adv_clean_logits_mart", make=_make, perfect=_perfect, empty=_empty, kink=_mart_kink
)

BETA_TRADES = Param("float", "weight of the robustness (KL) term", ge=0)
BETA_MART = Param("float", "weight of the misclassification-aware KL term", ge=0)


def _inputs(
    name: str, adv_logits: torch.Tensor, clean_logits: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    adv, y, _, _ = class_inputs(name, adv_logits, target, -100, arg="adv_logits")
    clean, _, _, _ = class_inputs(name, clean_logits, target, -100, arg="clean_logits")
    check_same_shape(name, "adv_logits", adv, "clean_logits", clean)
    return adv, clean, y


def kl_clean_adv(
    clean_logits: torch.Tensor, adv_logits: torch.Tensor, *, dim: int = 1
) -> torch.Tensor:
    """Per-sample ``KL(softmax(clean) || softmax(adv))`` over the class dimension ``dim`` (>= 0,
    0 when the two agree).

    Example:
        >>> import torch
        >>> from losslab.losses.adversarial_training import kl_clean_adv
        >>> kl_clean_adv(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
        tensor([0.])
    """
    log_adv = torch.log_softmax(adv_logits, dim=dim)
    log_clean = torch.log_softmax(clean_logits, dim=dim)
    return TF.kl_div(log_adv, log_clean, reduction="none", log_target=True).sum(dim=dim)


def _trades_grad(adv, clean, y, *, beta, **_):
    return beta * (torch.softmax(adv, dim=1) - torch.softmax(clean, dim=1))


@entry(
    module="TRADESLoss",
    family="adversarial",
    tasks=("multiclass",),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = -\log p_y(x) + \beta\,\mathrm{KL}(p(x) \,\|\, p(x'))"
    r",\quad p = \operatorname{softmax}",
    derivative=r"\frac{\partial \ell}{\partial z'_j} = \beta\,(p_j(x') - p_j(x))",
    derivative_fn=_trades_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=True,  # in the adversarial logits: a soft-target cross-entropy plus constants
        smooth=True,
        bounded=False,
        robust_to_outliers=True,  # |gradient| <= beta
        symmetric=None,
    ),
    references=(
        "Zhang, Yu, Jiao, Xing, El Ghaoui, Jordan, Theoretically Principled Trade-off between "
        "Robustness and Accuracy, ICML 2019",
    ),
    summary="TRADES: clean cross-entropy plus beta times KL(clean || adversarial) predictions.",
    when_to_use="Adversarial training that trades clean accuracy for robustness through beta "
    "(1: more accurate, 6: more robust, the paper's settings); the adversarial input maximises "
    "the same KL (losslab.adversarial.adversarial_training_loss(..., method='trades')).",
    sampler=ADV_CLEAN_LOGITS,
)
@loss_function(beta=BETA_TRADES, reduction=REDUCTION)
def trades_loss(
    adv_logits: torch.Tensor,
    clean_logits: torch.Tensor,
    target: torch.Tensor,
    *,
    beta: float = 6.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""TRADES: :math:`\mathrm{CE}(z, y) + \beta\,\mathrm{KL}(\operatorname{softmax} z \,\|\,
    \operatorname{softmax} z')` with clean logits :math:`z` and adversarial logits :math:`z'`.

    The KL direction is that of the reference code (``KLDivLoss(log_softmax(z'),
    softmax(z))``): the clean distribution is the reference. It is not detached: the gradient
    flows into the clean logits through both terms, as in the reference code.

    Args:
        adv_logits: the model's logits on the adversarial inputs, (N, C).
        clean_logits: the model's logits on the clean inputs, (N, C).
        target: class indices (N,).
        beta: weight of the KL term, >= 0 (0: plain cross-entropy on the clean inputs).
        reduction: ``"none"`` | ``"mean"`` (over the batch: the reference's ``batchmean``) |
            ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> z = torch.tensor([[2.0, 0.0, 0.0]])
        >>> LF.trades_loss(z, z, torch.tensor([0]))  # no perturbation effect: CE only
        tensor(0.2395)
    """
    name = "trades_loss"
    adv, clean, y = _inputs(name, adv_logits, clean_logits, target)
    ce = -gather_class(torch.log_softmax(clean, dim=1), y)
    return reduce_loss(ce + beta * kl_clean_adv(clean, adv), reduction, name=name)


@entry(
    module="MARTLoss",
    family="adversarial",
    tasks=("multiclass",),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = -\log p'_y - \log(1 - \max_{k \ne y} p'_k) + \beta\,"
    r"\mathrm{KL}(p \,\|\, p')\,(1 - p_y),\quad p = \operatorname{softmax}(z),\ "
    r"p' = \operatorname{softmax}(z')",
    derivative=r"\frac{\partial \ell}{\partial z'} = (p' - e_y) + (p' - q'_{-j}) + \beta (1 - p_y)"
    r"(p' - p),\ j = \arg\max_{k \ne y} p'_k",
    derivative_fn=None,
    notes="no analytic derivative helper: the margin term's class j switches with the input "
    "(autograd gives it; gradcheck covers it)",
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=False,  # the margin term -log(1 - max_k p'_k) is not convex in the logits
        smooth=False,  # kink where two wrong classes tie for the highest probability
        bounded=False,
        robust_to_outliers=True,  # every term's gradient is a difference of probabilities
        symmetric=None,
    ),
    references=(
        "Wang, Zou, Yi, Bailey, Ma, Gu, Improving Adversarial Robustness Requires Revisiting "
        "Misclassified Examples, ICLR 2020",
    ),
    summary="MART: boosted CE on adversarial inputs plus a KL term weighted by how badly the "
    "clean input is classified (1 - p_y).",
    when_to_use="Adversarial training that emphasises misclassified examples; the adversarial "
    "input is PGD on cross-entropy (losslab.adversarial.adversarial_training_loss(..., "
    "method='mart')); beta = 6 in the paper (CIFAR-10).",
    sampler=MART_LOGITS,
)
@loss_function(beta=BETA_MART, reduction=REDUCTION)
def mart_loss(
    adv_logits: torch.Tensor,
    clean_logits: torch.Tensor,
    target: torch.Tensor,
    *,
    beta: float = 6.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""MART: boosted cross-entropy on the adversarial logits plus a misclassification-aware KL.

    .. math::
        \ell = \underbrace{-\log p'_y - \log\bigl(1 - \max_{k \ne y} p'_k\bigr)}_{\mathrm{BCE}}
        + \beta\,\mathrm{KL}(p \,\|\, p')\,(1 - p_y)

    :math:`\log(1 - p'_j)` is computed in log space (logsumexp over the other classes minus
    logsumexp), where the reference code writes ``log(1.0001 - p' + 1e-12)``: the two agree up
    to those offsets, and this form stays finite with finite gradients when :math:`p'_j` rounds
    to 1. The weight :math:`1 - p_y` is not detached (as in the reference code).

    Args:
        adv_logits: logits on the adversarial inputs, (N, C) with C >= 2.
        clean_logits: logits on the clean inputs, (N, C).
        target: class indices (N,).
        beta: weight of the KL term, >= 0.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> z = torch.tensor([[2.0, 0.0, 0.0]])
        >>> LF.mart_loss(z, z, torch.tensor([0]))  # CE 0.2395 + (-log(1 - 0.1065))
        tensor(0.3522)
    """
    name = "mart_loss"
    adv, clean, y = _inputs(name, adv_logits, clean_logits, target)
    log_p_adv = torch.log_softmax(adv, dim=1)
    ce = -gather_class(log_p_adv, y)
    wrong = log_p_adv.masked_fill(onehot(y, adv).bool(), float("-inf"))
    j = wrong.argmax(dim=1)
    margin = -log_one_minus_softmax_target(adv, j, dim=1)
    p_y = gather_class(torch.softmax(clean, dim=1), y)
    robust = kl_clean_adv(clean, adv) * (1 - p_y)
    return reduce_loss(ce + margin + beta * robust, reduction, name=name)
