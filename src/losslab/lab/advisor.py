"""Advice for your own data: profile it, propose candidate losses from the catalog, test them.

:func:`advise` (``losslab.advise(X, y)``; ``losslab advise --data FILE --target COL`` and
``--task NAME`` on the command line) does four things:

1. **Profile** (:mod:`losslab.lab.data_profile`): kind, size, class balance, a confident-learning
   label-noise estimate (cleanlab), outliers and tails of the target and of linear residuals,
   duplicated and conflicting rows.
2. **Propose** (:func:`propose`) by this rule, each candidate with a one-line reason:

   - the plain baseline always (BCE, CE or MSE);
   - class imbalance (largest/smallest class >= ``IMBALANCE_RATIO``): catalog losses declared
     for the ``imbalanced`` task that can head the kind, the baseline re-weighted by the class
     counts of the training split included;
   - label noise (estimated rate >= ``NOISE_RATE``, classification): catalog losses declared
     for the ``noisy_labels`` task that can head the kind;
   - outliers or heavy tails (regression: a share >= ``OUTLIER_FRACTION`` of residuals with
     robust ``|z| > OUTLIER_Z``, or residual excess kurtosis >= ``EXCESS_KURTOSIS``): catalog
     regression losses that are ``robust_to_outliers`` at their setting;
   - at most ``MAX_PER_PROPERTY`` per property, in the order of ``_PREFERRED``; losses that equal
     another candidate up to a constant, measure another error, or need a value only you know
     (costs) are not proposed (``_NOT_PROPOSED`` says why, and :class:`Advice` lists them);
   - **clean data** (no property found): the baseline and exactly one generic alternative that
     needs no property of the data (``_GENERIC``: hinge for binary, label smoothing 0.1 for
     multiclass, Huber for regression). No imbalance, noise or outlier family is proposed then.
3. **Test**: a quick study of the candidates (``seeds`` seeds, early stopping) on the lab's one
   engine, through the user-data path (a data frame is written to ``data.parquet`` in the study
   folder and read back as ``--data`` would be).
4. **Recommend** by the lab's recommendation rule (``losslab.lab.recommend``); the profile, the
   candidates and the caveats go to ``advice.json`` in the study folder.

The profile reads every row with its label (the study's test split included) to choose the
candidates; the study then measures them on its own splits. The thresholds are heuristics, stated
here and in every advice's caveats, not tests of significance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import catalog
from . import data as D
from .data_profile import (
    CV_FOLDS,
    EXCESS_KURTOSIS,
    IMBALANCE_RATIO,
    MAX_PROFILE_ROWS,
    NOISE_RATE,
    OUTLIER_FRACTION,
    OUTLIER_Z,
    Profile,
    profile_arrays,
)
from .tasks import Competitor, Task, get_task, register_task

__all__ = [
    "Advice",
    "Candidate",
    "Profile",
    "advise",
    "advise_file",
    "advise_task",
    "profile_arrays",
    "propose",
    "ADVICE_NAME",
    "IMBALANCE_RATIO",
    "NOISE_RATE",
    "OUTLIER_Z",
    "OUTLIER_FRACTION",
    "EXCESS_KURTOSIS",
    "MAX_PER_PROPERTY",
    "CV_FOLDS",
    "MAX_PROFILE_ROWS",
]

MAX_PER_PROPERTY = 3
#: the file the advice is written to in the study folder
ADVICE_NAME = "advice.json"
#: the early-stopping patience (epochs) of the quick study
PATIENCE = 5

_BASELINE = {
    "binary": ("BCE", "binary_cross_entropy_with_logits"),
    "multiclass": ("CE", "cross_entropy"),
    "regression": ("MSE", "mse_loss"),
}
#: one generic alternative per kind, proposed only on clean data: it needs no property of the data
_GENERIC: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "binary": (
        "hinge",
        "hinge_loss",
        {},
        "generic: the margin loss, the standard alternative to BCE",
    ),
    "multiclass": (
        "CE (label smoothing 0.1)",
        "cross_entropy",
        {"label_smoothing": 0.1},
        "generic: softer targets, often better calibrated (Mueller et al. 2019)",
    ),
    "regression": (
        "Huber (delta=1)",
        "huber_loss",
        {"delta": 1.0},
        "generic: MSE for residuals under 1 sd, linear beyond",
    ),
}
#: catalog losses never proposed, and why (they would only repeat another candidate, or they
#: need a value the data cannot give)
_NOT_PROPOSED = {
    "fast_cross_entropy": "an implementation of cross entropy (the same loss as CE)",
    "linear_cross_entropy": "fuses the last layer with CE (the same loss as CE)",
    "nll_loss": "CE on log-probabilities (the same loss as CE)",
    "quantile_loss": "at its setting (quantile 0.5) half of L1",
    "smooth_l1_loss": "Huber divided by beta",
    "mape_loss": "a relative error: another objective, not an outlier remedy",
    "binary_cost_sensitive_loss": "needs your misclassification costs",
    "binary_expected_cost_loss": "needs your misclassification costs",
    "cost_sensitive_cross_entropy": "needs your cost matrix",
}
#: the order candidates of one property are taken in (others follow in catalog order)
_PREFERRED = {
    "imbalance": (
        "binary_cross_entropy_with_logits",
        "cross_entropy",
        "sigmoid_focal_loss",
        "softmax_focal_loss",
        "logit_adjusted_cross_entropy",
    ),
    "label_noise": ("generalized_cross_entropy", "symmetric_cross_entropy", "nce_rce_loss"),
    "outliers": ("huber_loss", "l1_loss", "log_cosh_loss", "general_robust_loss"),
}


# -- data-derived hyperparameters (module-level: studies may pickle them) --------------------


def _counts(ds: D.Dataset) -> torch.Tensor:
    from ..functional import class_counts

    return class_counts(ds.y_train.long(), int(ds.num_classes or 2))


def _pos_weight(ds: D.Dataset) -> dict[str, Any]:
    n = _counts(ds).double()
    return {"pos_weight": (n[0] / n[1].clamp_min(1.0)).float()}


def _class_balanced_pos_weight(ds: D.Dataset) -> dict[str, Any]:
    from ..functional import effective_number_weights

    w = effective_number_weights(_counts(ds), beta=0.999)
    return {"pos_weight": (w[1] / w[0]).reshape(()).float()}


def _inverse_frequency_weight(ds: D.Dataset) -> dict[str, Any]:
    from ..functional import inverse_frequency_weights

    return {"weight": inverse_frequency_weights(_counts(ds)).float()}


def _class_prior(ds: D.Dataset) -> dict[str, Any]:
    n = _counts(ds).double()
    return {"class_prior": (n / n.sum()).float()}


#: required hyperparameters a candidate's data can give
_DERIVED: dict[str, Callable[[D.Dataset], dict[str, Any]]] = {"class_prior": _class_prior}


# -- candidates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One proposed loss: a catalog loss at a setting, why it is proposed, and what found it."""

    label: str
    loss: str
    reason: str
    #: "baseline", "generic", or the profile property that proposed it
    trigger: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    data_kwargs: Callable[[D.Dataset], dict[str, Any]] | None = None

    def competitor(self) -> Competitor:
        return Competitor(
            self.label,
            self.loss,
            dict(self.kwargs),
            data_kwargs=self.data_kwargs,
            note=f"{self.trigger}: {self.reason}",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "loss": self.loss,
            "kwargs": {k: v for k, v in self.kwargs.items()},
            "data_kwargs": self.data_kwargs is not None,
            "trigger": self.trigger,
            "reason": self.reason,
        }


