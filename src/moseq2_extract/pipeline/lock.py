"""``session_lock``: one process at a time writes a session's ``results_XX`` files.

An exclusive ``flock`` on ``<output_dir>/.results_XX.lock``, held by ``extract`` and by every
``batch-extract`` job for the whole run, so that two runs never write (or resume) the same
output folder at once; the lock dies with its process, even one killed with SIGKILL, and
its file is removed by the run that ends holding it (a killed one leaves it: harmless).
Taking it again on the thread that holds it does not wait (a batch job holds it around
the extraction, which takes it too).
"""

from __future__ import annotations

import contextlib
import errno
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
        again = key in _HELD
        if again:
            _HELD[key] += 1
    if again:
        try:
            yield
        finally:
            with _HELD_LOCK:
                _HELD[key] -= 1
        return
    try:
        fd = _acquire(path, output_dir)
    except (PermissionError, OSError) as err:
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        # a folder this run may not write in: nothing can be written there anyway, and
        # the first output says so, naming that output
        logger.debug("%s: no lock (%s)", path, err)
        yield
        return
    with _HELD_LOCK:
        _HELD[key] = 1
    try:
        yield
    finally:
        with _HELD_LOCK:
            del _HELD[key]
        # removed while still held: a process waiting on it then finds it gone from the
        # folder and takes a new one (see _acquire), so no lock file stays behind
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _acquire(path: Path, output_dir: Path) -> int:
    """Open and lock ``path``; again if it was removed (by its last holder) meanwhile."""
    warned = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not warned:
                    logger.warning("%s is being extracted by another process; waiting",
                                   output_dir)
                    warned = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd
        os.close(fd)
