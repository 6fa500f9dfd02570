r"""Reinforcement learning: returns, advantages and the policy / value losses.

The losses (:func:`reinforce_loss`, :func:`ppo_clip_loss`, :func:`td_loss`) live in the catalog
family ``rl`` (:mod:`losslab.losses.rl`, also in :mod:`losslab.functional`); this module adds
what an agent computes around them:

* :func:`discounted_returns`: :math:`G_t = r_t + \gamma (1 - d_t) G_{t+1}`;
* :func:`gae`: generalized advantage estimation and the matching value targets;
* :func:`ppo_loss`: PPO's full objective, clipped surrogate + value loss - entropy bonus.

Time runs along the first dimension; further dimensions index parallel environments (a
``gymnasium`` vector env gives ``(T, E)`` rewards). ``dones[t] = 1`` means the episode ended at
step ``t`` (a terminal state: nothing is bootstrapped past it).

Example:
    >>> import torch
    >>> from losslab import rl
    >>> rl.discounted_returns(torch.tensor([1.0, 1.0, 1.0]), torch.tensor([0.0, 0.0, 1.0]), gamma=0.5)
    tensor([1.7500, 1.5000, 1.0000])
"""

from __future__ import annotations

import torch

from ._validation import Raw, check_tensor, fail
from .losses.rl import ppo_clip_loss, reinforce_loss, td_loss, td_target

__all__ = [
    "discounted_returns",
    "gae",
    "ppo_clip_loss",
    "ppo_loss",
    "reinforce_loss",
    "td_loss",
    "td_target",
]