def _required(spec: catalog.LossSpec) -> list[str]:
    sig = inspect.signature(spec.function)
    return [
        n
        for n, p in sig.parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]


def _heads(spec: catalog.LossSpec, kind: str) -> bool:
    try:
        spec.head_for(kind)
    except KeyError:
        return False
    return True


def _imbalance(spec: catalog.LossSpec, kind: str, p: Profile) -> list[Candidate]:
    ratio = _reason_head("imbalance", p)
    if spec.name == "binary_cross_entropy_with_logits":
        return [
            Candidate(
                "BCE (pos_weight = neg/pos)",
                spec.name,
                f"{ratio}: weighs each positive by neg/pos of the training split",
                "imbalance",
                data_kwargs=_pos_weight,
            ),
            Candidate(
                "class-balanced BCE (beta=0.999)",
                spec.name,
                f"{ratio}: effective-number weights (Cui et al. 2019), milder than neg/pos",
                "imbalance",
                data_kwargs=_class_balanced_pos_weight,
            ),
        ]
    if spec.name == "cross_entropy":
        return [
            Candidate(
                "CE (inverse-frequency weights)",
                spec.name,
                f"{ratio}: weighs each class by 1/count of the training split",
                "imbalance",
                data_kwargs=_inverse_frequency_weight,
            )
        ]
    if spec.name == "sigmoid_focal_loss":
        return [
            Candidate(
                "focal (alpha=0.25, gamma=2)",
                spec.name,
                f"{ratio}: down-weights easy, mostly majority, examples (Lin et al. 2017)",
                "imbalance",
                {"alpha": 0.25, "gamma": 2.0},
            )
        ]
    if spec.name == "softmax_focal_loss":
        return [
            Candidate(
                "softmax focal (gamma=2)",
                spec.name,
                f"{ratio}: down-weights easy, mostly majority, examples (Lin et al. 2017)",
                "imbalance",
                {"gamma": 2.0},
            )
        ]
    return [_configured(spec, "imbalance", f"{ratio}: {_one_line(spec.summary)}")]


