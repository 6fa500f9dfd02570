"""Compatibility of the public surface: every public name importable at the start of issue 12.

The lists below were generated once from HEAD 4f174ed (each module's ``__all__``, plus
``dir(losslab.functional)``'s public names, which equalled its ``__all__`` then, and
``losslab.multitask.TASK_TYPES``) and are written out literally, so a name that disappears or
moves fails here instead of in a user's import. Incidental imports a module happens to hold
(``typing.Any``, ``losslab._validation.fail`` ...) are not public and are not listed.
"""

from __future__ import annotations

import importlib

import pytest

#: module -> the public names importable from it at HEAD 4f174ed
PUBLIC_AT_HEAD: dict[str, tuple[str, ...]] = {
    "losslab": (
        "__version__",
        "InputDomainWarning",
        "LosslabWarning",
        "catalog",
        "content_checks",
        "content_checks_enabled",
        "functional",
        "load_loss",
        "nn",
        "register_loss",
        "set_content_checks",
        "unregister_loss",
    ),
    "losslab.functional": (
        "mse_loss",
        "l1_loss",
        "mae_loss",
        "huber_loss",
        "smooth_l1_loss",
        "poisson_nll_loss",
        "gaussian_nll_loss",
        "binary_cross_entropy_with_logits",
        "cross_entropy",
        "binary_cross_entropy",
        "nll_loss",
        "kl_div",
        "soft_margin_loss",
        "multi_margin_loss",
        "multilabel_margin_loss",
        "multilabel_soft_margin_loss",
        "hinge_embedding_loss",
        "margin_ranking_loss",
        "cosine_embedding_loss",
        "triplet_margin_loss",
        "ctc_loss",
        "log_cosh_loss",
        "quantile_loss",
        "msle_loss",
        "mape_loss",
        "general_robust_loss",
        "sigmoid_focal_loss",
        "softmax_focal_loss",
        "poly1_cross_entropy",
        "hinge_loss",
        "squared_hinge_loss",
        "multiclass_hinge_loss",
        "generalized_cross_entropy",
        "symmetric_cross_entropy",
        "js_div",
        "class_counts",
        "inverse_frequency_weights",
        "effective_number_weights",
        "logit_adjusted_cross_entropy",
        "dice_loss",
        "generalized_dice_loss",
        "jaccard_loss",
        "tversky_loss",
        "focal_tversky_loss",
        "dice_ce_loss",
        "lovasz_softmax_loss",
        "lovasz_hinge_loss",
        "wasserstein_1d",
        "sinkhorn_loss",
        "mmd_loss",
        "wgan_critic_loss",
        "wgan_generator_loss",
        "gradient_penalty",
        "gan_discriminator_loss",
        "gan_generator_loss",
        "pairwise_distances",
        "contrastive_loss",
        "batch_triplet_loss",
        "mine_triplets",
        "info_nce_loss",
        "nt_xent_loss",
        "supcon_loss",
        "arcface_loss",
        "cosface_loss",
        "binary_cost_sensitive_loss",
        "binary_expected_cost_loss",
        "cost_sensitive_cross_entropy",
        "fast_cross_entropy",
        "linear_cross_entropy",
        "auto_chunk_rows",
        "NORM_LAYERS",
        "elastic_net_penalty",
        "l1_penalty",
        "l2_penalty",
        "penalized_parameters",
    ),
    "losslab.nn": (
        "module_class",
        "GaussianNLLLoss",
        "HuberLoss",
        "L1Loss",
        "MAELoss",
        "MSELoss",
        "PoissonNLLLoss",
        "SmoothL1Loss",
        "BCELoss",
        "BCEWithLogitsLoss",
        "CrossEntropyLoss",
        "KLDivLoss",
        "MultiLabelMarginLoss",
        "MultiLabelSoftMarginLoss",
        "MultiMarginLoss",
        "NLLLoss",
        "SoftMarginLoss",
        "CosineEmbeddingLoss",
        "HingeEmbeddingLoss",
        "MarginRankingLoss",
        "TripletMarginLoss",
        "CTCLoss",
        "GeneralRobustLoss",
        "LogCoshLoss",
        "MAPELoss",
        "MSLELoss",
        "QuantileLoss",
        "Poly1CrossEntropyLoss",
        "SigmoidFocalLoss",
        "SoftmaxFocalLoss",
        "HingeLoss",
        "MulticlassHingeLoss",
        "SquaredHingeLoss",
        "GeneralizedCrossEntropyLoss",
        "SymmetricCrossEntropyLoss",
        "JSDivLoss",
        "LogitAdjustedCrossEntropyLoss",
        "DiceCELoss",
        "DiceLoss",
        "FocalTverskyLoss",
        "GeneralizedDiceLoss",
        "JaccardLoss",
        "TverskyLoss",
        "LovaszHingeLoss",
        "LovaszSoftmaxLoss",
        "MMDLoss",
        "SinkhornLoss",
        "Wasserstein1DLoss",
        "GANDiscriminatorLoss",
        "GANGeneratorLoss",
        "GradientPenalty",
        "WGANCriticLoss",
        "WGANGeneratorLoss",
        "BatchTripletLoss",
        "ContrastiveLoss",
        "InfoNCELoss",
        "NTXentLoss",
        "SupConLoss",
        "ArcFaceLoss",
        "CosFaceLoss",
        "BinaryCostSensitiveLoss",
        "BinaryExpectedCostLoss",
        "CostSensitiveCrossEntropyLoss",
        "FastCrossEntropyLoss",
        "LinearCrossEntropyLoss",
        "LinearCrossEntropyHead",
        "CompositeLoss",
        "LossModule",
        "Schedule",
        "constant",
        "cosine_ramp",
        "linear_ramp",
        "AdaptiveRobustLoss",
        "ElasticNetPenalty",
        "L1Penalty",
        "L2Penalty",
    ),
    "losslab.catalog": (
        "Case",
        "Head",
        "INPUT_KINDS",
        "LossSpec",
        "PROPERTIES",
        "Sampler",
        "TASKS",
        "UnknownLossError",
        "derivative_error",
        "get",
        "list_losses",
        "names",
        "render_formula",
        "register",
        "suggest",
        "unregister",
        "When",
    ),
    "losslab.lab": (
        "NothingToRun",
        "StudyConfig",
        "StudyLockedError",
        "resume_study",
        "run_study",
        "start_study",
    ),
    "losslab.multitask": (
        "EqualWeighting",
        "UncertaintyWeighting",
        "GradNorm",
        "DynamicWeightAveraging",
        "pcgrad_backward",
        "project_conflicting",
        "TASK_TYPES",
    ),
    "losslab.custom": (
        "LossLoadError",
        "load_loss",
        "register_loss",
        "unregister_loss",
    ),
    "losslab.distributed": (
        "all_gather_with_grad",
        "is_initialized",
        "world_size",
    ),
}

