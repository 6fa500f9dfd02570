"""Lookup, filtering and registration of catalog entries (user losses take the built-ins' path)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from losslab import catalog
from losslab.catalog import _registry


def test_get_by_alias():
    assert catalog.get("mae_loss") is catalog.get("l1_loss")


def test_unknown_name_suggests():
    with pytest.raises(catalog.UnknownLossError, match=r"Did you mean 'cross_entropy'") as info:
        catalog.get("cross_entrop")
    assert "cross_entropy" in info.value.suggestions
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


def test_list_filters():
    reg = catalog.list_losses(task="regression")
    assert {s.name for s in reg} >= {"mse_loss", "l1_loss"}
    assert all("regression" in s.tasks for s in reg)
    robust = catalog.list_losses(properties=["robust_to_outliers"])
    assert all(s.properties["robust_to_outliers"] for s in robust)
    assert "mse_loss" not in {s.name for s in robust}
    with pytest.raises(ValueError, match=r"'task' must be one of"):
        catalog.list_losses(task="nope")
    with pytest.raises(ValueError, match=r"'properties' must be among"):
        catalog.list_losses(properties=["fast"])


def test_register_a_user_loss_and_remove_it():
    base = catalog.get("mse_loss")
    spec = dataclasses.replace(base, name="my_mse", aliases=(), builtin=False, drop_in_for=None)
    try:
        catalog.register(spec)
        assert catalog.get("my_mse").function is base.function
        assert "my_mse" in catalog.names()
        with pytest.raises(ValueError, match=r"'name' must be unused"):
            catalog.register(spec)
    finally:
        _registry._REGISTRY.pop("my_mse", None)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": "has space"}, "'name' must be a Python identifier"),
        ({"tasks": ("regresion",)}, "'tasks' must be among"),
        ({"input_kind": "logit"}, "'input_kind' must be one of"),
        ({"properties": {"fast": True}}, "'properties' must use the keys"),
    ],
)
def test_register_validates(change, message):
    spec = dataclasses.replace(
        catalog.get("mse_loss"), aliases=(), **{"name": "tmp_loss", **change}
    )
    with pytest.raises(ValueError, match=message):
        catalog.register(spec)
    assert "tmp_loss" not in catalog.names()


def test_register_rejects_non_spec():
    with pytest.raises(TypeError, match=r"'spec' must be a LossSpec, got function"):
        catalog.register(lambda x: x)


def test_head_lookup():
    spec = catalog.get("cross_entropy")
    assert spec.head_for("multiclass").units == "C"
    assert spec.head_for("binary").units == "2"
    mse = catalog.get("mse_loss")
    assert mse.head_for("binary").activation == "sigmoid"  # MSE on a binary task: 1 sigmoid unit
    with pytest.raises(KeyError, match="no output head declared for task 'ranking'"):
        mse.head_for("ranking")


def test_derivative_error_helper():
    assert catalog.derivative_error(catalog.get("mse_loss")) < 1e-12
    broken = dataclasses.replace(catalog.get("mse_loss"), derivative_fn=lambda x, y: x - y)
    assert catalog.derivative_error(broken) > 1e-3
    assert torch.is_tensor(catalog.get("mse_loss").function(torch.zeros(1), torch.zeros(1)))


def test_rules_resolve_per_hyperparameter():
    robust = catalog.get("general_robust_loss")
    assert robust.properties["convex"] is True  # at the catalog's alpha = 1
    at_zero = robust.properties_at(alpha=0.0)
    assert (at_zero["convex"], at_zero["bounded"], at_zero["robust_to_outliers"]) == (
        False,
        False,
        True,
    )
    assert robust.properties_at(alpha=-0.5)["bounded"] is True
    assert robust.describe_property("bounded") == "yes if alpha < 0"
    assert catalog.get("mse_loss").describe_property("convex") == "yes"


def test_properties_at_validates():
    robust = catalog.get("general_robust_loss")
    with pytest.raises(ValueError, match=r"^general_robust_loss: 'scale' must be .* > 0, got -1.0"):
        robust.properties_at(scale=-1.0)
    with pytest.raises(
        ValueError, match=r"^general_robust_loss: 'hyperparameter' must be one of weight, alpha"
    ):
        robust.properties_at(alpah=1.0)


def test_when_rejects_what_it_cannot_evaluate():
    with pytest.raises(ValueError, match=r"^When: 'condition' must be a Python expression"):
        catalog.When("alpha >=")
    with pytest.raises(ValueError, match=r"^When: 'condition' must be comparisons"):
        catalog.When("alpha")
    with pytest.raises(ValueError, match=r"^When: 'condition' must compare hyperparameter names"):
        catalog.When("__import__('os') == 1")
    assert catalog.When("scale * cos(margin) >= 15").holds({"scale": 64.0, "margin": 0.5})


def test_register_rejects_rules_over_unknown_hyperparameters():
    base = catalog.get("mse_loss")
    bad = dict(base.properties, convex=catalog.When("gamma == 0"))
    with pytest.raises(ValueError, match=r"must read hyperparameters with a default"):
        dataclasses.replace(base, name="tmp_rule", aliases=(), properties=bad)


def test_replace_keeps_rules_unless_overridden():
    robust = catalog.get("general_robust_loss")
    copy = dataclasses.replace(robust, name="tmp_copy", aliases=())
    assert copy.rules == robust.rules
    flipped = dataclasses.replace(robust, properties=dict(robust.properties, convex=False))
    assert "convex" not in flipped.rules and flipped.properties["convex"] is False
