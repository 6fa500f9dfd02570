"""Your own data in the lab: a CSV or Parquet file and a target column become a lab task.

``register_user_task(path, target)`` reads and validates the file, infers the task kind (unless
given; the rule is :func:`explain_kind`'s), and registers a :class:`~losslab.lab.tasks.Task`
named ``data:<file name>`` with the default competitors of that kind. A file too small for the
study to resolve differences (:func:`small_data_warning`) is accepted with a warning that its
data carries in ``meta["warnings"]``; the study prints it and stores it for the report. Nothing is imputed or dropped silently: a file the lab cannot
use honestly is refused with a message that names the argument, the expectation and what was
found.

Preprocessing, all fitted on the training split of each seed only: categorical columns
(object, category, bool) are one-hot encoded (``handle_unknown="ignore"``: a category seen only
in validation/test rows encodes as all zeros), then every feature is standardised. Class labels
are mapped to ``0..C-1`` in sorted order (``meta["classes"]``; for binary tasks the second class
is the positive one). Regression targets are standardised with the training mean and standard
deviation; ``meta["target_std"]`` puts RMSE/MAE back in the target's units.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import data as D
from .tasks import BINARY_METRICS, Competitor, Task, register_task

__all__ = [
    "UserDataError",
    "register_user_task",
    "load_user_data",
    "read_table",
    "infer_kind",
    "KINDS",
    "MIN_ROWS",
    "MIN_ROWS_PER_CLASS",
    "MAX_CLASSIFICATION_VALUES",
    "MAX_DISTINCT_FRACTION",
    "explain_kind",
    "small_data_warning",
    "TEST_FRACTION",
    "MIN_TEST_ROWS",
    "MIN_TEST_ROWS_PER_CLASS",
]

KINDS = ("binary", "multiclass", "regression")
#: an integer-valued target is read as class labels when it has at most this many distinct
#: values and they are at most MAX_DISTINCT_FRACTION of the rows; otherwise it is a quantity
MAX_CLASSIFICATION_VALUES = 10
MAX_DISTINCT_FRACTION = 0.5
#: every class needs this many rows so that a stratified 60/20/20 split puts it in every part
MIN_ROWS_PER_CLASS = 5
MIN_ROWS = 10
#: the test split's share of the rows (validation takes as many; training the remaining 60%)
TEST_FRACTION = 0.2
#: below these expected test rows (in all, and of each class) a study cannot resolve much: warn
MIN_TEST_ROWS = 30
MIN_TEST_ROWS_PER_CLASS = 5
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class UserDataError(ValueError):
    """A ``--data`` file (or its ``--target``/``--kind``) the lab cannot use; says why."""


def _fail(message: str) -> UserDataError:
    return UserDataError(f"compare: {message}")


def _show(values: Any, limit: int = 8) -> str:
    items = [repr(_native(v)) for v in list(values)[:limit]]
    more = len(values) - limit
    return ", ".join(items) + (f", ... ({more} more)" if more > 0 else "")


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# -- reading -----------------------------------------------------------------------------------


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file (chosen by suffix) with at least one row, or raise."""
    p = Path(path)
    name = p.name.lower()
    if not p.exists():
        raise _fail(
            f"'--data' must be an existing CSV or Parquet file, got {str(path)!r} (no such file)"
        )
    if not p.is_file():
        raise _fail(f"'--data' must be a CSV or Parquet file, got {str(path)!r} (not a file)")
    if name.endswith(_CSV_SUFFIXES):
        fmt, reader = "CSV", pd.read_csv
    elif name.endswith(_PARQUET_SUFFIXES):
        fmt, reader = "Parquet", pd.read_parquet
    else:
        raise _fail(
            f"'--data' must be a file ending in {', '.join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)}, "
            f"got {p.name!r}"
        )
    try:
        frame = reader(p)
    except pd.errors.EmptyDataError:
        raise _fail(
            f"'--data' must hold a header and at least one row, got an empty file {str(path)!r}"
        ) from None
    except (ValueError, OSError, ImportError) as exc:
        raise _fail(
            f"'--data' must be a readable {fmt} file, got {str(path)!r} "
            f"which could not be read: {type(exc).__name__}: {exc}"
        ) from None
    if len(frame) == 0:
        raise _fail(
            f"'--data' must have at least one data row, got 0 rows in {str(path)!r} "
            f"(columns: {_show(frame.columns)})"
        )
    frame.columns = [str(c) for c in frame.columns]
    return frame


