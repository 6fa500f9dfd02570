r"""Adversarial attacks: FGSM and PGD (L-infinity and L2), for one model or K stacked models.

An attack perturbs the inputs ``x`` within the ``eps``-ball around them (``norm="linf"``: every
coordinate moves by at most ``eps``; ``norm="l2"``: the perturbation of each sample has L2 norm
at most ``eps``) and within the data range ``clamp = (lo, hi)`` (e.g. pixels in [0, 1]), to
raise ``loss_fn(model(x_adv), y)``. ``eps`` is in the units of the data (pixel units for images
in [0, 1]).

* **FGSM** (Goodfellow et al. 2015): one signed-gradient step of size ``alpha`` (default ``eps``),
  optionally from a random start in the ball (FGSM-RS, Wong et al. 2020: ``alpha = 1.25 eps``).
* **PGD** (Madry et al. 2018): ``steps`` steps of size ``alpha`` (the signed gradient for
  L-infinity, the L2-normalised gradient for L2), each followed by the projection onto the ball
  and then the data range; a random start in the ball (uniform per coordinate for L-infinity; a
  uniform radius times a Gaussian direction for L2); ``restarts`` independent starts, keeping for
  each sample the one with the highest loss.

Conventions that attack code often gets wrong, fixed here:

* **The model's mode during the attack** is an explicit argument, ``mode="eval"`` (default:
  batch-norm statistics and dropout as at test time), ``"train"`` or ``"as_is"``; every
  submodule's own ``training`` flag is restored afterwards.
* **Determinism**: random starts draw only from ``generator`` (a ``torch.Generator``; for
  stacked models, one generator per model, so model ``k``'s start equals that of the model
  attacked alone with the same generator).
* **No side effects on the model**: gradients are taken with respect to the input only
  (``torch.autograd.grad``), so the parameters' ``.grad`` are left untouched.
* ``x`` must lie in the data range (else the ball and the range may not intersect): checked.
* ``eps = 0`` returns a copy of ``x``.
* The gradient of each sample is that of its own loss (the loss is summed over the batch, so the
  step does not depend on the batch size).

**Stacked models** (:func:`fgsm_stacked`, :func:`pgd_stacked`): inputs of shape (K, B, ...) and
a model mapping them to (K, B, C) outputs in which model ``k``'s outputs depend on ``x[k]``
only (the lab's :class:`~losslab.lab.models.StackedMLP`/``StackedCNN``). The loss summed over
all K models has, with respect to ``x[k]``, exactly model ``k``'s gradient, so one batched
forward/backward per step attacks all K models (``benchmarks/cases/adversarial_stacked.py``).

References: Goodfellow, Shlens, Szegedy, Explaining and Harnessing Adversarial Examples, ICLR
2015; Madry, Makelov, Schmidt, Tsipras, Vladu, Towards Deep Learning Models Resistant to
Adversarial Attacks, ICLR 2018; Wong, Rice, Kolter, Fast is better than free: Revisiting
adversarial training, ICLR 2020.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as TF

from ._validation import fail

__all__ = [
    "MODES",
    "NORMS",
    "fgsm",
    "pgd",
    "fgsm_stacked",
    "pgd_stacked",
    "per_sample_cross_entropy",
    "model_mode",
    "METHODS",
    "adversarial_training_loss",
    "attack_passes",
    "COLLAPSE_RULE",
    "collapse_epoch",
]

#: the model's mode during an attack
MODES = ("eval", "train", "as_is")
#: the perturbation norms PGD supports
NORMS = ("linf", "l2")

Generators = torch.Generator | Sequence[torch.Generator] | None
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def per_sample_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each sample: logits (..., C), class indices (...) -> (...)."""
    return TF.cross_entropy(logits.flatten(0, -2), y.flatten(), reduction="none").view(y.shape)