def _plain(spec: catalog.LossSpec, trigger: str, reason: str) -> Candidate:
    """A candidate at the catalog's setting; data-derived values for required hyperparameters."""
    given = _SETTINGS.get(spec.name, ("", {}))[1]
    required = [r for r in _required(spec) if r not in given]
    derive = [_DERIVED[r] for r in required]
    data_kwargs = None
    if derive:
        data_kwargs = derive[0] if len(derive) == 1 else functools.partial(_merged, tuple(derive))
    return Candidate(spec.name, spec.name, reason, trigger, data_kwargs=data_kwargs)


def _configured(spec: catalog.LossSpec, trigger: str, reason: str) -> Candidate:
    """:func:`_plain` at the setting and label of ``_SETTINGS`` where it lists the loss."""
    cand = _plain(spec, trigger, reason)
    if spec.name in _SETTINGS:
        label, kwargs = _SETTINGS[spec.name]
        cand = dataclasses.replace(cand, label=label, kwargs=kwargs)
    return cand


def _merged(derive: tuple[Callable[[D.Dataset], dict[str, Any]], ...], ds: D.Dataset) -> dict:
    return {k: v for f in derive for k, v in f(ds).items()}


def _one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut after its first sentence, at most ``limit`` characters."""
    text = re.split(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)\.\s+(?=[A-Z])", " ".join(text.split()))[0]
    text = text if text.endswith(".") else text + "."
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _property_specs(
    prop: str, kind: str, head_kind: str, skipped: dict[str, str]
) -> list[catalog.LossSpec]:
    """Catalog losses that answer ``prop`` for ``kind`` (see the module's rule), preferred first."""
    found = []
    for spec in catalog.list_losses():
        if not spec.builtin or not _heads(spec, kind) or not _heads(spec, head_kind):
            continue
        if spec.family == "classification" and spec.name != _BASELINE[kind][1]:
            continue  # the baseline under another head (two-unit softmax CE is BCE) or a margin
        if prop == "imbalance":
            hit = "imbalanced" in spec.tasks
        elif prop == "label_noise":
            hit = "noisy_labels" in spec.tasks
        else:
            hit = spec.family == "regression" and bool(spec.properties.get("robust_to_outliers"))
        if not hit:
            continue
        if spec.name in _NOT_PROPOSED:
            skipped[spec.name] = _NOT_PROPOSED[spec.name]
            continue
        given = _SETTINGS.get(spec.name, ("", {}))[1]
        missing = [r for r in _required(spec) if r not in _DERIVED and r not in given]
        if missing:
            skipped[spec.name] = f"needs {', '.join(missing)}"
            continue
        found.append(spec)
    order = _PREFERRED[prop]
    return sorted(found, key=lambda s: order.index(s.name) if s.name in order else len(order))


def _reason(spec: catalog.LossSpec, prop: str, p: Profile) -> str:
    return f"{_reason_head(prop, p)}: {_one_line(spec.summary)}"


_SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "huber_loss": ("Huber (delta=1)", {"delta": 1.0}),
    "l1_loss": ("MAE", {}),
    "log_cosh_loss": ("log-cosh", {}),
    "general_robust_loss": ("general robust (alpha=0)", {"alpha": 0.0, "scale": 0.5}),
    "generalized_cross_entropy": ("GCE (q=0.7)", {"q": 0.7}),
    "symmetric_cross_entropy": ("SCE (alpha=0.1, beta=1)", {"alpha": 0.1, "beta": 1.0}),
    "logit_adjusted_cross_entropy": ("logit-adjusted CE (tau=1)", {"tau": 1.0}),
    "nce_rce_loss": ("NCE+RCE", {}),
}


