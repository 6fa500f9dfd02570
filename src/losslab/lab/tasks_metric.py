"""Metric learning / image classification (the articles' "Table 5"): CE vs triplet vs contrastive
vs SupCon embeddings, scored by nearest-neighbour retrieval.

Every competitor trains the same embedding network (an MLP ``features -> 64 -> 32``, or the
lab's small CNN with ``--model cnn``; 32-dimensional linear output). Cross-entropy trains it
through a linear classifier on top of the embedding (the embedding is the penultimate layer);
ArcFace/CosFace (``--losses``) through learnable class centres; the pair, triplet and contrastive
losses on the embeddings of each minibatch directly.

Metrics (k-nearest-neighbour retrieval): each test embedding is compared with the embeddings of
the whole training split (the reference set). ``top1``: the nearest training embedding has the
test sample's label (1-NN accuracy, the same number as Recall@1 with labels as relevance);
``top5``: the label is among the labels of the 5 nearest training embeddings. Distances are the
ones the loss trains with: Euclidean for the pair and triplet losses, cosine for SupCon,
ArcFace/CosFace and the CE embedding.

All seeds (and learning rates) of one competitor train at once as stacked models (one set of
tensors, per-model Adam); the loss is computed model by model (mining is data dependent).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .. import catalog
from .._validation import content_checks
from . import data as D
from .models import StackedMLP, make_model, make_optimizer
from .tasks import Competitor, Task, register_task
from .train import RunKey, RunResult, TrainConfig, run_diagnostics

__all__ = ["EMBEDDING_DIM", "knn_retrieval", "train_metric"]

#: size of the learned embedding
EMBEDDING_DIM = 32
#: losses trained through learnable class centres (C, D)
CENTRE_LOSSES = ("arcface_loss", "cosface_loss")
#: retrieval distance per loss (default: the loss's own ``distance`` option, else Euclidean)
COSINE_RETRIEVAL = ("cross_entropy", "supcon_loss", *CENTRE_LOSSES)


def knn_retrieval(query: torch.Tensor, query_labels: torch.Tensor, reference: torch.Tensor,
                  reference_labels: torch.Tensor, *, distance: str = "euclidean",
                  k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
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


class _Embedder:
    """The stacked embedding networks plus, per loss, a classifier head or class centres."""

    def __init__(self, competitor: Competitor, seeds: Sequence[int], ds: D.Dataset, config: TrainConfig):
        self.loss = competitor.loss
        self.kwargs = dict(competitor.kwargs)
        if competitor.data_kwargs is not None:
            self.kwargs.update(competitor.data_kwargs(ds))
        self.fn = catalog.get(self.loss).function
        m, c = len(seeds), int(ds.num_classes or 1)
        self.net = make_model(config.architecture, seeds, ds.num_features,
                              competitor.hidden or config.hidden, EMBEDDING_DIM, ds.meta.get("image_shape"))
        self.head: StackedMLP | None = None
        self.centres: torch.nn.Parameter | None = None
        if self.loss == "cross_entropy":
            self.head = StackedMLP([s + 7919 for s in seeds], EMBEDDING_DIM, (), c)
        elif self.loss in CENTRE_LOSSES:
            g = torch.Generator().manual_seed(int(seeds[0]) + 7919)
            self.centres = torch.nn.Parameter(torch.randn(m, c, EMBEDDING_DIM, generator=g))
        else:
            first = list(inspect.signature(self.fn).parameters)[:2]
            if first != ["embeddings", "labels"]:
                raise ValueError(f"compare: loss {self.loss!r} takes ({', '.join(first)}), not "
                                 "(embeddings, labels); the metric task trains labelled embeddings only")
        default = "cosine" if self.loss in COSINE_RETRIEVAL else "euclidean"
        self.distance = self.kwargs.get("distance", default)

    def parameters(self) -> list[torch.nn.Parameter]:
        extra = list(self.head.parameters()) if self.head is not None else []
        extra += [self.centres] if self.centres is not None else []
        return [*self.net.parameters(), *extra]

    def losses(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(M,) mean loss of each model on its (B,) batch of embeddings z (M, B, D)."""
        if self.head is not None:
            logits = self.head(z)
            per = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none", **self.kwargs)
            return per.reshape(y.shape).mean(1)
        if self.centres is not None:
            return torch.stack([self.fn(z[i], y[i], self.centres[i], **self.kwargs) for i in range(len(z))])
        return torch.stack([self.fn(z[i], y[i], **self.kwargs) for i in range(len(z))])