@contextlib.contextmanager
def model_mode(model: Callable[..., torch.Tensor], mode: str, name: str) -> Iterator[None]:
    """Put ``model`` in ``mode`` ("eval", "train" or "as_is") and restore every submodule's flag."""
    if mode not in MODES:
        fail(name, "mode", f"one of {', '.join(repr(m) for m in MODES)}", mode)
    if mode == "as_is":
        yield
        return
    if not isinstance(model, torch.nn.Module):
        fail(
            name,
            "mode",
            "'as_is' when the model is a plain callable (only an nn.Module has a mode)",
            mode,
        )
    flags = [(m, m.training) for m in model.modules()]
    model.train(mode == "train")
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _check(
    name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    clamp: tuple[float, float] | None,
    lead: int,
) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        fail(
            name,
            "x",
            "a floating-point tensor",
            type(x).__name__ if not isinstance(x, torch.Tensor) else x.dtype,
            kind=TypeError,
        )
    if not isinstance(y, torch.Tensor):
        fail(name, "y", "a tensor", type(y).__name__, kind=TypeError)
    if x.dim() < lead + 1:
        fail(name, "x", f"a tensor with at least {lead + 1} dimensions", f"shape {tuple(x.shape)}")
    if tuple(y.shape[:lead]) != tuple(x.shape[:lead]):
        fail(
            name,
            "y",
            f"of leading shape {tuple(x.shape[:lead])} (that of 'x')",
            f"shape {tuple(y.shape)}",
        )
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps >= 0:
        fail(name, "eps", "a number >= 0", eps)
    if clamp is not None:
        lo, hi = clamp
        if not lo < hi:
            fail(name, "clamp", "a range (lo, hi) with lo < hi", clamp)
        if x.numel() and (float(x.min()) < lo or float(x.max()) > hi):
            fail(
                name,
                "x",
                f"inside the data range clamp=({lo:g}, {hi:g})",
                f"values in [{float(x.min()):g}, {float(x.max()):g}]",
            )


def _generators(name: str, generator: Generators, k: int | None) -> list[torch.Generator | None]:
    """One generator (or None) per model; ``k=None``: a single model."""
    n = 1 if k is None else k
    if generator is None or isinstance(generator, torch.Generator):
        if k is not None and generator is not None and k > 1:
            fail(
                name,
                "generator",
                f"a sequence of {k} torch.Generator (one per stacked model)",
                "a single torch.Generator",
                kind=TypeError,
            )
        return [generator] * n
    gens = list(generator)
    if len(gens) != n or not all(isinstance(g, torch.Generator) for g in gens):
        fail(
            name,
            "generator",
            f"a sequence of {n} torch.Generator",
            f"{len(gens)} items",
            kind=TypeError,
        )
    return gens


def _flat_norm(t: torch.Tensor, lead: int) -> torch.Tensor:
    """L2 norm of each sample (over the dimensions after the ``lead`` batch dimensions), kept
    broadcastable against ``t``."""
    n = t.flatten(lead).norm(dim=-1)
    return n.view(*n.shape, *([1] * (t.dim() - lead)))


def _random_start(
    x: torch.Tensor, eps: float, norm: str, gens: list[torch.Generator | None], lead: int
) -> torch.Tensor:
    """A random perturbation in the ball, drawn per model from that model's generator."""
    parts = x.unsqueeze(0) if lead == 1 else x
    out = []
    for part, g in zip(parts, gens, strict=True):
        if norm == "linf":
            d = (torch.rand(part.shape, generator=g, dtype=part.dtype) * 2 - 1) * eps
        else:
            direction = torch.randn(part.shape, generator=g, dtype=part.dtype)
            radius = torch.rand(part.shape[0], generator=g, dtype=part.dtype)
            radius = radius.view(-1, *([1] * (part.dim() - 1)))
            d = direction / _flat_norm(direction, 1).clamp_min(1e-12) * radius * eps
        out.append(d)
    delta = torch.stack(out)
    return delta[0] if lead == 1 else delta


def _project(
    x: torch.Tensor,
    delta: torch.Tensor,
    eps: float,
    norm: str,
    clamp: tuple[float, float] | None,
    lead: int,
) -> torch.Tensor:
    """The adversarial input: ``delta`` projected onto the eps-ball, then ``x + delta`` onto the
    data range (the result is in both, since ``x`` is in the range)."""
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        n = _flat_norm(delta, lead)
        delta = delta * torch.where(n > eps, eps / n.clamp_min(1e-12), torch.ones_like(n))
    x_adv = x + delta
    return x_adv if clamp is None else x_adv.clamp(clamp[0], clamp[1])


