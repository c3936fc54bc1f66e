"""``session_lock``: one process at a time writes a session's ``results_XX`` files.

An exclusive ``flock`` on ``<output_dir>/.results_XX.lock``, held by ``extract`` and by every
``batch-extract`` job for the whole run, so that two runs never write (or resume) the same
output folder at once; the lock dies with its process, even one killed with SIGKILL.
Taking it again on the thread that holds it does not wait (a batch job holds it around
the extraction, which takes it too).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

_HELD: dict[tuple[Path, int], int] = {}  # (lock file, thread) holding it -> how many times
_HELD_LOCK = threading.Lock()


def lock_path(output_dir: str | os.PathLike, stem: str) -> Path:
    """The lock file of the ``stem`` results in ``output_dir``."""
    return Path(output_dir) / f".{stem}.lock"


@contextlib.contextmanager
def session_lock(output_dir: str | os.PathLike, stem: str) -> Iterator[None]:
    """Hold ``<output_dir>/.<stem>.lock`` exclusively (waits while another process has it).

    Parameters
    ----------
    output_dir : path
        The session's output folder (created if missing).
    stem : str
        ``results_XX``.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(output_dir, stem).resolve()
    key = (path, threading.get_ident())
    with _HELD_LOCK:
        if key in _HELD:
            _HELD[key] += 1
            fd = None
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if fd is None:
        try:
            yield
        finally:
            with _HELD_LOCK:
                _HELD[key] -= 1
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.warning("%s is being extracted by another process; waiting", output_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
        with _HELD_LOCK:
            _HELD[key] = 1
        try:
            yield
        finally:
            with _HELD_LOCK:
                del _HELD[key]
    finally:
        os.close(fd)