#: a candidate for a property whose catalog losses all lack a head for the kind
_FALLBACK = {
    ("label_noise", "binary"): Candidate(
        "MSE (sigmoid head)",
        "mse_loss",
        "bounded on probabilities, so a wrong label costs at most 1 (Ghosh et al. 2017)",
        "label_noise",
    )
}


def _reason_head(prop: str, p: Profile) -> str:
    if prop == "label_noise":
        return f"about {p.noise_rate:.0%} of labels look wrong"
    if prop == "imbalance":
        return f"largest/smallest class {p.imbalance_ratio:.1f}"
    return (
        f"{p.residual_outlier_fraction:.1%} outlying residuals, excess kurtosis "
        f"{p.residual_excess_kurtosis:.1f}"
    )


def propose(
    profile: Profile, *, head_kind: str | None = None
) -> tuple[tuple[Candidate, ...], dict[str, str]]:
    """The candidates for a profile (the module's rule) and the catalog losses that had the
    property but were not proposed, with why. ``head_kind``: the catalog task whose output head
    the study uses (default the profile's kind; ``imbalanced`` for the built-in imbalanced task)."""
    kind = profile.kind
    head_kind = head_kind or kind
    label, base = _BASELINE[kind]
    out = [Candidate(label, base, "the plain baseline: what the others must beat", "baseline")]
    skipped: dict[str, str] = {}
    for prop in profile.properties:
        taken: list[Candidate] = []
        for spec in _property_specs(prop, kind, head_kind, skipped):
            if prop == "imbalance":
                new = _imbalance(spec, kind, profile)
            else:
                new = [_configured(spec, prop, _reason(spec, prop, profile))]
            for cand in new:
                if len(taken) >= MAX_PER_PROPERTY:
                    skipped.setdefault(cand.label, f"more than {MAX_PER_PROPERTY} for {prop}")
                elif not any(_same(cand, c) for c in out + taken):
                    taken.append(cand)
        fallback = _FALLBACK.get((prop, kind))
        if not taken and fallback is not None:
            taken.append(
                dataclasses.replace(
                    fallback, reason=f"{_reason_head(prop, profile)}: {fallback.reason}"
                )
            )
            skipped[f"the {prop.replace('_', ' ')} losses"] = f"none declares a {kind} head"
        out += taken
    g_label, g_loss, g_kwargs, g_reason = _GENERIC[kind]
    if not profile.properties and _heads(catalog.get(g_loss), head_kind):
        out.append(Candidate(g_label, g_loss, g_reason, "generic", g_kwargs))
    return tuple(out), skipped


def _same(a: Candidate, b: Candidate) -> bool:
    return a.label == b.label or (
        a.loss == b.loss and dict(a.kwargs) == dict(b.kwargs) and a.data_kwargs is b.data_kwargs
    )


# -- the advice --------------------------------------------------------------------------------


@dataclass
class Advice:
    """What :func:`advise` found, proposed and measured."""

    profile: Profile
    candidates: tuple[Candidate, ...]
    #: catalog losses that had a found property but were not proposed -> why
    not_proposed: dict[str, str]
    #: where the data come from: {"path", "target", "kind"} or {"task"}
    source: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None  # the study folder (None without a study)
    task: str | None = None  # the study's task name
    primary: str | None = None  # the study's primary metric
    #: the lab rule's recommendation for the task (``losslab.lab.recommend.Recommendation``)
    recommendation: Any = None
    #: the study's summary for scripts (``losslab.lab.recommend.summary_dict``)
    summary: dict[str, Any] | None = None
    report: Any = None  # the study's ``StudyReport`` (the evidence)
    paths: dict[str, Path] = field(default_factory=dict)  # the report files written

    @property
    def caveats(self) -> tuple[str, ...]:
        return self.profile.caveats

    def to_json(self) -> dict[str, Any]:
        return {
            "source": {k: str(v) if isinstance(v, Path) else v for k, v in self.source.items()},
            "profile": self.profile.to_json(),
            "profile_lines": self.profile.lines(),
            "candidates": [c.to_json() for c in self.candidates],
            "not_proposed": dict(self.not_proposed),
            "study": str(self.folder) if self.folder is not None else None,
            "task": self.task,
            "primary": self.primary,
            "recommendation": _rec_json(self.recommendation),
            "summary": self.summary,
            "caveats": list(self.caveats),
        }


