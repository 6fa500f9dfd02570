"""The study lock, with two real processes: a second process opening a running study is refused
(naming the holder: pid, host, since) and the first loses nothing; a killed holder blocks no one."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from losslab.cli import app
from losslab.lab.study import LOCK_NAME, StudyConfig, StudyLock, StudyLockedError, start_study

HOLD = """
import sys, time
from losslab.lab.study import StudyLock
with StudyLock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _runs(db: Path) -> list[tuple]:
    try:
        with sqlite3.connect(db) as c:
            return c.execute("SELECT task, competitor, seed, lr FROM runs").fetchall()
    except sqlite3.Error:
        return []


def test_a_second_process_is_refused_by_name_and_the_first_loses_nothing(tmp_path):
    folder = tmp_path / "s"
    first = subprocess.Popen(
        [
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(
            lambda: (
                (folder / "results.sqlite").exists() and b"pid" in (folder / LOCK_NAME).read_bytes()
            )
        )
        assert first.poll() is None, (
            "the first study ended before the second could try; make it longer"
        )
        # this test process is the second one: the library refuses at once, naming the holder
        t0 = time.time()
        with pytest.raises(StudyLockedError) as info:
            start_study(StudyConfig(tasks=("multiclass",), seeds=1, epochs=1), folder)
        assert time.time() - t0 < 5  # refused before any training
        assert info.value.holder["pid"] == first.pid
        assert info.value.holder["host"] == socket.gethostname()
        message = str(info.value)
        assert message.startswith(
            f"compare: study folder {str(folder)!r} must not be in use by another "
            f"process, got it locked by pid {first.pid} on host {socket.gethostname()} since "
        )
        # the CLI: the same message, exit 2, no traceback; a new study and a resume alike
        for args in (
            [
                "--task",
                "multiclass",
                "--seeds",
                "1",
                "--epochs",
                "1",
                "--out",
                str(tmp_path),
                "--name",
                "s",
            ],
            ["--resume", str(folder)],
        ):
            res = CliRunner().invoke(app, ["compare", *args], env={"COLUMNS": "300"})
            assert res.exit_code == 2, res.output
            assert f"locked by pid {first.pid} on host" in res.output
            assert "Traceback" not in res.output and "UNIQUE constraint" not in res.output
        assert first.poll() is None, "the refused attempts must not disturb the running study"
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    runs = _runs(folder / "results.sqlite")
    assert len(runs) == 4 * 2 * 2  # 4 losses x 2 seeds x 2 learning rates: all of them, once each
    assert len(set(runs)) == len(runs)
    assert (folder / "report.html").exists()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StudyLockedError, match=f"locked by pid {holder.pid} on host "):
            StudyLock(folder).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert b"pid" in (folder / LOCK_NAME).read_bytes()  # the dead holder's note is still there...
    with StudyLock(folder) as lock:  # ...but the OS released its lock: taken at once
        assert lock.path.read_text().startswith(f'{{"pid": {os.getpid()},')


def test_the_lock_is_released_when_the_holder_exits_normally(tmp_path):
    with StudyLock(tmp_path):
        with pytest.raises(StudyLockedError):  # a second lock in one process is a second holder
            StudyLock(tmp_path).acquire()
    with StudyLock(tmp_path):
        pass
