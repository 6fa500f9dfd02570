"""Independent random streams derived from one run's seed (the only place that says how).

Every random choice of a run (its data split, initialisation, batch order, an extra network's
initialisation, noise) derives from that run's own seed, never from another run's, so a model
trained in a stack equals the same model trained alone. A run that needs more than one stream
takes ``stream_seed(seed, k)`` for its k-th stream: stream 0 is the seed itself (the split,
the model's initialisation, the engine's batch order).
"""

from __future__ import annotations

__all__ = ["STREAM_STRIDE", "stream_seed", "EXTRA", "NOISE"]

#: distance between the streams of one seed (a prime, so streams of nearby seeds do not collide
#: for the small seed counts of a study)
STREAM_STRIDE = 7919

#: stream 1: what a task adds beside the model (a critic, class centres or a classifier head,
#: the corrupted targets of the regression task)
EXTRA = 1
#: stream 2: sampled noise during training and evaluation (a generator's latent draws)
NOISE = 2


def stream_seed(seed: int, stream: int) -> int:
    """The seed of ``stream`` for the run seeded ``seed``.

    >>> stream_seed(3, 0), stream_seed(3, EXTRA), stream_seed(3, NOISE)
    (3, 7922, 15841)
    """
    return int(seed) + stream * STREAM_STRIDE
