"""The ``rl`` task's system: M stacked agents on gymnasium's CartPole-v1, one per run.

Each engine step is one iteration: every active agent acts for ``STEPS`` steps in its own
``ENVS`` CartPole environments (all agents' environments in one synchronous gymnasium vector
env; environment ``j`` of the run seeded ``s`` is reset with seed ``stream_seed(s, NOISE) * 16 +
j``, actions are sampled from ``stream_seed(s, EXTRA)``), then updates with its algorithm:

* ``reinforce``: :func:`losslab.rl.discounted_returns` over the rollout (a cut episode is not
  bootstrapped) and :func:`losslab.functional.reinforce_loss`, without a baseline or with a
  learned value baseline V(s) (its own squared-error loss);
* ``ppo``: :func:`losslab.rl.gae` (gamma 0.99, lambda 0.95) and :func:`losslab.rl.ppo_loss`
  (clip 0.2, value 0.5, entropy 0.01), ``PPO_EPOCHS`` full-batch passes per rollout;
* ``dqn``: epsilon-greedy (1 -> 0.05 over ``EPS_STEPS`` agent steps), a replay buffer, one
  :func:`losslab.functional.td_loss` update (``kind`` from the competitor: Huber or MSE) on 64
  sampled transitions per environment step after ``WARMUP`` steps, the target network copied
  every ``TARGET_EVERY`` updates. A time-limit truncation is not terminal (the TD target
  bootstraps from the final observation).

Observations are divided by the data's ``x_train[0]`` (fixed CartPole scales), so a NaN there
makes the agent diverge (the stacked-equals-alone test's forced divergence). The history's
"validation" series are the training episodes' (CartPole has no held-out data): the primary
metric is the mean return of the last 20 finished episodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ... import rl
from ...functional import reinforce_loss, td_loss
from ..engine import EpochStats, Evaluation, StepOutput, masked_update
from ..models import StackedMLP, make_optimizer
from ..seeds import EXTRA, NOISE, stream_seed

if TYPE_CHECKING:
    from ..data import Dataset
    from ..tasks import Competitor, Task
    from ..train import RunKey, TrainConfig

__all__ = ["RLSystem", "SOLVED", "EPISODE_CAP", "episodes_to_solve"]

SOLVED = 475.0  # CartPole-v1's threshold on the 100-episode moving average
EPISODE_CAP = 2000  # episodes_to_solve of a run that never solves (more than any run plays)
LAST = 20  # mean_return: the mean over the last LAST finished episodes


def episodes_to_solve(returns: Sequence[float], *, window: int = 100) -> int:
    """The first episode at which the mean of the last ``window`` returns reaches :data:`SOLVED`
    (1-based; needs ``window`` episodes), else :data:`EPISODE_CAP`."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) >= window:
        avg = np.convolve(r, np.ones(window) / window, mode="valid")
        hit = np.flatnonzero(avg >= SOLVED)
        if hit.size:
            return int(hit[0]) + window
    return EPISODE_CAP


