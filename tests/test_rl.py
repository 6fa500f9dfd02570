"""losslab.rl and the catalog family ``rl`` against a hand-computed episode.

The episode (gamma = 0.5): rewards 1, 2, 3, terminal after the third step, values 0.5, 1, 1.5.
Every expected number below is worked out by hand in the comments (not by the implementation).
"""

from __future__ import annotations

import math

import pytest
import torch

import losslab.functional as LF
from losslab import catalog, rl

R = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
D = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
V = torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64)


def close(a, b, tol=1e-12):
    torch.testing.assert_close(a, torch.as_tensor(b, dtype=a.dtype), rtol=0, atol=tol)


# -- returns and advantages --------------------------------------------------------------------


def test_discounted_returns_of_the_episode():
    # G2 = 3, G1 = 2 + 0.5 * 3 = 3.5, G0 = 1 + 0.5 * 3.5 = 2.75
    close(rl.discounted_returns(R, D, gamma=0.5), [2.75, 3.5, 3.0])


def test_discounted_returns_reset_at_done_and_bootstrap_last_value():
    # two episodes back to back, the second cut short: G3 = 1 + 0.5 * 4 = 3, G2 = 1 + 1.5,
    # G1 = 1 (terminal), G0 = 1 + 0.5 * 1
    out = rl.discounted_returns(
        torch.ones(4), torch.tensor([False, True, False, False]), gamma=0.5, last_value=4.0
    )
    close(out, [1.5, 1.0, 2.5, 3.0])


def test_gae_by_hand():
    # delta2 = 3 - 1.5 = 1.5 (terminal: last_value 10 is not used)
    # delta1 = 2 + 0.5 * 1.5 - 1 = 1.75; delta0 = 1 + 0.5 * 1 - 0.5 = 1.0
    # gamma * lam = 0.25: A2 = 1.5, A1 = 1.75 + 0.25 * 1.5 = 2.125, A0 = 1 + 0.25 * 2.125
    adv, ret = rl.gae(R, V, D, 10.0, gamma=0.5, lam=0.5)
    close(adv, [1.53125, 2.125, 1.5])
    close(ret, [2.03125, 3.125, 3.0])


def test_gae_limits_are_monte_carlo_and_td():
    adv1, _ = rl.gae(R, V, D, 0.0, gamma=0.5, lam=1.0)
    close(adv1, [2.75 - 0.5, 3.5 - 1.0, 3.0 - 1.5])  # G - V
    adv0, _ = rl.gae(R, V, D, 0.0, gamma=0.5, lam=0.0)
    close(adv0, [1.0, 1.75, 1.5])  # the one-step TD errors


def test_gae_vectorised_columns_are_independent_episodes():
    r2 = torch.stack([R, 2 * R], dim=1)
    v2 = torch.stack([V, V], dim=1)
    d2 = torch.stack([D, torch.zeros(3, dtype=torch.float64)], dim=1)
    adv, _ = rl.gae(r2, v2, d2, torch.tensor([10.0, 2.0], dtype=torch.float64), gamma=0.5, lam=1.0)
    close(adv[:, 0], [2.25, 2.5, 1.5])
    # column 2 (rewards 2, 4, 6), not terminal, bootstraps V_T = 2:
    # G2 = 6 + 0.5 * 2 = 7, G1 = 4 + 0.5 * 7 = 7.5, G0 = 2 + 0.5 * 7.5 = 5.75; A = G - V
    close(adv[:, 1], [5.25, 6.5, 5.5])


def test_helpers_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"^gae: 'lam' must be a number in \[0, 1\], got 1.5"):
        rl.gae(R, V, D, 0.0, lam=1.5)
    with pytest.raises(ValueError, match=r"^discounted_returns: 'dones' must be of the same shape"):
        rl.discounted_returns(R, D[:2])
    with pytest.raises(TypeError, match=r"^discounted_returns: 'rewards' must be a torch.Tensor"):
        rl.discounted_returns([1.0], D)


# -- REINFORCE ---------------------------------------------------------------------------------


def test_reinforce_with_and_without_baseline():
    lp = torch.log(torch.tensor([0.5, 0.25, 1.0], dtype=torch.float64)).requires_grad_(True)
    g = torch.tensor([2.75, 3.5, 3.0], dtype=torch.float64)
    out = LF.reinforce_loss(lp, g, reduction="none")
    close(out.detach(), [math.log(2) * 2.75, math.log(4) * 3.5, 0.0])
    b = torch.full((3,), 3.0, dtype=torch.float64, requires_grad=True)
    out_b = LF.reinforce_loss(lp, g, baseline=b, reduction="sum")
    out_b.backward()
    close(lp.grad, [0.25, -0.5, 0.0])  # -(G - b)
    assert b.grad is None  # the baseline carries no gradient


def test_reinforce_baseline_must_not_enlarge_the_loss():
    with pytest.raises(ValueError, match=r"^reinforce_loss: 'baseline' must be broadcastable"):
        LF.reinforce_loss(torch.zeros(3), torch.zeros(3), baseline=torch.zeros(2, 3))


# -- PPO ---------------------------------------------------------------------------------------

# ratios 1.5, 0.5, 1.1 with A = +1 and 1.5, 0.5, 0.9 with A = -1; clip = 0.2
RATIOS = [1.5, 0.5, 1.1, 1.5, 0.5, 0.9]
ADV = [1.0, 1.0, 1.0, -1.0, -1.0, -1.0]
# -min(rA, clip(r)A): -min(1.5, 1.2), -min(0.5, 0.8), -1.1, -min(-1.5, -1.2), -min(-0.5, -0.8), 0.9
PPO_LOSS = [-1.2, -0.5, -1.1, 1.5, 0.8, 0.9]
# d/dlogpi = -A r on the active unclipped term, 0 where clipped (above 1.2 with A > 0, below 0.8
# with A < 0)
PPO_GRAD = [0.0, -0.5, -1.1, 1.5, 0.0, 0.9]