@functools.lru_cache(maxsize=4)
def _read_cached(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    return read_table(path)


def _read(path: str | Path) -> pd.DataFrame:
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return read_table(p)  # raises the "no such file" message
    return _read_cached(str(p), st.st_mtime_ns, st.st_size).copy()


# -- validation --------------------------------------------------------------------------------


def _is_categorical(col: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)


def _integer_valued(col: pd.Series) -> bool:
    if pd.api.types.is_integer_dtype(col):
        return True
    if pd.api.types.is_float_dtype(col):
        v = col.to_numpy(dtype=np.float64)
        return bool(np.all(np.isfinite(v)) and np.all(v == np.round(v)))
    return False


def explain_kind(y: pd.Series) -> tuple[str, str]:
    """The task kind of a target column and the reason, by this rule (first match wins):

    1. non-numeric or bool values are class labels: ``binary`` for 2 distinct values, else
       ``multiclass``;
    2. numbers that are not all integers are a quantity: ``regression``;
    3. integers with 2 distinct values: ``binary``;
    4. integers with at most ``MAX_CLASSIFICATION_VALUES`` (10) distinct values, which are at most
       ``MAX_DISTINCT_FRACTION`` (half) of the rows: ``multiclass``;
    5. other integers (more than 10 distinct values, or more distinct values than half the rows,
       e.g. a weight in kg or a count): ``regression``.

    ``--kind`` overrides the rule (e.g. 12 classes coded 0..11 need ``--kind multiclass``).

    >>> import pandas as pd
    >>> explain_kind(pd.Series([60, 72, 60, 81]))[0], explain_kind(pd.Series([0, 1, 2] * 4))[0]
    ('regression', 'multiclass')
    """
    n, rows = int(y.nunique()), len(y)
    if _is_categorical(y):
        return ("binary" if n == 2 else "multiclass"), f"non-numeric values, {n} distinct"
    if not _integer_valued(y):
        return "regression", "numbers that are not all integers"
    counted = f"integers with {n} distinct values in {rows} rows"
    if n == 2:
        return "binary", counted
    if n <= MAX_CLASSIFICATION_VALUES and n <= MAX_DISTINCT_FRACTION * rows:
        return (
            "multiclass",
            f"{counted}, at most {MAX_CLASSIFICATION_VALUES} and at most half the rows",
        )
    return "regression", (
        f"{counted}, more than {MAX_CLASSIFICATION_VALUES} or more than half the rows: a quantity"
    )


def infer_kind(y: pd.Series) -> str:
    """The task kind :func:`explain_kind` infers (see its rule).

    >>> import pandas as pd
    >>> infer_kind(pd.Series(["cat", "dog", "cat"])), infer_kind(pd.Series([0, 1, 2, 2, 1, 0]))
    ('binary', 'multiclass')
    >>> infer_kind(pd.Series([0.5, 1.5, 2.25])), infer_kind(pd.Series(range(100)))
    ('regression', 'regression')
    """
    return explain_kind(y)[0]


def _kind_hint(y: pd.Series, target: str, kind: str) -> str:
    """What to pass when an inferred kind may be wrong ('' for non-numeric labels: no other kind)."""
    if _is_categorical(y):
        return ""
    if kind == "regression":
        return f"; if {target!r} holds class labels, pass '--kind multiclass'"
    return f"; if {target!r} is a quantity rather than class labels, pass '--kind regression'"


def _similar(name: str, columns: list[str]) -> list[str]:
    """Columns equal to ``name`` up to case and spaces, else the closest by difflib."""

    def norm(c: str) -> str:
        return c.strip().lower()

    same = [c for c in columns if norm(c) == norm(name)]
    if same:
        return same
    lowered = {norm(c): c for c in columns}
    return [
        lowered[c] for c in difflib.get_close_matches(norm(name), list(lowered), n=3, cutoff=0.5)
    ]


def _check_target(frame: pd.DataFrame, target: str, path: str | Path) -> pd.Series:
    if target not in frame.columns:
        close = _similar(target, list(frame.columns))
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise _fail(
            f"'--target' must be a column of {Path(path).name!r} "
            f"(columns: {_show(frame.columns, 20)}), got {target!r}.{hint}"
        )
    y = frame[target]
    missing = y.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        raise _fail(
            f"'--target' column {target!r} must have no missing values, got {len(rows)} "
            f"of {len(y)} rows missing (data rows {_show(rows + 1, 5)}); drop or fill those "
            "rows before running compare"
        )
    if y.nunique() < 2:
        raise _fail(
            f"'--target' column {target!r} must take at least two distinct values, got "
            f"only {_native(y.iloc[0])!r} in all {len(y)} rows"
        )
    if len(frame.columns) < 2:
        raise _fail(
            f"'--data' must have at least one feature column besides the target "
            f"{target!r}, got no other column"
        )
    if len(frame) < MIN_ROWS:
        raise _fail(
            f"'--data' must have at least {MIN_ROWS} rows for a train/validation/test "
            f"split, got {len(frame)}"
        )
    return y


def _check_kind(y: pd.Series, target: str, kind: str | None) -> str:
    if kind is not None and kind not in KINDS:
        raise _fail(f"'--kind' must be one of {', '.join(repr(k) for k in KINDS)}, got {kind!r}")
    n = y.nunique()
    if kind == "regression" and _is_categorical(y):
        examples = _show(pd.unique(y)[:3], 3)
        raise _fail(
            f"'--kind regression' needs a numeric '--target', got column {target!r} "
            f"of dtype {y.dtype} (values such as {examples})"
        )
    if kind == "binary" and n != 2:
        raise _fail(
            f"'--kind binary' needs exactly 2 distinct '--target' values, got {n} "
            f"({_show(_sorted_values(pd.unique(y)))})"
        )
    if kind == "multiclass" and n < 3:
        raise _fail(
            f"'--kind multiclass' needs at least 3 distinct '--target' values, got {n} "
            f"({_show(_sorted_values(pd.unique(y)))}); use '--kind binary'"
        )
    kind = kind or infer_kind(y)
    if kind == "regression":
        bad = int((~np.isfinite(y.to_numpy(dtype=np.float64))).sum())
        if bad:
            raise _fail(
                f"'--target' column {target!r} must be finite for regression, got "
                f"{bad} infinite values; clean the file first"
            )
    return kind


def _sorted_values(values: Any) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types in an object column
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))


