r"""Reinforcement-learning losses: the REINFORCE policy gradient, PPO's clipped surrogate and the
DQN temporal-difference loss.

These losses take what an agent collected (log-probabilities of the actions it took, returns or
advantages, Q-values and rewards) rather than an (input, target) pair; the first argument is
the one the gradient flows into (the policy's log-probabilities, the online network's
Q-values), every other tensor is treated as a constant (detached inside the loss: a baseline,
the old policy, a target network must not carry gradient). One term per transition is the
"per-element" loss of the catalog's contract; ``"mean"`` averages over transitions.

How the catalog contract applies (the samplers below decide what the contract's ``scale`` means):

* :func:`reinforce_loss` and :func:`ppo_clip_loss` have no "perfect" prediction (a policy loss
  is unbounded below for a positive advantage) and no mirror: ``zero_at_perfect`` and
  ``symmetric`` are ``None``; PPO's ``scale`` scales the advantages (scaling the log-ratio would
  overflow ``exp`` by design, not by a flaw of the loss);
* :func:`td_loss`'s perfect case puts :math:`Q(s, a)` on the TD target with a target network
  whose best next value is 0 (so the case is perfect at every ``gamma`` the contract sweeps);
  mirroring the TD error is not a function of the arguments alone (the target moves with
  ``gamma``), so ``symmetric`` is ``None``.

The returns and advantages themselves (discounted returns, GAE) and the combined PPO objective
(clip + value + entropy) are helpers in :mod:`losslab.rl`, not catalog entries. Tested in
``tests/test_rl.py`` against a hand-computed episode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    Param,
    Raw,
    check_broadcast,
    check_integer_tensor,
    check_tensor,
    fail,
    loss_function,
)
from ..catalog._spec import Case, Head, Sampler, When
from ._entry import entry

__all__ = ["reinforce_loss", "ppo_clip_loss", "td_loss"]

TASK = "reinforcement_learning"

WILLIAMS = (
    "Williams, Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement "
    "Learning, Machine Learning 1992"
)
SCHULMAN_PPO = "Schulman, Wolski, Dhariwal, Radford, Klimov, Proximal Policy Optimization Algorithms, arXiv:1707.06347, 2017"
MNIH_DQN = "Mnih et al., Human-level control through deep reinforcement learning, Nature 2015"
SUTTON_BARTO = "Sutton, Barto, Reinforcement Learning: An Introduction, 2nd ed., MIT Press 2018"

POLICY_HEAD = Head(
    "log_softmax",
    "C",
    "C = number of actions; pass the log-probability of the action taken (gather it)",
)
#: REINFORCE on a metric: labels are sampled from the classifier (losslab.blackbox.MetricReinforce)
STOCHASTIC_CLASSIFIER_HEAD = Head(
    "identity",
    "1",
    "the logit of a stochastic classifier; labels are sampled from sigmoid(logit) and rewarded by "
    "the metric; pass log pi of the sampled labels (losslab.blackbox.MetricReinforce)",
)
Q_HEAD = Head("identity", "C", "C = number of actions: one Q-value per action, no activation")


# -- shared checks -----------------------------------------------------------------------------


def _paired(loss: str, names: tuple[str, ...], *tensors: torch.Tensor) -> list[torch.Tensor]:
    """Floating tensors of one shape (one value per transition), upcast from half precision."""
    for arg, t in zip(names, tensors, strict=True):
        check_tensor(loss, arg, t)
    for arg, t in zip(names[1:], tensors[1:], strict=True):
        if t.shape != tensors[0].shape:
            fail(
                loss,
                arg,
                f"of the same shape as '{names[0]}' {tuple(tensors[0].shape)} (one per transition)",
                Raw(f"shape {tuple(t.shape)}"),
            )
    return [upcast(t) for t in tensors]


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


N_STEPS = 12  # transitions per contract case (both sides of PPO's clip appear at every seed)
N_ACTIONS = 3


# -- REINFORCE ---------------------------------------------------------------------------------


def _reinforce_make(gen, dtype, scale):
    return Case((scale * _randn(gen, N_STEPS, dtype=dtype), _randn(gen, N_STEPS, dtype=dtype)))


def _empty2(dtype):
    return Case((torch.zeros(0, dtype=dtype), torch.zeros(0, dtype=dtype)))


POLICY_RETURNS = Sampler("policy_returns", make=_reinforce_make, empty=_empty2)

BASELINE = Param(
    "float_or_tensor",
    "value subtracted from the returns (a number, or one per transition, e.g. V(s)); detached",
    optional=True,
)


def _reinforce_grad(log_probs, returns, *, baseline=None, **_):
    b = 0.0 if baseline is None else baseline
    return -(returns - b).to(log_probs.dtype)


@entry(
    module="ReinforceLoss",
    family="rl",
    tasks=(TASK, "binary"),
    input_kind="log_probabilities",
    heads={TASK: POLICY_HEAD, "binary": STOCHASTIC_CLASSIFIER_HEAD},
    formula=r"\ell_t = -\log \pi(a_t \mid s_t)\,(G_t - b_t)",
    derivative=r"\frac{\partial \ell_t}{\partial \log \pi(a_t \mid s_t)} = -(G_t - b_t)",
    derivative_fn=_reinforce_grad,
    properties=dict(
        nonnegative=False,
        zero_at_perfect=None,  # no perfect policy value: unbounded below for G > b
        convex=True,  # linear in the log-probability
        smooth=True,
        bounded=False,
        robust_to_outliers=True,  # constant gradient -(G - b)
        symmetric=None,
    ),
    references=(WILLIAMS, SUTTON_BARTO),
    summary="REINFORCE score-function policy gradient: minus the log-probability of each action "
    "taken, weighted by its return minus a baseline.",
    when_to_use="On-policy learning from whole episodes with discrete or continuous actions, or "
    "a classifier trained on a non-differentiable metric (sampled labels rewarded by the metric); "
    "always subtract a baseline (a moving average of returns, or a learned V(s)) to cut the "
    "variance of the gradient estimate without biasing it.",
    sampler=POLICY_RETURNS,
    notes="log_probs may be log-densities (continuous actions), so their sign is not checked.",
)
@loss_function(baseline=BASELINE, reduction=REDUCTION)
def reinforce_loss(
    log_probs: torch.Tensor,
    returns: torch.Tensor,
    *,
    baseline: float | torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""REINFORCE policy-gradient loss :math:`-\log \pi(a_t \mid s_t)\,(G_t - b_t)`.

    Its gradient is the score-function estimate of :math:`-\nabla_\theta \mathbb{E}[G]`. The
    returns and the baseline are detached: a baseline that depends on the state (a value
    network) lowers the estimator's variance without biasing it only if no gradient flows from
    it into the policy; train the value network with its own loss.

    Args:
        log_probs: log-probabilities (or log-densities) of the actions taken, shape (T,) or any.
        returns: the return :math:`G_t` that followed each action, same shape.
        baseline: ``None`` (no baseline), a number, or a tensor broadcast to ``returns``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"`` (over transitions).

    Example:
        >>> import torch, losslab.functional as LF
        >>> lp = torch.log(torch.tensor([0.5, 0.25]))
        >>> LF.reinforce_loss(lp, torch.tensor([2.0, 1.0]), baseline=1.0, reduction="none")
        tensor([0.6931, 0.0000])
    """
    name = "reinforce_loss"
    lp, g = _paired(name, ("log_probs", "returns"), log_probs, returns)
    adv = g.detach()
    if isinstance(baseline, torch.Tensor):
        check_broadcast(name, "baseline", baseline, g.shape, "the shape of 'returns'")
        adv = adv - upcast(baseline).detach()
    elif baseline is not None:
        adv = adv - baseline
    return reduce_loss(-lp * adv, reduction, name=name)