def _ppo_inputs():
    old = torch.full((6,), math.log(0.5), dtype=torch.float64)
    new = (old + torch.log(torch.tensor(RATIOS, dtype=torch.float64))).requires_grad_(True)
    return new, old, torch.tensor(ADV, dtype=torch.float64)


def test_ppo_clipping_on_both_sides_of_the_ratio():
    new, old, adv = _ppo_inputs()
    out = LF.ppo_clip_loss(new, old, adv, clip=0.2, reduction="none")
    close(out.detach(), PPO_LOSS, tol=1e-12)
    out.sum().backward()
    close(new.grad, PPO_GRAD, tol=1e-12)


def test_ppo_loss_adds_value_loss_and_entropy_bonus():
    new, old, adv = _ppo_inputs()
    values = torch.tensor([1.0, 0.0, 2.0, 0.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    returns = torch.zeros(6, dtype=torch.float64)
    entropy = torch.full((6,), 0.5, dtype=torch.float64)
    total = rl.ppo_loss(
        new,
        old,
        adv,
        values,
        returns,
        entropy,
        value_coef=0.5,
        entropy_coef=0.1,
        normalize_advantages=False,
    )
    # mean surrogate 0.4 / 6; value 0.5 * (1 + 4) / 6; entropy 0.5
    expected = 0.4 / 6 + 0.5 * (0.5 * 5 / 6) - 0.1 * 0.5
    close(total.detach(), expected)
    total.backward()
    close(values.grad, [0.5 * 1 / 6, 0, 0.5 * 2 / 6, 0, 0, 0])


def test_ppo_loss_normalises_advantages():
    new, old, adv = _ppo_inputs()
    z = torch.zeros(6, dtype=torch.float64)
    scaled = rl.ppo_loss(new, old, 7 * adv + 3, z, z, z)
    plain = rl.ppo_loss(new, old, adv, z, z, z)
    close(scaled, plain.item(), tol=1e-6)  # standardisation removes the affine change


# -- DQN TD loss -------------------------------------------------------------------------------

Q = [[1.0, 2.0], [0.0, 0.5], [3.0, 1.0]]
ACTIONS = [1, 0, 0]
REWARDS = [1.0, 2.0, -1.0]
NEXT = [[1.0, 3.0], [4.0, 0.0], [2.0, 5.0]]
DONES = [0.0, 1.0, 0.0]
# gamma = 0.5: y = 1 + 0.5 * 3 = 2.5, 2 (terminal: next values ignored), -1 + 0.5 * 5 = 1.5
# TD errors Q(s, a) - y: 2 - 2.5 = -0.5, 0 - 2 = -2, 3 - 1.5 = 1.5


@pytest.mark.parametrize(
    ("kind", "loss", "grad"),
    [
        ("mse", [0.25, 4.0, 2.25], [[0, -1.0], [-4.0, 0], [3.0, 0]]),  # e^2, 2e
        ("huber", [0.125, 1.5, 1.0], [[0, -0.5], [-1.0, 0], [1.0, 0]]),  # 0.5e^2 / |e| - 0.5
    ],
)
def test_td_loss_with_terminal_states(kind, loss, grad):
    q = torch.tensor(Q, dtype=torch.float64, requires_grad=True)
    nxt = torch.tensor(NEXT, dtype=torch.float64, requires_grad=True)
    out = LF.td_loss(
        q,
        torch.tensor(ACTIONS),
        torch.tensor(REWARDS, dtype=torch.float64),
        nxt,
        torch.tensor(DONES, dtype=torch.float64),
        gamma=0.5,
        kind=kind,
        reduction="none",
    )
    close(out.detach(), loss)
    out.sum().backward()
    close(q.grad, grad)
    assert nxt.grad is None  # the target network gets no gradient


def test_td_loss_accepts_boolean_dones_and_checks_actions():
    q = torch.tensor(Q)
    args = (torch.tensor(REWARDS), torch.tensor(NEXT))
    a = LF.td_loss(q, torch.tensor(ACTIONS), *args, torch.tensor([False, True, False]), gamma=0.5)
    b = LF.td_loss(q, torch.tensor(ACTIONS), *args, torch.tensor(DONES), gamma=0.5)
    close(a, b.item())
    with pytest.raises(ValueError, match=r"^td_loss: 'actions' must be action indices in \[0, 1\]"):
        LF.td_loss(q, torch.tensor([0, 2, 0]), *args, torch.tensor(DONES))
    with pytest.raises(
        TypeError, match=r"^td_loss: 'actions' must be integer class indices \(action indices\)"
    ):
        LF.td_loss(q, torch.tensor([0.0, 1.0, 0.0]), *args, torch.tensor(DONES))
    with pytest.raises(ValueError, match=r"^td_loss: 'kind' must be one of"):
        LF.td_loss(q, torch.tensor(ACTIONS), *args, torch.tensor(DONES), kind="l1")


def test_rl_family_in_the_catalog():
    specs = {s.name for s in catalog.list_losses(family="rl")}
    assert specs == {"reinforce_loss", "ppo_clip_loss", "td_loss"}
    td = catalog.get("td_loss")
    assert td.properties_at(kind="huber")["robust_to_outliers"] is True
    assert td.properties_at(kind="mse")["robust_to_outliers"] is False
    assert catalog.list_losses(task="reinforcement_learning")