def _check_classes(y: pd.Series, target: str, hint: str) -> None:
    counts = y.value_counts()
    small = counts[counts < MIN_ROWS_PER_CLASS]
    if len(small):
        shown = ", ".join(f"{_native(k)!r}: {int(v)}" for k, v in list(small.items())[:8])
        more = f", ... ({len(small) - 8} more)" if len(small) > 8 else ""
        raise _fail(
            f"'--target' needs at least {MIN_ROWS_PER_CLASS} rows of every class for a "
            f"stratified train/validation/test split, got fewer for {len(small)} of "
            f"{len(counts)} classes ({shown}{more}); merge or drop rare classes{hint}"
        )


def small_data_warning(y: pd.Series, kind: str, *, name: str, hint: str = "") -> str | None:
    """A warning when the test split is too small for the study to resolve differences, else None.

    The rule: fewer than ``MIN_TEST_ROWS`` (30) expected test rows (``TEST_FRACTION`` = 20% of
    the rows, so files under 150 rows), or, for classification, fewer than
    ``MIN_TEST_ROWS_PER_CLASS`` (5) expected test rows of some class (a class under 25 rows).
    ``hint`` (how to pass another ``--kind``) is added when a class is too small: the target
    may not be class labels at all.
    """
    n = len(y)
    problems = []
    if n * TEST_FRACTION < MIN_TEST_ROWS:
        problems.append(
            f"about {n * TEST_FRACTION:.0f} test rows (20% of {n}; at least {MIN_TEST_ROWS} wanted)"
        )
    few = pd.Series(dtype=int)
    if kind != "regression":
        counts = y.value_counts()
        few = counts[counts * TEST_FRACTION < MIN_TEST_ROWS_PER_CLASS]
    if len(few):
        cls, rows = _native(few.index[-1]), int(few.iloc[-1])  # the rarest class
        others = (
            f"; {len(few)} classes have fewer than {MIN_TEST_ROWS_PER_CLASS}"
            if len(few) > 1
            else ""
        )
        problems.append(
            f"about {rows * TEST_FRACTION:.0f} test rows of class {cls!r} (20% of its "
            f"{rows}; at least {MIN_TEST_ROWS_PER_CLASS} of every class wanted{others})"
        )
    if not problems:
        return None
    return (
        f"small data: {name!r} gives {' and '.join(problems)}; the differences between losses "
        "will mostly be noise and the confidence intervals wide, so read this study as a "
        f"smoke test{hint if len(few) else ''}"
    )