# -- PPO clipped surrogate ---------------------------------------------------------------------


def _ppo_make(gen, dtype, scale):
    old = -(_randn(gen, N_STEPS, dtype=torch.float64).abs() + 0.1)
    new = old + 0.6 * _randn(gen, N_STEPS, dtype=torch.float64)
    adv = scale * _randn(gen, N_STEPS, dtype=torch.float64)
    return Case((new.to(dtype), old.to(dtype), adv.to(dtype)))


def _ppo_kink(dtype):
    # ratio exactly 1 + clip (clip = 0.2) with positive advantages: the clipped branch starts here
    old = torch.full((N_STEPS,), -1.0, dtype=torch.float64)
    new = old + torch.log(torch.tensor(1.2, dtype=torch.float64))
    return Case((new.to(dtype), old.to(dtype), torch.full((N_STEPS,), 3.0, dtype=dtype)))


POLICY_RATIO = Sampler(
    "policy_ratio",
    make=_ppo_make,
    kink=_ppo_kink,
    empty=lambda dtype: Case(tuple(torch.zeros(0, dtype=dtype) for _ in range(3))),
)

CLIP = Param("float", "clip range epsilon of the probability ratio (0.2 in PPO)", gt=0, le=1)


def _ppo_grad(log_probs, old_log_probs, advantages, *, clip, **_):
    r = torch.exp(log_probs - old_log_probs)
    flat = ((advantages > 0) & (r > 1 + clip)) | ((advantages < 0) & (r < 1 - clip))
    return torch.where(flat, torch.zeros_like(r), -advantages * r)