#: names that left ``losslab.functional.__all__`` (helpers, not losses) -> their documented home.
#: Each is still importable as ``losslab.functional.NAME`` too (the same object).
DOCUMENTED_MOVES: dict[str, str] = {
    "class_counts": "losslab.utils",
    "inverse_frequency_weights": "losslab.utils",
    "effective_number_weights": "losslab.utils",
    "pairwise_distances": "losslab.utils",
    "mine_triplets": "losslab.utils",
    "penalized_parameters": "losslab.utils",
    "NORM_LAYERS": "losslab.utils",
    "auto_chunk_rows": "losslab.utils",
}

#: loss-like functions the catalog does not list (each returns a scalar term added to a loss and
#: has a module in ``losslab.nn``), so they stay in ``losslab.functional.__all__``
DOCUMENTED_LOSS_LIKE: dict[str, str] = {
    "gradient_penalty": "GradientPenalty",  # WGAN-GP term; its first argument is the critic
    "l1_penalty": "L1Penalty",
    "l2_penalty": "L2Penalty",
    "elastic_net_penalty": "ElasticNetPenalty",
}

#: modules documented by path (README, docstrings) that must stay importable
DOCUMENTED_MODULES = (
    "losslab",
    "losslab.functional",
    "losslab.nn",
    "losslab.catalog",
    "losslab.lab",
    "losslab.lab.engine",
    "losslab.lab.systems",
    "losslab.lab.seeds",
    "losslab.multitask",
    "losslab.custom",
    "losslab.distributed",
    "losslab.utils",
)