def _loss_and_grad(
    model: Callable[[torch.Tensor], torch.Tensor],
    x_adv: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
) -> tuple[torch.Tensor, torch.Tensor]:
    x_adv = x_adv.detach().requires_grad_(True)
    with torch.enable_grad():
        per = loss_fn(model(x_adv), y)
        (grad,) = torch.autograd.grad(per.sum(), x_adv)
    return per.detach(), grad


def _step(grad: torch.Tensor, norm: str, lead: int) -> torch.Tensor:
    if norm == "linf":
        return grad.sign()
    return grad / _flat_norm(grad, lead).clamp_min(1e-12)


def _fgsm(
    name: str,
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float | None,
    random_start: bool,
    loss_fn: LossFn | None,
    clamp: tuple[float, float] | None,
    mode: str,
    generator: Generators,
    lead: int,
) -> torch.Tensor:
    _check(name, x, y, eps, clamp, lead)
    step = eps if alpha is None else alpha
    if not isinstance(step, (int, float)) or not step >= 0:
        fail(name, "alpha", "a number >= 0 or None (= eps)", alpha)
    gens = _generators(name, generator, x.shape[0] if lead == 2 else None)
    if eps == 0:
        return x.detach().clone()
    loss_fn = loss_fn or per_sample_cross_entropy
    x = x.detach()
    with model_mode(model, mode, name):
        delta = _random_start(x, eps, "linf", gens, lead) if random_start else torch.zeros_like(x)
        start = _project(x, delta, eps, "linf", clamp, lead)
        _, grad = _loss_and_grad(model, start, y, loss_fn)
        return _project(x, start - x + step * grad.sign(), eps, "linf", clamp, lead).detach()


def _pgd(
    name: str,
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: str,
    random_start: bool,
    restarts: int,
    loss_fn: LossFn | None,
    clamp: tuple[float, float] | None,
    mode: str,
    generator: Generators,
    lead: int,
    init: torch.Tensor | None = None,
) -> torch.Tensor:
    _check(name, x, y, eps, clamp, lead)
    if init is not None and (random_start or restarts != 1 or init.shape != x.shape):
        fail(name, "init", "a perturbation of x's shape, without random_start or restarts", init)
    if norm not in NORMS:
        fail(name, "norm", f"one of {', '.join(repr(n) for n in NORMS)}", norm)
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not alpha >= 0:
        fail(name, "alpha", "a number >= 0", alpha)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        fail(name, "steps", "an integer >= 1", steps)
    if not isinstance(restarts, int) or isinstance(restarts, bool) or restarts < 1:
        fail(name, "restarts", "an integer >= 1", restarts)
    if restarts > 1 and not random_start:
        fail(
            name, "restarts", "1 without a random start (every restart would be the same)", restarts
        )
    gens = _generators(name, generator, x.shape[0] if lead == 2 else None)
    if eps == 0:
        return x.detach().clone()
    loss_fn = loss_fn or per_sample_cross_entropy
    x = x.detach()
    best = best_loss = None
    with model_mode(model, mode, name):
        for _ in range(restarts):
            if init is not None:
                delta = init.detach()
            elif random_start:
                delta = _random_start(x, eps, norm, gens, lead)
            else:
                delta = torch.zeros_like(x)
            x_adv = _project(x, delta, eps, norm, clamp, lead)
            for _ in range(steps):
                _, grad = _loss_and_grad(model, x_adv, y, loss_fn)
                x_adv = _project(
                    x, x_adv - x + alpha * _step(grad, norm, lead), eps, norm, clamp, lead
                )
            if restarts == 1:
                return x_adv.detach()
            with torch.no_grad():
                loss = loss_fn(model(x_adv), y)
            if best is None or best_loss is None:
                best, best_loss = x_adv, loss
                continue
            better = loss > best_loss
            best_loss = torch.where(better, loss, best_loss)
            best = torch.where(better.view(*better.shape, *([1] * (x.dim() - lead))), x_adv, best)
    return best.detach() if best is not None else x.clone()