def _check_features(frame: pd.DataFrame, target: str) -> tuple[list[str], list[str]]:
    features = frame.drop(columns=[target])
    missing = features.isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        shown = ", ".join(f"{c!r} ({_rows(int(v))})" for c, v in missing.items())
        raise _fail(
            f"'--data' feature columns must have no missing values, got missing values "
            f"in {len(missing)} column(s): {shown}. losslab does not impute silently: "
            "clean the file first (drop those rows or columns, or fill the values)"
        )
    numeric, categorical = [], []
    for c in features.columns:
        col = features[c]
        if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
            raise _fail(
                f"'--data' feature column {c!r} must be numeric or categorical, got dtype "
                f"{col.dtype}; convert it to numbers (e.g. days since a date) or drop it"
            )
        if _is_categorical(col):
            levels = col.nunique()
            if levels > 20 and levels > 0.5 * len(col):
                raise _fail(
                    f"'--data' categorical column {c!r} must have few distinct values to be "
                    f"one-hot encoded, got {levels} distinct values in {len(col)} rows; it "
                    "looks like an identifier or free text: drop it"
                )
            categorical.append(c)
        else:
            bad = int((~np.isfinite(col.to_numpy(dtype=np.float64))).sum())
            if bad:
                raise _fail(
                    f"'--data' feature column {c!r} must be finite, got {bad} infinite "
                    "values; clean the file first"
                )
            numeric.append(c)
    return numeric, categorical


@dataclass(frozen=True)
class _Checked:
    frame: pd.DataFrame
    kind: str
    numeric: list[str]
    categorical: list[str]
    classes: list[Any] | None
    inferred: str | None  # why the kind was inferred; None when --kind gave it
    warning: str | None  # small data (see small_data_warning)


def _validate(
    path: str | Path, target: str, kind: str | None, *, kind_inferred: bool = False
) -> _Checked:
    """Read and check the file; ``kind_inferred``: ``kind`` was inferred earlier (and is pinned)."""
    frame = _read(path)
    y = _check_target(frame, target, path)
    inferring = kind is None or kind_inferred
    kind = _check_kind(y, target, kind)
    hint = _kind_hint(y, target, kind) if inferring else ""
    classes = None
    if kind != "regression":
        _check_classes(y, target, hint)
        classes = _sorted_values(pd.unique(y))
    numeric, categorical = _check_features(frame, target)
    inferred = explain_kind(y)[1] if inferring else None
    warning = small_data_warning(y, kind, name=Path(path).name, hint=hint)
    return _Checked(frame, kind, numeric, categorical, classes, inferred, warning)


# -- loading -----------------------------------------------------------------------------------