def _rec_json(rec: Any) -> dict[str, Any] | None:
    if rec is None:
        return None
    if dataclasses.is_dataclass(rec) and not isinstance(rec, type):
        return json.loads(json.dumps(dataclasses.asdict(rec), default=str))
    return {"text": str(rec)}


def _study_primary(profile: Profile, task: Task) -> str:
    """F1 (binary) or macro-F1 (multiclass) when imbalanced and measured: accuracy rewards
    predicting the majority class."""
    if "imbalance" in profile.properties:
        for metric in ("f1", "macro_f1"):
            if metric in task.metrics:
                return metric
    return task.primary


def _recommend(folder: Path, task: str) -> tuple[Any, dict[str, Any] | None, Any, dict]:
    """The lab rule's recommendation for ``task``, the study's summary dictionary, its report
    and the report files (written here, as ``losslab compare`` writes them)."""
    # the rule reads the report's numbers: the one place the lab looks up to the report layer
    from ..report import build_report, write_report
    from .recommend import summary_dict
    from .store import Store
    from .study import STORE_NAME

    with Store(folder / STORE_NAME) as st:
        report = build_report(st)
        paths = write_report(st, folder)
    rec = next(
        (t.recommendations[0] for t in report.tasks if t.name == task and t.recommendations),
        None,
    )
    return rec, summary_dict(report), report, paths


def _write(advice: Advice) -> None:
    if advice.folder is not None:
        path = advice.folder / ADVICE_NAME
        path.write_text(json.dumps(advice.to_json(), indent=2, default=str) + "\n")


def _user_error(exc: ValueError) -> ValueError:
    """A user-data error of ``compare``'s validation, worded for ``advise``."""
    from .userdata import UserDataError

    msg = str(exc)
    if msg.startswith("compare: "):
        msg = "advise: " + msg[len("compare: ") :]
    return UserDataError(msg)


def _check_name(name: str | None) -> None:
    from .study import check_study_name

    if name is not None:
        try:
            check_study_name(name)
        except ValueError as exc:
            raise ValueError(str(exc).replace("compare: ", "advise: ", 1)) from None


def _check_run_options(seeds: int, epochs: int | None, name: str | None) -> None:
    from .study import STUDY_PARAMS

    STUDY_PARAMS["seeds"].check("advise", "--seeds", seeds)
    STUDY_PARAMS["epochs"].check("advise", "--epochs", epochs)
    _check_name(name)