_CASES = [(module, name) for module, names in PUBLIC_AT_HEAD.items() for name in names]


@pytest.mark.parametrize("module", DOCUMENTED_MODULES)
def test_documented_module_imports(module):
    assert importlib.import_module(module).__name__ == module


@pytest.mark.parametrize(("module", "name"), _CASES, ids=[f"{m}.{n}" for m, n in _CASES])
def test_name_still_imports_from_where_it_did(module, name):
    namespace: dict[str, object] = {}
    exec(f"from {module} import {name}", namespace)  # the user's spelling, not just getattr
    assert namespace[name] is getattr(importlib.import_module(module), name)


def test_lists_have_no_duplicates():
    for module, names in PUBLIC_AT_HEAD.items():
        assert len(set(names)) == len(names), module


#: names importable at HEAD that were not in their module's ``__all__`` even then
_NOT_IN_ALL_AT_HEAD = {("losslab.multitask", "TASK_TYPES")}


@pytest.mark.parametrize("module", sorted(PUBLIC_AT_HEAD))
def test_star_import_still_brings_what_it_did(module):
    expected = {
        n
        for n in PUBLIC_AT_HEAD[module]
        if (module, n) not in _NOT_IN_ALL_AT_HEAD
        and not (module == "losslab.functional" and n in DOCUMENTED_MOVES)
    }
    missing = expected - set(importlib.import_module(module).__all__)
    assert not missing, f"{module}.__all__ lost {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(DOCUMENTED_MOVES))
def test_documented_move(name):
    import losslab.functional as LF

    home = importlib.import_module(DOCUMENTED_MOVES[name])
    assert name in PUBLIC_AT_HEAD["losslab.functional"]
    assert name not in LF.__all__
    assert name in home.__all__
    assert getattr(home, name) is getattr(LF, name)
    assert f":func:`{name}`" in home.__doc__ or f":data:`{name}`" in home.__doc__


def test_utils_lists_only_documented_moves():
    import losslab.utils

    assert sorted(losslab.utils.__all__) == sorted(
        n for n, home in DOCUMENTED_MOVES.items() if home == "losslab.utils"
    )


def test_functional_all_is_losses_only():
    import losslab.functional as LF
    import losslab.nn
    from losslab import catalog

    listed = set(catalog.names())
    not_losses = []
    for name in LF.__all__:
        if name in DOCUMENTED_LOSS_LIKE:
            continue
        try:
            canonical = catalog.get(name).name  # a name or an alias
        except catalog.UnknownLossError:
            not_losses.append(name)
        else:
            assert canonical in listed, name
    assert not not_losses, f"not losses, move them to losslab.utils: {not_losses}"
    for name, module in DOCUMENTED_LOSS_LIKE.items():
        assert name in LF.__all__ and callable(getattr(LF, name)), name
        assert getattr(losslab.nn, module).__name__ == module


def test_star_import_of_functional_is_losses_only():
    namespace: dict[str, object] = {}
    exec("from losslab.functional import *", namespace)
    import losslab.functional as LF

    assert set(namespace) - {"__builtins__"} == set(LF.__all__)
    assert not set(namespace) & set(DOCUMENTED_MOVES)