def fgsm(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float | None = None,
    random_start: bool = False,
    loss_fn: LossFn | None = None,
    clamp: tuple[float, float] | None = (0.0, 1.0),
    mode: str = "eval",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """FGSM adversarial examples (L-infinity): ``x + alpha * sign(grad_x loss)`` in the ball/range.

    Args:
        model: maps inputs (B, ...) to logits (B, C) (an ``nn.Module``, or any callable with
            ``mode="as_is"``).
        x: inputs (B, ...) inside ``clamp``; y: targets (B, ...) for ``loss_fn``.
        eps: radius of the L-infinity ball, in the data's units.
        alpha: step size (default ``eps``); random_start: start from a uniform point in the
            ball (FGSM-RS of Wong et al. 2020 uses ``alpha = 1.25 * eps``), drawn from
            ``generator``.
        loss_fn: ``(logits, y) -> per-sample losses``; default cross-entropy.
        clamp: the data range (lo, hi), or None for unbounded data.
        mode: the model's mode during the attack: ``"eval"`` | ``"train"`` | ``"as_is"``.

    Returns:
        The adversarial inputs, detached, same shape as ``x``.

    Example:
        >>> import torch
        >>> from losslab.adversarial import fgsm
        >>> model = torch.nn.Linear(2, 2)
        >>> x = torch.full((3, 2), 0.5)
        >>> x_adv = fgsm(model, x, torch.tensor([0, 1, 0]), eps=0.1)
        >>> bool(((x_adv - x).abs() <= 0.1 + 1e-7).all())
        True
    """
    return _fgsm(
        "fgsm",
        model,
        x,
        y,
        eps=eps,
        alpha=alpha,
        random_start=random_start,
        loss_fn=loss_fn,
        clamp=clamp,
        mode=mode,
        generator=generator,
        lead=1,
    )


def pgd(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: str = "linf",
    random_start: bool = True,
    restarts: int = 1,
    loss_fn: LossFn | None = None,
    clamp: tuple[float, float] | None = (0.0, 1.0),
    mode: str = "eval",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD adversarial examples (Madry et al. 2018), L-infinity or L2.

    Each of ``steps`` steps moves by ``alpha`` along the signed gradient (``"linf"``) or the
    per-sample L2-normalised gradient (``"l2"``), then projects onto the ``eps``-ball around
    ``x`` and onto the data range ``clamp``. With ``restarts > 1`` (random starts only) each
    sample keeps the restart with the highest final loss. Other arguments as in :func:`fgsm`.

    Example:
        >>> import torch
        >>> from losslab.adversarial import pgd
        >>> model = torch.nn.Linear(2, 2)
        >>> x = torch.full((3, 2), 0.5)
        >>> g = torch.Generator().manual_seed(0)
        >>> x_adv = pgd(model, x, torch.tensor([0, 1, 0]), eps=0.1, alpha=0.025, steps=5,
        ...             generator=g)
        >>> bool(((x_adv - x).abs() <= 0.1 + 1e-7).all())
        True
    """
    return _pgd(
        "pgd",
        model,
        x,
        y,
        eps=eps,
        alpha=alpha,
        steps=steps,
        norm=norm,
        random_start=random_start,
        restarts=restarts,
        loss_fn=loss_fn,
        clamp=clamp,
        mode=mode,
        generator=generator,
        lead=1,
    )


def fgsm_stacked(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float | None = None,
    random_start: bool = False,
    loss_fn: LossFn | None = None,
    clamp: tuple[float, float] | None = (0.0, 1.0),
    mode: str = "eval",
    generator: Sequence[torch.Generator] | torch.Generator | None = None,
) -> torch.Tensor:
    """:func:`fgsm` on K stacked models at once: ``x`` (K, B, ...), ``y`` (K, B, ...), ``model``
    maps (K, B, ...) to (K, B, C) with model k reading ``x[k]`` only; ``generator``: one per
    model (model k's random start equals that of :func:`fgsm` with the k-th generator)."""
    return _fgsm(
        "fgsm_stacked",
        model,
        x,
        y,
        eps=eps,
        alpha=alpha,
        random_start=random_start,
        loss_fn=loss_fn,
        clamp=clamp,
        mode=mode,
        generator=generator,
        lead=2,
    )


def pgd_stacked(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: str = "linf",
    random_start: bool = True,
    restarts: int = 1,
    loss_fn: LossFn | None = None,
    clamp: tuple[float, float] | None = (0.0, 1.0),
    mode: str = "eval",
    generator: Sequence[torch.Generator] | torch.Generator | None = None,
) -> torch.Tensor:
    """:func:`pgd` on K stacked models in one batched pass per step (shapes as in
    :func:`fgsm_stacked`); equals attacking each model alone with its own generator."""
    return _pgd(
        "pgd_stacked",
        model,
        x,
        y,
        eps=eps,
        alpha=alpha,
        steps=steps,
        norm=norm,
        random_start=random_start,
        restarts=restarts,
        loss_fn=loss_fn,
        clamp=clamp,
        mode=mode,
        generator=generator,
        lead=2,
    )


# -- adversarial training: attack (inner maximisation) + outer loss ----------------------------

#: the adversarial-training recipes of :func:`adversarial_training_loss`
METHODS = ("pgd_at", "trades", "mart", "fast_fgsm")
#: TRADES' start: x plus this times standard normal noise (the reference code's 0.001)
TRADES_START_STD = 1e-3
#: fast FGSM's step (Wong et al. 2020): 1.25 eps from a uniform random start
FAST_FGSM_STEP = 1.25


def _noise(
    x: torch.Tensor, std: float, gens: list[torch.Generator | None], lead: int
) -> torch.Tensor:
    parts = x.unsqueeze(0) if lead == 1 else x
    out = torch.stack(
        [torch.randn(p.shape, generator=g, dtype=p.dtype) * std for p, g in zip(parts, gens)]
    )
    return out[0] if lead == 1 else out


def attack_passes(method: str, steps: int) -> int:
    """Forward-backward passes per training step: the attack's plus the update's (``steps + 1``
    for PGD-AT, TRADES and MART, 2 for fast FGSM)."""
    if method not in METHODS:
        fail("attack_passes", "method", f"one of {', '.join(repr(m) for m in METHODS)}", method)
    return 2 if method == "fast_fgsm" else steps + 1


def adversarial_training_loss(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    method: str,
    eps: float,
    alpha: float | None = None,
    steps: int = 10,
    beta: float = 6.0,
    clamp: tuple[float, float] | None = (0.0, 1.0),
    mode: str = "eval",
    generator: Generators = None,
    stacked: bool = False,
) -> torch.Tensor:
    r"""Per-sample adversarial-training loss of ``model`` on ``(x, y)``: attack, then outer loss.

    ``method``:

    * ``"pgd_at"`` (Madry et al. 2018): cross-entropy on PGD (L-infinity, random start,
      ``steps`` steps of ``alpha``) examples that maximise cross-entropy.
    * ``"trades"`` (Zhang et al. 2019): :func:`~losslab.functional.trades_loss`; the inner PGD
      starts at ``x + 0.001 N(0, 1)`` and maximises ``KL(p_clean || p_adv)`` with the clean
      distribution fixed (as in the reference code); the outer loss does NOT detach the clean
      distribution (the gradient flows through both), as in the reference code.
    * ``"mart"`` (Wang et al. 2020): :func:`~losslab.functional.mart_loss` on PGD examples that
      maximise cross-entropy (random start).
    * ``"fast_fgsm"`` (Wong et al. 2020): cross-entropy on FGSM examples from a uniform random
      start with step ``alpha`` (default ``1.25 eps``); watch it with :func:`collapse_epoch`.

    The attack runs with the model in ``mode`` (default ``"eval"``; restored afterwards); the
    outer loss is evaluated in the model's own mode. ``alpha`` defaults to ``2.5 eps / steps``
    for the PGD methods (Madry et al.'s rule of thumb). ``stacked=True``: ``x`` (K, B, ...),
    ``y`` (K, B), a stacked model and one generator per model (see :func:`pgd_stacked`).
    ``eps = 0`` gives the clean loss: cross-entropy for ``pgd_at``/``fast_fgsm``/``trades``
    (its KL term is 0) and ``mart_loss(z, z, y)`` for ``mart``.

    Returns:
        Per-sample losses, shape ``y.shape`` (take ``.mean()`` for the batch loss).

    Example:
        >>> import torch
        >>> from losslab.adversarial import adversarial_training_loss
        >>> model = torch.nn.Linear(4, 3)
        >>> x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
        >>> g = torch.Generator().manual_seed(0)
        >>> adversarial_training_loss(model, x, y, method="trades", eps=0.1, steps=3,
        ...                           generator=g).shape
        torch.Size([5])
    """
    from .losses.adversarial_training import kl_clean_adv, mart_loss, trades_loss

    name = "adversarial_training_loss"
    if method not in METHODS:
        fail(name, "method", f"one of {', '.join(repr(m) for m in METHODS)}", method)
    lead = 2 if stacked else 1
    pgd_fn = pgd_stacked if stacked else pgd
    if alpha is None:
        alpha = FAST_FGSM_STEP * eps if method == "fast_fgsm" else 2.5 * eps / max(steps, 1)
    common = dict(clamp=clamp, mode=mode, generator=generator)

    def flat(z: torch.Tensor) -> torch.Tensor:
        return z.flatten(0, -2)

    if method == "fast_fgsm":
        fgsm_fn = fgsm_stacked if stacked else fgsm
        x_adv = fgsm_fn(model, x, y, eps=eps, alpha=alpha, random_start=True, **common)
        return per_sample_cross_entropy(model(x_adv), y)
    if method == "trades":
        _check(name, x, y, eps, clamp, lead)
        gens = _generators(name, generator, x.shape[0] if stacked else None)
        with model_mode(model, mode, name), torch.no_grad():
            target = model(x)
        init = _noise(x, TRADES_START_STD, gens, lead) if eps > 0 else None
        x_adv = _pgd(
            name,
            model,
            x,
            y,
            eps=eps,
            alpha=alpha,
            steps=steps,
            norm="linf",
            random_start=False,
            restarts=1,
            loss_fn=lambda z, _y: kl_clean_adv(target, z, dim=-1),
            clamp=clamp,
            mode=mode,
            generator=generator,
            lead=lead,
            init=init,
        )
        clean = model(x)
        per = trades_loss(flat(model(x_adv)), flat(clean), y.flatten(), beta=beta, reduction="none")
        return per.view(y.shape)
    x_adv = pgd_fn(model, x, y, eps=eps, alpha=alpha, steps=steps, random_start=True, **common)
    if method == "pgd_at":
        return per_sample_cross_entropy(model(x_adv), y)
    per = mart_loss(flat(model(x_adv)), flat(model(x)), y.flatten(), beta=beta, reduction="none")
    return per.view(y.shape)


# -- catastrophic overfitting ------------------------------------------------------------------

#: a run collapses when its held-out PGD accuracy falls below this fraction of its best so far
COLLAPSE_FRACTION = 0.5
#: ... provided that best was at least this (a model that was never robust cannot collapse)
COLLAPSE_MIN_BEST = 0.1
COLLAPSE_RULE = (
    "catastrophic overfitting = the held-out PGD accuracy, measured every epoch, falls below "
    f"{COLLAPSE_FRACTION:g} x its best value at an earlier epoch, once that best is >= "
    f"{COLLAPSE_MIN_BEST:g}"
)


def collapse_epoch(robust_accuracy: Sequence[float]) -> int | None:
    """The first epoch (1-based) at which a run's per-epoch held-out PGD accuracy collapses
    (:data:`COLLAPSE_RULE`), or None. Non-finite values (a diverged epoch) are skipped.

    Example:
        >>> from losslab.adversarial import collapse_epoch
        >>> collapse_epoch([0.30, 0.42, 0.45, 0.05, 0.01])
        4
        >>> collapse_epoch([0.30, 0.42, 0.40]) is None
        True
    """
    best = float("-inf")
    for epoch, acc in enumerate(robust_accuracy, start=1):
        a = float(acc)
        if a != a or a in (float("inf"), float("-inf")):
            continue
        if best >= COLLAPSE_MIN_BEST and a < COLLAPSE_FRACTION * best:
            return epoch
        best = max(best, a)
    return None