def run_candidates(
    advice: Advice,
    *,
    seeds: int = 3,
    epochs: int | None = None,
    out: str | Path = "losslab-runs",
    name: str | None = None,
    callbacks: Mapping[str, Callable[..., None]] | None = None,
) -> Advice:
    """Run the quick study of ``advice.candidates`` (``seeds`` seeds, early stopping with
    patience ``PATIENCE``, at most ``epochs`` epochs) on the data of ``advice.source``, then
    fill in the study folder, the recommendation, the summary, the report and ``advice.json``."""
    from .study import StudyConfig, default_study_dir, file_sha256, start_study
    from .userdata import UserDataError, register_user_task

    _check_run_options(seeds, epochs, name)
    src = advice.source
    if "task" not in src and not src.get("path"):
        raise ValueError(
            "advise: this advice has no data to run a study on (advise(X, y, run=False) keeps "
            "no file); call advise(X, y) with run=True"
        )
    if "task" in src:
        base = get_task(src["task"])
        task_name = f"advise:{base.name}"
        extra: dict[str, Any] = {"advised_task": base.name}
    else:
        try:
            base = register_user_task(src["path"], src["target"], kind=advice.profile.kind)
        except UserDataError as exc:
            raise _user_error(exc) from None
        task_name = base.name
        extra = {
            "data": str(Path(src["path"]).resolve()),
            "data_sha256": file_sha256(src["path"]),
            "target": src["target"],
            "kind": src.get("kind"),
        }
    primary = _study_primary(advice.profile, base)
    notes = " ".join(
        [
            "Competitors proposed by `losslab advise` from the data's profile"
            + (
                f"; primary metric {primary} (the data are imbalanced)."
                if primary != base.primary
                else "."
            ),
            "Profile: " + "; ".join(advice.profile.lines()) + ".",
            "Candidates: "
            + "; ".join(f"{c.label} ({c.trigger}: {c.reason})" for c in advice.candidates)
            + ".",
            f"Details in {ADVICE_NAME}.",
        ]
    )
    studied = dataclasses.replace(
        base,
        name=task_name,
        competitors=tuple(c.competitor() for c in advice.candidates),
        primary=primary,
        notes=f"{base.notes} {notes}".strip(),
    )
    register_task(studied, replace=True)
    cfg = StudyConfig(
        tasks=(studied.name,),
        seeds=seeds,
        epochs=epochs,
        early_stopping=PATIENCE,
        extra={"advise": True, **extra},
    )
    folder = default_study_dir(name, out)
    start_study(cfg, folder, **dict(callbacks or {}))
    advice = dataclasses.replace(advice, folder=folder, task=studied.name, primary=primary)
    _write(advice)  # the profile is kept even if the recommendation step fails
    advice.recommendation, advice.summary, advice.report, advice.paths = _recommend(
        folder, studied.name
    )
    _write(advice)
    return advice


def _profile_file(path: str | Path, target: str, kind: str | None) -> Profile:
    from .userdata import UserDataError, _encode, _validate

    try:
        chk = _validate(path, target, kind)
    except UserDataError as exc:
        raise _user_error(exc) from None
    frame = chk.frame
    x, _ = _encode(frame, chk.numeric, chk.categorical, np.arange(len(frame)))
    y_raw = frame[target]
    if chk.kind == "regression":
        y = y_raw.to_numpy(dtype=np.float64)
    else:
        index = {c: i for i, c in enumerate(chk.classes or [])}
        y = y_raw.map(index).to_numpy(dtype=np.int64)
    reason = f"inferred: {chk.inferred}" if chk.inferred else "given with --kind"
    return profile_arrays(
        x,
        y,
        chk.kind,
        classes=chk.classes,
        kind_reason=reason,
        warnings_=(chk.warning,) if chk.warning else (),
    )


def advise_file(
    path: str | Path,
    target: str,
    *,
    kind: str | None = None,
    seeds: int = 3,
    epochs: int | None = None,
    run: bool = True,
    out: str | Path = "losslab-runs",
    name: str | None = None,
    callbacks: Mapping[str, Callable[..., None]] | None = None,
) -> Advice:
    """:func:`advise` for a CSV or Parquet file and its target column (what ``--data`` reads).

    Raises ``UserDataError`` (a ValueError starting ``advise:``) for a file, target or kind that
    ``losslab compare --data`` would refuse, with the same message.
    """
    _check_run_options(seeds, epochs, name)
    profile = _profile_file(path, target, kind)
    candidates, skipped = propose(profile)
    source = {"path": str(path), "target": target, "kind": kind}
    advice = Advice(profile, candidates, skipped, source=source)
    if not run:
        return advice
    return run_candidates(
        advice, seeds=seeds, epochs=epochs, out=out, name=name, callbacks=callbacks
    )


_TASK_KINDS = {"binary": "binary", "imbalanced": "binary", "multiclass": "multiclass"}