class RLSystem:
    """M independent agents (one algorithm) trained together; see the module docstring."""

    ENVS = 4
    STEPS = 128
    GAMMA = 0.99
    PPO_EPOCHS = 4
    WARMUP = 500
    EPS_STEPS = 10_000
    TARGET_EVERY = 250
    BUFFER = 20_000
    DQN_BATCH = 64
    drop_last = False

    def __init__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, Dataset],
        config: TrainConfig,
        *,
        algorithm: str,
    ):
        import gymnasium as gym

        self.algorithm = algorithm
        self.baseline = algorithm == "reinforce_baseline"
        self.kind = str(dict(competitor.kwargs).get("kind", "huber"))
        self.seeds = [r.seed for r in runs]
        self.num_models = m = len(self.seeds)
        self.train_size = 1  # one engine step per epoch: one rollout iteration
        self.scale = torch.stack([datasets[s].x_train[0].float() for s in self.seeds])  # (M, 4)
        hidden = tuple(config.hidden)
        self.net = StackedMLP(self.seeds, 4, hidden, 2)  # policy logits or Q-values
        self.value = (
            StackedMLP([stream_seed(s, EXTRA) for s in self.seeds], 4, hidden, 1)
            if algorithm in ("ppo", "reinforce_baseline")
            else None
        )
        lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
        self.optimizers = [(make_optimizer(config.optimizer, self.parameters(), lr), None)]
        if algorithm == "dqn":
            self.target = [p.detach().clone() for p in self.net.parameters()]
            self.buffer = {
                "obs": torch.zeros(m, self.BUFFER, self.ENVS, 4),
                "next": torch.zeros(m, self.BUFFER, self.ENVS, 4),
                "act": torch.zeros(m, self.BUFFER, self.ENVS, dtype=torch.long),
                "rew": torch.zeros(m, self.BUFFER, self.ENVS),
                "done": torch.zeros(m, self.BUFFER, self.ENVS),
            }
            self.filled = [0] * m
            self.updates = [0] * m
        self.gens = [torch.Generator().manual_seed(stream_seed(s, EXTRA)) for s in self.seeds]
        self.env = gym.make_vec(
            "CartPole-v1",
            num_envs=m * self.ENVS,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        )
        env_seeds = [stream_seed(s, NOISE) * 16 + j for s in self.seeds for j in range(self.ENVS)]
        obs, _ = self.env.reset(seed=env_seeds)
        self.obs = torch.from_numpy(obs).view(m, self.ENVS, 4)
        self.running = torch.zeros(m, self.ENVS, dtype=torch.float64)
        self.episodes: list[list[float]] = [[] for _ in range(m)]
        self.agent_steps = [0] * m
        self._losses = torch.zeros(m)

    # -- the System protocol -------------------------------------------------------------------

    def parameters(self) -> list[torch.Tensor]:
        params = list(self.net.parameters())
        return params + (list(self.value.parameters()) if self.value is not None else [])

    def penalized_weights(self) -> list[torch.Tensor]:
        return list(self.net.weight_tensors())

    def check_inputs(self) -> None:
        self.net(self._norm(self.obs))

    def _norm(self, obs: torch.Tensor) -> torch.Tensor:
        return obs / self.scale[:, None, :]

    def _act(self, obs: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """(M, E) actions: sampled from the policy, or epsilon-greedy on Q (DQN)."""
        with torch.no_grad():
            out = self.net(self._norm(obs))
        acts = torch.zeros(self.num_models, self.ENVS, dtype=torch.long)
        for i in range(self.num_models):
            if not bool(active[i]):
                continue
            u = torch.rand(self.ENVS, generator=self.gens[i])
            if self.algorithm == "dqn":
                eps = max(0.05, 1.0 - 0.95 * self.agent_steps[i] / self.EPS_STEPS)
                rand = torch.randint(0, 2, (self.ENVS,), generator=self.gens[i])
                acts[i] = torch.where(u < eps, rand, out[i].argmax(dim=1))
            else:
                p1 = torch.softmax(out[i], dim=1)[:, 1]
                acts[i] = (u < p1).long()
        return acts

    def _env_step(self, acts: torch.Tensor, active: torch.Tensor):
        obs, rew, term, trunc, info = self.env.step(acts.reshape(-1).numpy())
        m, e = self.num_models, self.ENVS
        nxt = torch.from_numpy(obs).view(m, e, 4)
        final = nxt.clone()  # the true next observation (the reset one replaces it at an end)
        if "final_obs" in info:
            for k in np.flatnonzero(info["_final_obs"]):
                final.view(-1, 4)[k] = torch.from_numpy(np.asarray(info["final_obs"][k]))
        r = torch.from_numpy(rew).view(m, e).double()
        term_t = torch.from_numpy(term).view(m, e)
        end = term_t | torch.from_numpy(trunc).view(m, e)
        self.running += r
        for i in range(m):
            if bool(active[i]):
                self.agent_steps[i] += e
                for j in torch.nonzero(end[i]).flatten().tolist():
                    self.episodes[i].append(float(self.running[i, j]))
        self.running[end] = 0.0
        self.obs = nxt
        return final, r.float(), term_t.float(), end.float()

    def step(
        self, idx: torch.Tensor, active: torch.Tensor, penalty: Callable[[], torch.Tensor]
    ) -> StepOutput:
        if self.algorithm == "dqn":
            return self._dqn_iteration(active, penalty)
        return self._policy_iteration(active, penalty)

    # -- policy gradient: REINFORCE (+ baseline), PPO ------------------------------------------

    def _policy_iteration(self, active, penalty) -> StepOutput:
        obs, acts, rews, dones = [], [], [], []
        for _ in range(self.STEPS):
            o = self.obs
            a = self._act(o, active)
            _, r, _, end = self._env_step(a, active)
            obs.append(o), acts.append(a), rews.append(r), dones.append(end)
        o = torch.stack(obs, dim=1)  # (M, T, E, 4)
        a, r, d = (torch.stack(x, dim=1) for x in (acts, rews, dones))  # (M, T, E)
        m, t, e = a.shape
        flat_obs = self._norm(o.reshape(m, t * e, 4))
        with torch.no_grad():
            old_logp = self._logp(flat_obs, a)
            if self.value is not None:
                v_old = self.value(flat_obs)[..., 0].view(m, t, e)
                v_last = self.value(self._norm(self.obs))[..., 0]
        if self.algorithm == "ppo":
            adv, ret = zip(
                *(
                    rl.gae(r[i], v_old[i], d[i], v_last[i], gamma=self.GAMMA, lam=0.95)
                    for i in range(m)
                )
            )
            adv, ret = torch.stack(adv).reshape(m, -1), torch.stack(ret).reshape(m, -1)
            norms = torch.zeros(m)
            for _ in range(self.PPO_EPOCHS):
                logits = self.net(flat_obs)
                logp = torch.log_softmax(logits, dim=-1)
                lp = logp.gather(-1, a.reshape(m, -1, 1))[..., 0]
                ent = -(logp.exp() * logp).sum(-1)
                v = self.value(flat_obs)[..., 0]
                losses = (
                    torch.stack(
                        [
                            rl.ppo_loss(lp[i], old_logp[i], adv[i], v[i], ret[i], ent[i])
                            for i in range(m)
                        ]
                    )
                    + penalty()
                )
                norms = masked_update(losses, active, self.parameters(), self.optimizers)
            return StepOutput(losses.detach(), norms)
        ret = torch.stack(
            [rl.discounted_returns(r[i], d[i], gamma=self.GAMMA) for i in range(m)]
        ).reshape(m, -1)
        lp = self._logp(flat_obs, a)
        if self.baseline:
            v = self.value(flat_obs)[..., 0]
            losses = torch.stack(
                [reinforce_loss(lp[i], ret[i], baseline=v[i]) for i in range(m)]
            ) + 0.5 * (v - ret).pow(2).mean(dim=1)
        else:
            losses = torch.stack([reinforce_loss(lp[i], ret[i]) for i in range(m)])
        losses = losses + penalty()
        norms = masked_update(losses, active, self.parameters(), self.optimizers)
        return StepOutput(losses.detach(), norms)

    def _logp(self, flat_obs: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(self.net(flat_obs), dim=-1)
        return logp.gather(-1, a.reshape(a.shape[0], -1, 1))[..., 0]

    # -- DQN -----------------------------------------------------------------------------------

    def _target_q(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values of the target network: the stacked net's forward with the target weights."""
        h, n = obs, len(self.net.weights)
        for k in range(n):
            w, b = self.target[k], self.target[n + k]
            h = torch.matmul(h, w) + b.unsqueeze(1)
            if k < n - 1:
                h = torch.relu(h)
        return h

    def _dqn_iteration(self, active, penalty) -> StepOutput:
        m, e = self.num_models, self.ENVS
        total, count = torch.zeros(m), 0
        norms = torch.zeros(m)
        buf = self.buffer
        for _ in range(self.STEPS):
            o = self.obs
            a = self._act(o, active)
            final, r, term, _ = self._env_step(a, active)
            for i in range(m):
                if bool(active[i]):
                    k = self.filled[i] % self.BUFFER
                    buf["obs"][i, k], buf["next"][i, k], buf["act"][i, k] = o[i], final[i], a[i]
                    buf["rew"][i, k], buf["done"][i, k] = r[i], term[i]
                    self.filled[i] += 1
            if not any(bool(active[i]) and self.filled[i] * e >= self.WARMUP for i in range(m)):
                continue  # active agents fill in lockstep: all warm or none
            rows = torch.stack(
                [
                    torch.randint(
                        0,
                        max(1, min(self.filled[i], self.BUFFER)),
                        (self.DQN_BATCH,),
                        generator=self.gens[i],
                    )
                    for i in range(m)
                ]
            )
            cols = torch.stack(
                [torch.randint(0, e, (self.DQN_BATCH,), generator=self.gens[i]) for i in range(m)]
            )
            mi = torch.arange(m)[:, None]
            pick = {k: v[mi, rows, cols] for k, v in buf.items()}
            q = self.net(self._norm(pick["obs"]))
            with torch.no_grad():
                nq = self._target_q(self._norm(pick["next"]))
            losses = (
                torch.stack(
                    [
                        td_loss(
                            q[i],
                            pick["act"][i],
                            pick["rew"][i],
                            nq[i],
                            pick["done"][i],
                            gamma=self.GAMMA,
                            kind=self.kind,
                        )
                        for i in range(m)
                    ]
                )
                + penalty()
            )
            norms = masked_update(losses, active, self.parameters(), self.optimizers)
            total += losses.detach()
            count += 1
            for i in range(m):
                if bool(active[i]):
                    self.updates[i] += 1
                    if self.updates[i] % self.TARGET_EVERY == 0:
                        for tgt, p in zip(self.target, self.net.parameters()):
                            tgt[i] = p.detach()[i]
        if count == 0:  # still warming up: no update, but a NaN observation scale shows here
            with torch.no_grad():
                bad = ~torch.isfinite(self.net(self._norm(self.obs))).all(dim=(1, 2))
            return StepOutput(torch.where(bad, torch.nan, 0.0), torch.zeros(m))
        return StepOutput(total / count, norms)

    # -- evaluation ----------------------------------------------------------------------------

    def _mean_return(self) -> list[float]:
        return [float(np.mean(ep[-LAST:])) if ep else 0.0 for ep in self.episodes]

    def evaluate(self, stats: EpochStats) -> Evaluation:
        loss = stats.step_loss
        return Evaluation(
            loss,
            loss,
            self._mean_return(),
            extra={"episodes": [float(len(ep)) for ep in self.episodes]},
        )

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        mean = self._mean_return()
        return [
            {
                "mean_return": mean[i],
                "episodes_to_solve": float(episodes_to_solve(self.episodes[i])),
            }
            if ok[i]
            else {}
            for i in range(self.num_models)
        ]
