r"""Parameter penalties: L1, L2 (squared) and elastic net, as loss terms.

Each penalty takes a model (``nn.Module``) or the tensors themselves and returns a scalar to add
to the loss::

    loss = criterion(model(x), y) + LF.l2_penalty(model, weight=1e-4)

What is penalised (with a model):

* ``exclude_bias=True`` (default) skips parameters named ``bias`` (``*.bias``);
* ``exclude_norm=True`` (default) skips every parameter of a normalisation layer (BatchNorm,
  InstanceNorm, LayerNorm, GroupNorm, LocalResponseNorm, RMSNorm): penalising their scales
  fights the normalisation and is almost never intended;
* ``exclude`` adds glob patterns on parameter names (``fnmatch``, e.g. ``"embed.*"``);
* parameters with ``requires_grad=False`` are skipped.

Given tensors (or ``(name, tensor)`` pairs) instead of a model, every tensor is penalised except
those whose name matches ``exclude`` or, with ``exclude_bias``, is a bias; a bare tensor has no
name and no layer, so only the model form can tell normalisation parameters apart.

Conventions (stated because libraries differ): ``l2_penalty`` is ``weight * sum(w^2)`` with no
factor 1/2 (its gradient is ``2 * weight * w``: SGD weight decay ``lambda`` corresponds to
``weight = lambda / 2``); ``elastic_net_penalty`` follows scikit-learn's ``ElasticNet``:
``alpha * l1_ratio * ||w||_1 + 0.5 * alpha * (1 - l1_ratio) * ||w||_2^2``.

With ``per_model=True`` every tensor leads with a model dimension M (stacks of independent
models, as in :mod:`losslab.lab`) and the result has shape (M,): one penalty per model.

References:
    Tibshirani, "Regression Shrinkage and Selection via the Lasso", JRSS-B 1996.
    Hoerl & Kennard, "Ridge Regression: Biased Estimation for Nonorthogonal Problems",
    Technometrics 1970.
    Zou & Hastie, "Regularization and Variable Selection via the Elastic Net", JRSS-B 2005.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeAlias

import torch

from .._validation import Param, Raw, fail

__all__ = [
    "NORM_LAYERS",
    "elastic_net_penalty",
    "l1_penalty",
    "l2_penalty",
    "penalized_parameters",
]

#: the layer types whose parameters ``exclude_norm`` skips
NORM_LAYERS: tuple[type[torch.nn.Module], ...] = tuple(
    t
    for t in (
        torch.nn.modules.batchnorm._NormBase,
        torch.nn.LayerNorm,
        torch.nn.GroupNorm,
        torch.nn.LocalResponseNorm,
        getattr(torch.nn, "RMSNorm", None),
    )
    if t is not None
)

Params: TypeAlias = (
    torch.nn.Module | torch.Tensor | Iterable[torch.Tensor | tuple[str, torch.Tensor]]
)

_WEIGHT = Param("float", "penalty strength", ge=0)
_ALPHA = Param("float", "overall strength (scikit-learn's alpha)", ge=0)
_L1_RATIO = Param("float", "share of the L1 term (0: ridge, 1: lasso)", ge=0, le=1)


def _is_bias(name: str) -> bool:
    return name.rsplit(".", 1)[-1] == "bias"


def penalized_parameters(
    model_or_params: Params,
    *,
    exclude_bias: bool = True,
    exclude_norm: bool = True,
    exclude: Sequence[str] = (),
    _loss: str = "penalized_parameters",
) -> list[tuple[str, torch.Tensor]]:
    """The ``(name, tensor)`` pairs a penalty applies to (see the module docstring for the rules).

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
        >>> [n for n, _ in penalized_parameters(net)]
        ['0.weight', '2.weight']
    """
    for arg, value in (("exclude_bias", exclude_bias), ("exclude_norm", exclude_norm)):
        if not isinstance(value, bool):
            fail(_loss, arg, "a bool", value, kind=TypeError)
    if isinstance(exclude, str) or not all(isinstance(p, str) for p in exclude):
        fail(_loss, "exclude", "a sequence of glob patterns (str)", exclude, kind=TypeError)

    def keep(name: str) -> bool:
        if exclude_bias and _is_bias(name):
            return False
        return not any(fnmatch.fnmatchcase(name, pat) for pat in exclude)

    if isinstance(model_or_params, torch.nn.Module):
        skip: set[int] = set()
        if exclude_norm:
            for mod in model_or_params.modules():
                if isinstance(mod, NORM_LAYERS):
                    skip.update(id(p) for p in mod.parameters(recurse=False))
        return [
            (n, p)
            for n, p in model_or_params.named_parameters()
            if p.requires_grad and id(p) not in skip and keep(n)
        ]
    if isinstance(model_or_params, torch.Tensor):
        items: list[Any] = [model_or_params]
    elif isinstance(model_or_params, Iterable):
        items = list(model_or_params)
    else:
        fail(
            _loss,
            "model_or_params",
            "an nn.Module, a tensor or an iterable of tensors",
            Raw(type(model_or_params).__name__),
            kind=TypeError,
        )
    out = []
    for i, item in enumerate(items):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, t = item
        else:
            name, t = str(i), item
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            fail(
                _loss,
                "model_or_params",
                "floating-point tensors (or (name, tensor) pairs)",
                Raw(type(t).__name__ if not isinstance(t, torch.Tensor) else str(t.dtype)),
                kind=TypeError,
            )
        if keep(name):
            out.append((name, t))
    return out


def _accumulate(
    loss: str,
    model_or_params: Params,
    term: Callable[[torch.Tensor], torch.Tensor],
    *,
    exclude_bias: bool,
    exclude_norm: bool,
    exclude: Sequence[str],
    per_model: bool,
) -> torch.Tensor:
    if not isinstance(per_model, bool):
        fail(loss, "per_model", "a bool", per_model, kind=TypeError)
    params = penalized_parameters(
        model_or_params,
        exclude_bias=exclude_bias,
        exclude_norm=exclude_norm,
        exclude=exclude,
        _loss=loss,
    )
    total: torch.Tensor | None = None
    m: int | None = None
    for name, p in params:
        x = p.float() if p.dtype in (torch.float16, torch.bfloat16) else p
        if per_model:
            if x.dim() == 0:
                fail(
                    loss,
                    "model_or_params",
                    "tensors leading with the model dimension M when per_model=True",
                    Raw(f"a 0-dimensional tensor {name!r}"),
                )
            if m is None:
                m = x.shape[0]
            elif x.shape[0] != m:
                fail(
                    loss,
                    "model_or_params",
                    f"tensors with the same leading model dimension M = {m}",
                    Raw(f"{name!r} of shape {tuple(x.shape)}"),
                )
            value = term(x.reshape(x.shape[0], -1)).sum(dim=1)
        else:
            value = term(x).sum()
        total = value if total is None else total + value
    if total is None:  # nothing to penalise: a zero (no parameter has a gradient from it)
        return torch.zeros(())
    return total


def _check(loss: str, **values: tuple[Param, Any]) -> None:
    for arg, (param, value) in values.items():
        param.check(loss, arg, value)


def l1_penalty(
    model_or_params: Params,
    *,
    weight: float,
    exclude_bias: bool = True,
    exclude_norm: bool = True,
    exclude: Sequence[str] = (),
    per_model: bool = False,
) -> torch.Tensor:
    r"""L1 (lasso) penalty :math:`\lambda \sum_i |w_i|` over the penalised parameters.

    Args:
        model_or_params: an ``nn.Module``, a tensor, or an iterable of tensors or
            ``(name, tensor)`` pairs.
        weight: :math:`\lambda \ge 0`.
        exclude_bias, exclude_norm, exclude: what to skip (see :mod:`this module's rules
            <losslab.functional._regularization>`).
        per_model: tensors lead with a model dimension M; return shape (M,).

    Returns:
        A scalar (or (M,)) tensor, float32 for half-precision parameters.

    Example:
        >>> import torch
        >>> lin = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = lin.weight.copy_(torch.tensor([[1.0, -2.0]])); _ = lin.bias.fill_(5.0)
        >>> l1_penalty(lin, weight=0.1)          # the bias is not penalised
        tensor(0.3000, grad_fn=<MulBackward0>)

    References:
        Tibshirani, "Regression Shrinkage and Selection via the Lasso", JRSS-B 1996.
    """
    _check("l1_penalty", weight=(_WEIGHT, weight))
    s = _accumulate(
        "l1_penalty",
        model_or_params,
        torch.abs,
        exclude_bias=exclude_bias,
        exclude_norm=exclude_norm,
        exclude=exclude,
        per_model=per_model,
    )
    return weight * s


def l2_penalty(
    model_or_params: Params,
    *,
    weight: float,
    exclude_bias: bool = True,
    exclude_norm: bool = True,
    exclude: Sequence[str] = (),
    per_model: bool = False,
) -> torch.Tensor:
    r"""Squared-L2 (ridge) penalty :math:`\lambda \sum_i w_i^2` (no factor 1/2).

    The gradient is :math:`2\lambda w`, so plain-SGD weight decay :math:`\lambda_{wd}` is
    ``weight = lambda_wd / 2`` (with Adam, a penalty is not the same as AdamW's decoupled decay).
    Arguments as in :func:`l1_penalty`.

    Example:
        >>> import torch
        >>> l2_penalty([torch.tensor([3.0, 4.0])], weight=0.5)
        tensor(12.5000)

    References:
        Hoerl & Kennard, "Ridge Regression: Biased Estimation for Nonorthogonal Problems",
        Technometrics 1970.
    """
    _check("l2_penalty", weight=(_WEIGHT, weight))
    s = _accumulate(
        "l2_penalty",
        model_or_params,
        torch.square,
        exclude_bias=exclude_bias,
        exclude_norm=exclude_norm,
        exclude=exclude,
        per_model=per_model,
    )
    return weight * s


def elastic_net_penalty(
    model_or_params: Params,
    *,
    alpha: float,
    l1_ratio: float = 0.5,
    exclude_bias: bool = True,
    exclude_norm: bool = True,
    exclude: Sequence[str] = (),
    per_model: bool = False,
) -> torch.Tensor:
    r"""Elastic-net penalty in scikit-learn's parameterisation.

    :math:`\alpha\,\rho\,\|w\|_1 + \tfrac12\,\alpha\,(1 - \rho)\,\|w\|_2^2` with
    :math:`\rho` = ``l1_ratio``; equal to ``l1_penalty(weight=alpha * rho) +
    l2_penalty(weight=alpha * (1 - rho) / 2)``. Other arguments as in :func:`l1_penalty`.

    Example:
        >>> import torch
        >>> elastic_net_penalty([torch.tensor([3.0, -4.0])], alpha=2.0, l1_ratio=0.5)
        tensor(19.5000)

    References:
        Zou & Hastie, "Regularization and Variable Selection via the Elastic Net", JRSS-B 2005.
    """
    _check("elastic_net_penalty", alpha=(_ALPHA, alpha), l1_ratio=(_L1_RATIO, l1_ratio))

    def term(w: torch.Tensor) -> torch.Tensor:
        return alpha * l1_ratio * w.abs() + 0.5 * alpha * (1 - l1_ratio) * w.square()

    return _accumulate(
        "elastic_net_penalty",
        model_or_params,
        term,
        exclude_bias=exclude_bias,
        exclude_norm=exclude_norm,
        exclude=exclude,
        per_model=per_model,
    )
