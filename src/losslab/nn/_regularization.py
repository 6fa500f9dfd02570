"""Parameter penalties as loss modules: ``L1Penalty``, ``L2Penalty``, ``ElasticNetPenalty``.

A penalty module holds a reference to the model it regularises and ``forward()`` takes no
arguments, so it works on its own (``loss = crit(x, y) + L2Penalty(model, weight=1e-4)()``) and
as a term of a composite (``crit + L2Penalty(model, weight=1e-4)``; the composite calls it with
nothing). The model is *not* registered as a submodule: the penalty's ``parameters()`` and
``state_dict()`` stay empty, so the model is neither optimised nor saved twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .. import functional as _F
from ._factory import LossModule

__all__ = ["ElasticNetPenalty", "L1Penalty", "L2Penalty"]


class _Penalty(LossModule):
    takes_inputs = False
    _fn: Any = None

    def __init__(
        self,
        model: _F.Params,
        *,
        exclude_bias: bool = True,
        exclude_norm: bool = True,
        exclude: Sequence[str] = (),
        **strength: float,
    ):
        super().__init__()
        if not isinstance(model, (torch.nn.Module, torch.Tensor)):
            model = list(model)  # a generator of parameters would be used up by the first call
        self.__dict__["target"] = model  # not a submodule (see the module docstring)
        self._options = dict(
            exclude_bias=exclude_bias, exclude_norm=exclude_norm, exclude=tuple(exclude)
        )
        self._strength = strength
        type(self)._fn(
            model, **self._strength, **self._options
        )  # validate now, with the function's messages

    def forward(self) -> torch.Tensor:
        return type(self)._fn(self.__dict__["target"], **self._strength, **self._options)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in {**self._strength, **self._options}.items())


class L1Penalty(_Penalty):
    """``weight * sum |w|`` over a model's penalised parameters (:func:`losslab.functional.l1_penalty`).

    Example:
        >>> import torch, losslab
        >>> net = torch.nn.Linear(3, 1)
        >>> crit = losslab.nn.MSELoss() + losslab.nn.L1Penalty(net, weight=1e-3)
        >>> parts = crit.terms(net(torch.randn(4, 3)).squeeze(1), torch.zeros(4))
        >>> sorted(parts)
        ['L1Penalty', 'MSELoss']
        >>> loss = sum(parts.values())    # the same total as crit(...), computed once
    """

    _fn = staticmethod(_F.l1_penalty)

    def __init__(
        self,
        model: _F.Params,
        *,
        weight: float,
        exclude_bias: bool = True,
        exclude_norm: bool = True,
        exclude: Sequence[str] = (),
    ):
        super().__init__(
            model,
            weight=weight,
            exclude_bias=exclude_bias,
            exclude_norm=exclude_norm,
            exclude=exclude,
        )


class L2Penalty(_Penalty):
    """``weight * sum w^2`` over a model's penalised parameters (:func:`losslab.functional.l2_penalty`).

    Example:
        >>> import torch, losslab
        >>> net = torch.nn.Linear(3, 1)
        >>> penalty = losslab.nn.L2Penalty(net, weight=1e-4)
        >>> bool(penalty() == 1e-4 * net.weight.square().sum())
        True
    """

    _fn = staticmethod(_F.l2_penalty)

    def __init__(
        self,
        model: _F.Params,
        *,
        weight: float,
        exclude_bias: bool = True,
        exclude_norm: bool = True,
        exclude: Sequence[str] = (),
    ):
        super().__init__(
            model,
            weight=weight,
            exclude_bias=exclude_bias,
            exclude_norm=exclude_norm,
            exclude=exclude,
        )


class ElasticNetPenalty(_Penalty):
    """scikit-learn's elastic net (:func:`losslab.functional.elastic_net_penalty`) as a module.

    Example:
        >>> import torch, losslab
        >>> net = torch.nn.Linear(3, 1)
        >>> losslab.nn.ElasticNetPenalty(net, alpha=0.0)().item()
        0.0
    """

    _fn = staticmethod(_F.elastic_net_penalty)

    def __init__(
        self,
        model: _F.Params,
        *,
        alpha: float,
        l1_ratio: float = 0.5,
        exclude_bias: bool = True,
        exclude_norm: bool = True,
        exclude: Sequence[str] = (),
    ):
        super().__init__(
            model,
            alpha=alpha,
            l1_ratio=l1_ratio,
            exclude_bias=exclude_bias,
            exclude_norm=exclude_norm,
            exclude=exclude,
        )
