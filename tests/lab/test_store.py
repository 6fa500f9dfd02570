"""The study store: one transaction per run, resume skips finished runs, a kill loses nothing."""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from losslab.lab.store import Store
from losslab.lab.study import StudyConfig, plan, run_study
from losslab.lab.tasks import get_task
from losslab.lab.train import RunResult


def _result(seed: int, lr: float = 0.01, competitor: str = "BCE") -> RunResult:
    return RunResult(
        "binary",
        competitor,
        "binary_cross_entropy_with_logits",
        seed,
        lr,
        "finished",
        epochs_run=2,
        best_epoch=2,
        history={"train_loss": [0.6, 0.4], "val_loss": [0.7, 0.5], "val_accuracy": [0.8, 0.9]},
        metrics={"accuracy": 0.9, "epochs_to_converge": 2.0},
    )


def test_run_and_metrics_written_together(tmp_path):
    with Store(tmp_path / "r.sqlite") as st:
        rid = st.add_run(_result(0))
        rows = st.conn.execute(
            "SELECT split, epoch, name, value FROM metrics WHERE run_id=? ORDER BY split, name, epoch",
            (rid,),
        ).fetchall()
    assert ("diag", None, "epochs_to_converge", 2.0) in rows
    assert ("test", None, "accuracy", 0.9) in rows
    assert ("val", 2, "accuracy", 0.9) in rows and ("train", 1, "loss", 0.6) in rows
    assert len(rows) == 2 + 6


def test_failed_write_leaves_nothing(tmp_path):
    bad = _result(1)
    bad.history = {"train_loss": [0.5, object()]}  # fails mid-write: the transaction rolls back
    with Store(tmp_path / "r.sqlite") as st:
        with pytest.raises(TypeError):
            st.add_run(bad)
        assert st.runs() == []
        assert st.conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 0


def test_duplicate_run_rejected(tmp_path):
    with Store(tmp_path / "r.sqlite") as st:
        st.add_run(_result(0))
        with pytest.raises(sqlite3.IntegrityError):
            st.add_run(_result(0))
        assert len(st.runs()) == 1


def test_plan_skips_finished_runs():
    task = get_task("binary")
    cfg = StudyConfig(tasks=("binary",), seeds=3, lrs=(0.01, 0.1))
    comp = task.competitors[0].label
    units = plan(cfg, {("binary", comp, 1, 0.01), ("binary", comp, 2, 0.1)}, [task])
    first = [u for u in units if u.competitor == comp][0]
    assert first.task == "binary"
    assert pickle.loads(pickle.dumps(first)) == first  # a plain description any executor can run
    assert {(r.seed, r.lr) for r in first.runs} == {(0, 0.01), (2, 0.01), (0, 0.1), (1, 0.1)}
    assert sum(len(u.runs) for u in units) == len(task.competitors) * 6 - 2


def test_resume_completes_a_partial_study(tmp_path):
    cfg = StudyConfig(tasks=("binary",), seeds=2, epochs=2)
    with Store(tmp_path / "results.sqlite") as st:
        st.set_meta("config", cfg.to_json())
        run_study(cfg, st)
        full = {(r["competitor"], r["seed"]) for r in st.runs()}
        victim = st.runs()[0]["run_id"]
        st.conn.execute("DELETE FROM metrics WHERE run_id=?", (victim,))
        st.conn.execute("DELETE FROM runs WHERE run_id=?", (victim,))
        seen = []
        run_study(cfg, st, on_results=lambda u, rs: seen.extend(rs))
        assert len(seen) == 1  # only the missing run is trained again
        assert {(r["competitor"], r["seed"]) for r in st.runs()} == full


