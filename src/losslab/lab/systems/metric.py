"""The metric-learning system: an embedding network per run, scored by kNN retrieval.

Every competitor trains the same embedding network (the lab's MLP or CNN, ``--model``, with a
linear :data:`EMBEDDING_DIM`-dimensional output). How a loss is trained follows from the form of
its arguments, which the catalog declares (the loss's ``sampler``, :data:`FORMS`):

* ``"labelled_embeddings"`` (pair, triplet, contrastive, SupCon): ``loss(embeddings, labels)`` on
  each minibatch's embeddings directly;
* ``"embeddings_with_centres"`` (ArcFace, CosFace): ``loss(embeddings, labels, centres)`` with
  learnable (C, D) class centres per run;
* ``"class_logits"`` (cross-entropy): ``loss(logits, labels)`` through a linear classifier on top
  of the embedding (the embedding is the penultimate layer).

Centres and the classifier are parameters like the network's weights: the per-model optimiser
steps them, the best checkpoint restores them, divergence is checked on them. The penalties
(``--l1/--l2``) apply to the weight matrices of the network and of the classifier, not to the
centres: ArcFace/CosFace normalise them, so their norm (all a penalty could shrink) never
reaches the loss.

Randomness: run ``i``'s network is initialised from ``seeds[i]``; its classifier or centres from
``stream_seed(seeds[i], EXTRA)`` (:mod:`losslab.lab.seeds`) (their own stream, so they are not the network's first draws
again), never from another run's seed; the batch order is the engine's.

Metrics (k-nearest-neighbour retrieval, :func:`knn_retrieval`): each test embedding is compared
with the embeddings of the whole training split. ``top1``: the nearest training embedding has
the test sample's label (1-NN accuracy = Recall@1); ``top5``: the label is among those of the 5
nearest. Distances are the ones the loss trains with (:func:`retrieval_distance`). History:
``train_loss`` (mean of the epoch's minibatch losses, penalty included), ``val_loss`` (mean loss
over the validation split's fixed minibatches), ``val_top1`` (validation embeddings retrieved
among the training embeddings) and the engine's ``grad_norm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..data import Dataset
from ..engine import EpochStats, Evaluation
from ..models import StackedMLP, make_model, make_optimizer
from ..seeds import EXTRA, stream_seed
from .base import StackedSplits, SupervisedSystem, call_per_model, loss_kwargs

if TYPE_CHECKING:
    from ..tasks import Competitor, Task
    from ..train import RunKey, TrainConfig

__all__ = [
    "MetricSystem",
    "EMBEDDING_DIM",
    "FORMS",
    "COSINE_RETRIEVAL",
    "knn_retrieval",
    "retrieval_distance",
]

#: size of the learned embedding
EMBEDDING_DIM = 32
#: the catalog's declared argument form (``LossSpec.sampler.name``) -> how the system trains it
FORMS = {
    "labelled_embeddings": "embeddings",
    "embeddings_with_centres": "centres",
    "class_logits": "classifier",
}
#: losses retrieved by cosine distance (the others: their ``distance`` option, else Euclidean)
COSINE_RETRIEVAL = ("cross_entropy", "supcon_loss", "arcface_loss", "cosface_loss")
#: validation rows per check_inputs call
_CHECK_ROWS = 8


def knn_retrieval(
    query: torch.Tensor,
    query_labels: torch.Tensor,
    reference: torch.Tensor,
    reference_labels: torch.Tensor,
    *,
    distance: str = "euclidean",
    k: int = 5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-1 and top-k retrieval accuracy of (M, Q, D) queries against (M, R, D) references.

    Returns two (M,) tensors: the fraction of queries whose nearest reference has their label, and
    the fraction whose label is among the labels of the k nearest references.
    """
    if distance == "cosine":
        q, r = F.normalize(query, dim=-1), F.normalize(reference, dim=-1)
        dist = -(q @ r.transpose(-1, -2))
    else:
        dist = torch.cdist(query, reference)
    k = min(k, reference.shape[-2])
    nearest = dist.topk(k, dim=-1, largest=False).indices  # (M, Q, k), nearest first
    labels = torch.gather(reference_labels.unsqueeze(1).expand(*nearest.shape[:2], -1), 2, nearest)
    hit = labels == query_labels.unsqueeze(-1)
    return hit[..., 0].double().mean(-1), hit.any(-1).double().mean(-1)


def retrieval_distance(loss: str, kwargs: dict[str, Any]) -> str:
    """The distance a loss's embeddings are retrieved with: the one it trains with."""
    return str(kwargs.get("distance", "cosine" if loss in COSINE_RETRIEVAL else "euclidean"))


