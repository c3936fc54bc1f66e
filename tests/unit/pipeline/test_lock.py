"""The session lock: exclusive between processes, re-entrant on its thread, leaves no file."""

from __future__ import annotations

import multiprocessing
import os
import time

from moseq2_extract.pipeline.lock import lock_path, session_lock


def _hold(folder: str, log: str, seconds: float) -> None:
    with session_lock(folder, "results_00"):
        with open(log, "a") as f:
            f.write(f"in {os.getpid()}\n")
        time.sleep(seconds)
        with open(log, "a") as f:
            f.write(f"out {os.getpid()}\n")


def test_holders_never_overlap_and_the_file_is_removed(tmp_path):
    log = tmp_path / "log"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hold, args=(str(tmp_path / "proc"), str(log), 0.3))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    events = log.read_text().split("\n")[:-1]
    assert len(events) == 6
    # each "in" is followed by the same process's "out": no two held it at once
    for i in range(0, 6, 2):
        assert events[i].split()[0] == "in" and events[i + 1] == "out" + events[i][2:]
    assert not lock_path(tmp_path / "proc", "results_00").exists()


def test_taking_it_again_on_the_same_thread_does_not_wait(tmp_path):
    with session_lock(tmp_path, "results_00"), session_lock(tmp_path, "results_00"):
        assert lock_path(tmp_path, "results_00").exists()
    assert not lock_path(tmp_path, "results_00").exists()