def test_kill_loses_no_finished_run_and_resume_finishes(tmp_path):
    pytest.importorskip("losslab.report")
    study = tmp_path / "s"
    args = [
        sys.executable,
        "-m",
        "losslab.cli",
        "compare",
        "--task",
        "multiclass",
        "--seeds",
        "2",
        "--epochs",
        "40",
        "--lr",
        "0.01,0.02",
        "--out",
        str(tmp_path),
        "--name",
        "s",
        "--quiet",
    ]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    db = study / "results.sqlite"
    deadline = time.time() + 120
    n = 0
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db) as c:
                    n = c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            except sqlite3.Error:
                n = 0
            if n >= 4:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the study finished before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store(db) as st:
        runs = st.runs()
        assert 4 <= len(runs) < 16
        for r in runs:  # every stored run is complete: final metrics and a full history
            names = {
                row[0]
                for row in st.conn.execute(
                    "SELECT name FROM metrics WHERE run_id=? AND epoch IS NULL", (r["run_id"],)
                )
            }
            assert {"top1", "top5", "macro_f1", "epochs_to_converge"} <= names
            epochs = st.conn.execute(
                "SELECT COUNT(*) FROM metrics WHERE run_id=? AND name='loss' AND split='val'",
                (r["run_id"],),
            ).fetchone()[0]
            assert epochs == 40
    res = subprocess.run(
        [sys.executable, "-m", "losslab.cli", "compare", "--resume", str(study), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    with Store(db) as st:
        after = st.runs()
    assert len(after) == 16  # 4 losses x 2 seeds x 2 learning rates, none twice
    assert {r["run_id"] for r in runs} <= {r["run_id"] for r in after}
    assert (study / "report.html").exists()


FAILING_MODULE = """
from losslab.lab.train import train_stack


def boom(task, competitor, runs, datasets, config):
    raise RuntimeError("boom")
"""


def test_a_failing_worker_keeps_the_finished_runs(tmp_path, monkeypatch):
    import dataclasses

    from losslab.lab.tasks import Competitor

    (tmp_path / "_failing_trainer.py").write_text(FAILING_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    import _failing_trainer

    base = get_task("binary")
    task = dataclasses.replace(
        base,
        competitors=(
            Competitor("BCE", "binary_cross_entropy_with_logits"),
            Competitor("broken", "binary_cross_entropy_with_logits", trainer=_failing_trainer.boom),
        ),
    )
    cfg = StudyConfig(tasks=("binary",), seeds=2, epochs=2, jobs=2)
    monkeypatch.setattr("losslab.lab.study.get_task", lambda name: task)
    with Store(tmp_path / "results.sqlite") as st:
        with pytest.raises(RuntimeError, match="boom"):
            run_study(cfg, st)
        assert {r["competitor"] for r in st.runs()} == {"BCE"}  # the unit that finished is stored
        assert len(st.runs()) == 2


def test_the_driver_writes_one_transaction_per_finished_run(tmp_path):
    """Every run goes in with its metrics in its own BEGIN IMMEDIATE ... COMMIT, written by the
    driver process (also with a worker pool: workers return results, never open the store)."""
    cfg = StudyConfig(
        tasks=("binary",),
        losses=("hinge_loss", "binary_cross_entropy_with_logits"),
        seeds=2,
        epochs=1,
        jobs=2,
    )
    statements: list[tuple[int, str]] = []
    with Store(tmp_path / "results.sqlite") as st:
        st.conn.set_trace_callback(
            lambda sql: statements.append((os.getpid(), sql.strip().split()[0].upper()))
        )
        run_study(cfg, st)
        n = len(st.runs())
    assert n == 4
    assert {pid for pid, _ in statements} == {os.getpid()}
    txn = [word for _, word in statements if word in ("BEGIN", "COMMIT", "ROLLBACK", "INSERT")]
    runs_txns = "".join(
        "B" if w == "BEGIN" else "C" if w == "COMMIT" else "R" if w == "ROLLBACK" else "i"
        for w in txn
    )
    # metadata writes are single autocommitted statements (i); each run is B i i C (the run row,
    # then its metrics in one executemany)
    assert runs_txns.count("B") == n and runs_txns.count("C") == n and "R" not in runs_txns
    assert runs_txns.count("Bi") == n and runs_txns.count("iiC") == n
