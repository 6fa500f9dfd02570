"""The declared-constraint machinery and the one message template."""

from __future__ import annotations

import math
import re

import pytest
import torch

import losslab
from losslab import functional as LF
from losslab._validation import Param, check_class_indices, loss_function


def test_message_names_loss_argument_expectation_and_value():
    with pytest.raises(ValueError) as info:
        LF.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), label_smoothing=-1.0)
    assert (
        str(info.value)
        == "cross_entropy: 'label_smoothing' must be a finite real number >= 0 and <= 1, got -1.0"
    )


def test_types_raise_type_error():
    with pytest.raises(
        TypeError, match=r"^cross_entropy: 'ignore_index' must be an integer, got 1.5"
    ):
        LF.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), ignore_index=1.5)
    with pytest.raises(
        TypeError, match=r"^mse_loss: 'input' must be a floating-point tensor, got torch.int64"
    ):
        LF.mse_loss(torch.tensor([1, 2]), torch.tensor([1.0, 2.0]))


def test_shape_mismatch_is_a_value_error_not_a_broadcast():
    with pytest.raises(
        ValueError,
        match=r"^mse_loss: 'target' must be of the same shape as 'input' \(3,\), got shape \(3, 1\)",
    ):
        LF.mse_loss(torch.zeros(3), torch.zeros(3, 1))


def test_class_index_out_of_range():
    with pytest.raises(
        ValueError,
        match=r"^cross_entropy: 'target' must be class indices in \[0, 2\] or ignore_index=-100, got 3",
    ):
        LF.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3]))


def test_probability_outside_unit_interval():
    with pytest.raises(
        ValueError,
        match=r"^binary_cross_entropy_with_logits: 'target' must be probabilities in \[0, 1\], got 1.5",
    ):
        LF.binary_cross_entropy_with_logits(torch.zeros(2), torch.tensor([0.0, 1.5]))


def test_content_checks_can_be_switched_off():
    target = torch.tensor([0.0, 1.5])
    with losslab.content_checks(False):
        assert not losslab.content_checks_enabled()
        out = LF.binary_cross_entropy_with_logits(
            torch.zeros(2), target
        )  # no check, torch computes
        assert torch.isfinite(out)
    assert losslab.content_checks_enabled()
    # shape and hyperparameter checks stay on: they cost nothing
    with losslab.content_checks(False), pytest.raises(ValueError):
        LF.mse_loss(torch.zeros(3), torch.zeros(4))


def test_check_class_indices_ignores_ignore_index():
    check_class_indices("x", "target", torch.tensor([0, -100, 2]), 3, -100)
    with pytest.raises(ValueError, match=r"got -1"):
        check_class_indices("x", "target", torch.tensor([0, -1]), 3, -100)


@pytest.mark.parametrize(
    "param, good, bad",
    [
        (Param("float", ge=0), [0.0, 2, 1e9], [-0.1, math.nan, math.inf]),
        (Param("float", gt=0, le=1), [1.0, 1e-9], [0.0, 1.5]),
        (Param("float", allow_inf=True), [-math.inf, 3.0], [math.nan]),
        (Param("int", ge=1), [1, 5], [0, -3]),
        (Param("choice", choices=("a", "b")), ["a"], ["c"]),
        (
            Param("tensor", ge=0, optional=True, ndim=1),
            [None, torch.ones(3)],
            [-torch.ones(3), torch.ones(2, 2)],
        ),
        (
            Param("float_or_tensor", gt=0, lt=1),
            [0.5, torch.tensor([0.1, 0.9])],
            [1.0, torch.tensor([0.5, 1.0])],
        ),
    ],
)
def test_param_accepts_good_and_rejects_bad(param, good, bad):
    for v in good:
        param.check("demo", "p", v)
    for v in bad:
        with pytest.raises((ValueError, TypeError), match=r"^demo: 'p' must be"):
            param.check("demo", "p", v)


def test_invalid_values_are_really_invalid():
    for param in (
        Param("float", ge=0),
        Param("float", gt=0, lt=1),
        Param("int", ge=2),
        Param("choice", choices=(1,)),
    ):
        for value, exc in param.invalid_values():
            with pytest.raises(exc):
                param.check("demo", "p", value)


def test_decorator_checks_keyword_arguments_only_when_declared():
    @loss_function(gamma=Param("float", ge=0))
    def demo(x, *, gamma=1.0, other=None):
        return x * gamma

    assert demo(2.0, gamma=3.0) == 6.0
    assert demo(2.0, other="anything") == 2.0
    with pytest.raises(
        ValueError, match=r"^demo: 'gamma' must be a finite real number >= 0, got -1"
    ):
        demo(1.0, gamma=-1)
    assert demo.__losslab_params__["gamma"].ge == 0


def test_check_broadcast_accepts_broadcasting_and_refuses_enlarging():
    from losslab._validation import check_broadcast

    for ok in [(4, 3), (4, 1), (3,), (1,), ()]:
        check_broadcast("some_loss", "weight", torch.ones(ok), (4, 3))
    for bad in [(2, 4, 3), (4,), (3, 3)]:
        with pytest.raises(
            ValueError,
            match=rf"^some_loss: 'weight' must be broadcastable to the loss shape \(4, 3\), "
            rf"got shape {re.escape(str(bad))}$",
        ):
            check_broadcast("some_loss", "weight", torch.ones(bad), (4, 3))


def test_integer_and_log_probability_checks():
    from losslab._validation import check_integer_tensor, check_log_probabilities

    with pytest.raises(
        TypeError, match=r"^some_loss: 'target' must be integer class indices, got float16$"
    ):
        check_integer_tensor("some_loss", "target", torch.zeros(2, dtype=torch.float16))
    with pytest.raises(
        TypeError, match=r"^some_loss: 'target' must be integer class indices, got bool$"
    ):
        check_integer_tensor("some_loss", "target", torch.zeros(2, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"^some_loss: 'n' must be integer lengths, got float32$"):
        check_integer_tensor("some_loss", "n", torch.zeros(2), what="lengths")
    check_log_probabilities("some_loss", "input", torch.tensor([0.0, -1.0, -math.inf]))
    with pytest.raises(
        ValueError, match=r"^some_loss: 'input' must be log-probabilities <= 0, got 0.5$"
    ):
        check_log_probabilities("some_loss", "input", torch.tensor([-1.0, 0.5]))


def test_warning_classes():
    from losslab._validation import InputDomainWarning, LosslabWarning

    assert issubclass(LosslabWarning, UserWarning)
    assert issubclass(InputDomainWarning, LosslabWarning)