def form_of(competitor: Competitor) -> str:
    """How the metric system trains a competitor's loss (:data:`FORMS`), or a ValueError."""
    spec = competitor.spec()
    form = FORMS.get(spec.sampler.name)
    if form is None:
        takes = spec.sampler.name.replace("_", " ")
        raise ValueError(
            f"compare: loss {competitor.loss!r} takes {takes}, not labelled embeddings "
            f"(with class centres) or class logits; the metric task trains those only"
        )
    return form


class MetricSystem(SupervisedSystem):
    """One embedding network per run, plus its classifier head or class centres (see module)."""

    def __init__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, Dataset],
        config: TrainConfig,
    ):
        dss = [datasets[r.seed] for r in runs]
        super().__init__([r.seed for r in runs], StackedSplits.of(dss))
        self.task, self.batch_size = task, config.batch_size
        self.form = form_of(competitor)
        self.fn = competitor.spec().function
        self.kwargs = loss_kwargs(competitor, dss)
        self.distance = retrieval_distance(competitor.loss, dict(competitor.kwargs))
        ds0 = dss[0]
        classes = int(ds0.num_classes or 1)
        self.model = make_model(
            config.architecture,
            self.seeds,
            ds0.num_features,
            competitor.hidden or config.hidden,
            EMBEDDING_DIM,
            ds0.meta.get("image_shape"),
        )
        own = [stream_seed(s, EXTRA) for s in self.seeds]
        self.head: StackedMLP | None = None
        self.centres: torch.nn.Parameter | None = None
        if self.form == "classifier":
            self.head = StackedMLP(own, EMBEDDING_DIM, (), classes)
        elif self.form == "centres":
            self.centres = torch.nn.Parameter(
                torch.stack(
                    [
                        torch.randn(
                            classes, EMBEDDING_DIM, generator=torch.Generator().manual_seed(s)
                        )
                        for s in own
                    ]
                )
            )
        self.t_train, self.t_val = self.data.y_train, self.data.y_val
        lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
        self.optimizers = [(make_optimizer(config.optimizer, self.parameters(), lr), None)]

    def parameters(self) -> list[torch.Tensor]:
        extra: list[torch.Tensor] = list(self.head.parameters()) if self.head is not None else []
        if self.centres is not None:
            extra.append(self.centres)
        return [*self.model.parameters(), *extra]

    def penalized_weights(self) -> list[torch.Tensor]:
        head = self.head.weight_tensors() if self.head is not None else []
        return [*self.model.weight_tensors(), *head]

    def loss_of(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(M,) mean loss of each model on its own (B,) batch of embeddings z (M, B, D)."""
        if self.head is not None:
            logits = self.head(z)
            per = call_per_model(self.fn, logits.flatten(0, 1), y.flatten(), self.kwargs)
            return per.reshape(y.shape).mean(1)
        # mining and pair selection are data dependent: one call per model, on its own batch
        if self.centres is not None:
            return torch.stack(
                [self.fn(z[i], y[i], self.centres[i], **kw) for i, kw in enumerate(self.kwargs)]
            )
        return torch.stack([self.fn(z[i], y[i], **kw) for i, kw in enumerate(self.kwargs)])

    def check_inputs(self) -> None:
        self.loss_of(self.model(self.data.x_train[:, :_CHECK_ROWS]), self.t_train[:, :_CHECK_ROWS])

    def _split_loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(M,) mean of the losses of a split's fixed consecutive minibatches."""
        n, b = y.shape[1], self.batch_size
        return torch.stack(
            [self.loss_of(z[:, s : s + b], y[:, s : s + b]) for s in range(0, n, b)]
        ).mean(0)

    def evaluate(self, stats: EpochStats) -> Evaluation:
        d = self.data
        z_tr, z_va = self.model(d.x_train), self.model(d.x_val)
        top1, _ = knn_retrieval(z_va, d.y_val, z_tr, d.y_train, distance=self.distance)
        return Evaluation(stats.step_loss, self._split_loss(z_va, d.y_val), top1)

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        d = self.data
        top1, top5 = knn_retrieval(
            self.model(d.x_test), d.y_test, self.model(d.x_train), d.y_train, distance=self.distance
        )
        scores = {"top1": top1, "top5": top5}
        return [
            {k: float(scores[k][i]) for k in self.task.metrics} if ok[i] else {}
            for i in range(self.num_models)
        ]
