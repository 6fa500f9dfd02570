"""Metric learning / image classification (the articles' "Table 5"): CE vs triplet vs contrastive
vs SupCon embeddings, scored by nearest-neighbour retrieval.

The task declarations; what is trained and how it is scored lives in
:mod:`losslab.lab.systems.metric` (:class:`~losslab.lab.systems.metric.MetricSystem`): every
competitor trains the same embedding network (an MLP ``features -> hidden -> 32``, or the lab's
small CNN with ``--model cnn``). Cross-entropy trains it through a linear classifier on top of the
embedding (the embedding is the penultimate layer); ArcFace/CosFace (``--losses``) through
learnable class centres; the pair, triplet and contrastive losses on the embeddings of each
minibatch directly.

Metrics (k-nearest-neighbour retrieval): each test embedding is compared with the embeddings of
the whole training split (the reference set). ``top1``: the nearest training embedding has the
test sample's label (1-NN accuracy, the same number as Recall@1 with labels as relevance);
``top5``: the label is among the labels of the 5 nearest training embeddings. Distances are the
ones the loss trains with: Euclidean for the pair and triplet losses, cosine for SupCon,
ArcFace/CosFace and the CE embedding.

All seeds (and learning rates) of one competitor train at once as stacked models in the lab's one
loop (:mod:`losslab.lab.engine`); each model depends only on its own seed, so the stack equals
training each model alone (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import catalog
from . import data as D
from .engine import train_system
from .systems.metric import EMBEDDING_DIM, MetricSystem, knn_retrieval
from .tasks import Competitor, Task, register_task
from .train import RunKey, RunResult, TrainConfig

__all__ = ["EMBEDDING_DIM", "knn_retrieval", "train_metric"]


def train_metric(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, D.Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Train one embedding model per run key at once (train_stack's signature): the task's trainer."""
    return train_system(
        MetricSystem(task, competitor, runs, datasets, config), task, competitor, runs, config
    )


def _competitors() -> tuple[Competitor, ...]:
    ce: tuple[Competitor, ...] = ()
    if "metric_learning" in catalog.get("cross_entropy").tasks:
        ce = (
            Competitor(
                "CE (linear classifier on the embedding)",
                "cross_entropy",
                note="embedding = penultimate layer; retrieval by cosine",
            ),
        )
    return (
        *ce,
        Competitor(
            "triplet (batch hard, margin 1)",
            "batch_triplet_loss",
            {"mining": "hard", "margin": 1.0},
            note="Hermans et al. 2017; Euclidean",
        ),
        Competitor(
            "contrastive (margins 0 / 1)",
            "contrastive_loss",
            {"pos_margin": 0.0, "neg_margin": 1.0},
            note="Euclidean",
        ),
        Competitor(
            "SupCon (tau = 0.1)",
            "supcon_loss",
            {"temperature": 0.1},
            note="Khosla et al. 2020; retrieval by cosine",
        ),
    )


_DESCRIPTION = (
    "{data}: a {dim}-d embedding (MLP) trained with each loss; top-1/top-5 = the test sample's "
    "label is that of its nearest / among its 5 nearest training embeddings (kNN retrieval)."
)

register_task(
    Task(
        name="metric",
        kind="metric_learning",
        description=_DESCRIPTION.format(data="Digits (scikit-learn, 8x8)", dim=EMBEDDING_DIM),
        load=D.digits,
        competitors=_competitors(),
        metrics=("top1", "top5"),
        primary="top1",
        hidden=(64,),
        epochs=20,
        full_epochs=60,
        batch_size=64,
        image_shape=(1, 8, 8),
        trainer=train_metric,
        notes="Euclidean retrieval for the pair/triplet losses, cosine for CE, SupCon, ArcFace/CosFace.",
    )
)

register_task(
    Task(
        name="metric-fashion",
        kind="metric_learning",
        description=_DESCRIPTION.format(
            data="Fashion-MNIST (Debian's dataset-fashion-mnist, 8,000-image sample)",
            dim=EMBEDDING_DIM,
        ),
        load=D.fashion_mnist,
        competitors=_competitors(),
        metrics=("top1", "top5"),
        primary="top1",
        hidden=(128,),
        epochs=10,
        full_epochs=30,
        batch_size=128,
        optional=True,
        source="fashion-mnist",
        image_shape=(1, 28, 28),
        trainer=train_metric,
        notes="Euclidean retrieval for the pair/triplet losses, cosine for CE, SupCon, ArcFace/CosFace.",
    )
)