def _check_discount(name: str, arg: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        fail(name, arg, "a number in [0, 1]", value)
    return float(value)


def _check_steps(name: str, rewards: torch.Tensor, **others: torch.Tensor) -> None:
    check_tensor(name, "rewards", rewards)
    if rewards.dim() == 0:
        fail(name, "rewards", "a tensor with time along dimension 0", Raw("a 0-d tensor"))
    for arg, t in others.items():
        check_tensor(name, arg, t, floating=arg != "dones")
        if t.shape != rewards.shape:
            fail(
                name,
                arg,
                f"of the same shape as 'rewards' {tuple(rewards.shape)}",
                Raw(f"shape {tuple(t.shape)}"),
            )


def discounted_returns(
    rewards: torch.Tensor,
    dones: torch.Tensor,
    *,
    gamma: float = 0.99,
    last_value: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    r"""Discounted returns :math:`G_t = r_t + \gamma (1 - d_t) G_{t+1}`, :math:`G_T` = ``last_value``.

    A ``done`` resets the sum, so one tensor may hold several episodes back to back. For a
    rollout cut before its episode ended, pass the value estimate of the next state as
    ``last_value`` (shape ``rewards.shape[1:]``); the default 0 suits complete episodes.

    Args:
        rewards: (T,) or (T, E) rewards.
        dones: same shape; 1 (or True) where the episode ended at that step.
        gamma: discount factor in [0, 1].
        last_value: value bootstrapped after the last step.

    Example:
        >>> import torch
        >>> discounted_returns(torch.tensor([0.0, 1.0, 2.0, 3.0]),
        ...                    torch.tensor([0, 1, 0, 0]), gamma=0.9, last_value=10.0)
        tensor([ 0.9000,  1.0000, 12.8000, 12.0000])
    """
    name = "discounted_returns"
    _check_steps(name, rewards, dones=dones)
    gamma = _check_discount(name, "gamma", gamma)
    keep = 1.0 - dones.to(rewards.dtype)
    out = torch.empty_like(rewards)
    running = torch.as_tensor(last_value, dtype=rewards.dtype).expand(rewards.shape[1:])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + gamma * keep[t] * running
        out[t] = running
    return out


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor | float,
    *,
    gamma: float = 0.99,
    lam: float = 0.95,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Generalized advantage estimation: (advantages, value targets).

    :math:`\delta_t = r_t + \gamma (1 - d_t) V_{t+1} - V_t` and
    :math:`A_t = \delta_t + \gamma\lambda (1 - d_t) A_{t+1}`, with :math:`V_T` = ``last_value``;
    the value targets are :math:`A_t + V_t`. ``lam=1`` gives the discounted return minus
    :math:`V_t` (Monte Carlo), ``lam=0`` the one-step TD error. Computed without gradient.

    Args:
        rewards: (T,) or (T, E).
        values: :math:`V(s_t)`, same shape.
        dones: same shape; 1 where the episode ended at step t.
        last_value: :math:`V(s_T)` of the state after the rollout (shape ``rewards.shape[1:]``).
        gamma, lam: discount and GAE's :math:`\lambda`, both in [0, 1].

    Example:
        >>> import torch
        >>> adv, ret = gae(torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.5]),
        ...                torch.tensor([0.0, 1.0]), 0.0, gamma=1.0, lam=1.0)
        >>> adv, ret
        (tensor([1.5000, 0.5000]), tensor([2., 1.]))

    References:
        Schulman, Moritz, Levine, Jordan, Abbeel, "High-Dimensional Continuous Control Using
        Generalized Advantage Estimation", ICLR 2016.
    """
    name = "gae"
    _check_steps(name, rewards, values=values, dones=dones)
    gamma = _check_discount(name, "gamma", gamma)
    lam = _check_discount(name, "lam", lam)
    with torch.no_grad():
        keep = 1.0 - dones.to(rewards.dtype)
        v = values.detach().to(rewards.dtype)
        nxt = torch.as_tensor(last_value, dtype=rewards.dtype).detach().expand(rewards.shape[1:])
        adv = torch.empty_like(rewards)
        running = torch.zeros(rewards.shape[1:], dtype=rewards.dtype)
        for t in range(rewards.shape[0] - 1, -1, -1):
            delta = rewards[t] + gamma * keep[t] * nxt - v[t]
            running = delta + gamma * lam * keep[t] * running
            adv[t] = running
            nxt = v[t]
    return adv, adv + v


def ppo_loss(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    values: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    *,
    clip: float = 0.2,
    value_coef: float = 0.5,
    entropy_coef: float = 0.01,
    normalize_advantages: bool = True,
) -> torch.Tensor:
    r"""PPO's objective (minimised): clipped surrogate + value loss - entropy bonus.

    :math:`L = L^{clip} + c_v \tfrac12 \overline{(V(s_t) - R_t)^2} - c_e \overline{H(\pi(\cdot \mid s_t))}`,
    :math:`L^{clip}` the mean :func:`ppo_clip_loss`. With ``normalize_advantages`` the
    advantages are standardised over the batch first (zero mean, unit standard deviation; a
    batch of one is only centred), as in the reference implementations.

    Args:
        log_probs, old_log_probs, advantages: as in :func:`ppo_clip_loss`, shape (T,).
        values: the value network's :math:`V(s_t)`, shape (T,); ``returns``: its targets (e.g.
            from :func:`gae`), detached.
        entropy: the policy's entropy at each state, shape (T,).
        clip, value_coef, entropy_coef: :math:`\epsilon` in (0, 1], :math:`c_v`, :math:`c_e` (>= 0).

    Example:
        >>> import torch
        >>> z = torch.zeros(2)
        >>> ppo_loss(z, z, torch.tensor([1.0, -1.0]), torch.tensor([1.0, 0.0]), z,
        ...          torch.ones(2), value_coef=0.5, entropy_coef=0.1, normalize_advantages=False)
        tensor(0.0250)
    """
    name = "ppo_loss"
    if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not 0 < clip <= 1:
        fail(name, "clip", "a number in (0, 1]", clip)
    for arg, value in (("value_coef", value_coef), ("entropy_coef", entropy_coef)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            fail(name, arg, "a number >= 0", value)
    for arg, t in (("values", values), ("returns", returns), ("entropy", entropy)):
        check_tensor(name, arg, t)
        if t.shape != log_probs.shape:
            fail(
                name,
                arg,
                f"of the same shape as 'log_probs' {tuple(log_probs.shape)}",
                Raw(f"shape {tuple(t.shape)}"),
            )
    adv = advantages.detach()
    if normalize_advantages and adv.numel() > 0:
        adv = adv - adv.mean()
        if adv.numel() > 1:
            adv = adv / (adv.std() + 1e-8)
    policy = ppo_clip_loss(log_probs, old_log_probs, adv, clip=clip)
    value = 0.5 * (values - returns.detach()).pow(2).mean()
    return policy + value_coef * value - entropy_coef * entropy.mean()
