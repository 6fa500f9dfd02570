"""What differs between lab tasks: one small :class:`~losslab.lab.engine.System` per kind of model.

* :mod:`.base` — :class:`SupervisedSystem`: M stacked models fitted to targets with one
  optimiser; the default step every supervised system shares.
* :mod:`.mlp` — classifier/regressor MLP or CNN, and the autoencoder (the lab's default trainer).
* :mod:`.segmentation` — the small fully-convolutional net of the segmentation tasks.
* :mod:`.adaptive` — the MLP trained jointly with Barron's per-model alpha and scale.
* :mod:`.metric` — an embedding network with a classifier head or learnable class centres.
* :mod:`.generative` — a generator with its own critic (GAN, WGAN-GP) or a Sinkhorn loss.
* :mod:`.multitask` — a two-head network with per-model task weighting (uncertainty, GradNorm,
  DWA, PCGrad).
* :mod:`.nondiff` — a binary classifier trained for F1: BCE + threshold moving, soft F1,
  REINFORCE on F1, CMA-ES on F1.
* :mod:`.rl` — CartPole agents (DQN, REINFORCE with or without a baseline, PPO) on gymnasium.

Every system is trained by :func:`losslab.lab.engine.train_system`, the lab's one loop.
"""

from .base import StackedSplits, SupervisedSystem

__all__ = ["StackedSplits", "SupervisedSystem"]
