"""Lab task ``rl``: CartPole-v1 (gymnasium), value-based vs policy-gradient losses.

DQN with the squared-error vs the Huber TD loss (:func:`losslab.functional.td_loss`, a target
network), REINFORCE without and with a learned value baseline, and PPO's clipped surrogate with
value loss and entropy bonus, each agent a 64-unit MLP trained by the lab's one engine
(:class:`losslab.lab.systems.rl.RLSystem`; one epoch = one iteration of 4 environments x 128
steps). Metrics: ``mean_return`` (the mean return of the last 20 training episodes: the
learning curve's end), ``episodes_to_solve`` (the first episode at which the 100-episode moving
average reaches 475; runs that never get there count as 2000, more episodes than any run of
the default budget plays); the history adds ``episodes`` (episodes finished so far).
"""

from __future__ import annotations

import torch

from .data import Dataset
from .engine import train_system
from .systems.rl import EPISODE_CAP, SOLVED, RLSystem
from .tasks import Competitor, Task, register_task

__all__ = ["cartpole", "train_dqn", "train_reinforce", "train_reinforce_baseline", "train_ppo"]

#: CartPole-v1 observation scales (cart position limit, typical velocity, pole-angle limit,
#: typical angular velocity): observations are divided by them
OBS_SCALE = (2.4, 3.0, 0.2095, 3.5)


def cartpole(seed: int) -> Dataset:
    """The "data" of the rl task: no rows, only the observation scales (one row, the same for
    every seed; the environment is seeded from the run's seed by the system)."""
    x = torch.tensor([OBS_SCALE])
    y = torch.zeros(1)
    return Dataset(x, y, x.clone(), y.clone(), x.clone(), y.clone(), None, {"env": "CartPole-v1"})


def _train(algorithm, task, competitor, runs, datasets, config):
    system = RLSystem(task, competitor, runs, datasets, config, algorithm=algorithm)
    try:
        return train_system(system, task, competitor, runs, config)
    finally:
        system.env.close()


def train_dqn(task, competitor, runs, datasets, config):
    """DQN (the TD loss's ``kind`` from the competitor's kwargs)."""
    return _train("dqn", task, competitor, runs, datasets, config)


def train_reinforce(task, competitor, runs, datasets, config):
    """REINFORCE without a baseline."""
    return _train("reinforce", task, competitor, runs, datasets, config)


def train_reinforce_baseline(task, competitor, runs, datasets, config):
    """REINFORCE with a learned value baseline."""
    return _train("reinforce_baseline", task, competitor, runs, datasets, config)


def train_ppo(task, competitor, runs, datasets, config):
    """PPO: clipped surrogate + value loss - entropy bonus, GAE advantages."""
    return _train("ppo", task, competitor, runs, datasets, config)


register_task(
    Task(
        name="rl",
        kind="reinforcement_learning",
        description="CartPole-v1 (gymnasium): DQN with the MSE vs the Huber TD loss, REINFORCE "
        "with and without a baseline, PPO; mean return of the last 20 episodes and episodes to a "
        f"100-episode average of {SOLVED:g} (capped at {EPISODE_CAP}).",
        load=cartpole,
        competitors=(
            Competitor("DQN (MSE TD loss)", "td_loss", {"kind": "mse"}, trainer=train_dqn),
            Competitor("DQN (Huber TD loss)", "td_loss", {"kind": "huber"}, trainer=train_dqn),
            Competitor("REINFORCE", "reinforce_loss", trainer=train_reinforce),
            Competitor(
                "REINFORCE + baseline",
                "reinforce_loss",
                note="learned value baseline V(s), its own squared-error loss",
                trainer=train_reinforce_baseline,
            ),
            Competitor("PPO", "ppo_clip_loss", note="GAE(0.99, 0.95), 4 passes", trainer=train_ppo),
        ),
        metrics=("mean_return", "episodes_to_solve"),
        primary="mean_return",
        epochs=40,
        full_epochs=200,
        hidden=(64,),
        notes="One epoch = one iteration (4 environments x 128 steps per agent). The history's "
        "'validation' series are the training episodes' (no held-out environment); the "
        "selected epoch changes nothing: the metrics describe the whole learning curve. "
        f"episodes_to_solve counts {EPISODE_CAP} for a run whose 100-episode average never "
        f"reaches {SOLVED:g} (the default budget rarely allows it; --full trains 5x longer).",
    )
)