@entry(
    module="PPOClipLoss",
    family="rl",
    tasks=(TASK,),
    input_kind="log_probabilities",
    heads={"*": POLICY_HEAD},
    formula=r"\ell_t = -\min\left(r_t A_t,\ \operatorname{clip}(r_t, 1 - \epsilon, 1 + \epsilon)\,"
    r"A_t\right),\quad r_t = \exp(\log \pi(a_t \mid s_t) - \log \pi_{old}(a_t \mid s_t))",
    derivative=r"\frac{\partial \ell_t}{\partial \log \pi(a_t \mid s_t)} = -A_t r_t,\ "
    r"0 \text{ where } A_t > 0,\ r_t > 1 + \epsilon \text{ or } A_t < 0,\ r_t < 1 - \epsilon",
    derivative_fn=_ppo_grad,
    properties=dict(
        nonnegative=False,
        zero_at_perfect=None,
        convex=False,  # -A exp(u) is concave where the unclipped branch is active with A > 0
        smooth=False,  # a kink where the ratio leaves [1 - clip, 1 + clip]
        bounded=False,  # grows with |A| r for negative advantages
        robust_to_outliers=False,  # gradient -A r grows with the advantage
        symmetric=None,
    ),
    references=(SCHULMAN_PPO,),
    summary="PPO's clipped surrogate: the policy-gradient ratio objective, with no incentive to "
    "move the ratio pi/pi_old outside [1 - clip, 1 + clip].",
    when_to_use="On-policy actor-critic training with several epochs of minibatch updates on "
    "the same rollouts; use GAE advantages normalised per batch and add the value loss and an "
    "entropy bonus (losslab.rl.ppo_loss).",
    sampler=POLICY_RATIO,
    notes="The contract's scale scales the advantages; the log-ratio stays moderate.",
)
@loss_function(clip=CLIP, reduction=REDUCTION)
def ppo_clip_loss(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    *,
    clip: float = 0.2,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""PPO clipped surrogate loss (minimised: the negative of the objective to maximise).

    :math:`-\min(r_t A_t, \operatorname{clip}(r_t, 1-\epsilon, 1+\epsilon) A_t)`, the ratio
    computed as :math:`\exp(\log\pi - \log\pi_{old})`. The old log-probabilities and the
    advantages are detached. A positive advantage stops pulling once the ratio exceeds
    :math:`1+\epsilon`, a negative one once it falls below :math:`1-\epsilon`; on the other side
    the unclipped term keeps the pessimistic bound active.

    Args:
        log_probs: log-probabilities of the actions taken under the current policy, shape (T,).
        old_log_probs: the same under the policy that collected the data, same shape.
        advantages: advantage estimates (e.g. GAE), same shape.
        clip: :math:`\epsilon`.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"`` (over transitions).

    Example:
        >>> import torch, losslab.functional as LF
        >>> old = torch.zeros(2)
        >>> new = torch.log(torch.tensor([1.5, 0.5]))  # ratios 1.5 and 0.5
        >>> LF.ppo_clip_loss(new, old, torch.tensor([1.0, -1.0]), reduction="none")
        tensor([-1.2000,  0.8000])
    """
    name = "ppo_clip_loss"
    lp, old, adv = _paired(
        name, ("log_probs", "old_log_probs", "advantages"), log_probs, old_log_probs, advantages
    )
    ratio = torch.exp(lp - old.detach())
    adv = adv.detach()
    surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1 - clip, 1 + clip) * adv)
    return reduce_loss(-surrogate, reduction, name=name)


# -- DQN temporal-difference loss --------------------------------------------------------------


def _td_make(gen, dtype, scale):
    q = scale * _randn(gen, N_STEPS, N_ACTIONS, dtype=dtype)
    actions = torch.randint(0, N_ACTIONS, (N_STEPS,), generator=gen)
    rewards = _randn(gen, N_STEPS, dtype=dtype)
    next_q = _randn(gen, N_STEPS, N_ACTIONS, dtype=dtype)
    dones = torch.randint(0, 2, (N_STEPS,), generator=gen).to(dtype)
    return Case((q, actions, rewards, next_q, dones))


def _td_perfect(gen, dtype):
    # the target network's best next value is 0, so the target is r at every gamma
    q, actions, rewards, next_q, dones = _td_make(gen, torch.float64, 1.0).args
    next_q = next_q - next_q.max(dim=1, keepdim=True).values
    q = q.scatter(1, actions[:, None], rewards[:, None])
    return Case((q.to(dtype), actions, rewards.to(dtype), next_q.to(dtype), dones.to(dtype)))


def _td_empty(dtype):
    return Case(
        (
            torch.zeros(0, N_ACTIONS, dtype=dtype),
            torch.zeros(0, dtype=torch.long),
            torch.zeros(0, dtype=dtype),
            torch.zeros(0, N_ACTIONS, dtype=dtype),
            torch.zeros(0, dtype=dtype),
        )
    )


TRANSITIONS = Sampler("transitions", make=_td_make, perfect=_td_perfect, empty=_td_empty)

GAMMA = Param("float", "discount factor", ge=0, le=1)
TD_KIND = Param("choice", "the TD error's penalty", choices=("huber", "mse"))


def td_target(
    rewards: torch.Tensor, next_q_target: torch.Tensor, dones: torch.Tensor, gamma: float
) -> torch.Tensor:
    """:math:`r + \\gamma (1 - d) \\max_{a'} Q_{target}(s', a')` (no gradient)."""
    best = next_q_target.detach().max(dim=1).values
    return (rewards + gamma * (1 - dones) * best).detach()


def _td_grad(q, actions, rewards, next_q_target, dones, *, gamma, kind, **_):
    y = td_target(rewards, next_q_target, dones, gamma)
    e = q.gather(1, actions[:, None])[:, 0] - y
    de = torch.clamp(e, -1.0, 1.0) if kind == "huber" else 2 * e
    return torch.zeros_like(q).scatter(1, actions[:, None], de[:, None])


@entry(
    module="TDLoss",
    family="rl",
    tasks=(TASK,),
    input_kind="real",
    heads={"*": Q_HEAD},
    formula=r"\ell_t = \rho\left(Q(s_t, a_t) - y_t\right),\quad y_t = r_t + \gamma\,(1 - d_t)"
    r"\max_{a'} Q_{target}(s_{t+1}, a'),\quad \rho = \operatorname{Huber}_1 \text{ or } e^2",
    derivative=r"\frac{\partial \ell_t}{\partial Q(s_t, a_t)} = \operatorname{clip}(e_t, -1, 1)"
    r" \text{ (Huber) or } 2 e_t \text{ (MSE)},\quad e_t = Q(s_t, a_t) - y_t",
    derivative_fn=_td_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=True,  # a convex penalty of a linear function of Q
        smooth=True,  # Huber is continuously differentiable
        bounded=False,
        robust_to_outliers=When("kind == 'huber'", examples_extra=({"kind": "mse"},)),
        symmetric=None,
    ),
    references=(MNIH_DQN, SUTTON_BARTO),
    summary="DQN temporal-difference loss against a target network, Huber (default, as in DQN's "
    "code: bounded gradients for large TD errors) or squared error; terminal states do not "
    "bootstrap.",
    when_to_use="Value-based RL with discrete actions (DQN and its variants); keep Huber unless "
    "rewards are small and well scaled, update the target network every few hundred steps.",
    sampler=TRANSITIONS,
    notes="Huber with delta = 1 (torch.nn.functional.huber_loss) and MSE = e^2 "
    "(torch.nn.functional.mse_loss): in the quadratic region Huber is half the squared error.",
)
@loss_function(gamma=GAMMA, kind=TD_KIND, reduction=REDUCTION)
def td_loss(
    q: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    next_q_target: torch.Tensor,
    dones: torch.Tensor,
    *,
    gamma: float = 0.99,
    kind: str = "huber",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""DQN temporal-difference loss with a target network.

    :math:`y_t = r_t + \gamma (1 - d_t) \max_{a'} Q_{target}(s_{t+1}, a')` is computed without
    gradient (``next_q_target`` comes from the target network, or from the online network for
    a plain Q-learning target; it is detached either way); at a terminal transition
    (:math:`d_t = 1`) the target is the reward alone. The penalty of the TD error
    :math:`Q(s_t, a_t) - y_t` is Huber with :math:`\delta = 1` (``kind="huber"``, DQN's choice) or
    the squared error (``kind="mse"``).

    Args:
        q: (T, C) online Q-values of the states, C actions.
        actions: (T,) integer actions taken.
        rewards: (T,) rewards.
        next_q_target: (T, C) target-network Q-values of the next states.
        dones: (T,) 1 where the episode terminated at this transition (0/1 floats or booleans).
            Pass 0 for a time-limit truncation: the state is not terminal, so the target
            bootstraps.
        gamma: discount factor.
        kind: ``"huber"`` | ``"mse"``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"`` (over transitions).

    Example:
        >>> import torch, losslab.functional as LF
        >>> q = torch.tensor([[1.0, 2.0], [0.0, 0.5]])
        >>> nxt = torch.tensor([[1.0, 3.0], [4.0, 0.0]])
        >>> LF.td_loss(q, torch.tensor([1, 0]), torch.tensor([1.0, 2.0]), nxt,
        ...            torch.tensor([0.0, 1.0]), gamma=0.5, kind="mse", reduction="none")
        tensor([0.2500, 4.0000])
    """
    name = "td_loss"
    check_tensor(name, "q", q)
    if q.dim() != 2:
        fail(name, "q", "a (T, C) tensor of Q-values", Raw(f"shape {tuple(q.shape)}"))
    t, c = q.shape
    check_integer_tensor(name, "actions", actions, what="class indices (action indices)")
    if actions.shape != (t,):
        fail(name, "actions", f"of shape (T,) = ({t},)", Raw(f"shape {tuple(actions.shape)}"))
    if t and (int(actions.min()) < 0 or int(actions.max()) >= c):
        fail(name, "actions", f"action indices in [0, {c - 1}]", Raw(str(actions.tolist())))
    check_tensor(name, "rewards", rewards)
    check_tensor(name, "next_q_target", next_q_target)
    check_tensor(name, "dones", dones, floating=False)
    for arg, x, shape in (
        ("rewards", rewards, (t,)),
        ("next_q_target", next_q_target, (t, c)),
        ("dones", dones, (t,)),
    ):
        if tuple(x.shape) != shape:
            fail(name, arg, f"of shape {shape}", Raw(f"shape {tuple(x.shape)}"))
    qf = upcast(q)
    y = td_target(upcast(rewards), upcast(next_q_target), upcast(dones).to(qf.dtype), gamma)
    q_taken = qf.gather(1, actions[:, None])[:, 0]
    if kind == "huber":
        loss = TF.huber_loss(q_taken, y.to(qf.dtype), reduction="none", delta=1.0)
    else:
        loss = TF.mse_loss(q_taken, y.to(qf.dtype), reduction="none")
    return reduce_loss(loss, reduction, name=name)
