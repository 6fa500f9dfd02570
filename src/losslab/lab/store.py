"""The study store: one SQLite database per study, written only by the driver process.

Tables:

* ``study``   — key/value metadata (configuration as JSON, creation time, losslab version);
* ``runs``    — one row per finished (or diverged) run: task, competitor, loss, seed, lr, status;
* ``metrics`` — long format: run_id, split ("test", "diag", "train", "val", "final"), epoch
  (NULL for end-of-run values), name, value. "test" holds the test metrics of the model the run's
  selection rule kept (``--select``: best validation epoch by default), "final" those of its last
  epoch (schema version 2; absent from older stores);
* ``test_curves`` — the test curves of the selected model of each run, one row per point:
  run_id, curve, idx (the point's index, from 0), x, y. Curve "pr": the precision-recall curve,
  x = recall, y = precision (interpolated precision at 51 recall levels 0, 0.02, ..., 1; see
  :func:`losslab.lab.metrics.pr_curve`), recorded for the runs of two-class tasks (schema
  version 3; older stores get the empty table when opened and read as having no curves).

The schema version is the study key ``schema_version`` (absent: version 1, still readable); a
store written by a newer schema is refused with an error naming both versions.

Each run is written in ONE transaction together with all its metrics, so killing the process at
any moment leaves either the whole run or nothing. ``--resume`` skips the runs already present.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .train import RunResult

__all__ = ["Store", "DIAGNOSTICS", "SCHEMA_VERSION"]

#: 2: the "final" split (test metrics at the last epoch beside the selected epoch's);
#: 3: the test_curves table (the selected model's test precision-recall curve)
SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS study (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY,
    task TEXT NOT NULL,
    competitor TEXT NOT NULL,
    loss TEXT NOT NULL,
    seed INTEGER NOT NULL,
    lr REAL NOT NULL,
    status TEXT NOT NULL,
    epochs_run INTEGER NOT NULL,
    best_epoch INTEGER NOT NULL,
    diverged_epoch INTEGER,
    seconds REAL NOT NULL,
    finished_at REAL NOT NULL,
    UNIQUE (task, competitor, seed, lr)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    split TEXT NOT NULL,
    epoch INTEGER,
    name TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id);
CREATE TABLE IF NOT EXISTS test_curves (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    curve TEXT NOT NULL,
    idx INTEGER NOT NULL,
    x REAL,
    y REAL
);
CREATE INDEX IF NOT EXISTS test_curves_run ON test_curves(run_id);
"""

DIAGNOSTICS = (
    "epochs_to_converge",
    "generalization_gap",
    "overfitting",
    "grad_norm_median",
    "grad_norm_max",
)


def _num(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        version = self.meta("schema_version")
        if version is not None and int(version) > SCHEMA_VERSION:
            self.conn.close()
            raise ValueError(
                f"losslab: the study store {str(self.path)!r} has schema version {version}, "
                f"newer than this losslab's {SCHEMA_VERSION}; upgrade losslab to read it"
            )
        if version is None and self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0:
            self.set_meta("schema_version", SCHEMA_VERSION)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- metadata -----------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO study VALUES (?, ?)", (key, json.dumps(value)))

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM study WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # -- runs ---------------------------------------------------------------------------------
    def done(self) -> set[tuple[str, str, int, float]]:
        rows = self.conn.execute("SELECT task, competitor, seed, lr FROM runs").fetchall()
        return {(t, c, int(s), float(lr)) for t, c, s, lr in rows}

    def add_run(self, r: RunResult) -> int:
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute(
                "INSERT INTO runs (task, competitor, loss, seed, lr, status, epochs_run, best_epoch,"
                " diverged_epoch, seconds, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    r.task,
                    r.competitor,
                    r.loss,
                    r.seed,
                    r.lr,
                    r.status,
                    r.epochs_run,
                    r.best_epoch,
                    r.diverged_epoch,
                    r.seconds,
                    time.time(),
                ),
            )
            run_id = int(cur.lastrowid)
            rows = []
            for name, value in r.metrics.items():
                split = "diag" if name in DIAGNOSTICS else "test"
                rows.append((run_id, split, None, name, _num(value)))
            for name, value in r.final_metrics.items():
                rows.append((run_id, "final", None, name, _num(value)))
            for name, values in r.history.items():
                split, _, metric = (
                    name.partition("_")
                    if name.startswith(("train_", "val_"))
                    else ("train", "", name)
                )
                for epoch, v in enumerate(values, start=1):
                    rows.append((run_id, split, epoch, metric, _num(v)))
            cur.executemany("INSERT INTO metrics VALUES (?,?,?,?,?)", rows)
            cur.executemany(
                "INSERT INTO test_curves VALUES (?,?,?,?,?)",
                [
                    (run_id, curve, idx, _num(x), _num(y))
                    for curve, points in r.curves.items()
                    for idx, (x, y) in enumerate(points)
                ],
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return run_id

    def add_runs(self, results: Iterable[RunResult]) -> None:
        for r in results:
            self.add_run(r)

    # -- reading ------------------------------------------------------------------------------
    def runs(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM runs ORDER BY run_id")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def final_metrics(self) -> list[dict[str, Any]]:
        """One row per (run, metric) of the end-of-run test metrics (the selected model's) and
        diagnostics; the last epoch's test metrics are :meth:`last_epoch_metrics`."""
        cur = self.conn.execute(
            "SELECT r.run_id, r.task, r.competitor, r.loss, r.seed, r.lr, r.status, m.split, m.name, m.value"
            " FROM runs r JOIN metrics m USING (run_id) WHERE m.epoch IS NULL AND m.split != 'final'"
            " ORDER BY r.run_id"
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def last_epoch_metrics(self) -> list[dict[str, Any]]:
        """One row per (run, metric) of the test metrics at each run's last epoch (empty for
        stores of schema version 1)."""
        cur = self.conn.execute(
            "SELECT r.run_id, r.task, r.competitor, r.seed, r.lr, m.name, m.value"
            " FROM runs r JOIN metrics m USING (run_id) WHERE m.epoch IS NULL AND m.split = 'final'"
            " ORDER BY r.run_id"
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def curves(self) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            "SELECT r.run_id, r.task, r.competitor, r.seed, r.lr, m.split, m.epoch, m.name, m.value"
            " FROM runs r JOIN metrics m USING (run_id) WHERE m.epoch IS NOT NULL"
            " ORDER BY r.run_id, m.name, m.epoch"
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def test_curves(self, curve: str | None = None) -> list[dict[str, Any]]:
        """One row per point of the stored test curves (``curve``: only that one, e.g. "pr"),
        with the run's task, competitor, seed and lr; ordered by run, curve and point index.
        Empty for stores older than schema version 3."""
        where, args = ("WHERE c.curve = ?", (curve,)) if curve is not None else ("", ())
        cur = self.conn.execute(
            "SELECT r.run_id, r.task, r.competitor, r.seed, r.lr, c.curve, c.idx, c.x, c.y"
            f" FROM runs r JOIN test_curves c USING (run_id) {where}"
            " ORDER BY r.run_id, c.curve, c.idx",
            args,
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]