def advise_task(
    task_name: str,
    *,
    seeds: int = 3,
    epochs: int | None = None,
    run: bool = True,
    out: str | Path = "losslab-runs",
    name: str | None = None,
    callbacks: Mapping[str, Callable[..., None]] | None = None,
) -> Advice:
    """:func:`advise` for a built-in lab task (``losslab tasks`` lists them): the profile reads
    the training and validation rows of its seed-0 split (never the test rows)."""
    _check_run_options(seeds, epochs, name)
    try:
        task = get_task(task_name)
    except ValueError as exc:
        raise ValueError(str(exc).replace("compare: ", "advise: ", 1)) from None
    kind = _TASK_KINDS.get(task.kind, task.kind)
    if kind not in _BASELINE or task.trainer is not None:
        raise ValueError(
            f"advise: '--task' must be a binary, multiclass or regression task trained by the "
            f"lab's classifier, got {task_name!r} (kind {task.kind!r})"
        )
    ds = task.load(0)
    x = torch.cat([ds.x_train, ds.x_val]).reshape(len(ds.x_train) + len(ds.x_val), -1)
    y = torch.cat([ds.y_train, ds.y_val]).numpy()
    classes = None
    if kind != "regression":
        y = y.astype(np.int64)
        classes = list(ds.meta.get("classes", range(int(ds.num_classes or 2))))
    profile = profile_arrays(
        x.double().numpy(),
        y,
        kind,
        classes=classes,
        kind_reason=f"the task {task.name!r} is {task.kind}",
        warnings_=(
            f"the profile reads the training and validation rows of the seed-0 split of "
            f"{task.name!r}, never its test rows",
        ),
    )
    candidates, skipped = propose(profile, head_kind=task.kind)
    advice = Advice(profile, candidates, skipped, source={"task": task.name})
    if not run:
        return advice
    return run_candidates(
        advice, seeds=seeds, epochs=epochs, out=out, name=name, callbacks=callbacks
    )


def _frame(x: Any, y: Any) -> tuple[pd.DataFrame, str]:
    """A data frame of ``x`` plus the target column (named after ``y`` when it has a free name)."""
    if isinstance(x, pd.DataFrame):
        frame = x.copy()
        frame.columns = [str(c) for c in frame.columns]
    else:
        arr = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
        if arr.ndim != 2:
            raise ValueError(
                f"advise: 'X' must be 2-D (rows, features), got shape {tuple(arr.shape)}"
            )
        frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    target = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
    if target.ndim != 1 or len(target) != len(frame):
        raise ValueError(
            f"advise: 'y' must be 1-D with one value per row of X ({len(frame)}), got shape "
            f"{tuple(target.shape)}"
        )
    col = str(getattr(y, "name", None) or "target")
    while col in frame.columns:
        col = f"{col}_"
    frame[col] = pd.Series(target, index=frame.index) if isinstance(y, pd.Series) else target
    return frame, col


def advise(
    X: Any,
    y: Any,
    *,
    kind: str | None = None,
    seeds: int = 3,
    epochs: int | None = None,
    run: bool = True,
    out: str | Path = "losslab-runs",
    name: str | None = None,
    callbacks: Mapping[str, Callable[..., None]] | None = None,
) -> Advice:
    """Profile ``X`` (rows x features: array, tensor or data frame) and ``y`` (targets), propose
    candidate losses from the catalog and, with ``run``, test them in a quick study and recommend.

    The rules are the module's (:mod:`losslab.lab.advisor`). ``kind`` ("binary", "multiclass",
    "regression") overrides the kind inferred from ``y`` (the rule of ``losslab compare --data``).
    With ``run`` the study folder (``out/name``, default ``losslab-runs/study-<time>``) holds the
    data as ``data.parquet``, the study, its reports and ``advice.json``; ``callbacks`` are
    :func:`~losslab.lab.start_study`'s (``on_plan``, ``on_results``, ...).

    >>> import numpy as np, losslab
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> advice = losslab.advise(X, (X[:, 0] > 0).astype(int), run=False)
    >>> advice.profile.kind, [c.label for c in advice.candidates]
    ('binary', ['BCE', 'hinge'])
    """
    from .study import default_study_dir

    _check_run_options(seeds, epochs, name)
    frame, target = _frame(X, y)
    if not run:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "data.parquet"
            frame.to_parquet(path, index=False)
            advice = advise_file(path, target, kind=kind, run=False, seeds=seeds, epochs=epochs)
        advice.source = {"path": None, "target": target, "kind": kind}  # the file is gone
        return advice
    folder = default_study_dir(name, out)
    if (folder / "results.sqlite").exists():
        raise ValueError(
            f"advise: study folder {str(folder)!r} already exists; pass another 'name'"
        )
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "data.parquet"
    frame.to_parquet(path, index=False)
    try:
        return advise_file(
            path,
            target,
            kind=kind,
            seeds=seeds,
            epochs=epochs,
            out=folder.parent,
            name=folder.name,
            callbacks=callbacks,
        )
    except ValueError:
        if not (folder / "results.sqlite").exists():  # refused before the study began
            path.unlink(missing_ok=True)
            if created:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        raise