def _batched(n: int, size: int) -> list[slice]:
    return [slice(s, s + size) for s in range(0, n, size)]


def train_metric(task: Task, competitor: Competitor, runs: Sequence[RunKey],
                 datasets: dict[int, D.Dataset], config: TrainConfig) -> list[RunResult]:
    """Train one embedding model per run key at once (train_stack's signature and conventions).

    History per epoch: ``train_loss`` (mean of the epoch's minibatch losses), ``val_loss`` (the
    loss on the validation split in fixed minibatches), ``val_top1`` (validation embeddings
    retrieved among the training embeddings) and ``grad_norm``. A model whose loss, gradient or
    parameters become non-finite stops there and is reported as ``"diverged"``.
    """
    t0 = time.perf_counter()
    dss = [datasets[r.seed] for r in runs]
    ds0, m = dss[0], len(runs)
    model = _Embedder(competitor, [r.seed for r in runs], ds0, config)

    def stack(attr: str) -> torch.Tensor:
        return torch.stack([getattr(d, attr) for d in dss])

    xtr, ytr, xva, yva, xte, yte = (stack(a) for a in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"))
    params = model.parameters()
    opt = make_optimizer(config.optimizer, params, torch.tensor([r.lr for r in runs], dtype=torch.float64))
    gens = [torch.Generator().manual_seed(r.seed) for r in runs]
    rows = torch.arange(m).unsqueeze(1)
    n, higher, primary = xtr.shape[1], task.higher_is_better, f"val_{task.primary}"

    active = torch.ones(m, dtype=torch.bool)
    diverged_at: list[int | None] = [None] * m
    hist: dict[str, list[list[float]]] = {k: [[] for _ in range(m)]
                                          for k in ("train_loss", "val_loss", primary, "grad_norm")}
    best = [-math.inf if higher else math.inf] * m
    best_epoch, since_best = [0] * m, [0] * m
    best_state = [p.detach().clone() for p in params]

    def penalty() -> torch.Tensor:
        total = torch.zeros(m)
        for w in model.net.weight_tensors():
            flat = w.reshape(m, -1)
            total = total + config.l1 * flat.abs().sum(1) + config.l2 * (flat * flat).sum(1)
        return total

    def evaluate(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings of a whole split and the mean loss over its fixed minibatches."""
        z = model.net(x)
        parts = [model.losses(z[:, s], y[:, s]) for s in _batched(x.shape[1], config.batch_size)]
        return z, torch.stack(parts).mean(0)

    with content_checks(True):  # validate the real inputs once, then train without syncs
        model.losses(model.net(xtr[:, :8]), ytr[:, :8])

    epochs_run = 0
    with content_checks(False):
        for epoch in range(config.epochs):
            if not bool(active.any()):
                break
            epochs_run = epoch + 1
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
            gsum, lsum, steps = torch.zeros(m), torch.zeros(m), 0
            for s in _batched(n, config.batch_size):
                idx = perms[:, s]
                per_model = model.losses(model.net(xtr[rows, idx]), ytr[rows, idx]) + penalty()
                for p in params:
                    p.grad = None
                torch.where(active, per_model, torch.zeros_like(per_model)).sum().backward()
                with torch.no_grad():
                    sq = sum(p.grad.reshape(m, -1).pow(2).sum(1) for p in params if p.grad is not None)
                    ok = torch.isfinite(per_model.detach()) & torch.isfinite(sq)
                    gsum += torch.where(ok, sq.sqrt(), 0.0)
                    lsum += torch.where(ok, per_model.detach(), 0.0)
                for i in torch.nonzero(active & ~ok).flatten().tolist():
                    diverged_at[i] = epoch + 1
                active &= ok
                opt.step(active)
                steps += 1
            with torch.no_grad():
                finite = torch.stack([torch.isfinite(p.reshape(m, -1)).all(1) for p in params]).all(0)
                for i in torch.nonzero(active & ~finite).flatten().tolist():
                    diverged_at[i] = epoch + 1
                active &= finite
                z_tr = model.net(xtr)
                z_va, va_loss = evaluate(xva, yva)
                top1, _ = knn_retrieval(z_va, yva, z_tr, ytr, distance=model.distance)
            for i in range(m):
                if diverged_at[i] is not None:
                    for k in hist:
                        hist[k][i].append(math.nan)
                    continue
                hist["train_loss"][i].append(float(lsum[i]) / steps)
                hist["val_loss"][i].append(float(va_loss[i]))
                hist[primary][i].append(float(top1[i]))
                hist["grad_norm"][i].append(float(gsum[i]) / steps)
                metric = float(top1[i])
                if metric > best[i] if higher else metric < best[i]:
                    best[i], best_epoch[i], since_best[i] = metric, epoch + 1, 0
                    with torch.no_grad():
                        for b, p in zip(best_state, params):
                            b[i] = p[i]
                else:
                    since_best[i] += 1
            if config.early_stopping is not None:
                active &= torch.tensor([s < config.early_stopping for s in since_best])

    with torch.no_grad():
        if config.early_stopping is not None:
            for b, p in zip(best_state, params):
                p.copy_(b)
        z_tr, z_te = model.net(xtr), model.net(xte)
        top1, top5 = knn_retrieval(z_te, yte, z_tr, ytr, distance=model.distance)
    seconds = (time.perf_counter() - t0) / m
    results = []
    for i, r in enumerate(runs):
        h = {k: v[i] for k, v in hist.items()}
        res = RunResult(task.name, competitor.label, competitor.loss, r.seed, r.lr,
                        status="diverged" if diverged_at[i] is not None else "finished",
                        epochs_run=epochs_run, best_epoch=best_epoch[i], history=h,
                        seconds=seconds, diverged_epoch=diverged_at[i])
        if diverged_at[i] is None:
            scores = {"top1": float(top1[i]), "top5": float(top5[i])}
            res.metrics = {k: scores[k] for k in task.metrics}
            res.metrics.update(run_diagnostics(h, float(best[i]), task.primary, higher, config))
        results.append(res)
    return results


def _competitors() -> tuple[Competitor, ...]:
    ce: tuple[Competitor, ...] = ()
    if "metric_learning" in catalog.get("cross_entropy").tasks:
        ce = (Competitor("CE (linear classifier on the embedding)", "cross_entropy",
                         note="embedding = penultimate layer; retrieval by cosine"),)
    return (
        *ce,
        Competitor("triplet (batch hard, margin 1)", "batch_triplet_loss",
                   {"mining": "hard", "margin": 1.0}, note="Hermans et al. 2017; Euclidean"),
        Competitor("contrastive (margins 0 / 1)", "contrastive_loss",
                   {"pos_margin": 0.0, "neg_margin": 1.0}, note="Euclidean"),
        Competitor("SupCon (tau = 0.1)", "supcon_loss", {"temperature": 0.1},
                   note="Khosla et al. 2020; retrieval by cosine"),
    )


_DESCRIPTION = (
    "{data}: a {dim}-d embedding (MLP) trained with each loss; top-1/top-5 = the test sample's "
    "label is that of its nearest / among its 5 nearest training embeddings (kNN retrieval)."
)

register_task(Task(
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
))

register_task(Task(
    name="metric-fashion",
    kind="metric_learning",
    description=_DESCRIPTION.format(data="Fashion-MNIST (Debian's dataset-fashion-mnist, 8,000-image "
                                    "sample)", dim=EMBEDDING_DIM),
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
))
