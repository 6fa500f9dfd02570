"""The rl task: CartPole agents on the engine (a short run of every competitor), the
episodes-to-solve rule, and the task's declaration."""

from __future__ import annotations

import pytest
import torch

from losslab.lab import tasks as T
from losslab.lab.systems import rl as RL
from losslab.lab.train import RunKey, TrainConfig


def test_episodes_to_solve_rule():
    assert RL.episodes_to_solve([500.0] * 100) == 100
    # the window ending at episode k holds 150 - k zeros: 97 x 490 / 100 = 475.3 at k = 147,
    # 96 x 490 / 100 = 470.4 at k = 146
    assert RL.episodes_to_solve([0.0] * 50 + [490.0] * 100) == 147
    assert RL.episodes_to_solve([474.0] * 300) == RL.EPISODE_CAP
    assert RL.episodes_to_solve([500.0] * 99) == RL.EPISODE_CAP  # fewer than 100 episodes


def test_task_declares_the_five_agents():
    task = T.get_task("rl")
    assert [c.label for c in task.competitors] == [
        "DQN (MSE TD loss)",
        "DQN (Huber TD loss)",
        "REINFORCE",
        "REINFORCE + baseline",
        "PPO",
    ]
    assert [c.loss for c in task.competitors] == [
        "td_loss",
        "td_loss",
        "reinforce_loss",
        "reinforce_loss",
        "ppo_clip_loss",
    ]
    assert task.primary == "mean_return" and task.higher_is_better


@pytest.mark.parametrize("label", ["DQN (Huber TD loss)", "REINFORCE + baseline", "PPO"])
def test_agents_play_and_report(label):
    torch.set_num_threads(1)
    task = T.get_task("rl")
    comp = next(c for c in task.competitors if c.label == label)
    cfg = TrainConfig(epochs=2, batch_size=task.batch_size, hidden=(16,))
    (res,) = comp.trainer(task, comp, [RunKey(0, 0.01)], {0: task.load(0)}, cfg)
    assert res.status == "finished"
    # 2 iterations x 4 environments x 128 steps: at least 1024 / 500 episodes end
    assert res.history["episodes"][-1] >= 3
    assert res.metrics["mean_return"] > 0
    assert res.metrics["episodes_to_solve"] == RL.EPISODE_CAP
    assert len(res.history["val_mean_return"]) == 2