def _encode(
    frame: pd.DataFrame, numeric: list[str], categorical: list[str], train_rows: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """Numeric columns as they are plus one-hot categorical columns (encoder fit on train rows)."""
    blocks = [frame[numeric].to_numpy(dtype=np.float64)] if numeric else []
    names = list(numeric)
    if categorical:
        from sklearn.preprocessing import OneHotEncoder

        cats = frame[categorical].astype(str)
        enc = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        enc.fit(cats.iloc[train_rows])
        blocks.append(enc.transform(cats))
        names += [str(n) for n in enc.get_feature_names_out(categorical)]
    return np.concatenate(blocks, axis=1), names


def load_user_data(
    path: str, target: str, kind: str | None, seed: int, *, kind_inferred: bool = False
) -> D.Dataset:
    """One seed's split of a user file: re-read, re-validated, encoded on the training rows.

    ``meta["warnings"]`` holds the small-data warning, if any (see :func:`small_data_warning`).
    """
    chk = _validate(path, target, kind, kind_inferred=kind_inferred)
    frame, y_raw = chk.frame, chk.frame[target]
    n = len(frame)
    classify = chk.kind != "regression"
    if classify:
        index = {c: i for i, c in enumerate(chk.classes or [])}
        y = y_raw.map(index).to_numpy(dtype=np.int64)
    else:
        y = y_raw.to_numpy(dtype=np.float64)
    tr, _, va, _, te, _ = D.split(
        np.arange(n), y, seed, stratify=classify, val=TEST_FRACTION, test=TEST_FRACTION
    )
    x, names = _encode(frame, chk.numeric, chk.categorical, tr)
    meta: dict[str, Any] = {
        "source": f"user data {Path(path).name} (target {target!r})",
        "path": str(path),
        "target": target,
        "features": names,
        "warnings": [chk.warning] if chk.warning else [],
    }
    if classify:
        meta["classes"] = [_native(c) for c in chk.classes or []]
        if chk.kind == "binary":
            meta["positive"] = str(meta["classes"][1])
        ys = [y[tr], y[va], y[te]]
        num_classes: int | None = len(meta["classes"])
    else:
        mu, sd = float(y[tr].mean()), float(y[tr].std())
        sd = sd if sd > 0 else 1.0
        ys = [(y[tr] - mu) / sd, (y[va] - mu) / sd, (y[te] - mu) / sd]
        meta.update(target_mean=mu, target_std=sd)
        num_classes = None
    parts = (x[tr], ys[0], x[va], ys[1], x[te], ys[2])
    return D.to_dataset(parts, num_classes=num_classes, meta=meta)


# -- the task ----------------------------------------------------------------------------------


def _competitors(kind: str) -> tuple[Competitor, ...]:
    if kind == "binary":
        return (
            Competitor("BCE", "binary_cross_entropy_with_logits"),
            Competitor("hinge", "hinge_loss"),
            Competitor("focal (gamma=2)", "sigmoid_focal_loss", {"gamma": 2.0, "alpha": None}),
            Competitor(
                "MSE (sigmoid head)",
                "mse_loss",
                note="1 sigmoid unit, squared error on the probability",
            ),
        )
    if kind == "multiclass":
        return (
            Competitor("CE", "cross_entropy"),
            Competitor("CE (label smoothing 0.1)", "cross_entropy", {"label_smoothing": 0.1}),
            Competitor("softmax focal (gamma=2)", "softmax_focal_loss", {"gamma": 2.0}),
            Competitor("multiclass hinge", "multiclass_hinge_loss"),
        )
    return (
        Competitor("MSE", "mse_loss"),
        Competitor("MAE", "l1_loss"),
        Competitor("Huber (delta=1)", "huber_loss", {"delta": 1.0}),
        Competitor("log-cosh", "log_cosh_loss"),
    )


def _metrics(kind: str, num_classes: int) -> tuple[tuple[str, ...], str, bool]:
    if kind == "binary":
        return BINARY_METRICS, "accuracy", True
    if kind == "multiclass":
        metrics = ("top1", "top5", "macro_f1") if num_classes > 5 else ("top1", "macro_f1")
        return metrics, "top1", True
    return ("rmse", "mae"), "rmse", False


def _batch_size(n_train: int) -> int:
    """64, or larger for big files so that an epoch stays near 100 steps (at most 1024)."""
    return int(min(1024, max(64, 2 ** int(np.ceil(np.log2(max(n_train, 1) / 100))))))


def register_user_task(path: str | Path, target: str, *, kind: str | None = None) -> Task:
    """Validate ``path`` and register (replacing any earlier one) the task ``data:<file name>``.

    Raises :class:`UserDataError` (message starting ``compare:``) for any file, target or kind
    the lab cannot use. The task's ``load`` re-reads the file, so it pickles to worker processes.
    """
    chk = _validate(path, target, kind)
    n = len(chk.frame)
    n_classes = len(chk.classes or [])
    metrics, primary, higher = _metrics(chk.kind, n_classes)
    n_features = len(chk.numeric) + sum(chk.frame[c].nunique() for c in chk.categorical)
    what = f", {n_classes} classes" if chk.kind != "regression" else ""
    description = (
        f"Your data {Path(path).name!r}: predict {target!r} ({chk.kind}{what}) from "
        f"{len(chk.numeric)} numeric and {len(chk.categorical)} categorical columns "
        f"(about {n_features} features after one-hot encoding), {n} rows split 60/20/20."
    )
    notes = (
        "Categorical columns one-hot encoded and numeric columns standardised on each "
        "seed's training split; nothing imputed."
    )
    if chk.inferred:
        notes += (
            f" Kind {chk.kind!r} inferred from the target: {chk.inferred}; '--kind' overrides it."
        )
    if chk.kind != "regression":
        notes += f" Classes (label order): {_show(chk.classes or [], 20)}."
    task = Task(
        name=f"data:{Path(path).name}",
        kind=chk.kind,
        description=description,
        load=functools.partial(
            load_user_data, str(Path(path).resolve()), target, chk.kind, kind_inferred=kind is None
        ),
        competitors=_competitors(chk.kind),
        metrics=metrics,
        primary=primary,
        higher_is_better=higher,
        hidden=(64,) if chk.kind == "multiclass" else (32,),
        batch_size=_batch_size(int(0.6 * n)),
        notes=notes,
    )
    return register_task(task, replace=True)
