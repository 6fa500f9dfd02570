"""losslab.blackbox: CMA-ES on a metric, the batched population pass, and the REINFORCE
estimator's unbiasedness against the exact gradient of the expected metric (enumerated)."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from sklearn.metrics import f1_score

from losslab import blackbox


def f1_of(y: torch.Tensor, yhat: torch.Tensor) -> float:
    """Binary F1, 0 when there is nothing to score (sklearn's zero_division=0)."""
    tp = int(((y == 1) & (yhat == 1)).sum())
    den = 2 * tp + int(((y == 0) & (yhat == 1)).sum()) + int(((y == 1) & (yhat == 0)).sum())
    return 0.0 if den == 0 else 2 * tp / den


def _separable(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=g)
    y = (X[:, 0] - X[:, 1] > 0.8).long()  # a minority class, linearly separable
    return X, y


def sk_f1(outputs, y):
    return f1_score(y.numpy(), (outputs[:, 0] > 0).long().numpy(), zero_division=0)


def test_es_improves_f1_on_a_separable_problem():
    X, y = _separable()
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():  # start pointing the wrong way
        model.weight.copy_(torch.tensor([[-1.0, 1.0]]))
        model.bias.fill_(0.0)
        before = sk_f1(model(X), y)
    res = blackbox.train_parameters(model, sk_f1, X, y, max_evaluations=800, seed=0)
    with torch.no_grad():
        after = sk_f1(model(X), y)
    assert before < 0.3
    assert after == pytest.approx(res.best_value)  # the best candidate was loaded
    assert after > 0.9
    assert res.evaluations <= 800 + 10  # a generation is never cut
    assert len(res.history) == res.generations


def test_population_outputs_equal_one_forward_per_candidate():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    X = torch.randn(5, 3)
    n = sum(p.numel() for p in model.parameters())
    flats = torch.randn(6, n, dtype=torch.float64)
    out = blackbox.population_outputs(model, flats, X)
    assert out.shape == (6, 5, 2)
    for i in range(6):
        ref = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(flats[i].float(), ref.parameters())
        torch.testing.assert_close(out[i], ref(X), rtol=1e-6, atol=1e-6)


def test_es_minimize_batched_and_unbatched_agree():
    def f(x):
        return ((x - torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)) ** 2).sum(-1)

    a = blackbox.es_minimize(f, torch.zeros(3), max_evaluations=300, seed=3)
    b = blackbox.es_minimize(f, torch.zeros(3), max_evaluations=300, seed=3, batched=False)
    assert a.best_value == b.best_value
    assert a.best_value < 1e-3


def test_es_minimize_one_dimension_and_bad_arguments():
    res = blackbox.es_minimize(lambda x: (x[:, 0] - 2.0) ** 2, torch.zeros(1), max_evaluations=400)
    assert res.best_x.shape == (1,) and abs(res.best_x.item() - 2.0) < 1e-3
    with pytest.raises(ValueError, match=r"^es_minimize: 'sigma0' must be a finite number > 0"):
        blackbox.es_minimize(lambda x: x.sum(1), torch.zeros(2), sigma0=0.0)
    with pytest.raises(TypeError, match=r"^train_parameters: 'model' must be a torch.nn.Module"):
        blackbox.train_parameters("model", sk_f1, *_separable())


# -- REINFORCE ---------------------------------------------------------------------------------


def _exact_binary_grad(logits, y, metric):
    """d/dlogits of -E[metric] by enumerating every labelling (autograd through the probabilities)."""
    x = logits.detach().double().requires_grad_(True)
    p = torch.sigmoid(x)
    expected = 0.0
    for bits in itertools.product((0, 1), repeat=len(y)):
        lab = torch.tensor(bits)
        prob = torch.where(lab == 1, p, 1 - p).prod()
        expected = expected + prob * metric(y, lab)
    (g,) = torch.autograd.grad(-expected, x)
    return g


@pytest.mark.parametrize("calls", [1, 3])  # the first call has b = 0, later ones a moving average
def test_reinforce_is_unbiased_binary_f1(calls):
    y = torch.tensor([1, 0, 1])
    logits = torch.tensor([0.3, -0.5, 1.0], dtype=torch.float64)
    rf = blackbox.MetricReinforce(f1_of, samples=10000, generator=torch.Generator().manual_seed(1))
    for _ in range(calls):
        x = logits.clone().requires_grad_(True)
        rf(x, y).backward()
    exact = _exact_binary_grad(logits, y, f1_of)
    se = (rf.last.grad_variance / rf.last.samples) ** 0.5
    assert (x.grad - exact).abs().max().item() < 5 * se
    assert rf.evaluations == 10000 * calls
    if calls > 1:
        assert rf.last.baseline > 0.3  # the moving average of earlier rewards
        assert rf.last.grad_variance < rf.last.grad_variance_no_baseline


def test_reinforce_is_unbiased_categorical_accuracy():
    y = torch.tensor([2, 0])
    logits = torch.tensor([[0.1, -0.3, 0.4], [1.0, 0.0, -1.0]], dtype=torch.float64)

    def acc(t, lab):
        return (t == lab).double().mean().item()

    x = logits.clone().requires_grad_(True)
    rf = blackbox.MetricReinforce(acc, samples=20000, generator=torch.Generator().manual_seed(2))
    rf(x, y).backward()
    # exact: E[accuracy] = mean_i p_i(y_i), so -grad = -(1/N) d p_{y_i} / d logits
    z = logits.clone().requires_grad_(True)
    (exact,) = torch.autograd.grad(-torch.softmax(z, 1)[[0, 1], y].mean(), z)
    se = (rf.last.grad_variance / rf.last.samples) ** 0.5
    assert (x.grad - exact).abs().max().item() < 5 * se
